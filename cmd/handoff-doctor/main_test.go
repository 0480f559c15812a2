package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
	"github.com/handoffkit/handoffkit/middleware"
)

// Known secret values: they must never appear in the doctor's output.
const (
	clientSecret = "canary-client-secret-5d1e"
	accessToken  = "canary-access-token-9b7c"
	cookieKeys   = "6361726e6172792d686173682d6b65792d6f662d7468652d646f63746f722121:6361726e6172792d626c6f636b2d6b65792d6f662d7468652d646f63746f7221"
	clientIPAuth = "Bearer canary-admin-credential-3f2a"
)

// emulator starts an emulator with the doctor's test client and user, and
// returns the environment of an app configured for it.
func emulator(t *testing.T, opts ...bluenexustest.Option) (*bluenexustest.Server, map[string]string) {
	t.Helper()
	opts = append([]bluenexustest.Option{
		bluenexustest.WithClientCredentials("doctor-test-client", clientSecret),
		bluenexustest.WithUserToken("alice", accessToken),
	}, opts...)
	emu := bluenexustest.NewServer(opts...)
	t.Cleanup(emu.Close)
	return emu, map[string]string{
		"BLUENEXUS_API_BASE":        emu.URL(),
		"BLUENEXUS_WHITE_LABEL_URL": emu.WhiteLabelURL(),
		"HANDOFF_RETURN_URL":        "https://app.example.com/connections/return",
		"HANDOFF_COOKIE_KEYS":       cookieKeys,
		"BLUENEXUS_CLIENT_ID":       "doctor-test-client",
		"BLUENEXUS_CLIENT_SECRET":   clientSecret,
		"BLUENEXUS_ACCESS_TOKEN":    accessToken,
	}
}

type outcome struct {
	code           int
	stdout, stderr string
	report         jsonReport
}

