package urlbuild

import (
	"net/url"
	"slices"
	"testing"
)

func mustParse(t testing.TB, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("url.Parse(%q): %v", raw, err)
	}
	return u
}

func TestWithParam(t *testing.T) {
	tests := []struct {
		name, base, param, code, want string
	}{
		{"no query", "https://connect.example.com/", "code", "abc", "https://connect.example.com/?code=abc"},
		{"no path", "https://connect.example.com", "code", "abc", "https://connect.example.com?code=abc"},
		{"keeps the base query", "https://c.example/wl?z=1&a=%41&b", "code", "abc", "https://c.example/wl?a=A&b=&code=abc&z=1"},
		{"replaces an existing param", "https://c.example/?code=old&x=1", "code", "new", "https://c.example/?code=new&x=1"},
		{"replaces every same-named param", "https://c.example/?code=1&x=1&code=2", "code", "new", "https://c.example/?code=new&x=1"},
		{"replaces an escaped same-named param", "https://c.example/?co%64e=1&x=1", "code", "new", "https://c.example/?code=new&x=1"},
		{"keeps a param whose name only contains the key", "https://c.example/?xcode=1&codex=2", "code", "n",
			"https://c.example/?code=n&codex=2&xcode=1"},
		{"key without value replaced", "https://c.example/?code&x=1", "code", "n", "https://c.example/?code=n&x=1"},
		{"empty segments dropped", "https://c.example/?&a=1&&b=2&", "code", "n", "https://c.example/?a=1&b=2&code=n"},
		{"drops the fragment", "https://c.example/p#frag", "code", "n", "https://c.example/p?code=n"},
		{"drops an empty query marker", "https://c.example/p?", "code", "n", "https://c.example/p?code=n"},
		{"escapes the code", "https://c.example/", "code", "a b&c=d/é", "https://c.example/?code=a+b%26c%3Dd%2F%C3%A9"},
		{"escapes the param", "https://c.example/?a+b=1&x=2", "a b", "v", "https://c.example/?a+b=v&x=2"},
		{"keeps port and IPv6 host", "http://[::1]:8080/wl", "code", "n", "http://[::1]:8080/wl?code=n"},
		{"keeps an escaped path", "https://c.example/a%2Fb/c%20d", "code", "n", "https://c.example/a%2Fb/c%20d?code=n"},
		{"app scheme", "myapp://connections", "code", "n", "myapp://connections?code=n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := WithParam(mustParse(t, tc.base), tc.param, tc.code)
			if got != tc.want {
				t.Fatalf("WithParam(%q, %q, %q) = %q, want %q", tc.base, tc.param, tc.code, got, tc.want)
			}
			checkWithParam(t, tc.base, tc.param, tc.code, got)
		})
	}
}

// TestWithParamState: the redirectUri of a flow, its state set.
func TestWithParamState(t *testing.T) {
	const state = "Zm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9"
	tests := []struct{ name, base, want string }{
		{"plain", "https://app.example/connections/return", "https://app.example/connections/return?state=" + state},
		{"keeps query, replaces state", "https://app.example/r?src=bn&state=x", "https://app.example/r?src=bn&state=" + state},
		{"deep link", "myapp://connections", "myapp://connections?state=" + state},
		{"loopback", "http://127.0.0.1:8080/return#x", "http://127.0.0.1:8080/return?state=" + state},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := WithParam(mustParse(t, tc.base), "state", state)
			if got != tc.want {
				t.Fatalf("WithParam(%q, state) = %q, want %q", tc.base, got, tc.want)
			}
			checkWithParam(t, tc.base, "state", state, got)
		})
	}
}

// checkWithParam checks got against what a url.Values round trip means: the
// same scheme, host and path, param set to exactly value, every other
// parameter of base unchanged, no fragment.
func checkWithParam(t testing.TB, base, param, value, got string) {
	t.Helper()
	b := mustParse(t, base)
	g, err := url.Parse(got)
	if err != nil {
		t.Fatalf("result %q does not parse: %v", got, err)
	}
	if g.Scheme != b.Scheme || g.Host != b.Host || g.EscapedPath() != b.EscapedPath() || g.User.String() != b.User.String() {
		t.Fatalf("result %q changed the base %q outside the query", got, base)
	}
	if g.Fragment != "" || g.RawFragment != "" {
		t.Fatalf("result %q has a fragment", got)
	}
	gq, err := url.ParseQuery(g.RawQuery)
	bq, berr := url.ParseQuery(b.RawQuery)
	if berr != nil {
		return // the base's own query is not url.Values-shaped: nothing more to compare
	}
	if err != nil {
		t.Fatalf("result query %q does not parse: %v", g.RawQuery, err)
	}
	if v := gq[param]; !slices.Equal(v, []string{value}) {
		t.Fatalf("result %q: %s = %q, want [%q]", got, param, v, value)
	}
	delete(gq, param)
	delete(bq, param)
	for k, v := range bq {
		if !slices.Equal(gq[k], v) {
			t.Fatalf("result %q: base param %q = %q became %q", got, k, v, gq[k])
		}
	}
	if len(gq) != len(bq) {
		t.Fatalf("result %q has params %v, base %q has %v", got, gq, base, bq)
	}
}

func TestWithParamDoesNotModifyBase(t *testing.T) {
	base := mustParse(t, "https://u@c.example/p?code=1#f")
	before := *base
	_ = WithParam(base, "code", "x")
	if *base != before {
		t.Fatalf("base changed: %#v, was %#v", *base, before)
	}
}
