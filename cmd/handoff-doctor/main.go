// Command handoff-doctor checks, before production, that an app's handoffkit
// configuration and its BlueNexus account work together: the cookie keys
// and URLs, that the API and the white-label page are reachable over valid
// TLS, that the client credentials are accepted, and, given a test user's
// access token, a real handoff and the forwarded client IP. It prints one
// line per check, ✓ or ✗ with the fix, or a JSON report with -json, and
// exits 0 only when every required check passes. It never prints a secret.
//
// It reads the app's configuration from the environment, and flags override
// it:
//
//	BLUENEXUS_API_BASE          -api-base          API base (https://api.bluenexus.ai)
//	BLUENEXUS_WHITE_LABEL_URL   -white-label-url   the white-label page
//	HANDOFF_RETURN_URL          -return-url        the app's return route (redirectUri)
//	HANDOFF_COOKIE_KEYS         -cookie-keys       hashkey:blockkey in hex, newest first
//	BLUENEXUS_CLIENT_ID         -client-id         the white-label auth client
//	BLUENEXUS_CLIENT_SECRET     -client-secret     its secret (empty: a public client)
//	BLUENEXUS_CLIENT_IP_HEADER  -client-ip-header  header that forwards the user's IP (X-Forwarded-For)
//	HANDOFF_CODE_PARAM          -code-param        the white-label URL's code parameter (code)
//	BLUENEXUS_ACCESS_TOKEN      -access-token      a test user's access token: runs a real handoff
//	HANDOFF_CLIENT_IP_URL       -client-ip-url     your middleware.ClientIPReport route, through your proxies
//	HANDOFF_CLIENT_IP_AUTH      -client-ip-auth    Authorization header value for that route
//
// Pass secrets in the environment rather than as flags, which other users of
// the machine can read in the process list. docs/go-live.md describes the
// checks and what to do before production.
package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr, seams{now: time.Now}))
}

// seams are what tests replace: the trusted roots (nil: the system's) and
// the clock that judges certificate expiry.
type seams struct {
	roots *x509.CertPool
	now   func() time.Time
}

// config is the app's configuration as the doctor reads it.
type config struct {
	apiBase, whiteLabel, returnURL, cookieKeys  string
	clientID, clientSecret, ipHeader, codeParam string
	accessToken, clientIPURL, clientIPAuth      string
	json                                        bool
	timeout                                     time.Duration
}

// secrets are the configured values that must never be printed.
func (c *config) secrets() []string {
	var out []string
	for _, s := range []string{c.cookieKeys, c.clientSecret, c.accessToken, c.clientIPAuth} {
		if s != "" {
			out = append(out, s)
		}
		// Each half of a key pair too, in case a message quoted one.
		for part := range strings.FieldsFuncSeq(s, func(r rune) bool { return r == ',' || r == ':' || r == ' ' }) {
			if len(part) >= 8 {
				out = append(out, part)
			}
		}
	}
	return out
}

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1 // a required check failed
	exitUsage  = 2
)

// run parses the configuration, runs every check and writes the report.
// It returns the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, sm seams) int {
	cfg, err := parseConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintln(stderr, "handoff-doctor:", err)
		return exitUsage
	}
	if sm.now == nil {
		sm.now = time.Now
	}
	d := newDoctor(cfg, sm)
	results := d.runAll(ctx)
	ok := true
	for i := range results {
		results[i].redact(cfg.secrets())
		if results[i].Required && !results[i].OK {
			ok = false
		}
	}
	if cfg.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(jsonReport{OK: ok, Checks: results}); err != nil {
			fmt.Fprintln(stderr, "handoff-doctor:", err)
			return exitFailed
		}
	} else {
		for _, r := range results {
			r.print(stdout)
		}
		if ok {
			fmt.Fprintln(stdout, "every required check passed")
		} else {
			fmt.Fprintln(stdout, "some required checks failed: fix them before production")
		}
	}
	if !ok {
		return exitFailed
	}
	return exitOK
}

type jsonReport struct {
	OK     bool     `json:"ok"`
	Checks []result `json:"checks"`
}

// settings maps each flag to the environment variable it overrides.
var settings = []struct{ flag, env, def, usage string }{
	{"api-base", "BLUENEXUS_API_BASE", "https://api.bluenexus.ai", "BlueNexus API base"},
	{"white-label-url", "BLUENEXUS_WHITE_LABEL_URL", "", "the white-label page URL"},
	{"return-url", "HANDOFF_RETURN_URL", "", "the app's return URL, the redirectUri"},
	{"cookie-keys", "HANDOFF_COOKIE_KEYS", "", "cookie keys, hashkey:blockkey in hex, newest first (secret)"},
	{"client-id", "BLUENEXUS_CLIENT_ID", "", "BlueNexus client id"},
	{"client-secret", "BLUENEXUS_CLIENT_SECRET", "", "BlueNexus client secret (secret)"},
	{"client-ip-header", "BLUENEXUS_CLIENT_IP_HEADER", "X-Forwarded-For", "header that forwards the user's IP on handoff init"},
	{"code-param", "HANDOFF_CODE_PARAM", "code", "the white-label URL's code parameter"},
	{"access-token", "BLUENEXUS_ACCESS_TOKEN", "", "a test user's access token, to run a real handoff (secret)"},
	{"client-ip-url", "HANDOFF_CLIENT_IP_URL", "", "your middleware.ClientIPReport route, called through your proxies"},
	{"client-ip-auth", "HANDOFF_CLIENT_IP_AUTH", "", "Authorization header value for -client-ip-url (secret)"},
}

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("handoff-doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dst := []*string{&c.apiBase, &c.whiteLabel, &c.returnURL, &c.cookieKeys, &c.clientID, &c.clientSecret,
		&c.ipHeader, &c.codeParam, &c.accessToken, &c.clientIPURL, &c.clientIPAuth}
	for i, s := range settings {
		// The default shown by -h is never the environment's value: it
		// may be a secret.
		fs.StringVar(dst[i], s.flag, s.def, s.usage+" (env "+s.env+")")
	}
	fs.BoolVar(&c.json, "json", false, "write a JSON report instead of lines")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "time limit of each network check")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for i, s := range settings {
		if v := getenv(s.env); v != "" && !set[s.flag] {
			*dst[i] = v
		}
	}
	if fs.NArg() > 0 {
		return c, errors.New("unexpected argument: every setting is a flag or an environment variable")
	}
	if c.timeout <= 0 {
		return c, errors.New("-timeout must be positive")
	}
	return c, nil
}