// check returns the named check of the -json report.
func (o outcome) check(t *testing.T, name string) result {
	t.Helper()
	for _, r := range o.report.Checks {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no check %q in %s", name, o.stdout)
	return result{}
}

// doctorRun runs the command with env and args, with -json unless text is
// asked for, and fails the test if a secret shows in its output.
func doctorRun(t *testing.T, env map[string]string, sm seams, args ...string) outcome {
	t.Helper()
	var stdout, stderr bytes.Buffer
	getenv := func(k string) string { return env[k] }
	code := run(context.Background(), args, getenv, &stdout, &stderr, sm)
	o := outcome{code: code, stdout: stdout.String(), stderr: stderr.String()}
	for _, secret := range []string{clientSecret, accessToken, cookieKeys, clientIPAuth, "canary"} {
		if strings.Contains(o.stdout, secret) || strings.Contains(o.stderr, secret) {
			t.Fatalf("secret %q in the output:\n%s\n%s", secret, o.stdout, o.stderr)
		}
	}
	if strings.Contains(strings.Join(args, " "), "-json") {
		if err := json.Unmarshal(stdout.Bytes(), &o.report); err != nil {
			t.Fatalf("-json: %v\n%s", err, o.stdout)
		}
	}
	return o
}

func TestHealthyConfiguration(t *testing.T) {
	_, env := emulator(t)
	o := doctorRun(t, env, seams{}, "-json")
	if o.code != exitOK || !o.report.OK {
		t.Fatalf("exit %d, report %s", o.code, o.stdout)
	}
	for _, r := range o.report.Checks {
		if r.Name == "client_ip.proxies" {
			if !r.Skipped || r.Required {
				t.Errorf("%+v: want skipped and not required without -client-ip-url", r)
			}
			continue
		}
		if !r.OK || !r.Required {
			t.Errorf("%+v: want a required check that passed", r)
		}
	}
	shape := o.check(t, "handoff.shape")
	if shape.Facts["code_field"] != "code" || shape.Facts["expiry_field"] != "expiresAt" || shape.Facts["code_length"] != float64(43) {
		t.Errorf("shape facts %v", shape.Facts)
	}
	page := o.check(t, "handoff.white_label")
	if page.Facts["status"] != float64(200) || page.Facts["content_type"] != "text/html" || page.Facts["final_url"] != env["BLUENEXUS_API_BASE"]+bluenexustest.PathWhiteLabelSession {
		t.Errorf("white-label facts %v", page.Facts)
	}

	// The same run as text: one line per check, ✓ on each.
	o = doctorRun(t, env, seams{})
	lines := strings.Split(strings.TrimSpace(o.stdout), "\n")
	if o.code != exitOK || len(lines) != 16 || !strings.HasPrefix(lines[0], "✓ config.cookie_keys") || lines[15] != "every required check passed" {
		t.Fatalf("exit %d:\n%s", o.code, o.stdout)
	}
}

func TestExitCodesAndUsage(t *testing.T) {
	_, env := emulator(t)
	if o := doctorRun(t, env, seams{}, "-no-such-flag"); o.code != exitUsage {
		t.Errorf("unknown flag: exit %d", o.code)
	}
	if o := doctorRun(t, env, seams{}, "extra"); o.code != exitUsage {
		t.Errorf("argument: exit %d", o.code)
	}
	// -h lists the settings without showing the environment's values.
	o := doctorRun(t, env, seams{}, "-h")
	if o.code != exitOK || !strings.Contains(o.stderr, "BLUENEXUS_CLIENT_SECRET") || !strings.Contains(o.stderr, "-client-ip-url") {
		t.Errorf("-h: exit %d\n%s", o.code, o.stderr)
	}
	// A flag overrides the environment.
	o = doctorRun(t, env, seams{}, "-json", "-client-secret", "wrong-secret-value")
	if o.code != exitFailed || o.check(t, "credentials").OK || strings.Contains(o.stdout, "wrong-secret-value") {
		t.Errorf("-client-secret: exit %d\n%s", o.code, o.stdout)
	}
	// Without a test user's token the handoff checks are skipped, not failed.
	delete(env, "BLUENEXUS_ACCESS_TOKEN")
	o = doctorRun(t, env, seams{}, "-json")
	if r := o.check(t, "handoff.init"); o.code != exitOK || !r.Skipped || r.Required {
		t.Errorf("no access token: exit %d, %+v", o.code, r)
	}
}

// TestMisconfigurations runs the doctor on one misconfiguration each and
// checks that the right check fails with its fix, and the command exits 1.
func TestMisconfigurations(t *testing.T) {
	tests := []struct {
		name    string
		opts    []bluenexustest.Option
		env     func(env map[string]string, emu *bluenexustest.Server)
		check   string
		detail  string
		fix     string
		checkOK []string // checks that still pass
	}{
		{
			name: "wrong_client_credentials",
			env: func(env map[string]string, _ *bluenexustest.Server) {
				env["BLUENEXUS_CLIENT_SECRET"] = "canary-wrong-secret"
			},
			check:  "credentials",
			detail: "client doctor-test-client refused: 401 invalid_client",
			fix:    "BLUENEXUS_CLIENT_SECRET",
		},
		{
			name:   "wrong_client_id",
			env:    func(env map[string]string, _ *bluenexustest.Server) { env["BLUENEXUS_CLIENT_ID"] = "someone-else" },
			check:  "credentials",
			detail: "refused: 401 invalid_client",
			fix:    "BLUENEXUS_CLIENT_ID",
		},
		{
			name: "return_domain_not_allowed",
			opts: []bluenexustest.Option{bluenexustest.WithAllowedDomains("app.example.com")},
			env: func(env map[string]string, _ *bluenexustest.Server) {
				env["HANDOFF_RETURN_URL"] = "https://shop.example.net/return"
			},
			check:   "handoff.init",
			detail:  `"shop.example.net" is not an allowed domain`,
			fix:     "register this host (shop.example.net) among the client's allowed domains",
			checkOK: []string{"config.urls", "credentials"},
		},
		{
			name: "wrong_white_label_url",
			env: func(env map[string]string, emu *bluenexustest.Server) {
				env["BLUENEXUS_WHITE_LABEL_URL"] = emu.URL() + "/manage-connections"
			},
			check:   "handoff.white_label",
			detail:  "status 404",
			fix:     "does not serve the white-label page",
			checkOK: []string{"handoff.init", "handoff.shape"},
		},
		{
			name: "wrong_code_param",
			env: func(env map[string]string, _ *bluenexustest.Server) {
				env["HANDOFF_CODE_PARAM"] = "handoff"
			},
			check:  "handoff.white_label",
			detail: "status 400",
			fix:    "HANDOFF_CODE_PARAM",
		},
		{
			name:    "client_ip_header_not_honoured",
			opts:    []bluenexustest.Option{bluenexustest.WithClientIPHeaderNotHonoured()},
			check:   "client_ip.header",
			detail:  "refused an init forwarding 203.0.113.77 in X-Forwarded-For",
			fix:     "the header is not honoured for this client: contact BlueNexus, or call init from the user's network",
			checkOK: []string{"handoff.init", "handoff.white_label"},
		},
		{
			name: "expired_access_token",
			env: func(env map[string]string, _ *bluenexustest.Server) {
				env["BLUENEXUS_ACCESS_TOKEN"] = "canary-not-a-token"
			},
			check:  "handoff.init",
			detail: "401",
			fix:    "sign the test user in again",
		},
		{
			name: "unreachable_api",
			env: func(env map[string]string, _ *bluenexustest.Server) {
				env["BLUENEXUS_API_BASE"] = "http://" + closedPort(t)
			},
			check:  "reach.api.connect",
			detail: "connection refused",
			fix:    "that this machine can reach it",
		},
		{
			name:   "cookie_keys_not_hex",
			env:    func(env map[string]string, _ *bluenexustest.Server) { env["HANDOFF_COOKIE_KEYS"] = "canary-keys" },
			check:  "config.cookie_keys",
			detail: "want hashkey:blockkey in hex",
			fix:    "cmd/handoff-keys",
		},
		{
			name: "cookie_keys_weak",
			env: func(env map[string]string, _ *bluenexustest.Server) {
				env["HANDOFF_COOKIE_KEYS"] = strings.Repeat("00", 32) + ":" + strings.Repeat("00", 32)
			},
			check:   "config.cookie_keys",
			detail:  "all zeros",
			fix:     "cmd/handoff-keys",
			checkOK: []string{"config.urls"},
		},
		{
			name: "return_url_plain_http",
			env: func(env map[string]string, _ *bluenexustest.Server) {
				env["HANDOFF_RETURN_URL"] = "http://app.example.com/return"
			},
			check:  "config.urls",
			detail: "Config.ReturnURL",
			fix:    "HANDOFF_RETURN_URL",
		},
		{
			name:   "white_label_url_missing",
			env:    func(env map[string]string, _ *bluenexustest.Server) { delete(env, "BLUENEXUS_WHITE_LABEL_URL") },
			check:  "config.urls",
			detail: "Config.WhiteLabelURL is required",
			fix:    "BLUENEXUS_WHITE_LABEL_URL",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			emu, env := emulator(t, tc.opts...)
			if tc.env != nil {
				tc.env(env, emu)
			}
			o := doctorRun(t, env, seams{}, "-json")
			r := o.check(t, tc.check)
			if o.code != exitFailed || o.report.OK || r.OK || !r.Required {
				t.Fatalf("exit %d, %+v", o.code, r)
			}
			if !strings.Contains(r.Detail, tc.detail) || !strings.Contains(r.Fix, tc.fix) {
				t.Fatalf("%s: detail %q, fix %q; want %q and %q", tc.check, r.Detail, r.Fix, tc.detail, tc.fix)
			}
			for _, name := range tc.checkOK {
				if c := o.check(t, name); !c.OK {
					t.Errorf("%+v: want it to pass", c)
				}
			}
			// The text report shows the failure and its fix.
			text := doctorRun(t, env, seams{}).stdout
			if !strings.Contains(text, "✗ "+tc.check) || !strings.Contains(text, "  fix: ") {
				t.Errorf("text report:\n%s", text)
			}
		})
	}
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// selfSigned makes a certificate for 127.0.0.1 valid from notBefore to
// notAfter, and the pool that trusts it.
func selfSigned(t *testing.T, notBefore, notAfter time.Time) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

func TestTLS(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name            string
		from, to        time.Time
		trusted         bool
		ok              bool
		detail, fix     string
		wantNotAfterDay string
	}{
		{name: "expired_certificate", from: now.Add(-48 * time.Hour), to: now.Add(-24 * time.Hour), trusted: true,
			detail: "the certificate of 127.0.0.1 expired on " + now.Add(-24*time.Hour).UTC().Format(time.DateOnly), fix: "renew the certificate of 127.0.0.1"},
		{name: "unknown_authority", from: now.Add(-time.Hour), to: now.Add(24 * time.Hour),
			detail: "is not valid: x509: certificate signed by unknown authority", fix: "public CA"},
		{name: "valid_certificate", from: now.Add(-time.Hour), to: now.Add(90 * 24 * time.Hour), trusted: true, ok: true,
			detail: "certificate valid until " + now.Add(90*24*time.Hour).UTC().Format(time.DateOnly)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cert, pool := selfSigned(t, tc.from, tc.to)
			srv := httptest.NewUnstartedServer(http.NotFoundHandler())
			srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
			srv.StartTLS()
			t.Cleanup(srv.Close)
			_, env := emulator(t)
			env["BLUENEXUS_API_BASE"] = srv.URL
			sm := seams{now: func() time.Time { return now }}
			if tc.trusted {
				sm.roots = pool
			}
			o := doctorRun(t, env, sm, "-json")
			r := o.check(t, "reach.api.tls")
			if r.OK != tc.ok || !strings.Contains(r.Detail, tc.detail) || !strings.Contains(r.Fix, tc.fix) {
				t.Fatalf("%+v; want ok %v, %q, %q", r, tc.ok, tc.detail, tc.fix)
			}
			if !tc.ok && o.code != exitFailed {
				t.Errorf("exit %d", o.code)
			}
			if r.Facts["not_after"] != tc.to.UTC().Truncate(time.Second).Format(time.RFC3339) {
				t.Errorf("not_after %v", r.Facts["not_after"])
			}
		})
	}
}

