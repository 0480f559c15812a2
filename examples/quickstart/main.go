// Command quickstart is an app on chi that sends its signed-in users to
// BlueNexus's Manage Connections page and back, keeping their access
// tokens fresh.
package main

import (
	"context"
	"log"
	"net/http"
	"os"

	"github.com/go-chi/chi/v5"
	chimw "github.com/go-chi/chi/v5/middleware" // chi's middleware beside the kit's

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/handlers"
	"github.com/handoffkit/handoffkit/middleware"
	"github.com/handoffkit/handoffkit/session"
)

func main() {
	// Cookie keys from your configuration, made once with session.GenerateKeys.
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
	// Each user's token pair, saved at sign-in. Use your database (see
	// bluenexus.TokenStore) or redisflow.NewTokenStore with several instances.
	store := bluenexus.NewMemoryTokenStore()
	tokens, err := bluenexus.NewTokenSource(client, store) // refreshes once per rotation
	if err != nil {
		log.Fatal(err)
	}
	// Your sign-in calls this with the pair BlueNexus gives it (at sign-in or
	// re-authentication). Never seed pairs from configuration: a refresh
	// token works once, so a restart would present a spent one.
	onSignIn = func(ctx context.Context, user string, pair bluenexus.Token) error {
		return tokens.Save(ctx, user, pair)
	}

	kit, err := handlers.New(handlers.Config{
		WhiteLabelURL: "https://connect.example.com/",
		ReturnURL:     "https://app.example.com/connections/return",
		CookieKeys:    keys, // seal the flow's state
		Tokens:        tokens,
		User: func(r *http.Request) (string, bool) { // required: a flow belongs to its user
			id, ok := r.Context().Value(userKey{}).(string) // what your auth middleware stored
			return id, ok
		},
	},
		handlers.WithClient(client),
		handlers.WithOnReturn(func(ctx context.Context, ev handlers.ReturnEvent) error {
			conns, err := ev.Connections(ctx) // ev.User's, with a fresh token
			if err != nil {
				return err
			}
			log.Printf("%s has %d connections", ev.User, len(conns)) // store them instead
			return nil
		}),
	)
	if err != nil {
		log.Fatal(err)
	}
	// Your load balancer's range: the client IP is the last address it adds.
	strategy, err := middleware.NewXFFTrustedRangesStrategy("10.0.0.0/8")
	if err != nil {
		log.Fatal(err)
	}

	r := chi.NewRouter()
	r.Use(chimw.Recoverer, middleware.ClientIP(strategy))
	r.With(appAuth).Get("/manage-connections", kit.ManageConnections().ServeHTTP)
	r.With(appAuth).Handle("/connections/return", kit.Return())
	log.Fatal(http.ListenAndServe(":8080", r))
}

type userKey struct{}

// onSignIn saves the token pair your sign-in received for a user.
var onSignIn func(ctx context.Context, user string, pair bluenexus.Token) error

// appAuth stands for your own auth middleware: it puts the signed-in user's
// id in the context.
func appAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		const id = "alice" // one user, for the example
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, id)))
	})
}
