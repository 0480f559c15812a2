// Command handoff-demo runs an example app that sends its signed-in users to
// the BlueNexus Manage Connections page and back through handoffkit.
//
// By default it embeds the BlueNexus emulator (package bluenexustest), so the
// whole flow runs on this machine with no network:
//
//	go run ./cmd/handoff-demo -insecure-dev-cookies
//
// Mobile apps (examples/expo, docs/mobile.md) register their deep link with
// -return-uris yourapp://connections and sign in at POST /api/signin for a
// bearer token; -addr, -emulator-addr, -white-label-url and
// -insecure-dev-http let a phone on the local network reach both servers.
//
// Point it at a real BlueNexus with -api-base, -white-label-url, -public-url
// and -tokens (or the HANDOFF_DEMO_TOKENS environment variable).
//
// The app serves the kit's Prometheus metrics at /metrics.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
	"github.com/handoffkit/handoffkit/cmd/internal/demoapp"
	"github.com/handoffkit/handoffkit/handlers"
	"github.com/handoffkit/handoffkit/metrics"
	"github.com/handoffkit/handoffkit/middleware"
	"github.com/handoffkit/handoffkit/session"
)

// devKeys sign and encrypt the demo's cookies when no keys are configured.
// They are public: use them only on loopback with the embedded emulator.
const devKeys = "6465762d6f6e6c792d686173682d6b65792d6f662d7468652d64656d6f2d6170:6465762d6f6e6c792d626c6f636b2d6b65792d6f662d7468652d64656d6f2121"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, nil); errors.Is(err, flag.ErrHelp) {
		return // -h: the usage is printed
	} else if err != nil {
		fmt.Fprintln(os.Stderr, "handoff-demo:", err)
		os.Exit(1)
	}
}

