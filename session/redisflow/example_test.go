package redisflow_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"

	"github.com/alicebob/miniredis/v2"
	"github.com/gorilla/sessions"
	"github.com/redis/go-redis/v9"

	"github.com/handoffkit/handoffkit/session"
	"github.com/handoffkit/handoffkit/session/redisflow"
)

// keysFromConfig stands for the cookie keys every instance loads from its
// configuration, newest first. Never generate them at start-up.
func keysFromConfig() []session.KeyPair {
	return []session.KeyPair{{Hash: bytes.Repeat([]byte{0x5a}, 32), Block: bytes.Repeat([]byte{0xa5}, 32)}}
}

// instance builds one app instance's flow manager on the shared Redis: its
// own connection pool, the same keys and prefixes as every other instance.
func instance(addr string, serverSide bool) *session.Manager {
	rdb := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	guard, err := redisflow.NewReplayGuard(rdb)
	if err != nil {
		panic(err)
	}
	var store sessions.Store
	if serverSide {
		store, err = redisflow.NewStore(rdb, keysFromConfig())
	} else {
		store, err = session.NewCookieStore(keysFromConfig()...)
	}
	if err != nil {
		panic(err)
	}
	flows, err := session.New(store, session.WithReplayGuard(guard))
	if err != nil {
		panic(err)
	}
	return flows
}

// A flow begins on instance A and returns on instance B; an old copy of the
// flow cookie, replayed on A, is refused because both instances share the
// Redis replay guard. (miniredis stands in for the Redis server here, so
// that the example runs anywhere.)
func ExampleNewReplayGuard() {
	srv := miniredis.NewMiniRedis()
	if err := srv.Start(); err != nil {
		panic(err)
	}
	defer srv.Close()
	a, b := instance(srv.Addr(), false), instance(srv.Addr(), false)

	// Instance A begins the flow and sets the flow cookie.
	w := httptest.NewRecorder()
	flow, err := a.Begin(w, httptest.NewRequest(http.MethodGet, "/manage-connections", nil), session.Params{Intent: "connections", Next: "/settings"})
	if err != nil {
		panic(err)
	}
	cookie := w.Result().Cookies()[0]
	state := url.QueryEscape(flow.State.Reveal())

	// The browser comes back through the load balancer to instance B.
	back := func(m *session.Manager) error {
		r := httptest.NewRequest(http.MethodGet, "/connections/return?state="+state, nil)
		r.AddCookie(cookie) // the copy saved before the return
		_, err := m.Finish(httptest.NewRecorder(), r, flow.State.Reveal())
		return err
	}
	fmt.Println("return on B:", back(b))
	err = back(a)
	fmt.Println("old cookie copy on A refused:", errors.Is(err, session.ErrReplayed))
	// Output:
	// return on B: <nil>
	// old cookie copy on A refused: true
}

// With the Store, the flows live in Redis and the cookie carries only a
// signed session id; keys rotate as with session.NewCookieStore.
func ExampleNewStore() {
	srv := miniredis.NewMiniRedis()
	if err := srv.Start(); err != nil {
		panic(err)
	}
	defer srv.Close()
	a, b := instance(srv.Addr(), true), instance(srv.Addr(), true)

	w := httptest.NewRecorder()
	flow, err := a.Begin(w, httptest.NewRequest(http.MethodGet, "/manage-connections", nil), session.Params{Intent: "connections"})
	if err != nil {
		panic(err)
	}
	cookie := w.Result().Cookies()[0]
	fmt.Println("flow records in Redis:", len(srv.Keys()))

	r := httptest.NewRequest(http.MethodGet, "/connections/return", nil)
	r.AddCookie(cookie)
	_, err = b.Finish(httptest.NewRecorder(), r, flow.State.Reveal())
	fmt.Println("return on B:", err)
	fmt.Println("keys left: the used state only:", len(srv.Keys()) == 1)
	// Output:
	// flow records in Redis: 1
	// return on B: <nil>
	// keys left: the used state only: true
}
