package flow

import (
	"errors"
	"strings"
	"testing"
)

var (
	stateA = strings.Repeat("A", StateLength)
	stateB = strings.Repeat("B", StateLength)
)

func TestFlowSetEncoding(t *testing.T) {
	fs := flowSet{
		records: []record{
			{state: stateA, issued: 1893553445000, intent: "connections", next: "/a?b=c", returnURI: "https://app.example/r"},
			{state: stateB, issued: 1893553446000},
		},
		dropped: []superseded{{tag: "0123456789abcdef", expires: 1893554045000}},
	}
	v := fs.encode()
	want := "1\nf " + stateA + " 1893553445000 connections /a?b=c https://app.example/r" +
		"\nf " + stateB + " 1893553446000   " +
		"\ns 0123456789abcdef 1893554045000"
	if v != want {
		t.Fatalf("encode = %q\nwant     %q", v, want)
	}
	if len(v) != fs.size() {
		t.Fatalf("size() = %d, encoded %d", fs.size(), len(v))
	}
	got, ok := parseFlowSet(v)
	if !ok || got.encode() != v {
		t.Fatalf("round trip: %v %q", ok, got.encode())
	}
}

func TestParseFlowSetRejects(t *testing.T) {
	rec := "\nf " + stateA + " 1893553445000 connections /a https://app.example/r"
	for _, v := range []string{
		"",
		"2" + rec,
		"1" + rec + "\n",
		"1\n" + rec,
		"1" + strings.Replace(rec, "1893553445000", "01893553445000", 1),
		"1" + strings.Replace(rec, "1893553445000", "+1893553445000", 1),
		"1" + strings.Replace(rec, "1893553445000", "-1", 1),
		"1" + strings.Replace(rec, "1893553445000", "0", 1),
		"1" + strings.Replace(rec, stateA, stateA[1:], 1),
		"1" + strings.Replace(rec, stateA, "+"+stateA[1:], 1),
		"1" + strings.Replace(rec, " https://app.example/r", "", 1),
		"1" + rec + " extra",
		"1" + rec + "\ns 0123456789ABCDEF 1",
		"1" + rec + "\ns 0123456789abcde 1",
		"1" + rec + "\ns 0123456789abcdef",
		"1" + rec + "\nx y",
		"1" + strings.Repeat(rec, maxLines+1),
		"1\nf " + stateA + " 1 " + strings.Repeat("i", MaxIntentLength+1) + "  ",
		"1\nf " + stateA + " 1 i /\x00 ",
	} {
		if _, ok := parseFlowSet(v); ok {
			t.Errorf("parseFlowSet(%q) accepted", v)
		}
	}
}

func TestFitKeepsNewestAndBudget(t *testing.T) {
	big := record{state: stateA, issued: 1, intent: strings.Repeat("i", MaxIntentLength),
		next: "/" + strings.Repeat("n", MaxNextLength-1), returnURI: strings.Repeat("r", MaxReturnURILength)}
	fs := flowSet{}
	for i := range 5 {
		r := big
		r.issued = int64(i + 1)
		fs.records = append(fs.records, r)
	}
	fs.fit(5, 1000)
	if fs.size() > maxPayload {
		t.Fatalf("size %d over the budget %d", fs.size(), maxPayload)
	}
	if n := len(fs.records); n != 1 || fs.records[0].issued != 5 {
		t.Fatalf("kept %d records, newest issued %d; want only the newest", n, fs.records[len(fs.records)-1].issued)
	}
	if len(fs.dropped) == 0 {
		t.Fatal("pushed-out flows left no superseded tags")
	}
}

func FuzzParseFlowSet(f *testing.F) {
	f.Add("1\nf " + stateA + " 1893553445000 connections /a https://app.example/r\ns 0123456789abcdef 1893554045000")
	f.Add("1\nf " + stateB + " 1   ")
	f.Add("1")
	f.Fuzz(func(t *testing.T, v string) {
		fs, ok := parseFlowSet(v)
		if !ok {
			return
		}
		if enc := fs.encode(); enc != v {
			t.Fatalf("accepted %q re-encodes as %q", v, enc)
		}
		for _, r := range fs.records {
			if !wellFormedState(r.state) || r.issued <= 0 {
				t.Fatalf("accepted a bad record %+v", r)
			}
		}
	})
}

// FuzzFinishState feeds arbitrary state parameters to Finish against a
// browser holding one flow: only that flow's exact state may succeed, and
// every failure is one of the documented errors.
func FuzzFinishState(f *testing.F) {
	m, _ := newTestManager(f, WithReplayGuard(nil))
	b := newBrowser()
	begun := b.begin(f, m, testParams)
	f.Add(begun.State.Reveal())
	f.Add(stateA)
	f.Add("")
	f.Add(begun.State.Reveal() + "=")
	f.Add(strings.ToUpper(begun.State.Reveal()))
	f.Fuzz(func(t *testing.T, state string) {
		got, err := b.copy().finish(m, State(state))
		switch {
		case err == nil:
			if state != begun.State.Reveal() || got.State != begun.State {
				t.Fatalf("Finish(%q) succeeded", state)
			}
		case !wellFormedState(state):
			if !errors.Is(err, ErrMalformedState) {
				t.Fatalf("Finish(%q) = %v, want ErrMalformedState", state, err)
			}
		case !errors.Is(err, ErrUnknownState):
			t.Fatalf("Finish(%q) = %v, want ErrUnknownState", state, err)
		}
	})
}

func TestFlowSerializer(t *testing.T) {
	var s flowSerializer
	for _, v := range []any{
		map[any]any{"other": "x"},
		map[any]any{valueKey: "x", "other": "y"},
		map[any]any{valueKey: 5},
		"not a map",
	} {
		if _, err := s.Serialize(v); err == nil {
			t.Errorf("Serialize(%v) accepted foreign values", v)
		}
	}
	b, err := s.Serialize(map[any]any{valueKey: "1\nf x"})
	if err != nil || string(b) != "1\nf x" {
		t.Fatalf("Serialize = %q, %v", b, err)
	}
	var dst map[any]any
	if err := s.Deserialize(b, &dst); err != nil || dst[valueKey] != "1\nf x" || len(dst) != 1 {
		t.Fatalf("Deserialize = %v, %v", dst, err)
	}
	if err := s.Deserialize(b, new(string)); err == nil {
		t.Fatal("Deserialize into a foreign type")
	}
}
