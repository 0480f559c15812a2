package redisflow_test

// The kit's token source on the Redis token store, moved here from
// handlers/tokens_test.go so that the root module does not require this
// one. The kits are called directly: no server, no browser.

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
	"github.com/handoffkit/handoffkit/internal/testkit"
	"github.com/handoffkit/handoffkit/internal/tokentest/storetest"
	"github.com/handoffkit/handoffkit/session/redisflow"
)

// TestTokenOneRefreshAcrossInstances: the same with 100 requests on each of
// two kit instances whose token sources share one Redis token store.
func TestTokenOneRefreshAcrossInstances(t *testing.T) {
	addr, prefix := fleetRedis(t)
	store := func() bluenexus.TokenStore {
		rdb := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true, PoolSize: 128})
		t.Cleanup(func() { rdb.Close() })
		s, err := redisflow.NewTokenStore(rdb, redisflow.WithKeyPrefix(prefix+"token:"), fleetTimeout)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	oneRefreshAcross(t, 100, store)
}

// oneRefreshAcross is storetest.Fleet on store: two kit instances, each
// with its own store from store (one per process, on the same Redis), n
// requests each at the moment alice's access token expires, exactly one
// token call between them and no replay.
func oneRefreshAcross(t *testing.T, n int, store func() bluenexus.TokenStore) {
	t.Helper()
	storetest.Fleet(t, n, func(*testing.T) bluenexus.TokenStore { return store() })
}

// TestTokenStoreDown: with the shared token store (Redis) down the kit
// fails closed, as it does when the replay guard is down: 503
// state_unavailable, no refresh attempted, no mint.
func TestTokenStoreDown(t *testing.T) {
	addr, prefix := fleetRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { rdb.Close() })
	store, err := redisflow.NewTokenStore(rdb, redisflow.WithKeyPrefix(prefix+"token:"), fleetTimeout)
	if err != nil {
		t.Fatal(err)
	}
	clock := testkit.NewClock(time.Now())
	emu := tokenEmulator(t, clock.Now)
	seedAlice(t, emu, store)
	manage := storetest.Kit(t, emu, store, clock.Now, io.Discard)
	clock.Advance(16 * time.Minute)
	rdb.Options().Addr = "127.0.0.1:1" // nothing listens there: Redis is gone
	rdb.Close()                        // and every pooled connection with it
	req := manageRequest()
	req.Header.Set("Accept", "application/json")
	rec := httptest.NewRecorder()
	manage.ServeHTTP(rec, req)
	if body := rec.Body.String(); rec.Code != http.StatusServiceUnavailable || !strings.Contains(body, `"state_unavailable"`) || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("manage with the token store down: %d %s, want 503 state_unavailable with Retry-After", rec.Code, body)
	}
	if tok, init := emu.Hits(bluenexustest.PathToken), emu.Hits(bluenexustest.PathHandoffInit); tok != 0 || init != 0 {
		t.Errorf("token calls %d, handoff inits %d; want 0 and 0", tok, init)
	}
}

// tokenEmulator is an emulator on clock with alice.
func tokenEmulator(t *testing.T, clock func() time.Time) *bluenexustest.Server {
	emu := bluenexustest.NewServer(bluenexustest.WithUser("alice"), bluenexustest.WithClock(clock))
	t.Cleanup(emu.Close)
	return emu
}

// seedAlice stores alice's pair from a sign-in, as the app does.
func seedAlice(t *testing.T, emu *bluenexustest.Server, store bluenexus.TokenStore) {
	t.Helper()
	if err := store.Save(t.Context(), "alice", emu.SignIn("alice")); err != nil {
		t.Fatalf("seeding alice's pair: %v", err)
	}
}

func manageRequest() *http.Request {
	return httptest.NewRequest(http.MethodGet, "https://app.example/manage-connections", nil)
}
