package storetest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
	"github.com/handoffkit/handoffkit/handlers"
	"github.com/handoffkit/handoffkit/internal/testkit"
	"github.com/handoffkit/handoffkit/middleware"
	"github.com/handoffkit/handoffkit/session"
)

// Fleet is the fleet test of a store shared by the instances of an app
// (SECURITY.md E1): two kits, each with its own client, token source and
// store from newStore (one per process, on the same database), get n
// requests each to /manage-connections, all at once, at the moment the
// user's access token expires; the first token call takes 250 ms. It
// wants every request to succeed with exactly one call to the emulator's
// token endpoint and no replay, and logs the figures (and the kits' log
// when it fails).
func Fleet(t *testing.T, n int, newStore func(t *testing.T) bluenexus.TokenStore) {
	t.Helper()
	clock := testkit.NewClock(time.Now())
	emu := bluenexustest.NewServer(bluenexustest.WithUser("alice"), bluenexustest.WithClock(clock.Now))
	t.Cleanup(emu.Close)
	first := newStore(t)
	signIn := emu.SignIn("alice")
	if err := first.Save(t.Context(), "alice", signIn); err != nil {
		t.Fatalf("saving alice's pair from her sign-in: %v", err)
	}
	var log testkit.SyncBuffer
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the kits' log:\n%.4000s", log.String())
		}
	})
	a, b := Kit(t, emu, first, clock.Now, &log), Kit(t, emu, newStore(t), clock.Now, &log)
	manage := func() *http.Request {
		return httptest.NewRequest(http.MethodGet, "https://app.example/manage-connections", nil)
	}
	// Both instances have served alice before (their stores' connections
	// are open); her access token then expires.
	testkit.ServeAtOnce(t, 1, http.StatusFound, manage, a, b)
	clock.Advance(signIn.Expiry.Sub(clock.Now()))
	// The first refresh is slow, so that the other instance surely wants
	// the pair while it is in flight.
	emu.Inject(bluenexustest.PathToken, bluenexustest.Latency(250*time.Millisecond))

	start := time.Now()
	testkit.ServeAtOnce(t, n, http.StatusFound, manage, a, b)
	wall := time.Since(start)
	calls, replays := emu.Hits(bluenexustest.PathToken), emu.RefreshReplays()
	t.Logf("fleet: 2 instances x %d requests at expiry: %d token call(s), %d replay(s), %v", n, calls, replays, wall.Round(time.Millisecond))
	if calls != 1 {
		t.Errorf("token endpoint calls across both instances: %d, want 1", calls)
	}
	if replays != 0 {
		t.Errorf("refresh tokens replayed: %d, want 0", replays)
	}
}

// Kit is one app instance's /manage-connections for the signed-in user
// alice, as the app mounts it behind ClientIP: a kit with its own client and a token source over store,
// both on clock (the emulator's).
func Kit(t *testing.T, emu *bluenexustest.Server, store bluenexus.TokenStore, clock func() time.Time, log io.Writer) http.Handler {
	t.Helper()
	id, secret := emu.ClientCredentials()
	client, err := bluenexus.NewClient(bluenexus.WithBaseURL(emu.URL()), bluenexus.WithClientCredentials(id, secret), bluenexus.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := bluenexus.NewTokenSource(client, store)
	if err != nil {
		t.Fatal(err)
	}
	kit, err := handlers.New(handlers.Config{
		WhiteLabelURL: emu.WhiteLabelURL(), ReturnURL: "https://app.example/connections/return",
		CookieKeys: []session.KeyPair{{Hash: []byte("0123456789abcdef0123456789abcdef"), Block: []byte("fedcba9876543210fedcba9876543210")}},
		Tokens:     tokens,
		User:       func(*http.Request) (string, bool) { return "alice", true },
	}, handlers.WithClient(client), handlers.WithLogger(zerolog.New(log)))
	if err != nil {
		t.Fatal(err)
	}
	return middleware.ClientIP(middleware.RemoteAddrStrategy())(kit.ManageConnections())
}
