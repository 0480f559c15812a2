// Command bluenexus-emulator serves the BlueNexus emulator of package
// bluenexustest as a standalone server, for local development of apps that
// use the Manage Connections flow, and as a service for tests and CI jobs
// written in any language.
//
// It prints the values an app needs as environment-style lines on standard
// output (API base, white-label URL, the auth client's id and secret, and
// for each user an access token and a refresh token), then serves until
// SIGINT or SIGTERM and shuts down gracefully. GET /healthz answers 200 "ok"
// once it serves. The control API under /_emulator/ (on unless
// -control-api=false) lets tests create users, add connections, inject
// faults, move the clock and reset; docs/emulator.md documents it.
//
// Usage:
//
//	bluenexus-emulator [flags]
//
// Flags:
//
//	-addr 127.0.0.1:8090         address to listen on
//	-users alice,bob             users to create and sign in
//	-tokens alice=TOKEN,...      fixed static tokens (never expire), so app
//	                             configuration stays stable
//	-connections alice:google,.. connections to seed (user:provider)
//	-code-ttl 30s                handoff code lifetime
//	-token-ttl 15m               access token lifetime
//	-refresh-ttl 168h            refresh token lifetime
//	-client-id ID                the auth client the token endpoint accepts
//	-client-secret SECRET        its secret ("" for a public client)
//	-allowed-domains LIST        redirectUri hosts handoff init accepts
//	                             (default: loopback, app.example.com,
//	                             app.example, any custom app scheme)
//	-rate-limit                  enforce the published rate limits
//	                             (100/min, 10/min on the token endpoint)
//	-client-ip-header NAME       header carrying the end user's IP on init
//	                             ("" to use the TCP peer only)
//	-pagination-shape hasMore    or "pages"
//	-token-variants LIST         token endpoint answers RFC 6749 allows:
//	                             no-rotation, no-expires-in,
//	                             lowercase-token-type, form-errors,
//	                             invalid-client, reuse-grace:DURATION
//	-fault PATH=SPEC,SPEC        faults played once each, in order (repeatable)
//	-fault-always PATH=SPEC      a fault played on every request (repeatable)
//	-control-api=true            serve the control API under /_emulator/
//	-log-requests                log each request (method, path, status,
//	                             latency_ms) as JSON on standard error
//
// For each user it prints BLUENEXUS_TOKEN_<USER> (an access token that
// expires after -token-ttl, or the fixed token of -tokens, which never
// does) and BLUENEXUS_REFRESH_TOKEN_<USER> (single use: trade it at
// /api/v1/auth/token for the next pair).
//
// PATH is init, token, connections, whitelabel, or a literal path starting
// with "/". SPEC is one of: a status (503); a status with Retry-After
// (429@2s); delay:DURATION; malformed; oversize:BYTES; html; reset;
// redirect:URL (a URL without "," or "+").
// Join parts with "+" to combine them: delay:2s+503. For example
// -fault init=503,503 fails the next two handoff inits, then recovers.
//
// -h prints the flags and exits 0. A command line that does not parse exits
// 2; any other failure to start (a flag value the emulator refuses, a busy
// address) exits 1.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := exitCode(run(ctx, os.Args[1:], os.Stdout, os.Stderr), os.Stderr)
	stop()
	os.Exit(code)
}

// usageError is a bad command line: exit status 2. printed says the flag
// package has already reported it.
type usageError struct {
	err     error
	printed bool
}

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// exitCode reports err on stderr and maps it to the exit status: 0 for
// success and for -h, 2 for a bad command line, 1 for anything else.
func exitCode(err error, stderr io.Writer) int {
	var ue usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		if !ue.printed {
			fmt.Fprintln(stderr, err)
		}
		return 2
	default:
		fmt.Fprintln(stderr, err)
		return 1
	}
}

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// Defaults of the flags that mirror bluenexustest's options.
const (
	defaultClientID     = "bluenexus-emulator"
	defaultClientSecret = "bluenexus-emulator-secret"
)

