package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/handlers"
	"github.com/handoffkit/handoffkit/session"
)

// doctor runs the checks of one configuration.
type doctor struct {
	cfg config
	sm  seams
	hc  *http.Client // carries every request: the seams' roots, no proxy surprises
}

func newDoctor(cfg config, sm seams) *doctor {
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		TLSClientConfig:       &tls.Config{RootCAs: sm.roots, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   cfg.timeout,
		ResponseHeaderTimeout: cfg.timeout,
		DisableKeepAlives:     true,
	}
	return &doctor{cfg: cfg, sm: sm, hc: &http.Client{Transport: tr, Timeout: cfg.timeout}}
}

// runAll runs the checks in order: configuration, reachability,
// credentials, then the real handoff and the client IP when configured.
func (d *doctor) runAll(ctx context.Context) []result {
	var out []result
	keys, r := d.checkCookieKeys()
	out = append(out, r)
	out = append(out, d.checkURLs(keys))
	client, r := d.checkAPIBase()
	out = append(out, r)
	out = append(out, d.checkReach(ctx, "api", d.cfg.apiBase)...)
	out = append(out, d.checkReach(ctx, "white_label", d.cfg.whiteLabel)...)
	out = append(out, d.checkCredentials(ctx, client))
	out = append(out, d.checkHandoff(ctx, client)...)
	out = append(out, d.checkClientIPHeader(ctx, client))
	out = append(out, d.checkClientIPReport(ctx))
	return out
}

// checkCookieKeys parses the cookie keys with session.ParseKeys, the
// function apps load them with.
func (d *doctor) checkCookieKeys() ([]session.KeyPair, result) {
	const name = "config.cookie_keys"
	const fix = "make a pair with go run github.com/handoffkit/handoffkit/cmd/handoff-keys@latest and set HANDOFF_COOKIE_KEYS; keep older pairs after it while rotating"
	if d.cfg.cookieKeys == "" {
		return nil, fail(name, "HANDOFF_COOKIE_KEYS (-cookie-keys) is empty", fix)
	}
	keys, err := session.ParseKeys(d.cfg.cookieKeys) // its errors never show a key
	if err != nil {
		return nil, fail(name, err.Error(), fix)
	}
	return keys, pass(name, fmt.Sprintf("%d key pair(s): %d-byte hash key (HMAC-SHA256), %d-byte block key (AES-%d), as handlers.New needs",
		len(keys), len(keys[0].Hash), len(keys[0].Block), 8*len(keys[0].Block))).with(map[string]any{"pairs": len(keys)})
}

// checkURLs builds the kit with handlers.New, which applies its own rules
// to the white-label and return URLs and the code parameter. Invalid cookie
// keys are replaced by fresh ones here: they have their own check.
func (d *doctor) checkURLs(keys []session.KeyPair) result {
	const name = "config.urls"
	if keys == nil {
		s, err := session.GenerateKeys()
		if err == nil {
			keys, err = session.ParseKeys(s)
		}
		if err != nil {
			return fail(name, err.Error(), "")
		}
	}
	_, err := handlers.New(handlers.Config{
		WhiteLabelURL: d.cfg.whiteLabel,
		ReturnURL:     d.cfg.returnURL,
		CookieKeys:    keys,
		AccessToken:   func(*http.Request) (bluenexus.AccessToken, bool) { return "", false },
		User:          func(*http.Request) (string, bool) { return "", false },
	}, handlers.WithCodeParam(d.cfg.codeParam))
	if err != nil {
		fix := "correct the setting the message names"
		switch msg := err.Error(); {
		case strings.Contains(msg, "WhiteLabelURL"):
			fix = "set BLUENEXUS_WHITE_LABEL_URL (-white-label-url) to the white-label page URL from the BlueNexus developer portal: https, no userinfo or fragment"
		case strings.Contains(msg, "ReturnURL"):
			fix = "set HANDOFF_RETURN_URL (-return-url) to the absolute https URL of the route that serves Kit.Return"
		case strings.Contains(msg, "WithCodeParam"):
			fix = "set HANDOFF_CODE_PARAM (-code-param) to the query parameter your white-label page reads (code)"
		}
		return fail(name, err.Error(), fix)
	}
	return pass(name, "the white-label URL, the return URL and the code parameter pass handlers.New")
}

