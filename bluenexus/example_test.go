package bluenexus_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
)

// fakeBlueNexus answers handoff init with a code that names the forwarded
// client IP, serves three connections two at a time, and refreshes the
// refresh token "rt-1" once for the confidential client my-app.
func fakeBlueNexus() *httptest.Server {
	mux := http.NewServeMux()
	writeJSON := func(w http.ResponseWriter, status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("POST "+bluenexustest.PathHandoffInit, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer user-token" {
			writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "UnauthorizedError", "message": "Token expired", "statusCode": 401})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"code": "hc-for-" + r.Header.Get("X-Forwarded-For"), "expiresIn": 30})
	})
	mux.HandleFunc("GET "+bluenexustest.PathConnections, func(w http.ResponseWriter, r *http.Request) {
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		all := []bluenexus.Connection{
			{ID: "c1", ProviderID: "google", Status: bluenexus.StatusActive},
			{ID: "c2", ProviderID: "notion", Status: bluenexus.StatusActive},
			{ID: "c3", ProviderID: "slack", Status: bluenexus.StatusExpired},
		}
		start := min((page-1)*2, len(all))
		end := min(start+2, len(all))
		writeJSON(w, http.StatusOK, map[string]any{
			"data":       all[start:end],
			"pagination": map[string]any{"page": page, "limit": 2, "total": len(all), "hasMore": end < len(all)},
		})
	})
	var used sync.Map
	mux.HandleFunc("POST "+bluenexustest.PathToken, func(w http.ResponseWriter, r *http.Request) {
		id, secret, _ := r.BasicAuth()
		rt := r.PostFormValue("refresh_token")
		switch {
		case id != "my-app" || secret != "app-secret":
			writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "invalid_client"})
		case r.PostFormValue("grant_type") != "refresh_token" || rt != "rt-1":
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_grant", "error_description": "Invalid refresh token"})
		default:
			if _, replay := used.LoadOrStore(rt, true); replay {
				writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_grant", "error_description": "Refresh token reused: session revoked"})
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "access_token": "user-token", "expires_in": 900,
				"refresh_token": "rt-2", "refresh_expires_in": 604800, "scope": "connections"})
		}
	})
	return httptest.NewServer(mux)
}

func ExampleNewClient() {
	_, err := bluenexus.NewClient(bluenexus.WithTimeout(time.Minute))
	fmt.Println(err)

	client, err := bluenexus.NewClient(
		bluenexus.WithBaseURL("https://api.bluenexus.ai"),
		bluenexus.WithTimeout(3*time.Second),
		bluenexus.WithClientIPHeader("X-Forwarded-For"),
		bluenexus.WithClientCredentials("my-app", "app-secret"), // for Refresh
	)
	fmt.Println(client != nil, err)

	_, err = bluenexus.NewClient(bluenexus.WithClientCredentials("", "secret"))
	fmt.Println(err)
	// Output:
	// bluenexus: WithTimeout: must be > 0 and <= 15s, got 1m0s
	// true <nil>
	// bluenexus: WithClientCredentials: empty client id
}
func ExampleClient_InitHandoff() {
	srv := fakeBlueNexus()
	defer srv.Close()
	client, err := bluenexus.NewClient(bluenexus.WithBaseURL(srv.URL))
	if err != nil {
		panic(err)
	}

	h, err := client.InitHandoff(context.Background(), bluenexus.AccessToken("user-token"), bluenexus.HandoffRequest{
		RedirectURI: "https://app.example.com/connections/return",
		Intent:      bluenexus.IntentConnections,
		ClientIP:    netip.MustParseAddr("::ffff:203.0.113.7"), // sent unmapped
	})
	if err != nil {
		panic(err)
	}
	fmt.Println("code:", h.Code)            // redacted wherever it is printed
	fmt.Println("reveal:", h.Code.Reveal()) // only for the white-label URL
	// Output:
	// code: [REDACTED]
	// reveal: hc-for-203.0.113.7
}
func ExampleClient_AllConnections() {
	srv := fakeBlueNexus()
	defer srv.Close()
	client, err := bluenexus.NewClient(bluenexus.WithBaseURL(srv.URL))
	if err != nil {
		panic(err)
	}

	for conn, err := range client.AllConnections(context.Background(), "user-token") {
		if err != nil {
			fmt.Println("error:", err)
			break
		}
		fmt.Println(conn.ID, conn.ProviderID, conn.Status)
	}
	// Output:
	// c1 google active
	// c2 notion active
	// c3 slack expired
}

func ExampleAPIError() {
	srv := fakeBlueNexus()
	defer srv.Close()
	client, err := bluenexus.NewClient(bluenexus.WithBaseURL(srv.URL))
	if err != nil {
		panic(err)
	}

	_, err = client.InitHandoff(context.Background(), "stale-token", bluenexus.HandoffRequest{
		RedirectURI: "https://app.example.com/connections/return",
		Intent:      bluenexus.IntentConnections,
	})
	fmt.Println(err)
	if apiErr, ok := errors.AsType[*bluenexus.APIError](err); ok && apiErr.StatusCode == http.StatusUnauthorized {
		fmt.Println(apiErr.Code, "- refresh the access token, then try again")
	}
	// Output:
	// bluenexus: upstream status 401 UnauthorizedError: "Token expired"
	// UnauthorizedError - refresh the access token, then try again
}

func ExampleClient_Refresh() {
	srv := fakeBlueNexus()
	defer srv.Close()
	client, err := bluenexus.NewClient(
		bluenexus.WithBaseURL(srv.URL),
		bluenexus.WithClientCredentials("my-app", "app-secret"),
	)
	if err != nil {
		panic(err)
	}

	ctx := context.Background()
	tok, err := client.Refresh(ctx, "rt-1")
	if err != nil {
		panic(err)
	}
	// Store tok.RefreshToken at once: "rt-1" no longer works.
	fmt.Println("access:", tok.AccessToken, "refresh:", tok.RefreshToken)
	fmt.Println("lives:", time.Until(tok.Expiry).Round(time.Minute), "scope:", tok.Scope)

	_, err = client.Refresh(ctx, "rt-1") // replayed
	fmt.Println(err)
	fmt.Println("sign in again:", errors.Is(err, bluenexus.ErrReauthRequired))
	// Output:
	// access: [REDACTED] refresh: [REDACTED]
	// lives: 15m0s scope: connections
	// bluenexus: upstream status 400 invalid_grant: "Bad Request"
	// sign in again: true
}

func ExampleDiff() {
	stored := []bluenexus.Connection{ // the app's copy, from the last return
		{ID: "c1", ProviderID: "google", Status: bluenexus.StatusActive},
		{ID: "c2", ProviderID: "notion", Status: bluenexus.StatusActive},
	}
	fresh := []bluenexus.Connection{ // client.AllConnections after the return
		{ID: "c2", ProviderID: "notion", Status: bluenexus.StatusExpired},
		{ID: "c3", ProviderID: "slack", Status: bluenexus.StatusActive},
	}
	added, removed, changed := bluenexus.Diff(stored, fresh)
	for _, c := range added {
		fmt.Println("connected:", c.ProviderID)
	}
	for _, c := range removed {
		fmt.Println("removed:", c.ProviderID)
	}
	for _, c := range changed {
		fmt.Println("now", c.Status+":", c.ProviderID)
	}
	// Output:
	// connected: slack
	// removed: google
	// now expired: notion
}
