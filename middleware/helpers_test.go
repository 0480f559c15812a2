package middleware

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

// request builds a GET request from peer and header lines; each header line
// is added as its own instance, in order.
func request(peer string, headers ...[2]string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = peer
	for _, h := range headers {
		r.Header.Add(h[0], h[1])
	}
	return r
}

// xff returns X-Forwarded-For header lines.
func xff(lines ...string) [][2]string { return lines2("X-Forwarded-For", lines) }

func lines2(name string, lines []string) [][2]string {
	out := make([][2]string, len(lines))
	for i, l := range lines {
		out[i] = [2]string{name, l}
	}
	return out
}

// serve mounts ClientIP(s) in front of a capturing handler, serves r and
// returns what the handler saw.
func serve(t *testing.T, s Strategy, r *http.Request) (netip.Addr, error) {
	t.Helper()
	var (
		got    netip.Addr
		gotErr error
		ran    bool
	)
	h := ClientIP(s)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ran = true
		var ok bool
		got, ok = GetClientIP(r.Context())
		gotErr = ClientIPError(r.Context())
		if ok != (gotErr == nil) {
			t.Errorf("GetClientIP ok=%v but ClientIPError=%v", ok, gotErr)
		}
	}))
	h.ServeHTTP(httptest.NewRecorder(), r)
	if !ran {
		t.Fatal("next handler did not run")
	}
	return got, gotErr
}

// row is one strategy table row: want is the expected address text, or ""
// with wantErr the expected reason.
type row struct {
	name    string
	peer    string
	headers [][2]string
	want    string
	wantErr error
}

func runRows(t *testing.T, s Strategy, rows []row) {
	t.Helper()
	for _, tc := range rows {
		t.Run(tc.name, func(t *testing.T) {
			peer := tc.peer
			if peer == "" {
				peer = "10.0.0.5:1234"
			}
			got, err := serve(t, s, request(peer, tc.headers...))
			check(t, got, err, tc.want, tc.wantErr)
		})
	}
}

func check(t *testing.T, got netip.Addr, err error, want string, wantErr error) {
	t.Helper()
	if want != "" {
		if err != nil || got.String() != want {
			t.Fatalf("got (%v, %v), want %s", got, err, want)
		}
		return
	}
	if err == nil {
		t.Fatalf("got %v, want no IP (%v)", got, wantErr)
	}
	if got.IsValid() {
		t.Fatalf("got address %v together with error %v", got, err)
	}
	if !errors.Is(err, ErrNoClientIP) {
		t.Fatalf("error %v does not wrap ErrNoClientIP", err)
	}
	if wantErr != nil && !errors.Is(err, wantErr) {
		t.Fatalf("got error %v, want %v", err, wantErr)
	}
}

// must fails t on a construction error: must(t)(NewXStrategy(...)).
func must(t testing.TB) func(Strategy, error) Strategy {
	return func(s Strategy, err error) Strategy {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}
