package redisflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/internal/tokentest"
	"github.com/handoffkit/handoffkit/internal/tokentest/storetest"
	"github.com/handoffkit/handoffkit/session"
)

// mustTokenStore returns a token store on rdb under a prefix of the test
// alone (deleted at cleanup), with the slowMachine timeout unless opts set
// another.
func mustTokenStore(t testing.TB, rdb redis.UniversalClient, opts ...Option) *tokenStore {
	t.Helper()
	prefix := uniquePrefix(t)
	t.Cleanup(func() { deleteKeys(t, rdb, prefix) })
	s, err := NewTokenStore(rdb, append([]Option{WithKeyPrefix(prefix), WithTimeout(slowMachine)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return s.(*tokenStore)
}

func TestNewTokenStoreValidates(t *testing.T) {
	_, rdb := mini(t)
	noDeadlines := redis.NewClient(&redis.Options{Addr: rdb.Options().Addr})
	defer noDeadlines.Close()
	for _, tc := range []struct {
		name string
		rdb  redis.UniversalClient
		opts []Option
	}{
		{"nil client", nil, nil},
		{"a client without ContextTimeoutEnabled", noDeadlines, nil},
		{"empty prefix", rdb, []Option{WithKeyPrefix("")}},
		{"zero timeout", rdb, []Option{WithTimeout(0)}},
		{"nil clock", rdb, []Option{WithClock(nil)}},
		{"a brace in the prefix", rdb, []Option{WithKeyPrefix("app:{")}},
		{"negative replicas", rdb, []Option{WithReplicas(-1)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewTokenStore(tc.rdb, tc.opts...)
			if err == nil || s != nil || !strings.HasPrefix(err.Error(), "redisflow: NewTokenStore: ") {
				t.Fatalf("NewTokenStore = %v, %v", s, err)
			}
		})
	}
	s, err := NewTokenStore(rdb)
	if err != nil {
		t.Fatal(err)
	}
	if ts := s.(*tokenStore); ts.prefix != defaultTokenPrefix || ts.timeout != defaultTimeout {
		t.Fatalf("defaults %q %v", ts.prefix, ts.timeout)
	}
}

// TestTokenStoreContract: the Redis store keeps the TokenStore contract,
// the lease included, on a real Redis.
func TestTokenStoreContract(t *testing.T) {
	rdb, _ := realRedis(t)
	storetest.Contract(t, func(t *testing.T) bluenexus.TokenStore { return mustTokenStore(t, rdb) })
}

// TestTokenStoreLayout: one key per user, the prefix and a hex SHA-256 in
// braces (the store's own hash tag; a brace in the user id changes
// nothing, and no user id shows), holding the pair as JSON with the refresh
// token's remaining life as its TTL; none without a refresh expiry.
func TestTokenStoreLayout(t *testing.T) {
	rdb, _ := realRedis(t)
	clk := newFakeClock()
	s := mustTokenStore(t, rdb, WithClock(clk.Now))
	ctx := context.Background()
	tok := bluenexus.Token{AccessToken: "at-layout", RefreshToken: "rt-layout", Expiry: clk.Now().Add(15 * time.Minute),
		RefreshExpiry: clk.Now().Add(time.Hour), Scope: "connections"}
	if err := s.Save(ctx, "{alice}@example.com", tok); err != nil {
		t.Fatalf("seed: %v", err)
	}
	ks := keys(t, rdb, s.prefix)
	if len(ks) != 1 || !regexp.MustCompile(`^\{[0-9a-f]{64}\}$`).MatchString(strings.TrimPrefix(ks[0], s.prefix)) {
		t.Fatalf("keys %q", ks)
	}
	raw, err := rdb.Get(ctx, ks[0]).Result()
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(raw), &rec); err != nil || rec["access_token"] != "at-layout" ||
		rec["refresh_token"] != "rt-layout" || rec["v"] != 1.0 || rec["scope"] != "connections" {
		t.Fatalf("record %s: %v", raw, err)
	}
	if ttl := rdb.PTTL(ctx, ks[0]).Val(); ttl <= 59*time.Minute || ttl > time.Hour {
		t.Errorf("TTL %v, want the refresh token's hour", ttl)
	}
	next := tok
	next.RefreshToken, next.RefreshExpiry = "rt-2", time.Time{}
	if ok, err := s.CompareAndSwap(ctx, "{alice}@example.com", tok.RefreshToken, next); err != nil || !ok {
		t.Fatalf("swap: %v %v", ok, err)
	}
	if ttl := rdb.PTTL(ctx, ks[0]).Val(); ttl != -1 {
		t.Errorf("TTL %v without a refresh expiry, want none", ttl)
	}
	// The lease lives in the same key, which keeps its time to live.
	if err := s.Save(ctx, "{alice}@example.com", tok); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Lease(ctx, "{alice}@example.com", tok.RefreshToken, "holder-1", time.Minute); err != nil || !ok {
		t.Fatalf("lease: %v %v", ok, err)
	}
	if got := keys(t, rdb, s.prefix); len(got) != 1 {
		t.Errorf("keys with a lease %q", got)
	}
	if ttl := rdb.PTTL(ctx, ks[0]).Val(); ttl <= 59*time.Minute || ttl > time.Hour {
		t.Errorf("TTL %v after the lease, want the refresh token's hour", ttl)
	}
	if err := json.Unmarshal([]byte(rdb.Get(ctx, ks[0]).Val()), &rec); err != nil || rec["lease_holder"] != "holder-1" ||
		rec["access_token"] != "at-layout" {
		t.Fatalf("leased record: %v %v", rec, err)
	}
	// A dead pair keeps the time to live of the pair it replaced.
	if ok, err := s.CompareAndSwap(ctx, "{alice}@example.com", tok.RefreshToken, bluenexus.Token{}); err != nil || !ok {
		t.Fatalf("swap to a dead pair: %v %v", ok, err)
	}
	if ttl := rdb.PTTL(ctx, ks[0]).Val(); ttl <= 59*time.Minute || ttl > time.Hour {
		t.Errorf("TTL %v of a dead pair, want the refresh token's hour", ttl)
	}
}

// TestTokenStoreCorruptRecord: a value that does not decode is an error
// that does not quote it, and is never swapped over.
func TestTokenStoreCorruptRecord(t *testing.T) {
	rdb, _ := realRedis(t)
	s := mustTokenStore(t, rdb)
	ctx := context.Background()
	rdb.Set(ctx, s.key("u"), `{"v":1,"access_token":"CANARY-secret"`, 0)
	if _, _, err := s.Load(ctx, "u"); err == nil || strings.Contains(err.Error(), "CANARY") {
		t.Fatalf("Load = %v", err)
	}
	for _, old := range []bluenexus.RefreshToken{"", "CANARY-secret"} {
		if ok, err := s.CompareAndSwap(ctx, "u", old, bluenexus.Token{AccessToken: "a", RefreshToken: "r"}); err != nil || ok {
			t.Fatalf("CompareAndSwap(%q) over a corrupt record = %v, %v", old.Reveal(), ok, err)
		}
	}
}

// instance is one app instance: its own Redis client, token store,
// BlueNexus client and TokenSource. Each Lease call sends on asked, when
// given and not full.
func instance(t *testing.T, addr, prefix string, ep *tokentest.Endpoint, asked chan struct{}, opts ...bluenexus.TokenSourceOption) (*tokenStore, *bluenexus.TokenSource) {
	t.Helper()
	bs, err := NewTokenStore(newClient(t, addr), WithKeyPrefix(prefix), WithTimeout(slowMachine))
	if err != nil {
		t.Fatal(err)
	}
	s := bs.(*tokenStore)
	c, err := bluenexus.NewClient(bluenexus.WithBaseURL(ep.URL), bluenexus.WithClientCredentials("my-app", "s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	if asked != nil {
		bs = askingStore{s, asked}
	}
	ts, err := bluenexus.NewTokenSource(c, bs, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s, ts
}

// askingStore reports each Lease call on asked.
type askingStore struct {
	*tokenStore
	asked chan struct{}
}

func (s askingStore) Lease(ctx context.Context, user string, rt bluenexus.RefreshToken, holder string, ttl time.Duration) (bool, error) {
	select {
	case s.asked <- struct{}{}:
	default:
	}
	return s.tokenStore.Lease(ctx, user, rt, holder, ttl)
}

// seedStale stores a live pair for user whose access token is about to
// expire (within the 60 s skew), as an hour-old sign-in would have left.
func seedStale(t *testing.T, s bluenexus.TokenStore, ep *tokentest.Endpoint, user string) bluenexus.Token {
	t.Helper()
	at, rt := ep.Seed()
	tok := bluenexus.Token{AccessToken: bluenexus.AccessToken(at), RefreshToken: bluenexus.RefreshToken(rt),
		Expiry: time.Now().Add(30 * time.Second), RefreshExpiry: time.Now().Add(7 * 24 * time.Hour)}
	if err := s.Save(context.Background(), user, tok); err != nil {
		t.Fatalf("seed: %v", err)
	}
	return tok
}

// TestE1_TwoInstancesOneRedis: 100 requests split over two instances
// sharing Redis, all at the moment the token expires, make exactly one
// token call between them, and all get the new token.
func TestE1_TwoInstancesOneRedis(t *testing.T) {
	rdb, _ := realRedis(t)
	addr := rdb.Options().Addr
	prefix := uniquePrefix(t)
	t.Cleanup(func() { deleteKeys(t, rdb, prefix) })
	ep := tokentest.New(t)
	asked := make(chan struct{}, 100)
	s1, ts1 := instance(t, addr, prefix, ep, asked)
	_, ts2 := instance(t, addr, prefix, ep, asked)
	old := seedStale(t, s1, ep, "u")

	arrived, release := ep.Hold()
	defer release()
	got := make([]bluenexus.AccessToken, 100)
	errs := make([]error, 100)
	var started, done sync.WaitGroup
	for i := range 100 {
		ts := ts1
		if i%2 == 1 {
			ts = ts2
		}
		started.Add(1)
		done.Go(func() {
			started.Done()
			got[i], errs[i] = ts.Token(context.Background(), "u")
		})
	}
	started.Wait()
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("no refresh reached the endpoint")
	}
	// Both instances are refreshing: one at the endpoint, one waiting for
	// the lease.
	for range 2 {
		select {
		case <-asked:
		case <-time.After(10 * time.Second):
			t.Fatal("the two instances did not both ask for the lease")
		}
	}
	release()
	done.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if ep.Calls() != 1 || ep.Replays() != 0 {
		t.Fatalf("%d token calls, %d replays; want 1 and 0", ep.Calls(), ep.Replays())
	}
	st, ok, err := s1.Load(context.Background(), "u")
	if err != nil || !ok || st.RefreshToken == old.RefreshToken {
		t.Fatalf("stored pair not the new one: %v %v", ok, err)
	}
	for i, g := range got {
		if g != st.AccessToken {
			t.Fatalf("request %d got another token than the stored one", i)
		}
	}
}

// TestTokenLeaseHolderDies: a holder that takes the lease and dies (never
// swaps) holds up the next refresh until its lease runs out by Redis's
// clock, no longer.
func TestTokenLeaseHolderDies(t *testing.T) {
	rdb, _ := realRedis(t)
	prefix := uniquePrefix(t)
	t.Cleanup(func() { deleteKeys(t, rdb, prefix) })
	ep := tokentest.New(t)
	s, ts := instance(t, rdb.Options().Addr, prefix, ep, nil)
	const ttl = time.Second
	tok := seedStale(t, s, ep, "u")
	if ok, err := s.Lease(context.Background(), "u", tok.RefreshToken, "dead-instance", ttl); err != nil || !ok { // and never swaps
		t.Fatalf("lease: %v %v", ok, err)
	}
	start := time.Now()
	got, err := ts.Token(context.Background(), "u")
	waited := time.Since(start)
	if err != nil || got == "" {
		t.Fatalf("Token = %v", err)
	}
	if waited < ttl/2 {
		t.Errorf("waited %v for a lease running out after %v", waited, ttl)
	}
	if ep.Calls() != 1 || ep.Replays() != 0 {
		t.Errorf("%d token calls, %d replays; want 1 and 0", ep.Calls(), ep.Replays())
	}
}

// TestTokenStoreRedisDown: with Redis down, every method fails closed
// with session.ErrUnavailable, and no token call is made.
func TestTokenStoreRedisDown(t *testing.T) {
	p := startRedis(t)
	ep := tokentest.New(t)
	s, ts := instance(t, p.addr, "handoffkit:test:down:", ep, nil)
	s.timeout = 300 * time.Millisecond
	seedStale(t, s, ep, "u")
	p.stop()
	ctx := context.Background()
	_, _, loadErr := s.Load(ctx, "u")
	_, casErr := s.CompareAndSwap(ctx, "u", "r", bluenexus.Token{AccessToken: "a", RefreshToken: "r"})
	_, leaseErr := s.Lease(ctx, "u", "r", "holder", time.Minute)
	saveErr := s.Save(ctx, "u", bluenexus.Token{AccessToken: "a", RefreshToken: "r"})
	_, tokErr := ts.Token(ctx, "u")
	for name, err := range map[string]error{"Load": loadErr, "CompareAndSwap": casErr, "Lease": leaseErr, "Save": saveErr, "Token": tokErr} {
		if !errors.Is(err, session.ErrUnavailable) || errors.Is(err, bluenexus.ErrReauthRequired) {
			t.Errorf("%s with Redis down: %v", name, err)
		}
		ep.CheckNoSecret(t, name+" error", fmt.Sprintf("%v %+v", err, err))
	}
	if ep.Calls() != 0 {
		t.Errorf("%d token calls with Redis down, want 0", ep.Calls())
	}
}

// TestTokenSaveLostWhenRedisDies: Redis dying during the token call, and
// staying down for the whole save budget (cut to 2 s here), loses the new
// pair, and the error says so; the new token is never handed out.
func TestTokenSaveLostWhenRedisDies(t *testing.T) {
	p, ep, s, ts, token := heldRefresh(t, "handoffkit:test:dies:", 2*time.Second)
	p.stop()
	at, err := token()
	if at != "" {
		t.Fatal("an unsaved token was handed out")
	}
	if !errors.Is(err, bluenexus.ErrReauthRequired) || !errors.Is(err, session.ErrUnavailable) ||
		!strings.Contains(err.Error(), "could not be saved") {
		t.Fatalf("Token = %v", err)
	}
	ep.CheckNoSecret(t, "error", fmt.Sprintf("%v %+v", err, err))
	// Redis back (empty: no persistence): the user has no pair.
	p.start()
	// go-redis redials a pool that failed in the background, once a second.
	for deadline := time.Now().Add(5 * time.Second); s.rdb.Ping(context.Background()).Err() != nil; {
		if time.Now().After(deadline) {
			t.Fatal("the instance's client did not reconnect")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := ts.Token(context.Background(), "u"); !errors.Is(err, bluenexus.ErrReauthRequired) {
		t.Fatalf("Token after Redis restarted empty: %v", err)
	}
	if ep.Calls() != 1 || ep.Replays() != 0 {
		t.Errorf("%d token calls, %d replays; want 1 and 0", ep.Calls(), ep.Replays())
	}
}

// TestTokenSaveOutlastsAStall: Redis refusing writes for 3 s while the
// token call is answered (a failover or a restart) delays the save, which
// is tried again until it lands: the new pair is stored and handed out,
// and nothing is lost or spent twice.
func TestTokenSaveOutlastsAStall(t *testing.T) {
	p, ep, s, _, token := heldRefresh(t, "handoffkit:test:stall:", 0)
	admin := newClient(t, p.addr)
	if err := admin.Do(context.Background(), "CLIENT", "PAUSE", "3000", "WRITE").Err(); err != nil {
		t.Fatal(err)
	}
	issued, err := token()
	if err != nil {
		t.Fatalf("Token across a 3 s stall: %v", err)
	}
	stored, ok, err := s.Load(context.Background(), "u")
	if err != nil || !ok || stored.AccessToken != issued {
		t.Fatalf("the stored pair is not the one handed out: %v %v", ok, err)
	}
	if ep.Calls() != 1 || ep.Replays() != 0 {
		t.Errorf("%d token calls, %d replays; want 1 and 0", ep.Calls(), ep.Replays())
	}
}

// heldRefresh starts a Redis of the test's own, an instance on it with a
// 300 ms timeout, a save budget of saves (0: the default) and a stale pair
// for "u", and a Token call for "u" in the background, and returns once
// the token endpoint holds the refresh. token lets the endpoint answer and
// returns what the call got.
func heldRefresh(t *testing.T, prefix string, saves time.Duration) (*redisProcess, *tokentest.Endpoint, *tokenStore, *bluenexus.TokenSource, func() (bluenexus.AccessToken, error)) {
	t.Helper()
	p := startRedis(t)
	ep := tokentest.New(t)
	var opts []bluenexus.TokenSourceOption
	if saves > 0 {
		opts = append(opts, bluenexus.WithSaveBudget(saves))
	}
	s, ts := instance(t, p.addr, prefix, ep, nil, opts...)
	s.timeout = 300 * time.Millisecond
	seedStale(t, s, ep, "u")
	arrived, release := ep.Hold()
	t.Cleanup(release)
	type result struct {
		at  bluenexus.AccessToken
		err error
	}
	done := make(chan result, 1)
	go func() {
		at, err := ts.Token(context.Background(), "u")
		done <- result{at, err}
	}()
	<-arrived
	return p, ep, s, ts, func() (bluenexus.AccessToken, error) {
		release()
		r := <-done
		return r.at, r.err
	}
}
