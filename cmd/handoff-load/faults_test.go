package main

import (
	"testing"
	"time"

	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
)

// TestClassify pins what each fault may explain, and that nothing else is
// explained: a failure after a window closed, one of the wrong shape, one
// past a window's cap or an upstream fault's budget is a violation.
func TestClassify(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	const recovery = 2 * time.Second
	type tc struct {
		name string
		f    failure
		want string
	}
	run := func(t *testing.T, l *faultLog, cases []tc) {
		t.Helper()
		for _, c := range cases {
			if got := l.classify(&c.f, recovery); got != c.want {
				t.Errorf("%s: classify = %q, want %q", c.name, got, c.want)
			}
		}
	}

	t.Run("redis window", func(t *testing.T) {
		w := &window{start: at(0), end: at(1000), closedAt: at(1500)}
		l := &faultLog{windows: []*window{w}}
		run(t, l, []tc{
			{"503 in the fault", failure{route: routeReturn, start: at(500), end: at(600), status: 503, outcome: "state_unavailable"}, "redis"},
			{"begun before the fault", failure{route: routeManage, start: at(-200), end: at(100), status: 503, outcome: "state_unavailable"}, "redis"},
			{"hook failed before the first success", failure{route: routeReturn, start: at(1400), end: at(1600), status: 303, outcome: "hook_failed"}, "redis"},
			{"503 on an instance still reconnecting after another's first success", failure{route: routeReturn, start: at(1600), end: at(1700), status: 503, outcome: "state_unavailable"}, "redis"},
			{"503 begun past the recovery cap", failure{route: routeReturn, start: at(3100), end: at(3200), status: 503, outcome: "state_unavailable"}, ""},
			{"403 in the fault", failure{route: routeReturn, start: at(500), end: at(600), status: 403}, ""},
			{"500 internal in the fault", failure{route: routeManage, start: at(500), end: at(600), status: 500, outcome: "internal"}, ""},
			{"white-label page in the fault", failure{route: routeWhiteLabel, start: at(500), end: at(600), status: 410}, ""},
		})
		if w.failed != 4 || !w.firstFail.Equal(at(0)) {
			t.Errorf("window counted %d failures from %v, want 4 from the fault's start", w.failed, w.firstFail)
		}
		if !w.closed(recovery) {
			t.Errorf("window not closed")
		}
	})

	t.Run("window that never closed", func(t *testing.T) {
		w := &window{start: at(0), end: at(1000)}
		l := &faultLog{windows: []*window{w}}
		run(t, l, []tc{
			{"within the cap", failure{route: routeManage, start: at(2900), end: at(3100), status: 503, outcome: "state_unavailable"}, "redis"},
			{"past the cap", failure{route: routeManage, start: at(3100), end: at(3200), status: 503, outcome: "state_unavailable"}, ""},
		})
		if w.closed(recovery) {
			t.Errorf("window closed")
		}
		late := &window{start: at(0), end: at(1000), closedAt: at(3500)}
		if late.closed(recovery) {
			t.Errorf("a window whose first success came after the cap closed")
		}
	})

	t.Run("upstream budget", func(t *testing.T) {
		token := &burst{path: bluenexustest.PathToken, fault: bluenexustest.Status(500), start: at(0), consumed: at(1000), budget: 2}
		slow := &burst{path: bluenexustest.PathHandoffInit, fault: bluenexustest.Latency(time.Second), start: at(5000), consumed: at(6000)}
		l := &faultLog{bursts: []*burst{token, slow}}
		run(t, l, []tc{
			{"manage 502", failure{route: routeManage, start: at(100), end: at(200), status: 502, outcome: "upstream_error"}, "upstream"},
			{"hook failed", failure{route: routeReturn, start: at(900), end: at(1100), status: 303, outcome: "hook_failed"}, "upstream"},
			{"over the budget", failure{route: routeManage, start: at(300), end: at(400), status: 503, outcome: "unavailable"}, ""},
			{"after the burst", failure{route: routeManage, start: at(2000), end: at(2100), status: 502, outcome: "upstream_error"}, ""},
			{"latency explains no failure", failure{route: routeManage, start: at(5500), end: at(5600), status: 502, outcome: "upstream_error"}, ""},
			{"an internal error is not upstream", failure{route: routeManage, start: at(100), end: at(200), status: 500, outcome: "internal"}, ""},
		})
	})

	t.Run("clock jump", func(t *testing.T) {
		l := &faultLog{jumps: []*jump{{at: at(1000)}}}
		run(t, l, []tc{
			{"code asked for before the jump", failure{route: routeWhiteLabel, flowStart: at(900), start: at(950), end: at(1100), status: 410, outcome: "code_expired"}, "clock"},
			{"code asked for after the jump", failure{route: routeWhiteLabel, flowStart: at(1100), start: at(1150), end: at(1200), status: 410, outcome: "code_expired"}, ""},
			{"code already used", failure{route: routeWhiteLabel, flowStart: at(900), start: at(950), end: at(1100), status: 410}, ""},
		})
	})
}