// reshape is a proxy in front of the emulator that rewrites handoff init
// answers into another shape, keeping the code.
func reshape(t *testing.T, emu *bluenexustest.Server, shape func(code string) any) string {
	t.Helper()
	target, _ := url.Parse(emu.URL())
	p := httputil.NewSingleHostReverseProxy(target)
	p.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.URL.Path != bluenexustest.PathHandoffInit || resp.StatusCode != http.StatusOK {
			return nil
		}
		var in struct{ Code string }
		if err := json.NewDecoder(resp.Body).Decode(&in); err != nil {
			return err
		}
		resp.Body.Close()
		b, _ := json.Marshal(shape(in.Code))
		resp.Body = io.NopCloser(bytes.NewReader(b))
		resp.ContentLength = int64(len(b))
		resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
		return nil
	}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestAnswerShapes covers each handoff answer shape the kit parses
// (docs/BLUENEXUS.md section 5), and one it does not.
func TestAnswerShapes(t *testing.T) {
	soon := func() string { return time.Now().Add(30 * time.Second).UTC().Format(time.RFC3339) }
	tests := []struct {
		name              string
		shape             func(code string) any
		codeField, expiry string
	}{
		{"code_expiresAt", func(c string) any { return map[string]any{"code": c, "expiresAt": soon()} }, "code", "expiresAt"},
		{"code_expiresIn", func(c string) any { return map[string]any{"code": c, "expiresIn": 30} }, "code", "expiresIn"},
		{"handoffCode_no_expiry", func(c string) any { return map[string]any{"handoffCode": c} }, "handoffCode", ""},
		{"data_code_expiresIn", func(c string) any { return map[string]any{"data": map[string]any{"code": c, "expiresIn": 30}} }, "data.code", "data.expiresIn"},
		{"data_handoffCode_expiresAt", func(c string) any {
			return map[string]any{"data": map[string]any{"handoffCode": c, "expiresAt": soon()}, "success": true}
		}, "data.handoffCode", "data.expiresAt"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			emu, env := emulator(t)
			env["BLUENEXUS_API_BASE"] = reshape(t, emu, tc.shape)
			o := doctorRun(t, env, seams{}, "-json")
			r := o.check(t, "handoff.shape")
			if o.code != exitOK || !r.OK || r.Facts["code_field"] != tc.codeField || r.Facts["expiry_field"] != tc.expiry {
				t.Fatalf("exit %d, %+v", o.code, r)
			}
			if life := r.Facts["code_life_s"].(float64); life < 25 || life > 31 {
				t.Errorf("code life %vs", life)
			}
			if !o.check(t, "handoff.white_label").OK {
				t.Errorf("the reshaped code did not open the page: %s", o.stdout)
			}
		})
	}
	t.Run("unknown_shape", func(t *testing.T) {
		emu, env := emulator(t)
		env["BLUENEXUS_API_BASE"] = reshape(t, emu, func(c string) any { return map[string]any{"result": map[string]any{"token": "canary-" + c}} })
		o := doctorRun(t, env, seams{}, "-json")
		r := o.check(t, "handoff.shape")
		if o.code != exitFailed || r.OK || !strings.Contains(r.Detail, "its fields: result") || !strings.Contains(r.Fix, "report these field names") {
			t.Fatalf("exit %d, %+v", o.code, r)
		}
	})
}