// checkAPIBase builds the BlueNexus client the other checks use, with the
// API base, the credentials and the client-IP header as the app sets them.
func (d *doctor) checkAPIBase() (*bluenexus.Client, result) {
	const name = "config.api_base"
	opts := []bluenexus.Option{
		bluenexus.WithBaseURL(d.cfg.apiBase),
		bluenexus.WithHTTPClient(d.hc),
		bluenexus.WithoutBreaker(),
		bluenexus.WithClientIPHeader(d.cfg.ipHeader),
		bluenexus.WithTransport(func(rt http.RoundTripper) http.RoundTripper { return captureTransport{rt} }),
	}
	if d.cfg.clientID != "" {
		opts = append(opts, bluenexus.WithClientCredentials(d.cfg.clientID, d.cfg.clientSecret))
	}
	c, err := bluenexus.NewClient(opts...)
	if err != nil {
		return nil, fail(name, err.Error(), "set BLUENEXUS_API_BASE (-api-base) to https://api.bluenexus.ai, and the client id and IP header to valid values")
	}
	return c, pass(name, "the API base, client credentials and client-IP header pass bluenexus.NewClient")
}

// checkReach checks DNS, the TCP connection (its time is the round trip)
// and TLS of the host of raw. label is "api" or "white_label".
func (d *doctor) checkReach(ctx context.Context, label, raw string) []result {
	dnsName, connName, tlsName := "reach."+label+".dns", "reach."+label+".connect", "reach."+label+".tls"
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" || (u.Scheme != "https" && u.Scheme != "http") {
		why := "no valid http(s) URL configured (see config)"
		return []result{skip(dnsName, why), skip(connName, why), skip(tlsName, why)}
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = map[string]string{"https": "443", "http": "80"}[u.Scheme]
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.timeout)
	defer cancel()
	var out []result
	if _, err := netip.ParseAddr(host); err == nil {
		out = append(out, pass(dnsName, host+" is an IP address: no lookup"))
	} else {
		addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			why := "the name does not resolve from here"
			out = append(out, fail(dnsName, fmt.Sprintf("lookup %s: %v", host, err),
				"check the host name in the URL and this machine's DNS"))
			return append(out, skip(connName, why), skip(tlsName, why))
		}
		list := make([]string, len(addrs))
		for i, a := range addrs {
			list[i] = a.String()
		}
		out = append(out, pass(dnsName, fmt.Sprintf("%s resolves to %s", host, strings.Join(list, ", "))).
			with(map[string]any{"addresses": strings.Join(list, ",")}))
	}
	addr := net.JoinHostPort(host, port)
	var dialer net.Dialer
	start := time.Now()
	conn, err := dialer.DialContext(ctx, "tcp", addr)
	rtt := time.Since(start)
	if err != nil {
		out = append(out, fail(connName, fmt.Sprintf("connect to %s: %v", addr, err),
			"check the URL's host and port, and that this machine can reach it (firewall, egress proxy)"))
		return append(out, skip(tlsName, "no connection"))
	}
	defer conn.Close()
	out = append(out, pass(connName, fmt.Sprintf("connected to %s in %v (one round trip)", addr, rtt.Round(100*time.Microsecond))).
		with(map[string]any{"rtt_ms": float64(rtt.Microseconds()) / 1000}))
	out = append(out, d.checkTLS(ctx, tlsName, u, host, conn))
	return out
}