// run parses args, starts the emulator, prints its configuration to stdout
// and serves until ctx ends. Command-line errors are a usageError.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bluenexus-emulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: bluenexus-emulator [flags]\n\n"+
			"Serves the BlueNexus emulator (API, token endpoint, white-label page) until\n"+
			"SIGINT or SIGTERM, after printing BLUENEXUS_* configuration lines on stdout.\n"+
			"See docs/emulator.md for the control API and the white-label form contract.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	addr := fs.String("addr", "127.0.0.1:8090", "address to listen on")
	users := fs.String("users", "alice,bob", "comma-separated users to create and sign in")
	tokens := fs.String("tokens", "", "fixed static tokens (never expire), user=token comma-separated")
	conns := fs.String("connections", "", "connections to seed, user:provider comma-separated")
	codeTTL := fs.Duration("code-ttl", 30*time.Second, "handoff code lifetime")
	tokenTTL := fs.Duration("token-ttl", 900*time.Second, "access token lifetime")
	refreshTTL := fs.Duration("refresh-ttl", 7*24*time.Hour, "refresh token lifetime")
	clientID := fs.String("client-id", defaultClientID, "id of the auth client the token endpoint accepts")
	clientSecret := fs.String("client-secret", defaultClientSecret, `its secret ("" for a public client)`)
	domains := fs.String("allowed-domains", "", "comma-separated redirectUri hosts handoff init accepts: host, *.domain, IP, CIDR or scheme:// (default: localhost, 127.0.0.0/8, ::1, app.example.com, app.example and any custom app scheme)")
	rateLimit := fs.Bool("rate-limit", false, "enforce the published rate limits: 100/min per client IP, 10/min on the token endpoint")
	ipHeader := fs.String("client-ip-header", "X-Forwarded-For", `header carrying the end user's IP on init ("" for the TCP peer only)`)
	shape := fs.String("pagination-shape", string(bluenexustest.PaginationHasMore), `pagination object: "hasMore" or "pages"`)
	var variants bluenexustest.TokenVariants
	fs.Var(&variants, "token-variants", "token endpoint variants, a comma-separated `LIST` (repeatable): no-rotation, no-expires-in, lowercase-token-type, form-errors, invalid-client, reuse-grace:DURATION")
	control := fs.Bool("control-api", true, "serve the control API under /_emulator/ (unauthenticated: keep -addr on loopback)")
	logRequests := fs.Bool("log-requests", false, "log each request as JSON on stderr: method, path, status, latency_ms (never a query, header or body)")
	var faults, always listFlag
	fs.Var(&faults, "fault", "faults played once each, PATH=SPEC,SPEC (repeatable)")
	fs.Var(&always, "fault-always", "fault played on every request, PATH=SPEC (repeatable)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err: err, printed: true} // with the usage
	}
	if fs.NArg() > 0 {
		return usageError{err: fmt.Errorf("bluenexus-emulator: unexpected arguments %q", fs.Args())}
	}

	opts := []bluenexustest.Option{
		bluenexustest.WithAddr(*addr),
		bluenexustest.WithCodeTTL(*codeTTL),
		bluenexustest.WithTokenTTL(*tokenTTL),
		bluenexustest.WithRefreshTTL(*refreshTTL),
		bluenexustest.WithClientCredentials(*clientID, *clientSecret),
		bluenexustest.WithClientIPHeader(*ipHeader),
		bluenexustest.WithPaginationShape(bluenexustest.PaginationShape(*shape)),
		bluenexustest.WithTokenVariants(variants),
	}
	if *domains != "" {
		opts = append(opts, bluenexustest.WithAllowedDomains(splitList(*domains)...))
	}
	if *rateLimit {
		opts = append(opts, bluenexustest.WithRateLimits())
	}
	if *control {
		opts = append(opts, bluenexustest.WithControlAPI())
	}
	if *logRequests {
		opts = append(opts, bluenexustest.WithRequestLog(requestLogger(stderr)))
	}
	names := splitList(*users)
	fixed, err := parseTokens(*tokens)
	if err != nil {
		return usageError{err: err}
	}
	seeds, err := parseConnections(*conns)
	if err != nil {
		return usageError{err: err}
	}
	for _, c := range seeds {
		if !slices.Contains(names, c[0]) {
			names = append(names, c[0])
		}
	}
	for _, name := range names {
		if _, ok := fixed[name]; !ok {
			opts = append(opts, bluenexustest.WithUser(name))
		}
	}
	for _, name := range sortedKeys(fixed) {
		opts = append(opts, bluenexustest.WithUserToken(name, fixed[name]))
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	type injection struct {
		path   string
		faults []bluenexustest.Fault
	}
	var queued, sticky []injection
	for _, spec := range faults {
		path, fl, err := parseFaultFlag(spec)
		if err != nil {
			return usageError{err: err}
		}
		queued = append(queued, injection{path, fl})
	}
	for _, spec := range always {
		path, fl, err := parseFaultFlag(spec)
		if err != nil {
			return usageError{err: err}
		}
		if len(fl) != 1 {
			return usageError{err: fmt.Errorf("bluenexus-emulator: -fault-always %q: want exactly one fault", spec)}
		}
		sticky = append(sticky, injection{path, fl})
	}

	s, err := bluenexustest.New(opts...)
	if err != nil {
		return err
	}
	defer s.Close()
	for _, c := range seeds {
		s.Connect(c[0], c[1])
	}
	for _, in := range queued {
		s.Inject(in.path, in.faults...)
	}
	for _, in := range sticky {
		s.InjectAlways(in.path, in.faults[0])
	}

	id, secret := s.ClientCredentials()
	fmt.Fprintf(stdout, "BLUENEXUS_API_BASE=%s\n", s.URL())
	fmt.Fprintf(stdout, "BLUENEXUS_WHITE_LABEL_URL=%s\n", s.WhiteLabelURL())
	fmt.Fprintf(stdout, "BLUENEXUS_CLIENT_ID=%s\n", id)
	fmt.Fprintf(stdout, "BLUENEXUS_CLIENT_SECRET=%s\n", secret)
	if *control {
		fmt.Fprintf(stdout, "BLUENEXUS_CONTROL_URL=%s/_emulator\n", s.URL())
	}
	for _, name := range names {
		pair := s.SignIn(name)
		access := pair.AccessToken
		if _, ok := fixed[name]; ok {
			access = s.AddUser(name) // the fixed static token
		}
		fmt.Fprintf(stdout, "BLUENEXUS_TOKEN_%s=%s\n", envName(name), access.Reveal())
		fmt.Fprintf(stdout, "BLUENEXUS_REFRESH_TOKEN_%s=%s\n", envName(name), pair.RefreshToken.Reveal())
	}
	header := *ipHeader
	if header == "" {
		header = "(none: TCP peer)"
	}
	tokenVariants := variants.String()
	if tokenVariants == "" {
		tokenVariants = "none"
	}
	fmt.Fprintf(stderr, "bluenexus-emulator: serving %s (code TTL %v, token TTL %v, client IP header %s, pagination %s, token variants %s, rate limits %v, control API %v); Ctrl-C stops\n",
		s.URL(), *codeTTL, *tokenTTL, header, *shape, tokenVariants, *rateLimit, *control)

	<-ctx.Done()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("bluenexus-emulator: shutdown: %w", err)
	}
	fmt.Fprintln(stderr, "bluenexus-emulator: stopped")
	return nil
}