// TestClientIPReportRoute calls a middleware.ClientIPReport route, as an
// operator does through their load balancer.
func TestClientIPReportRoute(t *testing.T) {
	xff, err := middleware.NewXFFTrustedRangesStrategy("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	admin := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != clientIPAuth {
				http.Error(w, "admins only", http.StatusUnauthorized)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
	tests := []struct {
		name     string
		h        http.Handler
		auth     bool
		ok       bool
		detail   string
		fix      string
		clientIP string
	}{
		{name: "derived", h: admin(middleware.ClientIPReport(middleware.RemoteAddrStrategy())), auth: true, ok: true,
			detail: "TCP peer (no header is read) derives 127.0.0.1", clientIP: "127.0.0.1"},
		{name: "no_header_from_the_proxy", h: admin(middleware.ClientIPReport(xff)), auth: true,
			detail: "found no client IP: middleware: no client IP: header absent (X-Forwarded-For); walk: TCP peer 127.0.0.1 (trusted", fix: "docs/client-ip.md section 3"},
		{name: "no_credentials", h: admin(middleware.ClientIPReport(xff)),
			detail: "answered status 401", fix: "HANDOFF_CLIENT_IP_AUTH"},
		{name: "not_a_report", h: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "{}") }),
			detail: "did not answer a client-IP report", fix: "mount middleware.ClientIPReport"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.h)
			t.Cleanup(srv.Close)
			_, env := emulator(t)
			env["HANDOFF_CLIENT_IP_URL"] = srv.URL + "/debug/client-ip"
			if tc.auth {
				env["HANDOFF_CLIENT_IP_AUTH"] = clientIPAuth
			}
			o := doctorRun(t, env, seams{}, "-json")
			r := o.check(t, "client_ip.proxies")
			if r.OK != tc.ok || !r.Required || !strings.Contains(r.Detail, tc.detail) || !strings.Contains(r.Fix, tc.fix) {
				t.Fatalf("%+v; want ok %v, %q, %q", r, tc.ok, tc.detail, tc.fix)
			}
			if want := map[bool]int{true: exitOK, false: exitFailed}[tc.ok]; o.code != want {
				t.Errorf("exit %d, want %d", o.code, want)
			}
			if tc.ok && r.Facts["client_ip"] != tc.clientIP {
				t.Errorf("facts %v", r.Facts)
			}
		})
	}
}
