package flow

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/gorilla/sessions"
	"github.com/handoffkit/handoffkit/internal/replay"
)

// discardWriter is a ResponseWriter that keeps only headers, cleared per use.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}

// requestWithCookies returns a template request carrying the cookies rec set.
func requestWithCookies(rec *httptest.ResponseRecorder) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "https://app.example/connections/return?state=x", nil)
	for _, c := range rec.Result().Cookies() {
		r.AddCookie(c)
	}
	return r
}

// fresh returns a shallow copy of tmpl without the session registry that a
// previous iteration put in the context, as a new request would be.
func fresh(tmpl *http.Request) *http.Request {
	r := *tmpl
	return &r
}

// uniqueIDs makes every Consume call look new to the memory guard, so that a
// benchmark can finish the same cookie's flow again and still pay for the
// guard.
type uniqueIDs struct {
	g *replay.Guard
	n int
}

func (u *uniqueIDs) Consume(ctx context.Context, id string, exp time.Time) error {
	u.n++
	return u.g.Consume(ctx, id+strconv.Itoa(u.n), exp)
}

func BenchmarkBegin(b *testing.B) {
	for _, pending := range []int{0, 4} {
		b.Run("pending-"+strconv.Itoa(pending), func(b *testing.B) {
			m, _ := newTestManager(b)
			br := newBrowser()
			for range pending {
				br.begin(b, m, testParams)
			}
			tmpl := br.request()
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				if _, err := m.Begin(w, fresh(tmpl), testParams); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkFinish(b *testing.B) {
	for _, pending := range []int{1, 5} {
		b.Run("pending-"+strconv.Itoa(pending), func(b *testing.B) {
			m, _ := newTestManager(b, WithReplayGuard(&uniqueIDs{g: replay.New(nil, 1<<30)}))
			br := newBrowser()
			var f Flow
			for range pending {
				f = br.begin(b, m, testParams)
			}
			tmpl := br.request()
			state := f.State.Reveal()
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				if _, err := m.Finish(w, fresh(tmpl), state); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// The baselines do the same work by hand: one state in a gorilla cookie
// store with the same keys and lifetime (gob-encoded, as an app would write
// it), set with the same cookie options, compared and deleted.
func handStore() *sessions.CookieStore {
	s := sessions.NewCookieStore(testKeys.Hash, testKeys.Block)
	s.MaxAge(600)
	return s
}

func BenchmarkBeginByHand(b *testing.B) {
	store := handStore()
	tmpl := newBrowser().request()
	w := &discardWriter{h: http.Header{}}
	opts := sessions.Options{Path: "/", MaxAge: 600, Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		r := fresh(tmpl)
		sess, _ := store.Get(r, DefaultCookieName)
		st, err := NewState()
		state := string(st)
		if err != nil {
			b.Fatal(err)
		}
		sess.Values["state"] = state
		o := opts
		sess.Options = &o
		if err := sess.Save(r, w); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFinishByHand(b *testing.B) {
	store := handStore()
	opts := sessions.Options{Path: "/", MaxAge: 600, Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode}
	r0 := newBrowser().request()
	sess, _ := store.Get(r0, DefaultCookieName)
	st, _ := NewState()
	state := string(st)
	sess.Values["state"] = state
	sess.Options = &opts
	rec := httptest.NewRecorder()
	if err := sess.Save(r0, rec); err != nil {
		b.Fatal(err)
	}
	tmpl := requestWithCookies(rec)
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		r := fresh(tmpl)
		sess, err := store.Get(r, DefaultCookieName)
		if err != nil {
			b.Fatal(err)
		}
		if got, _ := sess.Values["state"].(string); !equal(got, state) {
			b.Fatal("state mismatch")
		}
		delete(sess.Values, "state")
		o := opts
		sess.Options = &o
		if err := sess.Save(r, w); err != nil {
			b.Fatal(err)
		}
	}
}
