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
	"time"

	"github.com/handoffkit/handoffkit/bluenexus"
)

// fakeBlueNexus answers handoff init with a code that names the forwarded
// client IP, and serves three connections two at a time.
func fakeBlueNexus() *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+bluenexus.PathHandoffInit, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer user-token" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"UnauthorizedError","message":"Token expired","statusCode":401}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"code":"hc-for-%s","expiresIn":30}`, r.Header.Get("X-Forwarded-For"))
	})
	mux.HandleFunc("GET "+bluenexus.PathConnections, func(w http.ResponseWriter, r *http.Request) {
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		all := []bluenexus.Connection{
			{ID: "c1", ProviderID: "google", Status: bluenexus.StatusActive},
			{ID: "c2", ProviderID: "notion", Status: bluenexus.StatusActive},
			{ID: "c3", ProviderID: "slack", Status: bluenexus.StatusExpired},
		}
		start := min((page-1)*2, len(all))
		end := min(start+2, len(all))
		more := end < len(all)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(bluenexus.ConnectionPage{
			Data:       all[start:end],
			Pagination: bluenexus.Pagination{Page: page, Limit: 2, Total: len(all), HasMore: &more},
		})
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
	)
	fmt.Println(client != nil, err)
	// Output:
	// bluenexus: WithTimeout: must be > 0 and <= 15s, got 1m0s
	// true <nil>
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

	for conn, err := range client.AllConnections(context.Background(), "user-token", bluenexus.ListOptions{Limit: 2}) {
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
	fmt.Println(errors.Is(err, bluenexus.ErrUnauthorized))
	if apiErr, ok := errors.AsType[*bluenexus.APIError](err); ok {
		fmt.Println(apiErr.StatusCode, apiErr.Code)
	}
	// Output:
	// bluenexus: upstream status 401 UnauthorizedError: "Token expired"
	// true
	// 401 UnauthorizedError
}

func ExampleRetryAfter() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "60") // more than the call budget: not retried
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(w, `{"error":"TooManyRequestsError","message":"Rate limit exceeded","statusCode":429}`)
	}))
	defer srv.Close()
	client, err := bluenexus.NewClient(bluenexus.WithBaseURL(srv.URL))
	if err != nil {
		panic(err)
	}

	_, err = client.ListConnections(context.Background(), "user-token", bluenexus.ListOptions{})
	if errors.Is(err, bluenexus.ErrRateLimited) {
		wait, ok := bluenexus.RetryAfter(err)
		fmt.Println("rate limited; retry after", wait, ok)
	}
	// Output:
	// rate limited; retry after 1m0s true
}
