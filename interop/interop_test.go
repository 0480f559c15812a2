package interop

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/handoffkit/handoffkit/bluenexus"
)

// The app's client at fosite, and the user id it stores pairs under.
const (
	clientID     = "handoff-app"
	clientSecret = "handoff-app-secret"
	user         = "user-1"
)

// expired is the Expiry of a pair saved at sign-in in these tests: its
// access token has run out, so the next Token refreshes.
var expired = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

func newClient(t *testing.T, s *server, id, secret string) *bluenexus.Client {
	t.Helper()
	c, err := bluenexus.NewClient(bluenexus.WithBaseURL(s.URL), bluenexus.WithClientCredentials(id, secret))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newSource(t *testing.T, c *bluenexus.Client, store bluenexus.TokenStore) *bluenexus.TokenSource {
	t.Helper()
	src, err := bluenexus.NewTokenSource(c, store)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// signIn issues the user's pair at fosite as the app's client and saves it
// through src, as an app does at sign-in. It returns the refresh token.
func signIn(t *testing.T, s *server, src *bluenexus.TokenSource, id, secret string) string {
	t.Helper()
	return signInPair(t, s, src, id, secret).RefreshToken.Reveal()
}

// signInPair is signIn, returning the pair saved.
func signInPair(t *testing.T, s *server, src *bluenexus.TokenSource, id, secret string) bluenexus.Token {
	t.Helper()
	at, rt := s.signIn(t, id, secret)
	tok := bluenexus.Token{
		AccessToken:  bluenexus.AccessToken(at),
		RefreshToken: bluenexus.RefreshToken(rt),
		Expiry:       expired,
		Scope:        scope,
	}
	if err := src.Save(t.Context(), user, tok); err != nil {
		t.Fatal(err)
	}
	return tok
}

func load(t *testing.T, store bluenexus.TokenStore) bluenexus.Token {
	t.Helper()
	tok, ok, err := store.Load(t.Context(), user)
	if err != nil || !ok {
		t.Fatalf("Load: ok %t, err %v", ok, err)
	}
	return tok
}

// wantPresented fails unless rt was presented n times, each answered 200.
func wantPresented(t *testing.T, s *server, what, rt string, n int) {
	t.Helper()
	got, statuses := s.times(rt)
	if got != n {
		t.Fatalf("%s refresh token presented %d times at fosite, want %d (statuses %v)", what, got, n, statuses)
	}
	for _, st := range statuses {
		if st != http.StatusOK {
			t.Fatalf("%s refresh token: fosite answered %v, want 200 each time", what, statuses)
		}
	}
}

// TestRotation: Token refreshes an expired pair at fosite, the store then
// holds the refresh token fosite issued, and each refresh token is
// presented once: three rotations, then a restart that refreshes nothing.
func TestRotation(t *testing.T) {
	s := newServer(t, false, client{id: clientID, secret: clientSecret})
	store := bluenexus.NewMemoryTokenStore()
	src := newSource(t, newClient(t, s, clientID, clientSecret), store)
	prev := signIn(t, s, src, clientID, clientSecret)
	var spent []string

	var at bluenexus.AccessToken
	for i := range 3 {
		var err error
		if i == 0 {
			at, err = src.Token(t.Context(), user)
		} else {
			at, err = src.Renew(t.Context(), user, at)
		}
		if err != nil {
			t.Fatalf("rotation %d: %v", i+1, err)
		}
		stored := load(t, store)
		switch {
		case stored.RefreshToken.Reveal() == prev:
			t.Fatalf("rotation %d: the store still holds the refresh token presented", i+1)
		case stored.RefreshToken.Reveal() != s.lastIssued():
			t.Fatalf("rotation %d: the store does not hold the refresh token fosite issued", i+1)
		case stored.AccessToken != at:
			t.Fatalf("rotation %d: the access token handed out is not the stored one", i+1)
		case !s.active(at.Reveal()):
			t.Fatalf("rotation %d: fosite does not hold the access token handed out as active", i+1)
		case !stored.Expiry.After(time.Now()):
			t.Fatalf("rotation %d: stored Expiry %v is not in the future", i+1, stored.Expiry)
		}
		spent = append(spent, prev)
		prev = stored.RefreshToken.Reveal()
	}

	// A restart: a new source on the same store uses the stored pair.
	again, err := newSource(t, newClient(t, s, clientID, clientSecret), store).Token(t.Context(), user)
	if err != nil || again != at {
		t.Fatalf("after a restart: err %v, same access token %t", err, again == at)
	}
	for i, rt := range spent {
		wantPresented(t, s, fmt.Sprintf("rotation %d's", i+1), rt, 1)
	}
	wantPresented(t, s, "the current", prev, 0)
	if n := s.refreshes(); n != 3 {
		t.Fatalf("%d refreshes at fosite, want 3", n)
	}
}

// TestConcurrentAtExpiry: 200 Token calls at once for a user whose access
// token has expired make one refresh at fosite, in one source and in two
// sources sharing a store (two instances of the app), and all get its
// access token.
func TestConcurrentAtExpiry(t *testing.T) {
	for _, sources := range []int{1, 2} {
		t.Run(map[int]string{1: "one source", 2: "two sources"}[sources], func(t *testing.T) {
			s := newServer(t, false, client{id: clientID, secret: clientSecret})
			store := bluenexus.NewMemoryTokenStore()
			var srcs []*bluenexus.TokenSource
			for range sources {
				srcs = append(srcs, newSource(t, newClient(t, s, clientID, clientSecret), store))
			}
			rt0 := signIn(t, s, srcs[0], clientID, clientSecret)

			const calls = 200
			var (
				start = make(chan struct{})
				wg    sync.WaitGroup
				ats   [calls]bluenexus.AccessToken
				errs  [calls]error
			)
			for i := range calls {
				wg.Go(func() {
					<-start
					ats[i], errs[i] = srcs[i%sources].Token(t.Context(), user)
				})
			}
			close(start)
			wg.Wait()

			stored := load(t, store)
			for i := range calls {
				if errs[i] != nil {
					t.Fatalf("call %d: %v", i, errs[i])
				}
				if ats[i] != stored.AccessToken {
					t.Fatalf("call %d got an access token other than the stored one", i)
				}
			}
			if n := s.refreshes(); n != 1 {
				t.Fatalf("%d refreshes at fosite for %d concurrent calls, want 1", n, calls)
			}
			wantPresented(t, s, "the signed-in", rt0, 1)
			if stored.RefreshToken.Reveal() != s.lastIssued() {
				t.Fatal("the store does not hold the refresh token fosite issued")
			}
		})
	}
}

// TestReplay: presenting a spent refresh token again is refused by fosite
// as invalid_grant, which is ErrReauthRequired, and fosite revokes the
// family: the pair issued by the refresh no longer works, and the token
// source says "sign in again" until the app saves a new pair.
func TestReplay(t *testing.T) {
	s := newServer(t, false, client{id: clientID, secret: clientSecret})
	c := newClient(t, s, clientID, clientSecret)
	store := bluenexus.NewMemoryTokenStore()
	src := newSource(t, c, store)
	rt0 := signIn(t, s, src, clientID, clientSecret)

	at1, err := src.Token(t.Context(), user)
	if err != nil {
		t.Fatal(err)
	}
	rt1 := load(t, store).RefreshToken

	_, err = c.Refresh(t.Context(), bluenexus.RefreshToken(rt0))
	if !errors.Is(err, bluenexus.ErrReauthRequired) {
		t.Fatalf("replayed refresh token: %v, want ErrReauthRequired", err)
	}
	if ae, ok := errors.AsType[*bluenexus.APIError](err); !ok || ae.StatusCode != http.StatusBadRequest || ae.Code != "invalid_grant" {
		t.Fatalf("replayed refresh token: %#v, want an *APIError 400 invalid_grant", err)
	}
	if errors.Is(err, bluenexus.ErrClientConfig) {
		t.Fatalf("replayed refresh token: %v matches ErrClientConfig", err)
	}

	// fosite revoked the family.
	if s.active(at1.Reveal()) {
		t.Fatal("fosite still holds the access token of the refreshed pair as active after the replay")
	}
	if _, err := c.Refresh(t.Context(), rt1); !errors.Is(err, bluenexus.ErrReauthRequired) {
		t.Fatalf("the refreshed pair's refresh token after the replay: %v, want ErrReauthRequired", err)
	}
	if _, err := src.Renew(t.Context(), user, at1); !errors.Is(err, bluenexus.ErrReauthRequired) {
		t.Fatalf("Renew after the replay: %v, want ErrReauthRequired", err)
	}

	// The user signs in again, and the source goes on.
	signIn(t, s, src, clientID, clientSecret)
	at, err := src.Token(t.Context(), user)
	if err != nil || !s.active(at.Reveal()) {
		t.Fatalf("after a new sign-in: err %v, active %t", err, err == nil && s.active(at.Reveal()))
	}
}

// TestClientErrors: fosite's invalid_client (a wrong secret, an unknown
// client) and unauthorized_client (the client may not refresh) are
// ErrClientConfig, never ErrReauthRequired, and the token source keeps the
// pair: the refresh token was not spent, and a rightly configured client
// refreshes it.
func TestClientErrors(t *testing.T) {
	const refusedID = "no-refresh-client"
	for _, tc := range []struct {
		name, id, secret, code string
		status                 int
	}{
		{"wrong secret", clientID, "not-the-secret", "invalid_client", http.StatusUnauthorized},
		{"unknown client", "no-such-client", clientSecret, "invalid_client", http.StatusUnauthorized},
		{"grant not allowed", refusedID, clientSecret, "unauthorized_client", http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, false,
				client{id: clientID, secret: clientSecret},
				client{id: refusedID, secret: clientSecret, grants: []string{"password"}})
			c := newClient(t, s, tc.id, tc.secret)
			store := bluenexus.NewMemoryTokenStore()
			src := newSource(t, c, store)
			issuer := clientID
			if tc.id == refusedID {
				issuer = refusedID
			}
			rt0 := signIn(t, s, src, issuer, clientSecret)

			_, err := c.Refresh(t.Context(), bluenexus.RefreshToken(rt0))
			if !errors.Is(err, bluenexus.ErrClientConfig) || errors.Is(err, bluenexus.ErrReauthRequired) {
				t.Fatalf("Refresh: %v, want ErrClientConfig and not ErrReauthRequired", err)
			}
			if ae, ok := errors.AsType[*bluenexus.APIError](err); !ok || ae.StatusCode != tc.status || ae.Code != tc.code {
				t.Fatalf("Refresh: %#v, want an *APIError %d %s", err, tc.status, tc.code)
			}

			_, err = src.Token(t.Context(), user)
			if !errors.Is(err, bluenexus.ErrClientConfig) || errors.Is(err, bluenexus.ErrReauthRequired) {
				t.Fatalf("Token: %v, want ErrClientConfig and not ErrReauthRequired", err)
			}
			if got := load(t, store).RefreshToken.Reveal(); got != rt0 {
				t.Fatal("Token: the store no longer holds the signed-in refresh token after a client error")
			}
			if n, _ := s.times(rt0); n != 2 {
				t.Fatalf("the signed-in refresh token was presented %d times, want 2", n)
			}
			if tc.id == refusedID {
				return // no client may refresh this pair
			}
			// The pair was kept, and a rightly configured app refreshes it.
			good := newSource(t, newClient(t, s, clientID, clientSecret), store)
			if _, err := good.Token(t.Context(), user); err != nil {
				t.Fatalf("Token with the right credentials: %v", err)
			}
			if _, statuses := s.times(rt0); statuses[len(statuses)-1] != http.StatusOK {
				t.Fatalf("the kept refresh token: fosite answered %v, want 200 last", statuses)
			}
		})
	}
}

