package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
	"github.com/handoffkit/handoffkit/handlers"
	"github.com/handoffkit/handoffkit/middleware"
	"github.com/handoffkit/handoffkit/session"
)

type exampleUser struct{}

// session is what the example app's auth middleware knows of the user.
type appSession struct {
	ID    string
	Token bluenexus.AccessToken
}

// exampleKit builds a kit against the emulator; appAuth stands for the
// app's own auth middleware, which puts the signed-in user, with their
// BlueNexus token, in the request context.
func exampleKit(emu *bluenexustest.Server) (*handlers.Kit, func(http.Handler) http.Handler) {
	client, err := bluenexus.NewClient(bluenexus.WithBaseURL(emu.URL()))
	if err != nil {
		panic(err)
	}
	kit, err := handlers.New(handlers.Config{
		WhiteLabelURL: emu.WhiteLabelURL(),
		ReturnURL:     "https://app.example/connections/return",
		CookieKeys:    []session.KeyPair{testKeys}, // from configuration: session.ParseKeys
		User: func(r *http.Request) (string, bool) {
			s, ok := r.Context().Value(exampleUser{}).(appSession)
			return s.ID, ok
		},
		AccessToken: func(r *http.Request) (bluenexus.AccessToken, bool) {
			s, ok := r.Context().Value(exampleUser{}).(appSession)
			return s.Token, ok
		},
	},
		handlers.WithClient(client),
		handlers.WithOnReturn(func(ctx context.Context, ev handlers.ReturnEvent) error {
			conns, err := ev.Connections(ctx)
			if err != nil {
				return err
			}
			fmt.Println(ev.User, "has", len(conns), "connections")
			return nil
		}),
	)
	if err != nil {
		panic(err)
	}
	token := emu.AddUser("alice")
	appAuth := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s := appSession{ID: "user-42", Token: token}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), exampleUser{}, s)))
		})
	}
	return kit, appAuth
}

// The kit mounted on http.ServeMux, behind the app's auth middleware and
// ClientIP.
func ExampleKit_ManageConnections_serveMux() {
	emu := bluenexustest.NewServer()
	defer emu.Close()
	kit, appAuth := exampleKit(emu)

	mux := http.NewServeMux()
	mux.Handle("GET /manage-connections", appAuth(kit.ManageConnections()))
	mux.Handle("/connections/return", appAuth(kit.Return()))
	app := middleware.ClientIP(middleware.RemoteAddrStrategy())(mux)

	rec := httptest.NewRecorder()
	app.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "https://app.example/manage-connections?next=/settings", nil))
	fmt.Println(rec.Code, strings.HasPrefix(rec.Header().Get("Location"), emu.WhiteLabelURL()+"?code="))
	fmt.Println(rec.Header().Get("Cache-Control"), rec.Header().Get("Referrer-Policy"))
	// Output:
	// 302 true
	// no-store no-referrer
}

// The kit mounted on chi.
func ExampleKit_ManageConnections_chi() {
	emu := bluenexustest.NewServer()
	defer emu.Close()
	kit, appAuth := exampleKit(emu)

	r := chi.NewRouter()
	r.Use(middleware.ClientIP(middleware.RemoteAddrStrategy()))
	r.With(appAuth).Get("/manage-connections", kit.ManageConnections().ServeHTTP)
	r.With(appAuth).Handle("/connections/return", kit.Return())

	req := httptest.NewRequest(http.MethodGet, "https://app.example/manage-connections", nil)
	req.Header.Set("Accept", "application/json") // SPA and mobile clients get the URL as JSON
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, req)
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"), strings.Contains(rec.Body.String(), `"url":`))
	// Output:
	// 200 application/json true
}

// A return whose state the kit did not seal fails locally: no hook, no
// redirect to anywhere the request names.
func ExampleKit_Return() {
	emu := bluenexustest.NewServer()
	defer emu.Close()
	kit, appAuth := exampleKit(emu)
	ret := appAuth(kit.Return())

	req := httptest.NewRequest(http.MethodGet, "https://app.example/connections/return?state="+strings.Repeat("A", 120), nil)
	req.Header.Set("Accept", "application/json")
	rec := httptest.NewRecorder()
	ret.ServeHTTP(rec, req)
	fmt.Println(rec.Code, strings.TrimSpace(rec.Body.String()))
	// Output:
	// 403 {"error":"unknown_state","message":"This return does not match a connection flow of this app. Please start again."}
}
