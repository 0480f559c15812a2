package bluenexustest

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"strings"
)

// NewBrowser returns an HTTP client that stands for the end user's browser
// in a test: it keeps cookies in a [cookiejar.Jar], trusts the TLS
// certificates of the given started servers (the app's
// [httptest.NewTLSServer], whose flow cookie is Secure) and nothing else,
// and never follows a redirect: each request returns the first answer, so
// the test sees the app's 302 to the white-label page and the 303 its
// return answers with. [User] follows the white-label page's own redirects
// itself. Plain-http servers, such as the emulator, need no trust and may
// be passed or left out.
//
// Each browser has its own transport: call its CloseIdleConnections when
// the test ends, or close the servers, which closes the connections too.
func NewBrowser(servers ...*httptest.Server) *http.Client {
	pool := x509.NewCertPool()
	for _, s := range servers {
		if c := s.Certificate(); c != nil {
			pool.AddCert(c)
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // the test servers are local; an environment proxy must not see them
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	jar, _ := cookiejar.New(nil) // never fails without options
	return &http.Client{
		Transport:     tr,
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// FromIP returns a copy of browser that presents ip as its client IP, as
// if the same browser (the same cookie jar) sat behind a proxy that appends
// the client's address to X-Forwarded-For: every request carries ip as the
// last X-Forwarded-For entry, after any the request already has. An app
// whose client-IP strategy trusts its loopback peer
// (middleware.NewXFFTrustedRangesStrategy("127.0.0.0/8", "::1")) then
// derives ip, and the kit forwards it to handoff init.
//
// The white-label page compares the TCP peer with it, which in-process is
// always loopback: a non-loopback ip is then refused there (403, the
// browser changed networks) unless the emulator runs [WithPageIPHeader]
// ("X-Forwarded-For"), which makes the page read the same header. Calling
// FromIP on a FromIP copy replaces the IP rather than adding a second.
func FromIP(browser *http.Client, ip netip.Addr) *http.Client {
	c := *browser
	base := c.Transport
	if t, ok := base.(ipTransport); ok {
		base = t.base
	}
	if base == nil {
		base = http.DefaultTransport
	}
	c.Transport = ipTransport{base: base, ip: ip.String()}
	return &c
}

// ipTransport appends its IP to each request's X-Forwarded-For, merging the
// header's instances into one as a proxy does.
type ipTransport struct {
	base http.RoundTripper
	ip   string
}

func (t ipTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context()) // a RoundTripper must not modify the request
	xff := append(r.Header.Values("X-Forwarded-For"), t.ip)
	r.Header.Set("X-Forwarded-For", strings.Join(xff, ", "))
	return t.base.RoundTrip(r)
}

// CloseIdleConnections closes the idle connections of the wrapped
// transport, for [http.Client.CloseIdleConnections].
func (t ipTransport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