// run parses flags, starts the app (and the emulator unless -api-base is
// set) and serves until ctx ends. ready, when not nil, receives the app's
// URL once it listens.
func run(ctx context.Context, args []string, stdout io.Writer, ready chan<- string) error {
	fs := flag.NewFlagSet("handoff-demo", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "address the app listens on")
	emulatorAddr := fs.String("emulator-addr", "127.0.0.1:8081", "address of the embedded emulator")
	apiBase := fs.String("api-base", "", "real BlueNexus API base (e.g. https://api.bluenexus.ai); empty embeds the emulator")
	whiteLabel := fs.String("white-label-url", "", "white-label page URL (required with -api-base); with the embedded emulator, its page as phones reach it (e.g. http://10.0.2.2:8081/white-label)")
	publicURL := fs.String("public-url", "", "the app's public origin (default http://ADDR)")
	tokens := fs.String("refresh-tokens", os.Getenv("HANDOFF_DEMO_REFRESH_TOKENS"), "user=refresh-token pairs, comma separated (with -api-base)")
	clientID := fs.String("client-id", os.Getenv("BLUENEXUS_CLIENT_ID"), "BlueNexus client id, to refresh tokens (with -api-base)")
	clientSecret := fs.String("client-secret", os.Getenv("BLUENEXUS_CLIENT_SECRET"), "BlueNexus client secret; empty for a public client (with -api-base)")
	tokenTTL := fs.Duration("token-ttl", 15*time.Minute, "the embedded emulator's access-token lifetime (e.g. 20s to watch a refresh)")
	var variants bluenexustest.TokenVariants
	fs.Var(&variants, "token-variants", "the embedded emulator's token endpoint variants, a comma-separated `LIST`: no-rotation, no-expires-in, lowercase-token-type, form-errors, invalid-client, reuse-grace:DURATION (docs/emulator.md)")
	keys := fs.String("cookie-keys", os.Getenv("HANDOFF_DEMO_COOKIE_KEYS"), "hashkey:blockkey in hex, newest first, comma separated")
	insecure := fs.Bool("insecure-dev-cookies", false, "allow cookies over plain http (development on loopback only)")
	devHTTP := fs.Bool("insecure-dev-http", false, "allow plain http to private-network addresses in the app's and the white-label URLs (development with a phone or the Android emulator)")
	returnURIs := fs.String("return-uris", "", "more redirectUris, comma separated, chosen by /manage-connections?redirect=: mobile deep links such as yourapp://connections")
	control := fs.Bool("emulator-control", false, "serve the embedded emulator's control API under /_emulator/ (unauthenticated: loopback only)")
	mux := fs.String("mux", "chi", "router: chi or servemux")
	trusted := fs.String("trusted-proxies", "", "trust X-Forwarded-For from these CIDRs (default: the TCP peer is the client)")
	logLevel := fs.String("log-level", "info", "zerolog level")
	if err := fs.Parse(args); err != nil {
		return err
	}
	level, err := zerolog.ParseLevel(*logLevel)
	if err != nil {
		return err
	}
	logger := zerolog.New(zerolog.ConsoleWriter{Out: stdout, NoColor: true, TimeFormat: time.TimeOnly}).Level(level).With().Timestamp().Logger()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	if *publicURL == "" {
		*publicURL = "http://" + ln.Addr().String()
	}

	cfg := demoapp.Config{PublicURL: *publicURL, InsecureCookies: *insecure, ServeMux: *mux == "servemux", Logger: logger}
	if *mux != "chi" && *mux != "servemux" {
		return fmt.Errorf("-mux: %q is not chi or servemux", *mux)
	}
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		return err
	}
	cfg.Observer = m
	cfg.Metrics = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	clientOpts := []bluenexus.Option{bluenexus.WithBreaker(bluenexus.BreakerSettings{OnStateChange: m.BreakerStateChange})}
	var emu *bluenexustest.Server
	var pairs map[string]bluenexus.Token
	if *apiBase == "" {
		emuOpts := []bluenexustest.Option{bluenexustest.WithAddr(*emulatorAddr), bluenexustest.WithTokenTTL(*tokenTTL),
			bluenexustest.WithTokenVariants(variants), bluenexustest.WithUser("alice"), bluenexustest.WithUser("bob")}
		if *control {
			emuOpts = append(emuOpts, bluenexustest.WithControlAPI())
		}
		emu, err = bluenexustest.New(emuOpts...)
		if err != nil {
			return err
		}
		defer emu.Close()
		emu.Connect("alice", "notion")
		cfg.Users = []string{"alice", "bob"}
		cfg.WhiteLabelURL = emu.WhiteLabelURL()
		if *whiteLabel != "" {
			cfg.WhiteLabelURL = *whiteLabel
		}
		id, secret := emu.ClientCredentials()
		clientOpts = append(clientOpts, bluenexus.WithBaseURL(emu.URL()), bluenexus.WithClientCredentials(id, secret))
		if *keys == "" {
			*keys = devKeys
		}
		fmt.Fprintf(stdout, "BlueNexus emulator: API %s, white-label page %s, access tokens live %v\n", emu.URL(), cfg.WhiteLabelURL, *tokenTTL)
		if *control {
			fmt.Fprintf(stdout, "BlueNexus emulator: control API %s/_emulator/\n", emu.URL())
		}
		if v := variants.String(); v != "" {
			fmt.Fprintf(stdout, "BlueNexus emulator: token endpoint variants %s\n", v)
		}
	} else {
		if *whiteLabel == "" || *tokens == "" || *keys == "" || *clientID == "" {
			return errors.New("-api-base needs -white-label-url, -refresh-tokens, -client-id and -cookie-keys")
		}
		clientOpts = append(clientOpts, bluenexus.WithBaseURL(*apiBase), bluenexus.WithClientCredentials(*clientID, *clientSecret))
		cfg.WhiteLabelURL = *whiteLabel
		if pairs, err = parseTokens(*tokens); err != nil {
			return err
		}
		for name := range pairs {
			cfg.Users = append(cfg.Users, name)
		}
	}
	if cfg.Keys, err = session.ParseKeys(*keys); err != nil {
		return err
	}
	if *returnURIs != "" {
		uris := strings.Split(*returnURIs, ",")
		cfg.KitOptions = append(cfg.KitOptions, handlers.WithReturnURIs(uris...))
		fmt.Fprintf(stdout, "Return URIs: %s (GET /manage-connections?redirect=URI with Accept: application/json)\n", strings.Join(uris, ", "))
	}
	if *devHTTP {
		cfg.KitOptions = append(cfg.KitOptions, handlers.WithInsecureDevHTTP())
	}
	if *trusted != "" {
		if cfg.Strategy, err = middleware.NewXFFTrustedRangesStrategy(strings.Split(*trusted, ",")...); err != nil {
			return err
		}
	}
	if cfg.Client, err = bluenexus.NewClient(clientOpts...); err != nil {
		return err
	}
	// The store starts empty: each user's pair is saved when they sign in.
	cfg.Store = bluenexus.NewMemoryTokenStore()
	if cfg.Tokens, err = bluenexus.NewTokenSource(cfg.Client, cfg.Store); err != nil {
		return err
	}
	if emu != nil {
		cfg.SignIn = demoapp.EmulatorSignIn(emu)
	} else {
		cfg.SignIn = firstSignIn(pairs)
	}
	app, err := demoapp.New(cfg)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: app, ReadHeaderTimeout: 5 * time.Second}
	fmt.Fprintf(stdout, "Example app: open %s and sign in as alice or bob (router: %s)\n", *publicURL, *mux)
	if *insecure {
		fmt.Fprintln(stdout, "Development mode: cookies are not Secure; use this only on loopback.")
	}
	if *devHTTP {
		fmt.Fprintln(stdout, "Development mode: plain http to private-network addresses; codes and states cross your network in clear text.")
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	if ready != nil {
		ready <- *publicURL
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

// firstSignIn is a demoapp.Config.SignIn that gives each user's pair from
// -refresh-tokens at their first sign-in only: a refresh token works once,
// so a later sign-in keeps the pair the source has rotated since.
func firstSignIn(pairs map[string]bluenexus.Token) func(context.Context, string) (bluenexus.Token, bool, error) {
	var mu sync.Mutex
	return func(_ context.Context, user string) (bluenexus.Token, bool, error) {
		mu.Lock()
		defer mu.Unlock()
		tok, ok := pairs[user]
		delete(pairs, user)
		return tok, ok, nil
	}
}

// parseTokens reads user=refresh-token pairs: each user's pair as BlueNexus
// gave it at sign-in, with an access token to refresh at first use.
func parseTokens(s string) (map[string]bluenexus.Token, error) {
	out := map[string]bluenexus.Token{}
	for pair := range strings.SplitSeq(s, ",") {
		name, tok, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok || name == "" || tok == "" {
			return nil, errors.New("-refresh-tokens: want user=refresh-token pairs")
		}
		out[name] = bluenexus.Token{RefreshToken: bluenexus.RefreshToken(tok)}
	}
	return out, nil
}
