package urlbuild

import (
	"errors"
	"strings"
	"testing"
)

func TestAllowlist_B6ExactMatch(t *testing.T) {
	a, err := NewAllowlist("https://app.example/connections/return", "myapp://connections")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		uri  string
		want bool
	}{
		{"https://app.example/connections/return", true},
		{"myapp://connections", true},
		{"https://app.example/connections/return/", false},
		{"https://app.example/connections/return?x=1", false},
		{"https://app.example/connections/return#x", false},
		{"HTTPS://app.example/connections/return", false},
		{"https://APP.example/connections/return", false},
		{"https://app.example:443/connections/return", false},
		{"https://app.example/connections/%72eturn", false},
		{"https://app.example/connections/return ", false},
		{"https://app.example/connections/return\x00", false},
		{"myapp://connections/", false},
		{"MyApp://connections", false},
		{"", false},
	}
	for _, tc := range tests {
		if got := a.Contains(tc.uri); got != tc.want {
			t.Errorf("Contains(%q) = %v, want %v", tc.uri, got, tc.want)
		}
	}
}

func TestNewAllowlistRejectsUnsafeEntries(t *testing.T) {
	_, err := NewAllowlist("https://app.example/ok", "javascript:alert(1)")
	if !errors.Is(err, ErrUnsafeURI) {
		t.Fatalf("err = %v, want ErrUnsafeURI", err)
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "urlbuild: allowlist entry 1: unsafe return URI") {
		t.Fatalf("err = %q, want it to name entry 1 once, with the package prefix", msg)
	}
	if _, err := NewAllowlist(); err == nil {
		t.Fatal("NewAllowlist() with no URIs: want an error")
	}
}

func TestAllowlistNilContainsNothing(t *testing.T) {
	var a *Allowlist
	if a.Contains("https://app.example/") {
		t.Fatal("nil allowlist contains a URI")
	}
}

func TestAllowlistContainsDoesNotAllocate(t *testing.T) {
	a, err := NewAllowlist("https://app.example/connections/return")
	if err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { _ = a.Contains("https://app.example/connections/return") }); n != 0 {
		t.Fatalf("Contains allocates %v times", n)
	}
}
