// Command bluenexus-emulator serves the BlueNexus emulator of package
// bluenexustest as a standalone server, for local development of apps that
// use the Manage Connections flow and for tests written in other languages.
//
// It prints the values an app needs as environment-style lines on standard
// output (API base, white-label URL, one token per user), then serves until
// SIGINT or SIGTERM and shuts down gracefully.
//
// Usage:
//
//	bluenexus-emulator [flags]
//
// Flags:
//
//	-addr 127.0.0.1:8090         address to listen on
//	-users alice,bob             users to create, each with a random token
//	-tokens alice=TOKEN,...      fixed tokens, so app configuration stays stable
//	-connections alice:google,.. connections to seed (user:provider)
//	-code-ttl 30s                handoff code lifetime
//	-client-ip-header NAME       header carrying the end user's IP on init
//	                             ("" to use the TCP peer only)
//	-pagination-shape hasMore    or "pages"
//	-fault PATH=SPEC,SPEC        faults played once each, in order (repeatable)
//	-fault-always PATH=SPEC      a fault played on every request (repeatable)
//
// PATH is init, connections, whitelabel, or a literal path starting with "/".
// SPEC is one of: a status (503); a status with Retry-After (429@2s);
// delay:DURATION; malformed; oversize:BYTES; html; reset; redirect:URL
// (a URL without "," or "+").
// Join parts with "+" to combine them: delay:2s+503. For example
// -fault init=503,503 fails the next two handoff inits, then recovers.
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

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, err)
		}
		os.Exit(2)
	}
}

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// run parses args, starts the emulator, prints its configuration to stdout
// and serves until ctx ends.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bluenexus-emulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8090", "address to listen on")
	users := fs.String("users", "alice,bob", "comma-separated users to create")
	tokens := fs.String("tokens", "", "fixed tokens, user=token comma-separated")
	conns := fs.String("connections", "", "connections to seed, user:provider comma-separated")
	codeTTL := fs.Duration("code-ttl", 30*time.Second, "handoff code lifetime")
	ipHeader := fs.String("client-ip-header", "X-Forwarded-For", `header carrying the end user's IP on init ("" for the TCP peer only)`)
	shape := fs.String("pagination-shape", string(bluenexustest.PaginationHasMore), `pagination object: "hasMore" or "pages"`)
	var faults, always listFlag
	fs.Var(&faults, "fault", "faults played once each, PATH=SPEC,SPEC (repeatable)")
	fs.Var(&always, "fault-always", "fault played on every request, PATH=SPEC (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bluenexus-emulator: unexpected arguments %q", fs.Args())
	}

	opts := []bluenexustest.Option{
		bluenexustest.WithAddr(*addr),
		bluenexustest.WithCodeTTL(*codeTTL),
		bluenexustest.WithClientIPHeader(*ipHeader),
		bluenexustest.WithPaginationShape(bluenexustest.PaginationShape(*shape)),
	}
	names := splitList(*users)
	fixed, err := parseTokens(*tokens)
	if err != nil {
		return err
	}
	seeds, err := parseConnections(*conns)
	if err != nil {
		return err
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
			return err
		}
		queued = append(queued, injection{path, fl})
	}
	for _, spec := range always {
		path, fl, err := parseFaultFlag(spec)
		if err != nil {
			return err
		}
		if len(fl) != 1 {
			return fmt.Errorf("bluenexus-emulator: -fault-always %q: want exactly one fault", spec)
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

	fmt.Fprintf(stdout, "BLUENEXUS_API_BASE=%s\n", s.URL())
	fmt.Fprintf(stdout, "BLUENEXUS_WHITE_LABEL_URL=%s\n", s.WhiteLabelURL())
	for _, name := range names {
		fmt.Fprintf(stdout, "BLUENEXUS_TOKEN_%s=%s\n", envName(name), s.AddUser(name).Reveal())
	}
	header := *ipHeader
	if header == "" {
		header = "(none: TCP peer)"
	}
	fmt.Fprintf(stderr, "bluenexus-emulator: serving %s (code TTL %v, client IP header %s, pagination %s); Ctrl-C stops\n",
		s.URL(), *codeTTL, header, *shape)

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
	"init":        bluenexus.PathHandoffInit,
	"connections": bluenexus.PathConnections,
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
			return "", nil, fmt.Errorf("bluenexus-emulator: -fault %q: path %q is not init, connections, whitelabel or /literal", v, name)
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
