package redisflow

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"

	"github.com/handoffkit/handoffkit/internal/flow"
	"github.com/handoffkit/handoffkit/internal/testkit"
	"github.com/handoffkit/handoffkit/session"
)

func TestNewStoreValidates(t *testing.T) {
	_, rdb := mini(t)
	short := session.KeyPair{Hash: make([]byte, 16), Block: testKeys.Block}
	tests := []struct {
		name string
		keys []session.KeyPair
		opts []Option
	}{
		{"no keys", nil, nil},
		{"short hash key", []session.KeyPair{short}, nil},
		{"bad old pair", []session.KeyPair{testKeys, {Hash: testKeys.Hash}}, nil},
		{"empty prefix", []session.KeyPair{testKeys}, []Option{WithKeyPrefix("")}},
		{"zero timeout", []session.KeyPair{testKeys}, []Option{WithTimeout(0)}},
		{"a brace in the prefix", []session.KeyPair{testKeys}, []Option{WithKeyPrefix("}")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewStore(rdb, tc.keys, tc.opts...)
			if err == nil || s != nil {
				t.Fatalf("NewStore = %v, %v; want an error", s, err)
			}
			if !strings.HasPrefix(err.Error(), "redisflow: NewStore: ") {
				t.Fatalf("error %q lacks the prefix", err)
			}
			// The key rules are session.NewCookieStore's, exactly.
			if _, cerr := session.NewCookieStore(tc.keys...); (cerr == nil) != (tc.opts != nil) {
				t.Fatalf("NewCookieStore(same keys) = %v", cerr)
			}
		})
	}
	if _, err := NewStore(nil, []session.KeyPair{testKeys}); err == nil {
		t.Fatal("nil client accepted")
	}
}

// hostileOptions are everything C1 forbids, as store defaults.
func hostileOptions(s *Store) *Store {
	s.Options = &sessions.Options{Path: "/app", Domain: "example.com", MaxAge: 86400 * 30,
		SameSite: http.SameSiteNoneMode, Partitioned: true}
	return s
}

func setCookie(t testing.TB, b *browser) string {
	t.Helper()
	h := b.Last.Header.Values("Set-Cookie")
	if len(h) != 1 {
		t.Fatalf("want one Set-Cookie header, got %q", h)
	}
	return h[0]
}

// TestStoreCookieAttributes_C1: through the Manager, the Redis store's
// cookie has every attribute C1 asks for whatever the store's defaults, and
// finishing the last flow deletes both the cookie and the record.
func TestStoreCookieAttributes_C1(t *testing.T) {
	rdb, prefix := realRedis(t)
	m := newManager(t, hostileOptions(mustStore(t, rdb, []session.KeyPair{testKeys}, WithKeyPrefix(prefix))))
	b := newBrowser()
	f := b.begin(t, m, testParams)
	h := setCookie(t, b)
	if !strings.HasPrefix(h, flow.DefaultCookieName+"=") {
		t.Errorf("Set-Cookie %q: want the flow cookie", h)
	}
	testkit.CheckCookieAttrs(t, h, []string{"Path=/", "Max-Age=600", "HttpOnly", "Secure", "SameSite=Lax"},
		[]string{"Domain", "Partitioned", "SameSite=None", "Path=/app"})
	if n := len(keys(t, rdb, prefix)); n != 1 {
		t.Fatalf("%d records after Begin, want 1", n)
	}
	if _, err := b.finish(m, f.State); err != nil {
		t.Fatal(err)
	}
	testkit.CheckCookieAttrs(t, setCookie(t, b), []string{"Path=/", "Max-Age=0", "HttpOnly", "Secure", "SameSite=Lax"}, []string{"Domain"})
	if n := len(keys(t, rdb, prefix)); n != 0 {
		t.Fatalf("%d records after the last flow finished, want 0", n)
	}
}

func codecMaxAge(t testing.TB, c securecookie.Codec) int64 {
	t.Helper()
	return reflect.ValueOf(c).Elem().FieldByName("maxAge").Int()
}

