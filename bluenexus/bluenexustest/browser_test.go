package bluenexustest_test

import (
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
)

// echoServer is a TLS server that sets a cookie on /set, redirects on
// /redirect, and otherwise answers with the request's X-Forwarded-For and
// "visit" cookie.
func echoServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/set":
			http.SetCookie(w, &http.Cookie{Name: "visit", Value: "1", Path: "/", Secure: true, HttpOnly: true})
		case "/redirect":
			http.Redirect(w, r, "/elsewhere", http.StatusSeeOther)
			return
		}
		c, _ := r.Cookie("visit")
		var v string
		if c != nil {
			v = c.Value
		}
		io.WriteString(w, "xff="+r.Header.Get("X-Forwarded-For")+" visit="+v)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func fetch(t *testing.T, c *http.Client, rawURL string, header ...string) (int, string) {
	t.Helper()
	resp := get(t, c, rawURL, header...)
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestNewBrowser: the browser trusts the servers it is given and no
// others, keeps cookies (Secure ones over https), and stops at redirects.
func TestNewBrowser(t *testing.T) {
	srv := echoServer(t)
	b := bluenexustest.NewBrowser(srv)
	t.Cleanup(b.CloseIdleConnections)

	if status, _ := fetch(t, b, srv.URL+"/set"); status != http.StatusOK {
		t.Fatalf("/set: %d", status)
	}
	if _, body := fetch(t, b, srv.URL+"/"); body != "xff= visit=1" {
		t.Errorf("after /set: %q, want the cookie sent back and no X-Forwarded-For", body)
	}
	if status, _ := fetch(t, b, srv.URL+"/redirect"); status != http.StatusSeeOther {
		t.Errorf("/redirect: %d, want the 303 itself", status)
	}

	stranger := bluenexustest.NewBrowser()
	t.Cleanup(stranger.CloseIdleConnections)
	_, err := stranger.Get(srv.URL + "/")
	if !errors.As(err, new(x509.UnknownAuthorityError)) {
		t.Errorf("a browser not given the server: %v, want an unknown-authority error", err)
	}
}

// TestFromIP: the copy shares the jar, appends its IP to X-Forwarded-For,
// replaces the IP of a FromIP copy, and leaves the original alone.
func TestFromIP(t *testing.T) {
	srv := echoServer(t)
	b := bluenexustest.NewBrowser(srv)
	t.Cleanup(b.CloseIdleConnections)
	home := bluenexustest.FromIP(b, netip.MustParseAddr("203.0.113.7"))
	cell := bluenexustest.FromIP(home, netip.MustParseAddr("2001:db8::20"))

	fetch(t, home, srv.URL+"/set")
	tests := []struct {
		name   string
		c      *http.Client
		header []string
		want   string
	}{
		{"original untouched, jar shared", b, nil, "xff= visit=1"},
		{"home", home, nil, "xff=203.0.113.7 visit=1"},
		{"appended to the client's own", home, []string{"X-Forwarded-For", "192.0.2.1"}, "xff=192.0.2.1, 203.0.113.7 visit=1"},
		{"replaced, not nested", cell, nil, "xff=2001:db8::20 visit=1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, body := fetch(t, tc.c, srv.URL+"/", tc.header...); body != tc.want {
				t.Errorf("got %q, want %q", body, tc.want)
			}
		})
	}
	if status, _ := fetch(t, cell, srv.URL+"/redirect"); status != http.StatusSeeOther {
		t.Errorf("/redirect through a FromIP copy: %d, want the 303 itself", status)
	}
	cell.CloseIdleConnections() // reaches the shared transport; must not panic
}

// TestWithPageIPHeaderValidated: a bad header name fails New, naming the
// option.
func TestWithPageIPHeaderValidated(t *testing.T) {
	_, err := bluenexustest.New(bluenexustest.WithPageIPHeader("X Forwarded"))
	if err == nil || err.Error() != `bluenexustest: WithPageIPHeader: "X Forwarded" is not a header name` {
		t.Fatalf("New: %v", err)
	}
}