// TestFormEncodedCredentials: a client id and secret with the characters
// that RFC 6749 section 2.3.1 requires to be form-encoded before HTTP
// Basic authenticate at fosite, which decodes them so. The "all" case
// fails for a client that does not encode (fosite reads "+" as a space
// and splits at the first ":"), as the raw Basic header shows.
func TestFormEncodedCredentials(t *testing.T) {
	for _, tc := range []struct{ name, id, secret string }{
		{"colon", "app:one", "se:cret"},
		{"percent", "app%41", "se%cr%2Bet"},
		{"plus", "app+one", "se+cret"},
		{"space", "app one", "se cret"},
		{"non-ASCII", "app-é", "sécrét-ü€"},
		{"all", "a:p%p+ é/1", "s:e%c+r ét/ü"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, false, client{id: tc.id, secret: tc.secret})
			store := bluenexus.NewMemoryTokenStore()
			src := newSource(t, newClient(t, s, tc.id, tc.secret), store)
			rt0 := signIn(t, s, src, tc.id, tc.secret)

			if tc.name == "all" {
				if st := rawBasicRefresh(t, s, tc.id, tc.secret, rt0); st == http.StatusOK {
					t.Fatal("fosite accepted credentials not form-encoded: this test cannot tell encoding apart")
				}
			}
			at, err := src.Token(t.Context(), user)
			if err != nil {
				t.Fatalf("Token: %v", err)
			}
			if !s.active(at.Reveal()) {
				t.Fatal("fosite does not hold the access token handed out as active")
			}
			if _, statuses := s.times(rt0); statuses[len(statuses)-1] != http.StatusOK {
				t.Fatalf("fosite answered %v to the refresh, want 200 last", statuses)
			}
		})
	}
}

