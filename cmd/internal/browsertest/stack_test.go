package browsertest

import (
	"crypto/rand"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
	"github.com/handoffkit/handoffkit/cmd/internal/demoapp"
	"github.com/handoffkit/handoffkit/handlers"
	"github.com/handoffkit/handoffkit/internal/testkit"
	"github.com/handoffkit/handoffkit/session"
)

// stack is the example app and the BlueNexus emulator, served in-process on
// 127.0.0.1, as `make demo` runs them.
type stack struct {
	name   string // "http" or "https": the run, and the screenshots' prefix
	secure bool
	app    *demoapp.App
	appURL string
	emu    *bluenexustest.Server
	obs    *counter
	logs   *testkit.SyncBuffer
}

// startStack starts a fresh emulator (users alice, with Notion connected,
// and bob) and a fresh app. secure serves the app over TLS with Secure
// cookies; otherwise over plain http with demoapp's InsecureCookies, the
// explicit development option.
func startStack(t *testing.T, secure bool, emuOpts ...bluenexustest.Option) *stack {
	t.Helper()
	emu, err := bluenexustest.New(append([]bluenexustest.Option{bluenexustest.WithUser("alice"), bluenexustest.WithUser("bob")}, emuOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emu.Close)
	emu.Connect("alice", "notion")
	id, secret := emu.ClientCredentials()
	client, err := bluenexus.NewClient(bluenexus.WithBaseURL(emu.URL()), bluenexus.WithClientCredentials(id, secret))
	if err != nil {
		t.Fatal(err)
	}
	store := bluenexus.NewMemoryTokenStore()
	tokens, err := bluenexus.NewTokenSource(client, store)
	if err != nil {
		t.Fatal(err)
	}
	// The app's return URL is built from its own origin, so the listener
	// comes first and the handler is set once the app exists.
	srv := httptest.NewUnstartedServer(nil)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	st := &stack{name: "http", secure: secure, emu: emu, obs: newCounter(), logs: &testkit.SyncBuffer{}}
	scheme := "http://"
	if secure {
		st.name, scheme = "https", "https://"
	}
	st.appURL = scheme + srv.Listener.Addr().String()
	st.app, err = demoapp.New(demoapp.Config{
		Client:          client,
		WhiteLabelURL:   emu.WhiteLabelURL(),
		PublicURL:       st.appURL,
		Users:           []string{"alice", "bob"},
		SignIn:          demoapp.EmulatorSignIn(emu),
		Store:           store,
		Tokens:          tokens,
		Keys:            []session.KeyPair{{Hash: randomKey(t, 32), Block: randomKey(t, 32)}},
		InsecureCookies: !secure,
		Logger:          zerolog.New(st.logs).Level(zerolog.DebugLevel),
		Observer:        st.obs,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = st.app
	if secure {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	if srv.URL != st.appURL {
		t.Fatalf("app listens on %s, configured as %s", srv.URL, st.appURL)
	}
	return st
}

func randomKey(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// hookRuns is how many times the app's on-return hook ran: every return
// that ended in success or hook_failed ran it once.
func (st *stack) hookRuns() int {
	return st.obs.count("return", "success") + st.obs.count("return", "hook_failed")
}

// counter is a handlers.Observer that counts outcomes per route.
type counter struct {
	mu       sync.Mutex
	outcomes map[string]int
	minted   int
}

func newCounter() *counter { return &counter{outcomes: map[string]int{}} }

func (c *counter) Minted(time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.minted++
}

func (c *counter) Outcome(route string, o handlers.Outcome) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.outcomes[route+" "+string(o)]++
}

func (c *counter) UpstreamError(string) {}
func (c *counter) GuardPressure()       {}
func (c *counter) TokenEvent(string)    {}

func (c *counter) count(route string, o handlers.Outcome) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.outcomes[route+" "+string(o)]
}

// total counts every outcome of the route.
func (c *counter) total(route string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for k, v := range c.outcomes {
		if strings.HasPrefix(k, route+" ") {
			n += v
		}
	}
	return n
}

func (c *counter) mints() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.minted
}