// splitList splits a comma-separated flag value, dropping empty entries.
func splitList(v string) []string {
	var out []string
	for part := range strings.SplitSeq(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// parseTokens reads "alice=tok1,bob=tok2".
func parseTokens(v string) (map[string]bluenexus.AccessToken, error) {
	out := map[string]bluenexus.AccessToken{}
	for _, pair := range splitList(v) {
		name, tok, ok := strings.Cut(pair, "=")
		if !ok || name == "" || tok == "" {
			return nil, fmt.Errorf("bluenexus-emulator: -tokens: %q is not user=token", pair)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("bluenexus-emulator: -tokens: user %s given twice", name)
		}
		out[name] = bluenexus.AccessToken(tok)
	}
	return out, nil
}

// providerIDRE is the provider id rule of bluenexustest's Server.Connect,
// checked here so that a bad flag is an error rather than a panic.
var providerIDRE = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)

// parseConnections reads "alice:google,alice:notion".
func parseConnections(v string) ([][2]string, error) {
	var out [][2]string
	for _, pair := range splitList(v) {
		user, provider, ok := strings.Cut(pair, ":")
		if !ok || user == "" || !providerIDRE.MatchString(provider) {
			return nil, fmt.Errorf("bluenexus-emulator: -connections: %q is not user:provider (provider: 1 to 32 of a-z 0-9 _ -)", pair)
		}
		out = append(out, [2]string{user, provider})
	}
	return out, nil
}

// pathAliases name the emulator's paths in -fault flags.
var pathAliases = map[string]string{
	"init":        bluenexustest.PathHandoffInit,
	"token":       bluenexustest.PathToken,
	"connections": bluenexustest.PathConnections,
	"whitelabel":  bluenexustest.PathWhiteLabel,
}

// parseFaultFlag reads "PATH=SPEC,SPEC".
func parseFaultFlag(v string) (string, []bluenexustest.Fault, error) {
	name, specs, ok := strings.Cut(v, "=")
	if !ok {
		return "", nil, fmt.Errorf("bluenexus-emulator: -fault %q: want PATH=SPEC[,SPEC...]", v)
	}
	path, ok := pathAliases[name]
	if !ok {
		if !strings.HasPrefix(name, "/") {
			return "", nil, fmt.Errorf("bluenexus-emulator: -fault %q: path %q is not init, token, connections, whitelabel or /literal", v, name)
		}
		path = name
	}
	var out []bluenexustest.Fault
	for _, spec := range strings.Split(specs, ",") {
		f, err := parseFault(spec)
		if err != nil {
			return "", nil, fmt.Errorf("bluenexus-emulator: -fault %q: %w", v, err)
		}
		out = append(out, f)
	}
	return path, out, nil
}

// parseFault reads one SPEC: parts joined by "+".
func parseFault(spec string) (bluenexustest.Fault, error) {
	var f bluenexustest.Fault
	if spec == "" {
		return f, errors.New("empty fault")
	}
	for part := range strings.SplitSeq(spec, "+") {
		kind, arg, _ := strings.Cut(part, ":")
		switch kind {
		case "delay":
			d, err := time.ParseDuration(arg)
			if err != nil || d <= 0 {
				return f, fmt.Errorf("delay %q: want a positive duration", arg)
			}
			f.Latency = d
		case "malformed":
			f.Malformed = true
		case "html":
			f.WrongContentType = true
		case "reset":
			f.Reset = true
		case "oversize":
			n, err := strconv.Atoi(arg)
			if err != nil || n <= 0 {
				return f, fmt.Errorf("oversize %q: want a positive byte count", arg)
			}
			f.Oversize = n
		case "redirect":
			if arg == "" {
				return f, errors.New("redirect: want a URL")
			}
			f.Redirect = arg
		default:
			code, retry, hasRetry := strings.Cut(part, "@")
			n, err := strconv.Atoi(code)
			if err != nil || n < 100 || n > 599 {
				return f, fmt.Errorf("%q is not a fault (status, status@retry, delay:D, malformed, oversize:N, html, reset, redirect:URL)", part)
			}
			f.Status = n
			if hasRetry {
				d, err := time.ParseDuration(retry)
				if err != nil || d <= 0 {
					return f, fmt.Errorf("retry-after %q: want a positive duration", retry)
				}
				f.RetryAfter = d
			}
		}
	}
	return f, nil
}

// requestLogger writes one JSON object a line to w for each request: level,
// time, method, path, status and latency_ms. The emulator hands it the URL
// path only, never the query, a header or a body.
func requestLogger(w io.Writer) func(method, path string, status int, latency time.Duration) {
	logger := zerolog.New(zerolog.SyncWriter(w)).With().Timestamp().Logger()
	return func(method, path string, status int, latency time.Duration) {
		logger.Info().
			Str("method", method).
			Str("path", path).
			Int("status", status).
			Float64("latency_ms", float64(latency.Microseconds())/1000).
			Msg("request")
	}
}

// envName turns a user name into an environment variable suffix.
func envName(user string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		default:
			return '_'
		}
	}, user)
}
