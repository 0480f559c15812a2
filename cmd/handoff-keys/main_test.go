package main

import (
	"strings"
	"testing"

	"github.com/handoffkit/handoffkit/session"
)

// TestPrintsKeysParseKeysAccepts: the printed line is one pair that
// session.ParseKeys accepts, and two runs print different keys.
func TestPrintsKeysParseKeysAccepts(t *testing.T) {
	var a, b strings.Builder
	if err := run(nil, &a); err != nil {
		t.Fatal(err)
	}
	if err := run(nil, &b); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(a.String(), "\n") || strings.Count(a.String(), "\n") != 1 {
		t.Errorf("output %q: want one line", a.String())
	}
	pairs, err := session.ParseKeys(strings.TrimSpace(a.String()))
	if err != nil || len(pairs) != 1 {
		t.Fatalf("ParseKeys: %d pairs, %v", len(pairs), err)
	}
	if a.String() == b.String() {
		t.Error("two runs printed the same keys")
	}
}

// TestRotation: given the keys in use, the new pair comes first and the
// old pairs follow unchanged; keys ParseKeys refuses are an error.
func TestRotation(t *testing.T) {
	var old strings.Builder
	if err := run(nil, &old); err != nil {
		t.Fatal(err)
	}
	in := strings.TrimSpace(old.String())
	var out strings.Builder
	if err := run([]string{in}, &out); err != nil {
		t.Fatal(err)
	}
	got := strings.TrimSpace(out.String())
	pairs, err := session.ParseKeys(got)
	if err != nil || len(pairs) != 2 || !strings.HasSuffix(got, ","+in) || strings.HasPrefix(got, in) {
		t.Errorf("rotation printed %d pairs (%v), want new,%s", len(pairs), err, "old")
	}
	if err := run([]string{"not-keys"}, &out); err == nil || strings.Contains(err.Error(), "not-keys") {
		t.Errorf("bad keys in use: err %v, want an error that does not show them", err)
	}
	if err := run([]string{"a", "b"}, &out); err == nil {
		t.Error("two arguments: want a usage error")
	}
}