// TestStoreLifetime_C2: session.New aligns the store's lifetime with its
// TTL: the cookie's Max-Age, the codecs' maximum age and the record's time
// to live on the real server.
func TestStoreLifetime_C2(t *testing.T) {
	rdb, prefix := realRedis(t)
	s := mustStore(t, rdb, []session.KeyPair{testKeys, otherKeys}, WithKeyPrefix(prefix))
	if s.Options.MaxAge != 600 || codecMaxAge(t, s.codecs[0]) != 600 {
		t.Fatalf("NewStore: MaxAge %d, codec %d; want 600", s.Options.MaxAge, codecMaxAge(t, s.codecs[0]))
	}
	m := newManager(t, s, session.WithTTL(20*time.Minute))
	for i, c := range s.codecs {
		if got := codecMaxAge(t, c); got != 1200 {
			t.Fatalf("codec %d max age %d, want 1200", i, got)
		}
	}
	b := newBrowser()
	b.begin(t, m, testParams)
	testkit.CheckCookieAttrs(t, setCookie(t, b), []string{"Max-Age=1200"}, nil)
	k := keys(t, rdb, prefix)
	if len(k) != 1 {
		t.Fatalf("%d records, want 1", len(k))
	}
	if ttl := rdb.TTL(context.Background(), k[0]).Val(); ttl < 1190*time.Second || ttl > 1200*time.Second {
		t.Fatalf("record TTL %v, want 20m", ttl)
	}
}

// TestStoreRecordExpires_C2: the real server drops a record at the end of
// its TTL, and the flow then reads as gone.
func TestStoreRecordExpires_C2(t *testing.T) {
	rdb, prefix := realRedis(t)
	s := mustStore(t, rdb, []session.KeyPair{testKeys}, WithKeyPrefix(prefix))
	m := newManager(t, s, session.WithTTL(time.Second))
	b := newBrowser()
	f := b.begin(t, m, testParams)
	deadline := time.Now().Add(4 * time.Second)
	for len(keys(t, rdb, prefix)) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("Redis kept the record past its TTL")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := b.finish(m, f.State); !errors.Is(err, flow.ErrNoFlow) && !errors.Is(err, session.ErrExpired) {
		t.Fatalf("return after the record expired: %v, want ErrNoFlow", err)
	}
}

// TestStoreKeyRotation_C3 follows the rotation procedure: a cookie and record
// sealed with [old] are read by [new, old]; once rewritten they need only
// [new]; whatever was sealed only with old is "no flow" for [new].
func TestStoreKeyRotation_C3(t *testing.T) {
	rdb, prefix := realRedis(t)
	store := func(keys ...session.KeyPair) *Store { return mustStore(t, rdb, keys, WithKeyPrefix(prefix)) }
	before := newManager(t, store(testKeys), session.WithReplayGuard(acceptAll{}))
	b := newBrowser()
	f1 := b.begin(t, before, flow.Params{Next: "/1"})
	f2 := b.begin(t, before, flow.Params{Next: "/2"})
	other := newBrowser()
	f3 := other.begin(t, before, flow.Params{Next: "/3"})

	during := newManager(t, store(otherKeys, testKeys), session.WithReplayGuard(acceptAll{}))
	if _, err := b.finish(during, f1.State); err != nil {
		t.Fatalf("sealed with old, read with [new, old]: %v", err)
	}
	after := newManager(t, store(otherKeys), session.WithReplayGuard(acceptAll{}))
	if _, err := b.finish(after, f2.State); err != nil {
		t.Fatalf("resealed with new, read with [new]: %v", err)
	}
	if _, err := other.finish(after, f3.State); !errors.Is(err, flow.ErrNoFlow) {
		t.Fatalf("sealed only with a removed pair: %v, want ErrNoFlow", err)
	}
}

// TestStoreCookieCarriesOnlyAnID_C4: whatever the flows hold, the cookie is
// a short signed id; the record in Redis holds the flows sealed, with no
// state or page in clear.
func TestStoreCookieCarriesOnlyAnID_C4(t *testing.T) {
	rdb, prefix := realRedis(t)
	s := mustStore(t, rdb, []session.KeyPair{testKeys}, WithKeyPrefix(prefix))
	m := newManager(t, s)
	b := newBrowser()
	long := flow.Params{Intent: "connections", Next: "/" + strings.Repeat("n", 250)}
	var flows []flow.Flow
	for range flow.DefaultMaxFlows {
		flows = append(flows, b.begin(t, m, long))
	}
	value := b.Cookies[flow.DefaultCookieName]
	if len(value) > 200 {
		t.Fatalf("cookie value is %d bytes, want a short id", len(value))
	}
	var id string
	if err := securecookie.DecodeMulti(flow.DefaultCookieName, value, &id, s.codecs...); err != nil || !validID(id) {
		t.Fatalf("cookie does not carry a session id: %q, %v", id, err)
	}
	k := keys(t, rdb, prefix)
	if len(k) != 1 || k[0] != s.key(id) || strings.Contains(k[0], id) {
		t.Fatalf("records %q: want one, keyed by the id's hash", k)
	}
	record := rdb.Get(context.Background(), k[0]).Val()
	for _, f := range flows {
		if strings.Contains(record, f.State.Reveal()) || strings.Contains(record, "nnnnnnnn") {
			t.Fatal("the record holds a state or a page in clear")
		}
	}
	for _, f := range flows {
		if _, err := b.finish(m, f.State); err != nil {
			t.Fatal(err)
		}
	}
}

