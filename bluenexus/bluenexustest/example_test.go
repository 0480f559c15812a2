package bluenexustest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
)

// Example runs the whole Manage Connections flow against the emulator, as a
// test of an app would: the app's server mints a code, the browser opens the
// white-label page, and Done sends it back to the redirectUri.
func Example() {
	s := bluenexustest.NewServer()
	defer s.Close()
	token := s.AddUser("alice")
	s.Connect("alice", "google")

	// Step 1: the app's server asks for a handoff code.
	req, _ := http.NewRequest(http.MethodPost, s.URL()+bluenexustest.PathHandoffInit,
		strings.NewReader(`{"redirectUri": "https://app.example/connections/return", "intent": "connections"}`))
	req.Header.Set("Authorization", "Bearer "+token.Reveal())
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	var handoff struct {
		Code string `json:"code"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&handoff)
	resp.Body.Close()
	fmt.Println("init:", resp.StatusCode)

	// Step 2: the browser opens the white-label page. It keeps cookies and
	// stops at the first redirect that leaves the emulator.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, CheckRedirect: func(r *http.Request, _ []*http.Request) error {
		if "http://"+r.URL.Host != s.URL() {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	page, err := browser.Get(s.WhiteLabelURL() + "?code=" + url.QueryEscape(handoff.Code))
	if err != nil {
		fmt.Println(err)
		return
	}
	html, _ := io.ReadAll(page.Body)
	page.Body.Close()
	fmt.Println("page:", page.StatusCode, page.Request.URL.Path)

	// Step 3: the user chooses Done; forms carry the page's CSRF token.
	csrf := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindSubmatch(html)[1]
	done, err := browser.PostForm(s.URL()+bluenexustest.PathWhiteLabelDone, url.Values{"csrf_token": {string(csrf)}})
	if err != nil {
		fmt.Println(err)
		return
	}
	done.Body.Close()
	fmt.Println("done:", done.StatusCode, done.Header.Get("Location"))
	fmt.Println("init calls:", s.Hits(bluenexustest.PathHandoffInit))

	// Output:
	// init: 200
	// page: 200 /white-label/session
	// done: 303 https://app.example/connections/return
	// init calls: 1
}

// ExampleServer_Inject scripts an upstream outage: the connections list
// fails twice, then recovers.
func ExampleServer_Inject() {
	s := bluenexustest.NewServer()
	defer s.Close()
	token := s.AddUser("alice")
	s.SeedConnections("alice", 3)

	s.Inject(bluenexustest.PathConnections,
		bluenexustest.RetryAfter(http.StatusServiceUnavailable, 2*time.Second),
		bluenexustest.Status(http.StatusInternalServerError))

	for range 3 {
		req, _ := http.NewRequest(http.MethodGet, s.URL()+bluenexustest.PathConnections+"?limit=10", nil)
		req.Header.Set("Authorization", "Bearer "+token.Reveal())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		var body struct {
			Error string                 `json:"error"`
			Data  []bluenexus.Connection `json:"data"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			fmt.Printf("%d %s Retry-After=%q\n", resp.StatusCode, body.Error, resp.Header.Get("Retry-After"))
			continue
		}
		fmt.Printf("%d with %d connections\n", resp.StatusCode, len(body.Data))
	}
	fmt.Println("hits:", s.Hits(bluenexustest.PathConnections))

	// Output:
	// 503 ServiceUnavailableError Retry-After="2"
	// 500 InternalServerError Retry-After=""
	// 200 with 3 connections
	// hits: 3
}

// ExampleWithClock steps a fake clock past the 30-second code lifetime
// instead of sleeping.
func ExampleWithClock() {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	s := bluenexustest.NewServer(bluenexustest.WithClock(func() time.Time { return now }))
	defer s.Close()
	token := s.AddUser("alice")

	req, _ := http.NewRequest(http.MethodPost, s.URL()+bluenexustest.PathHandoffInit,
		strings.NewReader(`{"redirectUri": "yourapp://connections", "intent": "connections"}`))
	req.Header.Set("Authorization", "Bearer "+token.Reveal())
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	var handoff struct {
		Code      string `json:"code"`
		ExpiresAt string `json:"expiresAt"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&handoff)
	resp.Body.Close()
	fmt.Println("expires:", handoff.ExpiresAt)

	now = now.Add(31 * time.Second) // the user dawdled
	page, err := http.Get(s.WhiteLabelURL() + "?code=" + url.QueryEscape(handoff.Code))
	if err != nil {
		fmt.Println(err)
		return
	}
	page.Body.Close()
	fmt.Println("page:", page.StatusCode)

	// Output:
	// expires: 2025-01-01T00:00:30Z
	// page: 410
}

// ExampleServer_SignIn signs a user in, lets the access token expire on a
// fake clock, and refreshes it with the kit's client, as an app's handoff
// does when its user signed in an hour ago.
func ExampleServer_SignIn() {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	s := bluenexustest.NewServer(bluenexustest.WithClock(func() time.Time { return now }))
	defer s.Close()
	client, err := bluenexus.NewClient(bluenexus.WithBaseURL(s.URL()),
		bluenexus.WithClientCredentials(s.ClientCredentials()))
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	handoff := bluenexus.HandoffRequest{RedirectURI: "https://app.example.com/connections/return", Intent: bluenexus.IntentConnections}

	tok := s.SignIn("alice")
	fmt.Println("access token expires:", tok.Expiry)

	now = now.Add(time.Hour) // the user signed in an hour ago
	_, err = client.InitHandoff(ctx, tok.AccessToken, handoff)
	fmt.Println("init:", err)

	next, err := client.Refresh(ctx, tok.RefreshToken) // store next.RefreshToken at once
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = client.InitHandoff(ctx, next.AccessToken, handoff)
	fmt.Println("init after refresh:", err)

	_, err = client.Refresh(ctx, tok.RefreshToken) // a bug: the old refresh token again
	fmt.Println("replay:", errors.Is(err, bluenexus.ErrReauthRequired), "replays:", s.RefreshReplays())
	_, err = client.InitHandoff(ctx, next.AccessToken, handoff)
	fmt.Println("session revoked:", err)

	// Output:
	// access token expires: 2025-01-01 00:15:00 +0000 UTC
	// init: bluenexus: upstream status 401 UnauthorizedError: "Access token expired"
	// init after refresh: <nil>
	// replay: true replays: 1
	// session revoked: bluenexus: upstream status 401 UnauthorizedError: "Access token revoked"
}
