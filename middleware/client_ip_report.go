package middleware

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"slices"
)

// ClientIPReport returns a handler that answers, as JSON, what s derives for
// the request it serves: the client IP, or why there is none, and for the
// built-in strategies each address it walked (the TCP peer first, then the
// header's entries from the right), whether it trusted it, and why. Call it
// through the real load balancer to check the proxy setup before going live
// (docs/client-ip.md, "Check it through your proxies").
//
// The answer is {"strategy", "clientIP" or "error", "hops": [{"address",
// "from", "trusted", "why"}]}. It echoes addresses only: a malformed entry
// is reported without its value, and no other header value appears. It
// still tells the caller about your proxies, so mount it behind the app's
// admin authentication. The answer is not cached (Cache-Control: no-store).
// ClientIPReport panics if s is nil.
func ClientIPReport(s Strategy) http.Handler {
	if s == nil {
		panic("middleware: ClientIPReport: nil Strategy")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rep := report{Strategy: "custom", Hops: []hop{}}
		t := &trace{}
		if e, ok := s.(explainer); ok {
			rep.Strategy = e.describe()
			_, _ = e.derive(r, t) // the hops; the answer below is what ClientIP sees
			rep.Hops = t.hops
		}
		if ip, err := resolve(s, r); err != nil {
			rep.Error = err.Error() // names the header, never a value
		} else {
			rep.ClientIP = ip.String()
		}
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			http.Error(w, "middleware: ClientIPReport: "+err.Error(), http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/json; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(append(b, '\n'))
	})
}

// explainer is a built-in strategy: it can record its walk.
type explainer interface {
	describe() string
	derive(r *http.Request, t *trace) (netip.Addr, error)
}

type report struct {
	Strategy string `json:"strategy"`
	ClientIP string `json:"clientIP,omitempty"`
	Error    string `json:"error,omitempty"`
	Hops     []hop  `json:"hops"`
}

// hop is one address a strategy looked at.
type hop struct {
	Address string `json:"address"` // "" for a malformed entry: its value is never echoed
	From    string `json:"from"`    // fromPeer or the header name
	Trusted bool   `json:"trusted"`
	Why     string `json:"why"`
}

const fromPeer = "TCP peer"

// trace records a strategy's walk for ClientIPReport. Its methods do
// nothing on a nil *trace, which is what ClientIP passes.
type trace struct{ hops []hop }

func (t *trace) add(ip netip.Addr, from string, trusted bool, why string) {
	if t != nil {
		t.hops = append(t.hops, hop{Address: ip.String(), From: from, Trusted: trusted, Why: why})
	}
}

func (t *trace) bad(from string) {
	if t != nil {
		t.hops = append(t.hops, hop{From: from, Why: "malformed entry (value not shown): the walk stops with no IP"})
	}
}

// walkedLine turns the hops recorded from one Forwarded line, from its
// start index on, left to right, into the walk from the right: the trusted
// elements up to and including the first one that is not trusted.
func (t *trace) walkedLine(start int) {
	if t == nil {
		return
	}
	line := t.hops[start:]
	slices.Reverse(line)
	for i, h := range line {
		if !h.Trusted {
			t.hops = t.hops[:start+i+1]
			return
		}
	}
}