// TestStoreUnreadableCookieIsNoFlow_C5: tampered cookies, cookies of other
// keys, a record that was tampered with or moved to another key, and a
// record that is gone all read as "no flow", and Begin then starts afresh
// under a new id.
func TestStoreUnreadableCookieIsNoFlow_C5(t *testing.T) {
	rdb, prefix := realRedis(t)
	s := mustStore(t, rdb, []session.KeyPair{testKeys}, WithKeyPrefix(prefix))
	m := newManager(t, s)
	ctx := context.Background()
	tests := []struct {
		name   string
		spoil  func(b *browser, key string)
		record bool // the test leaves the flow's record in Redis
	}{
		{"tampered cookie", func(b *browser, _ string) {
			v := []byte(b.Cookies[flow.DefaultCookieName])
			v[10] ^= 1
			b.Cookies[flow.DefaultCookieName] = string(v)
		}, true},
		{"cookie of other keys", func(b *browser, key string) {
			other := mustStore(t, rdb, []session.KeyPair{otherKeys}, WithKeyPrefix(prefix))
			var id string
			securecookie.DecodeMulti(flow.DefaultCookieName, b.Cookies[flow.DefaultCookieName], &id, s.codecs...)
			v, _ := securecookie.EncodeMulti(flow.DefaultCookieName, id, other.codecs...)
			b.Cookies[flow.DefaultCookieName] = v
		}, true},
		{"record replaced in Redis", func(_ *browser, key string) {
			rdb.Set(ctx, key, "c\x01f\x01s\x051\nf x", time.Minute)
		}, true},
		{"record of another browser moved under this key", func(_ *browser, key string) {
			victim := newBrowser()
			victim.begin(t, m, testParams)
			var id string
			securecookie.DecodeMulti(flow.DefaultCookieName, victim.Cookies[flow.DefaultCookieName], &id, s.codecs...)
			rdb.Set(ctx, key, rdb.Get(ctx, s.key(id)).Val(), time.Minute)
		}, true},
		{"record gone", func(_ *browser, key string) { rdb.Del(ctx, key) }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBrowser()
			f := b.begin(t, m, testParams)
			var id string
			if err := securecookie.DecodeMulti(flow.DefaultCookieName, b.Cookies[flow.DefaultCookieName], &id, s.codecs...); err != nil {
				t.Fatal(err)
			}
			tc.spoil(b, s.key(id))
			if _, err := b.finish(m, f.State); !errors.Is(err, flow.ErrNoFlow) {
				t.Fatalf("Finish = %v, want ErrNoFlow", err)
			}
			b.begin(t, m, testParams)
			var fresh string
			securecookie.DecodeMulti(flow.DefaultCookieName, b.Cookies[flow.DefaultCookieName], &fresh, s.codecs...)
			if !validID(fresh) || fresh == id {
				t.Fatalf("Begin after an unreadable session kept id %v (fresh %q)", fresh == id, fresh)
			}
		})
	}
}

// TestStoreOldCookieCopyFindsFlowsGone_B4: with the flows server-side, an old
// copy of the cookie names the current record, so it cannot finish a flow
// again even with no replay guard at all.
func TestStoreOldCookieCopyFindsFlowsGone_B4(t *testing.T) {
	rdb, prefix := realRedis(t)
	m := newManager(t, mustStore(t, rdb, []session.KeyPair{testKeys}, WithKeyPrefix(prefix)), session.WithReplayGuard(acceptAll{}))
	b := newBrowser()
	f1 := b.begin(t, m, testParams)
	f2 := b.begin(t, m, testParams)
	saved := b.copy()
	if _, err := b.finish(m, f1.State); err != nil {
		t.Fatal(err)
	}
	if _, err := saved.copy().finish(m, f1.State); !errors.Is(err, flow.ErrUnknownState) {
		t.Fatalf("old copy, other flow pending: %v, want ErrUnknownState", err)
	}
	if _, err := b.finish(m, f2.State); err != nil {
		t.Fatal(err)
	}
	if _, err := saved.finish(m, f2.State); !errors.Is(err, flow.ErrNoFlow) {
		t.Fatalf("old copy, no flow pending: %v, want ErrNoFlow", err)
	}
}

