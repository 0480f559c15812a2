package urlbuild

import (
	"strings"
	"testing"
)

func TestCheckNext_B6(t *testing.T) {
	tests := []struct {
		name string
		next string
		ok   bool
	}{
		{"root", "/", true},
		{"page", "/settings/connections", true},
		{"query and fragment", "/settings?tab=connections&x=1#google", true},
		{"encoded space and unicode", "/caf%C3%A9/a%20b", true},
		{"at sign in path", "/users/@alice", true},
		{"dot segments", "/a/../b/./c", true},
		{"colon in path", "/javascript:alert(1)", true},
		{"max length", "/" + strings.Repeat("a", maxNext-1), true},

		{"empty", "", false},
		{"too long", "/" + strings.Repeat("a", maxNext), false},
		{"relative", "settings", false},
		{"scheme", "https://evil.example", false},
		{"scheme-relative", "//evil.example", false},
		{"double slash later", "/a//b", false},
		{"double slash in query", "/a?u=https://evil.example", false},
		{"backslash", "/\\evil.example", false},
		{"backslash later", "/a\\b", false},
		{"encoded slash", "/%2fevil.example", false},
		{"encoded slash upper", "/%2Fevil.example", false},
		{"encoded backslash", "/%5cevil.example", false},
		{"encoded backslash upper", "/%5Cevil.example", false},
		{"double-encoded slash", "/%252fevil.example", false},
		{"double-encoded backslash", "/%255Cevil.example", false},
		{"triple-encoded slash", "/%25252fevil.example", false},
		{"percent nested three deep", "/%252525", false},
		{"encoded percent once", "/discount/100%25", false},
		{"encoded percent twice", "/a%2525", false},
		{"encoded percent lower", "/a%25b", false},
		{"encoded control", "/%0aevil", false},
		{"encoded DEL", "/%7f", false},
		{"malformed escape", "/%zz", false},
		{"truncated escape", "/a%2", false},
		{"bare percent", "/100%", false},
		{"tab", "/\t/evil.example", false},
		{"newline", "/\n/evil.example", false},
		{"space", "/a b", false},
		{"NUL", "/a\x00", false},
		{"DEL", "/a\x7f", false},
		{"non-ASCII", "/café", false},
		{"fullwidth solidus", "/\uff0fevil.example", false},
		{"invalid UTF-8", "/\xff", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckNext(tc.next)
			if tc.ok && err != nil {
				t.Fatalf("CheckNext(%q) = %v, want nil", tc.next, err)
			}
			if !tc.ok && err == nil {
				t.Fatalf("CheckNext(%q) = %v, want a rejection", tc.next, err)
			}
			if err == nil {
				checkNextOracle(t, tc.next)
			}
		})
	}
}

// TestCheckNextReasons: an escape CheckNext cannot decode and an escape it
// refuses to decode (an encoded '%' would need a second decoding) are told
// apart.
func TestCheckNextReasons(t *testing.T) {
	for next, want := range map[string]error{
		"/100%": errNextBadEscape, "/a%2": errNextBadEscape, "/%zz": errNextBadEscape, "/%+1": errNextBadEscape, "/%-1x": errNextBadEscape,
		"/100%25": errNextEncoded, "/%252f": errNextEncoded, "/a%2F": errNextEncoded, "/%5c": errNextEncoded, "/%00": errNextEncoded,
		"/%1F": errNextEncoded, "/%7f": errNextEncoded, "/a%20b%7e%C3%A9": nil, "/%2e%2E": nil,
	} {
		if err := CheckNext(next); err != want {
			t.Errorf("CheckNext(%q) = %v, want %v", next, err, want)
		}
	}
}

func TestCheckNextErrorDoesNotQuoteValue(t *testing.T) {
	const canary = "/%2fcanary-value"
	err := CheckNext(canary)
	if err == nil || strings.Contains(err.Error(), "canary") {
		t.Fatalf("CheckNext error %v: want a rejection that does not quote the value", err)
	}
	if strings.Contains(err.Error(), "urlbuild") {
		t.Fatalf("error %q names the internal package: the caller names the setting", err)
	}
}

func TestCheckNextDoesNotAllocate(t *testing.T) {
	for _, next := range []string{"/settings/connections?tab=google", "//evil.example", "/%5cevil", "/a%2525", "/%zz"} {
		if n := testing.AllocsPerRun(100, func() { _ = CheckNext(next) }); n != 0 {
			t.Errorf("CheckNext(%q) allocates %v times", next, n)
		}
	}
}
