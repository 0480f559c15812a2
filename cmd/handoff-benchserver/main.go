// Command handoff-benchserver serves /manage-connections for HTTP load tests
// (scripts/load-http.sh, `make load-http`), either through handoffkit or
// through the hand-written lean baseline (internal/baseline), against an
// embedded BlueNexus emulator on loopback:
//
//	go run ./cmd/handoff-benchserver -app kit -addr 127.0.0.1:8090
//
// Both apps sit behind the same middleware (hlog logger and request id, the
// access log, middleware.ClientIP with the TCP peer, and an auth middleware
// that accepts the cookie printed at start-up) and log at Info level to
// nowhere, so a load generator compares the handlers alone. Once listening
// it prints three lines for scripts:
//
//	URL http://127.0.0.1:8090/manage-connections
//	COOKIE bench-user=alice
//	STATS http://127.0.0.1:8090/debug/stats
//
// /debug/stats answers the process's heap size and the emulator's handoff
// inits, to check that memory stays bounded under load.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/rs/zerolog/hlog"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
	"github.com/handoffkit/handoffkit/handlers"
	"github.com/handoffkit/handoffkit/internal/baseline"
	"github.com/handoffkit/handoffkit/middleware"
	"github.com/handoffkit/handoffkit/session"
)

// Public keys for a load test on loopback; never for a real app.
var (
	hashKey  = []byte("bench-only-hash-key-0123456789ab")
	blockKey = []byte("bench-only-block-key-0123456789a")
)

// userCookie signs the load generator in; the auth middleware accepts it.
const userCookie = "bench-user=alice"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, nil); err != nil {
		fmt.Fprintln(os.Stderr, "handoff-benchserver:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends. ready, when not nil, receives the
// /manage-connections URL once the server listens.
func run(ctx context.Context, args []string, stdout io.Writer, ready chan<- string) error {
	fs := flag.NewFlagSet("handoff-benchserver", flag.ContinueOnError)
	app := fs.String("app", "kit", "which handler serves /manage-connections: kit or baseline")
	addr := fs.String("addr", "127.0.0.1:0", "address to listen on")
	emuAddr := fs.String("emulator-addr", "127.0.0.1:0", "address of the embedded emulator")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *app != "kit" && *app != "baseline" {
		return fmt.Errorf("-app: %q is not kit or baseline", *app)
	}

	emu, err := bluenexustest.New(bluenexustest.WithAddr(*emuAddr), bluenexustest.WithUser("alice"))
	if err != nil {
		return err
	}
	defer emu.Close()
	token := emu.AddUser("alice")

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	origin := "http://" + ln.Addr().String()

	manage, err := newHandler(*app, emu, token, origin+"/connections/return")
	if err != nil {
		return err
	}
	logger := zerolog.New(io.Discard).Level(zerolog.InfoLevel).With().Timestamp().Logger()
	mux := http.NewServeMux()
	mux.Handle("GET /manage-connections", auth(token, manage))
	mux.HandleFunc("GET /debug/stats", func(w http.ResponseWriter, r *http.Request) {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"app":          *app,
			"heapInuse":    ms.HeapInuse,
			"heapObjects":  ms.HeapObjects,
			"goroutines":   runtime.NumGoroutine(),
			"handoffInits": emu.Hits(bluenexustest.PathHandoffInit),
		})
	})
	var h http.Handler = mux
	h = middleware.ClientIP(middleware.RemoteAddrStrategy())(h)
	h = hlog.AccessHandler(func(r *http.Request, status, size int, d time.Duration) {
		hlog.FromRequest(r).Info().Str("method", r.Method).Str("path", r.URL.Path).
			Int("status", status).Float64("latency_ms", float64(d)/float64(time.Millisecond)).Msg("request")
	})(h)
	h = hlog.RequestIDHandler("request_id", "X-Request-Id")(h)
	h = hlog.NewHandler(logger)(h)

	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "URL %s/manage-connections\nCOOKIE %s\nSTATS %s/debug/stats\n", origin, userCookie, origin)
	if ready != nil {
		ready <- origin + "/manage-connections"
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

type userKey struct{}

// auth is the app's auth middleware: the user cookie signs alice in.
func auth(token bluenexus.AccessToken, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie("bench-user")
		if err != nil || c.Value != "alice" {
			http.Error(w, "sign in first", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, token)))
	})
}

func tokenOf(r *http.Request) (bluenexus.AccessToken, bool) {
	tok, ok := r.Context().Value(userKey{}).(bluenexus.AccessToken)
	return tok, ok
}

// newHandler builds the kit's or the baseline's /manage-connections.
func newHandler(app string, emu *bluenexustest.Server, token bluenexus.AccessToken, returnURL string) (http.Handler, error) {
	if app == "baseline" {
		h, err := baseline.NewLean(baseline.Config{
			HashKey:       hashKey,
			BlockKey:      blockKey,
			APIBase:       emu.URL(),
			WhiteLabelURL: emu.WhiteLabelURL(),
			ReturnURL:     returnURL,
			User:          func(*http.Request) (string, bool) { return "bench-user", true },
			Token: func(r *http.Request) (string, bool) {
				tok, ok := tokenOf(r)
				return tok.Reveal(), ok
			},
			ClientIP: func(r *http.Request) (string, bool) {
				ip, ok := middleware.GetClientIP(r.Context())
				if !ok {
					return "", false
				}
				return ip.String(), true
			},
		})
		if err != nil {
			return nil, err
		}
		return http.HandlerFunc(h.Manage), nil
	}
	client, err := bluenexus.NewClient(bluenexus.WithBaseURL(emu.URL()))
	if err != nil {
		return nil, err
	}
	kit, err := handlers.New(handlers.Config{
		WhiteLabelURL: emu.WhiteLabelURL(),
		ReturnURL:     returnURL,
		CookieKeys:    []session.KeyPair{{Hash: hashKey, Block: blockKey}},
		User:          func(*http.Request) (string, bool) { return "bench-user", true },
		AccessToken:   tokenOf,
	}, handlers.WithClient(client))
	if err != nil {
		return nil, err
	}
	return kit.ManageConnections(), nil
}
