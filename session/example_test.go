package session_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"

	"github.com/go-chi/chi/v5"

	"github.com/handoffkit/handoffkit/session"
)

// keysFromConfig stands for keys loaded from the app's configuration or
// secret store. Never generate them at start-up.
func keysFromConfig() session.KeyPair {
	return session.KeyPair{Hash: bytes.Repeat([]byte{0x5a}, 32), Block: bytes.Repeat([]byte{0xa5}, 32)}
}

// newFlows builds the Manager the way an app does.
func newFlows() *session.Manager {
	store, err := session.NewCookieStore(keysFromConfig())
	if err != nil {
		panic(err)
	}
	flows, err := session.New(store)
	if err != nil {
		panic(err)
	}
	return flows
}

// start begins a flow and answers with the redirectUri it would send to
// BlueNexus; finish ends the flow named by the state in the return URL.
func start(flows *session.Manager) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f, err := flows.Begin(w, r, session.Params{Intent: "connections", Next: "/settings/connections"})
		if err != nil {
			http.Error(w, "could not start", http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, "/connections/return?state="+url.QueryEscape(f.State.Reveal()))
	}
}

func finish(flows *session.Manager) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()["state"]
		if len(q) != 1 { // duplicated state parameters are the caller's to reject
			http.Error(w, "bad state", http.StatusBadRequest)
			return
		}
		f, err := flows.Finish(w, r, q[0])
		if err != nil {
			http.Error(w, "flow not found", http.StatusBadRequest)
			return
		}
		http.Redirect(w, r, f.Next, http.StatusSeeOther)
	}
}

// visit runs the flow with a cookie jar as the browser and prints what the
// browser sees.
func visit(srv *httptest.Server) {
	client := srv.Client()
	client.Jar, _ = cookiejar.New(nil)
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	get := func(path string) *http.Response {
		resp, err := client.Get(srv.URL + path)
		if err != nil {
			panic(err)
		}
		return resp
	}
	resp := get("/manage-connections")
	returnPath, _ := io.ReadAll(resp.Body)
	resp.Body.Close()

	resp = get(string(returnPath))
	fmt.Println("return:", resp.StatusCode, resp.Header.Get("Location"))
	resp = get(string(returnPath))
	fmt.Println("same return again:", resp.StatusCode)
}

// Example mounts Begin and Finish on an http.ServeMux.
func Example() {
	flows := newFlows()
	mux := http.NewServeMux()
	mux.Handle("GET /manage-connections", start(flows))
	mux.Handle("GET /connections/return", finish(flows))
	srv := httptest.NewTLSServer(mux)
	defer srv.Close()

	visit(srv)
	// Output:
	// return: 303 /settings/connections
	// same return again: 400
}

// Example_chi mounts the same handlers on a chi router.
func Example_chi() {
	flows := newFlows()
	r := chi.NewRouter()
	r.Get("/manage-connections", start(flows))
	r.Get("/connections/return", finish(flows))
	srv := httptest.NewTLSServer(r)
	defer srv.Close()

	visit(srv)
	// Output:
	// return: 303 /settings/connections
	// same return again: 400
}

func ExampleManager_Finish() {
	flows := newFlows()

	rec := httptest.NewRecorder()
	begun, _ := flows.Begin(rec, httptest.NewRequest("GET", "/manage-connections", nil), session.Params{Intent: "connections"})

	ret := httptest.NewRequest("GET", "/connections/return", nil)
	for _, c := range rec.Result().Cookies() {
		ret.AddCookie(c)
	}
	_, err := flows.Finish(httptest.NewRecorder(), ret, "not-a-state")
	fmt.Println(errors.Is(err, session.ErrMalformedState))

	other := "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	_, err = flows.Finish(httptest.NewRecorder(), ret, other)
	fmt.Println(errors.Is(err, session.ErrUnknownState))

	f, err := flows.Finish(httptest.NewRecorder(), ret, begun.State.Reveal())
	fmt.Println(f.Intent, err)
	// Output:
	// true
	// true
	// connections <nil>
}

func ExampleState() {
	s := session.State("c2VjcmV0LXN0YXRlLXZhbHVlLXNob3VsZC1uZXZlci1w")
	j, _ := json.Marshal(map[string]any{"state": s})
	fmt.Println(s, string(j))
	fmt.Printf("%v %q %#v\n", s, s, session.Flow{State: s}.State)
	// Output:
	// [REDACTED] {"state":"[REDACTED]"}
	// [REDACTED] [REDACTED] [REDACTED]
}

func ExampleNewCookieStore() {
	newPair := keysFromConfig()
	oldPair := session.KeyPair{Hash: bytes.Repeat([]byte{0x01}, 64), Block: bytes.Repeat([]byte{0x02}, 16)}
	store, err := session.NewCookieStore(newPair, oldPair) // newest first
	fmt.Println(len(store.Codecs), err, store.Options.MaxAge, store.Options.HttpOnly)

	_, err = session.NewCookieStore(session.KeyPair{Hash: []byte("short")})
	fmt.Println(err)
	// Output:
	// 2 <nil> 600 true
	// session: NewCookieStore: key pair 0: hash key must be 32 or 64 bytes, got 5
}
