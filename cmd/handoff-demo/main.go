// Command handoff-demo runs an example app that sends its signed-in users to
// the BlueNexus Manage Connections page and back through handoffkit.
//
// By default it embeds the BlueNexus emulator (package bluenexustest), so the
// whole flow runs on this machine with no network:
//
//	go run ./cmd/handoff-demo -insecure-dev-cookies
//
// Point it at a real BlueNexus with -api-base, -white-label-url, -public-url
// and -tokens (or the HANDOFF_DEMO_TOKENS environment variable).
//
// The app serves the kit's Prometheus metrics at /metrics.
package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
	"github.com/handoffkit/handoffkit/internal/demoapp"
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
	if err := run(ctx, os.Args[1:], os.Stdout, nil); err != nil {
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
	whiteLabel := fs.String("white-label-url", "", "white-label page URL (required with -api-base)")
	publicURL := fs.String("public-url", "", "the app's public origin (default http://ADDR)")
	tokens := fs.String("tokens", os.Getenv("HANDOFF_DEMO_TOKENS"), "user=token pairs, comma separated (with -api-base)")
	keys := fs.String("cookie-keys", os.Getenv("HANDOFF_DEMO_COOKIE_KEYS"), "hashkey:blockkey in hex, newest first, comma separated")
	insecure := fs.Bool("insecure-dev-cookies", false, "allow cookies over plain http (development on loopback only)")
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
	clientOpts := []bluenexus.Option{bluenexus.WithBreakerStateChange(m.BreakerStateChange)}
	if *apiBase == "" {
		emu, err := bluenexustest.New(bluenexustest.WithAddr(*emulatorAddr),
			bluenexustest.WithUser("alice"), bluenexustest.WithUser("bob"))
		if err != nil {
			return err
		}
		defer emu.Close()
		emu.Connect("alice", "notion")
		cfg.Tokens = map[string]bluenexus.AccessToken{"alice": emu.AddUser("alice"), "bob": emu.AddUser("bob")}
		cfg.WhiteLabelURL = emu.WhiteLabelURL()
		clientOpts = append(clientOpts, bluenexus.WithBaseURL(emu.URL()))
		if *keys == "" {
			*keys = devKeys
		}
		fmt.Fprintf(stdout, "BlueNexus emulator: API %s, white-label page %s\n", emu.URL(), emu.WhiteLabelURL())
	} else {
		if *whiteLabel == "" || *tokens == "" || *keys == "" {
			return errors.New("-api-base needs -white-label-url, -tokens and -cookie-keys")
		}
		clientOpts = append(clientOpts, bluenexus.WithBaseURL(*apiBase))
		cfg.WhiteLabelURL = *whiteLabel
		if cfg.Tokens, err = parseTokens(*tokens); err != nil {
			return err
		}
	}
	if cfg.Keys, err = parseKeys(*keys); err != nil {
		return err
	}
	if *trusted != "" {
		if cfg.Strategy, err = middleware.NewXFFTrustedRangesStrategy(strings.Split(*trusted, ",")...); err != nil {
			return err
		}
	}
	if cfg.Client, err = bluenexus.NewClient(clientOpts...); err != nil {
		return err
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

func parseTokens(s string) (map[string]bluenexus.AccessToken, error) {
	out := map[string]bluenexus.AccessToken{}
	for pair := range strings.SplitSeq(s, ",") {
		name, tok, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok || name == "" || tok == "" {
			return nil, errors.New("-tokens: want user=token pairs")
		}
		out[name] = bluenexus.AccessToken(tok)
	}
	return out, nil
}

func parseKeys(s string) ([]session.KeyPair, error) {
	var out []session.KeyPair
	for pair := range strings.SplitSeq(s, ",") {
		h, b, ok := strings.Cut(strings.TrimSpace(pair), ":")
		hk, err1 := hex.DecodeString(h)
		bk, err2 := hex.DecodeString(b)
		if !ok || err1 != nil || err2 != nil {
			return nil, errors.New("-cookie-keys: want hashkey:blockkey in hex")
		}
		out = append(out, session.KeyPair{Hash: hk, Block: bk})
	}
	return out, nil
}
