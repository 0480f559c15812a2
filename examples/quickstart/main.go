// Command quickstart is an app that sends its signed-in users to
// BlueNexus's Manage Connections page and back, keeping their access
// tokens fresh.
package main

import (
	"context"
	"log"
	"net/http"
	"os"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/handlers"
	"github.com/handoffkit/handoffkit/middleware"
	"github.com/handoffkit/handoffkit/session"
)

func main() {
	// Made once with cmd/handoff-keys; every instance uses the same.
	keys, err := session.ParseKeys(os.Getenv("HANDOFF_COOKIE_KEYS"))
	if err != nil {
		log.Fatal(err)
	}
	// https://api.bluenexus.ai, a 5 s budget per call, a circuit breaker.
	client, err := bluenexus.NewClient(bluenexus.WithClientCredentials(
		os.Getenv("BLUENEXUS_CLIENT_ID"), os.Getenv("BLUENEXUS_CLIENT_SECRET")))
	if err != nil {
		log.Fatal(err)
	}
	// Where each user's token pair lives. Memory is one instance only; with
	// several, redisflow.NewTokenStore, pgtokens or your database.
	store := bluenexus.NewMemoryTokenStore()
	tokens, err := bluenexus.NewTokenSource(client, store) // refreshes once per rotation
	if err != nil {
		log.Fatal(err)
	}
	// Your sign-in saves the pair BlueNexus gives it, at sign-in and
	// re-authentication; never from configuration (a refresh token works once).
	onSignIn = tokens.Save

	kit, err := handlers.New(handlers.Config{
		WhiteLabelURL: "https://connect.example.com/",
		ReturnURL:     "https://app.example.com/connections/return",
		CookieKeys:    keys,        // seal the flow's state
		Tokens:        tokens,      // a fresh access token for each handoff
		User:          currentUser, // a flow belongs to its user
	}, handlers.WithClient(client), handlers.WithOnReturn(onReturn))
	if err != nil {
		log.Fatal(err)
	}
	// Your load balancer's range: the client IP is the last address it adds.
	strategy, err := middleware.NewXFFTrustedRangesStrategy("10.0.0.0/8")
	if err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.Handle("GET /manage-connections", appAuth(kit.ManageConnections()))
	mux.Handle("/connections/return", appAuth(kit.Return())) // GET, and POST from mobile apps
	log.Fatal(http.ListenAndServe(":8080", middleware.ClientIP(strategy)(mux)))
}

// onReturn runs once per successful return: BlueNexus has no webhooks, so
// read the user's connections again and store them.
func onReturn(ctx context.Context, ev handlers.ReturnEvent) error {
	conns, err := ev.Connections(ctx) // ev.User's, with a fresh token
	if err != nil {
		return err
	}
	log.Printf("%s has %d connections", ev.User, len(conns)) // store them instead
	return nil
}

// onSignIn saves the token pair your sign-in received for a user.
var onSignIn func(ctx context.Context, user string, pair bluenexus.Token) error

type userKey struct{}

// currentUser is the signed-in user's id, which appAuth stored.
func currentUser(r *http.Request) (string, bool) {
	id, ok := r.Context().Value(userKey{}).(string)
	return id, ok
}

// appAuth stands for your own auth middleware: it puts the signed-in user's
// id in the context.
func appAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		const id = "alice" // one user, for the example
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, id)))
	})
}
