package handlers_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/handoffkit/handoffkit/handlers"
)

// TestInsecureDevHTTP: plain http to a private-network address (a phone on
// the LAN, the Android emulator's 10.0.2.2) is refused by default in every
// URL that carries a code or a state, and allowed only with
// WithInsecureDevHTTP; public addresses, host names and every other URL
// rule stay refused with it.
func TestInsecureDevHTTP(t *testing.T) {
	settings := []struct {
		name string
		set  func(c *handlers.Config, raw string) []handlers.Option
	}{
		{"Config.WhiteLabelURL", func(c *handlers.Config, raw string) []handlers.Option { c.WhiteLabelURL = raw; return nil }},
		{"Config.ReturnURL", func(c *handlers.Config, raw string) []handlers.Option { c.ReturnURL = raw; return nil }},
		{"WithReturnURIs", func(_ *handlers.Config, raw string) []handlers.Option {
			return []handlers.Option{handlers.WithReturnURIs(raw)}
		}},
	}
	private := []string{
		"http://192.168.1.10:8081/white-label",
		"http://10.0.2.2:8080/connections/return",
		"http://172.16.0.5/r",
		"http://172.31.255.254:8080/r?x=1",
		"http://[fd00::1]:8080/r",
	}
	never := []string{
		"http://203.0.113.5:8080/r",             // public
		"http://app.example.com/r",              // a host name, even one that resolves privately
		"http://172.32.0.1/r",                   // just outside 172.16.0.0/12
		"http://169.254.1.1/r",                  // link-local
		"http://100.64.0.1/r",                   // carrier-grade NAT, not private
		"http://0.0.0.0:8080/r",                 // unspecified
		"http://010.0.0.1/r",                    // not canonical
		"http://192.168.1.10:8080/r#fragment",   // fragment
		"http://user@192.168.1.10:8080/r",       // userinfo
		"http://[::ffff:192.168.1.10]:8080/r",   // IPv4-mapped
		"http://192.168.1.10:0/r",               // port 0
		"http://192.168.1.10:8080/a b",          // whitespace
		"http://192.168.1.10:8080/r\\evil.test", // backslash
	}
	for _, s := range settings {
		for _, raw := range private {
			t.Run(s.name+"/default refuses "+raw, func(t *testing.T) {
				cfg := goodConfig()
				_, err := handlers.New(cfg, append(s.set(&cfg, raw), handlers.WithLogger(zerolog.Nop()))...)
				if err == nil || !strings.Contains(err.Error(), s.name) || !strings.Contains(err.Error(), "WithInsecureDevHTTP") {
					t.Fatalf("err = %v, want a refusal naming %s and WithInsecureDevHTTP", err, s.name)
				}
			})
			t.Run(s.name+"/switch allows "+raw, func(t *testing.T) {
				cfg := goodConfig()
				opts := append(s.set(&cfg, raw), handlers.WithInsecureDevHTTP(), handlers.WithLogger(zerolog.Nop()))
				if _, err := handlers.New(cfg, opts...); err != nil {
					t.Fatalf("with WithInsecureDevHTTP: %v", err)
				}
			})
		}
		for _, raw := range never {
			t.Run(s.name+"/switch still refuses "+raw, func(t *testing.T) {
				cfg := goodConfig()
				opts := append(s.set(&cfg, raw), handlers.WithInsecureDevHTTP(), handlers.WithLogger(zerolog.Nop()))
				if _, err := handlers.New(cfg, opts...); err == nil || !strings.Contains(err.Error(), s.name) {
					t.Fatalf("err = %v, want a refusal naming %s", err, s.name)
				}
			})
		}
	}
}

// TestInsecureDevHTTPWarns: a kit built with the development switch says so
// in its log at construction, so that it is heard if it reaches production;
// one built without it logs nothing.
func TestInsecureDevHTTPWarns(t *testing.T) {
	for _, on := range []bool{false, true} {
		var buf bytes.Buffer
		opts := []handlers.Option{handlers.WithLogger(zerolog.New(&buf))}
		if on {
			opts = append(opts, handlers.WithInsecureDevHTTP())
		}
		if _, err := handlers.New(goodConfig(), opts...); err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(buf.String(), `"event":"handoff.insecure_dev_http"`) && strings.Contains(buf.String(), `"level":"warn"`); got != on {
			t.Errorf("switch %v: log %q", on, buf.String())
		}
	}
}