// checkTLS verifies the host's certificate chain at the seams' time and
// reports its expiry. Plain http passes only on loopback, as the kit's
// own rules allow.
func (d *doctor) checkTLS(ctx context.Context, name string, u *url.URL, host string, conn net.Conn) result {
	if u.Scheme == "http" {
		if isLoopback(host) {
			return pass(name, "plain http on loopback: development only")
		}
		return fail(name, "plain http to "+host+": the access token would travel unencrypted", "use an https URL")
	}
	var leaf *x509.Certificate
	var verifyErr error
	tc := tls.Client(conn, &tls.Config{
		ServerName:         host,
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // verified below, at the seams' time, so that the expiry can be reported
		VerifyConnection: func(cs tls.ConnectionState) error {
			leaf = cs.PeerCertificates[0]
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, verifyErr = leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: d.sm.roots, Intermediates: inter, CurrentTime: d.sm.now()})
			return nil
		},
	})
	if err := tc.HandshakeContext(ctx); err != nil {
		return fail(name, fmt.Sprintf("TLS handshake with %s: %v", host, err), "check that the URL's port serves https")
	}
	expiry := leaf.NotAfter.UTC().Format(time.DateOnly)
	facts := map[string]any{"not_after": leaf.NotAfter.UTC().Format(time.RFC3339), "version": tls.VersionName(tc.ConnectionState().Version)}
	if verifyErr != nil {
		var inv x509.CertificateInvalidError
		if errors.As(verifyErr, &inv) && inv.Reason == x509.Expired {
			return fail(name, fmt.Sprintf("the certificate of %s expired on %s", host, expiry),
				"renew the certificate of "+host+", or check that the URL names the right host").with(facts)
		}
		return fail(name, fmt.Sprintf("the certificate of %s is not valid: %v", host, verifyErr),
			"serve a certificate for "+host+" from a public CA, or check that the URL names the right host").with(facts)
	}
	days := int(leaf.NotAfter.Sub(d.sm.now()).Hours() / 24)
	return pass(name, fmt.Sprintf("%s, certificate valid until %s (%d days)", tls.VersionName(tc.ConnectionState().Version), expiry, days)).with(facts)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// checkCredentials refreshes a made-up refresh token: BlueNexus answers
// invalid_grant when it accepts the client, a client error when it does
// not. No real token is spent.
func (d *doctor) checkCredentials(ctx context.Context, c *bluenexus.Client) result {
	const name = "credentials"
	const fix = "set BLUENEXUS_CLIENT_ID and BLUENEXUS_CLIENT_SECRET to the white-label client's id and secret from the BlueNexus developer portal"
	switch {
	case d.cfg.clientID == "":
		return fail(name, "BLUENEXUS_CLIENT_ID (-client-id) is empty: the kit cannot refresh access tokens", fix)
	case c == nil:
		return skip(name, "no API client (see config.api_base)")
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	_, err := c.Refresh(ctx, bluenexus.RefreshToken("handoff-doctor-not-a-token-"+hex.EncodeToString(b[:])))
	var ae *bluenexus.APIError
	switch {
	case err == nil:
		return fail(name, "the token endpoint accepted a made-up refresh token", "report this to BlueNexus: the token endpoint does not check refresh tokens")
	case errors.Is(err, bluenexus.ErrReauthRequired):
		return pass(name, fmt.Sprintf("client %s accepted: a made-up refresh token got %s, as it should", d.cfg.clientID, refusal(err)))
	case errors.Is(err, bluenexus.ErrClientConfig):
		return fail(name, fmt.Sprintf("client %s refused: %s", d.cfg.clientID, refusal(err)), fix)
	case errors.As(err, &ae):
		return fail(name, "unexpected answer from the token endpoint: "+err.Error(), "check BLUENEXUS_API_BASE, then the client credentials")
	}
	return fail(name, "token endpoint: "+err.Error(), "see the reach checks above")
}

// refusal names an API error's status and code, such as "400 invalid_grant".
func refusal(err error) string {
	var ae *bluenexus.APIError
	if !errors.As(err, &ae) {
		return err.Error()
	}
	if ae.Code == "" {
		return fmt.Sprintf("status %d", ae.StatusCode)
	}
	return fmt.Sprintf("%d %s", ae.StatusCode, ae.Code)
}