// TestStoreFailsClosedWhenRedisDown: with the test's own redis-server
// killed, reads and writes fail with errUnavailable, no cookie is written,
// and the Manager refuses the return; after a restart flows work again.
func TestStoreFailsClosedWhenRedisDown(t *testing.T) {
	srv := startRedis(t)
	s := mustStore(t, newClient(t, srv.addr), []session.KeyPair{testKeys}, WithTimeout(2*time.Second))
	m := newManager(t, s)
	b := newBrowser()
	f := b.begin(t, m, testParams)
	srv.stop()

	r := b.request()
	if _, err := s.Get(r, flow.DefaultCookieName); !errors.Is(err, errUnavailable) {
		t.Fatalf("Get while Redis is down: %v, want errUnavailable", err)
	}
	if _, err := b.finish(m, f.State); !errors.Is(err, session.ErrUnavailable) {
		t.Fatalf("Finish while Redis is down: %v, want session.ErrUnavailable (refused, nothing consumed)", err)
	}
	if h := b.Last.Header.Values("Set-Cookie"); len(h) != 0 {
		t.Fatalf("Finish wrote %q while Redis is down", h)
	}
	rec := httptest.NewRecorder()
	if _, err := fm(m).Begin(rec, b.request(), testParams); !errors.Is(err, errUnavailable) {
		t.Fatalf("Begin while Redis is down: %v, want errUnavailable", err)
	}
	if h := rec.Result().Header.Values("Set-Cookie"); len(h) != 0 {
		t.Fatalf("Begin wrote %q while Redis is down", h)
	}
	sess := sessions.NewSession(s, "x")
	sess.ID, sess.Options = newID(), &sessions.Options{MaxAge: -1}
	if err := s.Save(b.request(), httptest.NewRecorder(), sess); !errors.Is(err, errUnavailable) {
		t.Fatalf("delete while Redis is down: %v, want errUnavailable", err)
	}

	srv.start() // empty: a Redis without persistence forgets pending flows
	if _, err := b.finish(m, f.State); !errors.Is(err, flow.ErrNoFlow) {
		t.Fatalf("Finish after a restart that lost the record: %v, want ErrNoFlow", err)
	}
	f = b.begin(t, m, testParams)
	if _, err := b.finish(m, f.State); err != nil {
		t.Fatalf("flow after Redis is back: %v", err)
	}
}

// TestStoreGorillaContract exercises the store through gorilla's API alone,
// on miniredis: values of any gob type, Get's per-request registry, a
// browser-session cookie (MaxAge 0) living for the store's MaxAge in Redis.
func TestStoreGorillaContract(t *testing.T) {
	mr, rdb := mini(t)
	s := mustStore(t, rdb, []session.KeyPair{testKeys})
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	sess, err := s.Get(r, "app")
	if err != nil || !sess.IsNew || sess.ID != "" {
		t.Fatalf("first Get: %+v, %v", sess, err)
	}
	sess.Values["n"] = 42
	sess.Values["s"] = "text"
	sess.Options.MaxAge = 0
	w := httptest.NewRecorder()
	if err := s.Save(r, w, sess); err != nil {
		t.Fatal(err)
	}
	c := w.Result().Cookies()
	if len(c) != 1 || c[0].MaxAge != 0 || !c[0].Expires.IsZero() {
		t.Fatalf("cookie %+v: want a browser-session cookie", c)
	}
	if ttl := mr.TTL(defaultStorePrefix + hashID(sess.ID)); ttl != 600*time.Second {
		t.Fatalf("record TTL %v, want the store's MaxAge", ttl)
	}
	again, _ := s.Get(r, "app")
	if again != sess {
		t.Fatal("Get did not return the request's registered session")
	}

	r2 := httptest.NewRequest(http.MethodGet, "/", nil)
	r2.AddCookie(c[0])
	got, err := s.Get(r2, "app")
	if err != nil || got.IsNew || got.ID != sess.ID || got.Values["n"] != 42 || got.Values["s"] != "text" {
		t.Fatalf("read back: %+v, %v", got, err)
	}
	got.Options.MaxAge = -1
	w = httptest.NewRecorder()
	if err := s.Save(r2, w, got); err != nil {
		t.Fatal(err)
	}
	if mr.Exists(defaultStorePrefix+hashID(sess.ID)) || w.Result().Cookies()[0].MaxAge >= 0 {
		t.Fatal("MaxAge < 0 did not delete the record and the cookie")
	}

	type unregistered struct{ A int }
	bad := sessions.NewSession(s, "app")
	bad.Options = &sessions.Options{MaxAge: 60}
	bad.Values["x"] = unregistered{1}
	if err := s.Save(r, httptest.NewRecorder(), bad); err == nil {
		t.Fatal("a value gob cannot encode was saved")
	}
}