// rawBasicRefresh presents rt with id and secret in Basic as they are, not
// form-encoded, and returns fosite's status.
func rawBasicRefresh(t *testing.T, s *server, id, secret, rt string) int {
	t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	req, err := http.NewRequest(http.MethodPost, s.URL+tokenPath, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// rewrite returns an alter that decodes fosite's answer, applies edit and
// writes it back as JSON.
func rewrite(edit func(a map[string]any)) func(http.ResponseWriter, []byte) {
	return func(w http.ResponseWriter, answer []byte) {
		var a map[string]any
		if err := json.Unmarshal(answer, &a); err != nil {
			http.Error(w, "fosite's answer is not JSON", http.StatusInternalServerError)
			return
		}
		edit(a)
		body, _ := json.Marshal(a)
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(body)
	}
}

// raw returns an alter that answers 200 with body as contentType.
func raw(contentType, body string) func(http.ResponseWriter, []byte) {
	return func(w http.ResponseWriter, _ []byte) {
		w.Header().Set("Content-Type", contentType)
		_, _ = w.Write([]byte(body))
	}
}

// TestAnswerVariants: fosite's 200 answer to a refresh, altered as RFC
// 6749 allows or as a server may get wrong. A usable answer is used, and
// its refresh token (or, when the server did not rotate, the one kept) is
// the only one presented next. An unusable one spent the refresh token at
// fosite: the source says "sign in again" and never presents it again,
// after a restart too.
func TestAnswerVariants(t *testing.T) {
	for _, v := range []struct {
		name    string
		alter   func(http.ResponseWriter, []byte)
		keepOld bool // fosite keeps the presented refresh token valid
		usable  bool
		rotated bool // the answer carries a new refresh token
		check   func(t *testing.T, tok bluenexus.Token, before, after time.Time)
	}{
		{
			name:    "no expires_in",
			alter:   rewrite(func(a map[string]any) { delete(a, "expires_in") }),
			usable:  true,
			rotated: true,
			check: func(t *testing.T, tok bluenexus.Token, before, after time.Time) {
				if tok.Expiry.Before(before.Add(15*time.Minute)) || tok.Expiry.After(after.Add(15*time.Minute)) {
					t.Fatalf("Expiry %v, want the documented 15 minutes after the request (%v to %v)",
						tok.Expiry, before.Add(15*time.Minute), after.Add(15*time.Minute))
				}
			},
		},
		{
			name:    "expires_in 0",
			alter:   rewrite(func(a map[string]any) { a["expires_in"] = 0 }),
			usable:  true,
			rotated: true,
		},
		{
			name:    "lower-case token_type",
			alter:   rewrite(func(a map[string]any) { a["token_type"] = "bearer" }),
			usable:  true,
			rotated: true,
		},
		{
			name:    "upper-case token_type",
			alter:   rewrite(func(a map[string]any) { a["token_type"] = "BEARER" }),
			usable:  true,
			rotated: true,
		},
		{
			name:    "no refresh_token, old one kept",
			alter:   rewrite(func(a map[string]any) { delete(a, "refresh_token") }),
			keepOld: true,
			usable:  true,
			rotated: false,
		},
		{
			name:  "HTML body",
			alter: raw("text/html; charset=utf-8", "<!doctype html><html><body>OK</body></html>"),
		},
		{
			name:  "no access_token",
			alter: rewrite(func(a map[string]any) { delete(a, "access_token") }),
		},
		{
			name:  "token_type mac",
			alter: rewrite(func(a map[string]any) { a["token_type"] = "mac" }),
		},
		{
			name:  "form-encoded body",
			alter: raw("application/x-www-form-urlencoded", "access_token=x&token_type=bearer&expires_in=900&refresh_token=y"),
		},
		{
			name:  "body over 1 MiB",
			alter: rewrite(func(a map[string]any) { a["padding"] = strings.Repeat("x", 2<<20) }),
		},
	} {
		t.Run(v.name, func(t *testing.T) {
			s := newServer(t, v.keepOld, client{id: clientID, secret: clientSecret})
			s.alter = v.alter
			c := newClient(t, s, clientID, clientSecret)
			store := bluenexus.NewMemoryTokenStore()
			src := newSource(t, c, store)

			if !v.usable {
				// The client alone: a 2xx without a usable pair is both
				// "sign in again" and a bad response.
				_, rt := s.signIn(t, clientID, clientSecret)
				_, err := c.Refresh(t.Context(), bluenexus.RefreshToken(rt))
				if !errors.Is(err, bluenexus.ErrReauthRequired) || !errors.Is(err, bluenexus.ErrBadResponse) {
					t.Fatalf("Refresh: %v, want ErrReauthRequired and ErrBadResponse", err)
				}
			}

			seeded := signInPair(t, s, src, clientID, clientSecret)
			rt0 := seeded.RefreshToken.Reveal()
			refreshesBefore := s.refreshes()
			before := time.Now()
			at, err := src.Token(t.Context(), user)
			after := time.Now()

			if !v.usable {
				if !errors.Is(err, bluenexus.ErrReauthRequired) {
					t.Fatalf("Token: %v, want ErrReauthRequired", err)
				}
				if tok, ok, err := store.Load(t.Context(), user); err != nil || (ok && tok.RefreshToken.Reveal() == rt0) {
					t.Fatalf("the store still holds the spent refresh token (load error %v)", err)
				}
				for i, call := range []func() error{
					func() error { _, err := src.Token(t.Context(), user); return err },
					func() error { _, err := src.Renew(t.Context(), user, seeded.AccessToken); return err },
					func() error { // a restart
						_, err := newSource(t, newClient(t, s, clientID, clientSecret), store).Token(t.Context(), user)
						return err
					},
				} {
					if err := call(); !errors.Is(err, bluenexus.ErrReauthRequired) {
						t.Fatalf("call %d after the unusable answer: %v, want ErrReauthRequired", i+1, err)
					}
				}
				wantPresented(t, s, "the spent", rt0, 1)
				if n := s.refreshes() - refreshesBefore; n != 1 {
					t.Fatalf("%d refreshes at fosite, want 1", n)
				}
				// A new sign-in brings the user back.
				s.alter = nil
				rt := signIn(t, s, src, clientID, clientSecret)
				if _, err := src.Token(t.Context(), user); err != nil {
					t.Fatalf("Token after a new sign-in: %v", err)
				}
				wantPresented(t, s, "the new sign-in's", rt, 1)
				return
			}

			if err != nil {
				t.Fatalf("Token: %v", err)
			}
			stored := load(t, store)
			rt1 := stored.RefreshToken.Reveal()
			switch {
			case stored.AccessToken != at:
				t.Fatal("the access token handed out is not the stored one")
			case !s.active(at.Reveal()):
				t.Fatal("fosite does not hold the access token handed out as active")
			case v.rotated && rt1 != s.lastIssued():
				t.Fatal("the store does not hold the refresh token fosite issued")
			case !v.rotated && rt1 != rt0:
				t.Fatal("the answer had no refresh_token, and the store does not hold the one presented")
			}
			if v.check != nil {
				v.check(t, stored, before, after)
			}

			// The next refresh presents the stored refresh token only.
			next, err := src.Renew(t.Context(), user, at)
			if err != nil || !s.active(next.Reveal()) {
				t.Fatalf("Renew: err %v, active %t", err, err == nil && s.active(next.Reveal()))
			}
			if v.rotated {
				wantPresented(t, s, "the rotated", rt0, 1)
				wantPresented(t, s, "the new", rt1, 1)
			} else {
				wantPresented(t, s, "the kept", rt0, 2)
			}
			if n := s.refreshes() - refreshesBefore; n != 2 {
				t.Fatalf("%d refreshes at fosite, want 2", n)
			}
		})
	}
}
