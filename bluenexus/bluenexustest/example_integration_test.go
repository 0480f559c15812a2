package bluenexustest_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/go-chi/chi/v5"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
	"github.com/handoffkit/handoffkit/handlers"
	"github.com/handoffkit/handoffkit/middleware"
	"github.com/handoffkit/handoffkit/session"
)

// Example_integration is a complete integration test of an app that mounts
// the kit on chi: alice, signed in to the app, chooses Manage connections,
// connects Google on the white-label page and chooses Done; the app's hook
// reads her connections, and /return sends her on with a 303.
//
// The return URL must exist before the kit, and the kit before the routes:
// the server starts on the router first, the kit is built from its URL,
// and the routes are added last, before any request.
func Example_integration() {
	emu := bluenexustest.NewServer()
	defer emu.Close()
	r := chi.NewRouter()
	app := httptest.NewTLSServer(middleware.ClientIP(middleware.RemoteAddrStrategy())(r))
	defer app.Close()
	client, _ := bluenexus.NewClient(bluenexus.WithBaseURL(emu.URL()), bluenexus.WithClientCredentials(emu.ClientCredentials()))
	store := bluenexus.NewMemoryTokenStore()
	store.Save(context.Background(), "alice", emu.SignIn("alice")) // alice signs in to the app
	tokens, _ := bluenexus.NewTokenSource(client, store)
	kit, _ := handlers.New(handlers.Config{WhiteLabelURL: emu.WhiteLabelURL(), ReturnURL: app.URL + "/return",
		CookieKeys: []session.KeyPair{{Hash: bytes.Repeat([]byte("h"), 32), Block: bytes.Repeat([]byte("b"), 32)}},
		Tokens:     tokens, User: func(*http.Request) (string, bool) { return "alice", true }, // from the app's auth
	}, handlers.WithClient(client), handlers.WithOnReturn(func(ctx context.Context, ev handlers.ReturnEvent) error {
		tok, err := ev.AccessToken(ctx)
		for c := range client.AllConnections(ctx, tok) {
			fmt.Println("hook sees", c.ProviderID)
		}
		return err
	}))
	r.Get("/manage-connections", kit.ManageConnections().ServeHTTP)
	r.Handle("/return", kit.Return()) // GET from the browser, POST from a mobile app
	browser := bluenexustest.NewBrowser(app)
	start, _ := browser.Get(app.URL + "/manage-connections")
	ret, err := bluenexustest.NewUser(emu, browser).Done(context.Background(), start, bluenexustest.Connect("google"))
	fmt.Println(start.StatusCode, ret.Response.StatusCode, ret.Response.Header.Get("Location"), err)
	// Output:
	// hook sees google
	// 302 303 / <nil>
}
