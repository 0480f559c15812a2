package flow

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
)

// flowServer mounts Begin and Finish on a ServeMux behind TLS, so that a
// cookie jar plays the browser with real Set-Cookie and Cookie headers.
func flowServer(t *testing.T, m *Manager) (*httptest.Server, func(path string) (int, string)) {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /begin", func(w http.ResponseWriter, r *http.Request) {
		f, err := m.Begin(w, r, Params{Intent: "connections", Next: r.URL.Query().Get("next")})
		if err != nil {
			http.Error(w, "begin failed", http.StatusInternalServerError)
			return
		}
		io.WriteString(w, f.State.Reveal())
	})
	mux.HandleFunc("GET /return", func(w http.ResponseWriter, r *http.Request) {
		f, err := m.Finish(w, r, r.URL.Query().Get("state"))
		if err != nil {
			http.Error(w, outcome(err), http.StatusBadRequest)
			return
		}
		io.WriteString(w, f.Next)
	})
	srv := httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	client := srv.Client()
	client.Jar = jar
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := client.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body[:len(body)-trailingNewline(body)])
	}
	return srv, get
}

func trailingNewline(b []byte) int {
	if len(b) > 0 && b[len(b)-1] == '\n' {
		return 1
	}
	return 0
}

func outcome(err error) string {
	for _, e := range []error{ErrNoFlow, ErrMalformedState, ErrUnknownState, ErrExpired, ErrReplayed, ErrSuperseded} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	return "other"
}

func TestTwoTabsThroughCookieJar_B5(t *testing.T) {
	m, _ := newTestManager(t)
	_, get := flowServer(t, m)
	_, tab1 := get("/begin?next=/tab1")
	_, tab2 := get("/begin?next=/tab2")
	for _, tc := range []struct{ state, want string }{{tab2, "/tab2"}, {tab1, "/tab1"}} {
		if code, body := get("/return?state=" + url.QueryEscape(tc.state)); code != 200 || body != tc.want {
			t.Fatalf("return: %d %q, want 200 %q", code, body, tc.want)
		}
	}
	if code, body := get("/return?state=" + url.QueryEscape(tab1)); code != 400 || body != ErrNoFlow.Error() {
		t.Fatalf("replay: %d %q, want 400 %q", code, body, ErrNoFlow)
	}
}

func TestConcurrentBrowsers(t *testing.T) {
	m, _ := newTestManager(t)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 8 {
		wg.Go(func() {
			for i := range 25 {
				b := newBrowser()
				f1, err1 := b.tryBegin(m, Params{Next: fmt.Sprintf("/%d/%d/a", g, i)})
				f2, err2 := b.tryBegin(m, Params{Next: fmt.Sprintf("/%d/%d/b", g, i)})
				if err := errors.Join(err1, err2); err != nil {
					errs <- err
					return
				}
				old := b.copy()
				for _, f := range []Flow{f2, f1} {
					if got, err := b.finish(m, f.State); err != nil || got.Next != f.Next {
						errs <- fmt.Errorf("finish %s: %v", f.Next, err)
						return
					}
				}
				if _, err := old.finish(m, f1.State); !errors.Is(err, ErrReplayed) {
					errs <- fmt.Errorf("old copy: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
