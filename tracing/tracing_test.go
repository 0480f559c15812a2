package tracing_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
	"github.com/handoffkit/handoffkit/handlers"
	"github.com/handoffkit/handoffkit/middleware"
	"github.com/handoffkit/handoffkit/session"
	"github.com/handoffkit/handoffkit/tracing"
)

// TestSpans runs a whole flow through traced routes on the emulator: a
// server span per route with its route and outcome, the BlueNexus calls as
// its children, and no token, code or state in any span's name, attributes
// or events.
func TestSpans(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	tr, err := tracing.New(tp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tracing.New(nil); err == nil {
		t.Error("New(nil): no error")
	}

	emu := bluenexustest.NewServer(bluenexustest.WithUser("alice"))
	t.Cleanup(emu.Close)
	pair := emu.SignIn("alice")
	id, secret := emu.ClientCredentials()
	client, err := bluenexus.NewClient(bluenexus.WithBaseURL(emu.URL()), bluenexus.WithClientCredentials(id, secret),
		bluenexus.WithTransport(tr.Transport))
	if err != nil {
		t.Fatal(err)
	}
	store := bluenexus.NewMemoryTokenStore()
	if err := store.Save(t.Context(), "alice", pair); err != nil {
		t.Fatal(err)
	}
	tokens, err := bluenexus.NewTokenSource(client, store)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	app := httptest.NewTLSServer(middleware.ClientIP(middleware.RemoteAddrStrategy())(mux))
	t.Cleanup(app.Close)
	var codes, states []string
	kit, err := handlers.New(handlers.Config{
		WhiteLabelURL: emu.WhiteLabelURL(), ReturnURL: app.URL + "/return",
		CookieKeys: []session.KeyPair{{Hash: []byte(strings.Repeat("h", 32)), Block: []byte(strings.Repeat("b", 32))}},
		Tokens:     tokens, User: func(*http.Request) (string, bool) { return "alice", true },
	}, handlers.WithClient(client), handlers.WithOnReturn(func(ctx context.Context, ev handlers.ReturnEvent) error {
		states = append(states, ev.Request.URL.Query().Get("state"))
		tok, err := ev.AccessToken(ctx)
		if err != nil {
			return err
		}
		for _, err := range client.AllConnections(ctx, tok) {
			if err != nil {
				return err
			}
		}
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("GET /manage-connections", tr.Handler("manage", kit.ManageConnections()))
	mux.Handle("/return", tr.Handler("return", kit.Return()))

	browser := bluenexustest.NewBrowser(app)
	start, err := browser.Get(app.URL + "/manage-connections")
	if err != nil {
		t.Fatal(err)
	}
	codes = append(codes, strings.TrimPrefix(start.Header.Get("Location"), emu.WhiteLabelURL()+"?code="))
	back, err := bluenexustest.NewUser(emu, browser).Done(t.Context(), start, bluenexustest.Connect("google"))
	if err != nil {
		t.Fatal(err)
	}
	if back.Response.StatusCode != http.StatusSeeOther {
		t.Fatalf("return: %d", back.Response.StatusCode)
	}
	if err := tp.ForceFlush(t.Context()); err != nil {
		t.Fatal(err)
	}

	spans := rec.Ended()
	byName := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		byName[s.Name()] = s
	}
	for route, outcome := range map[string]string{"manage": "minted", "return": "success"} {
		s, ok := byName["handoffkit."+route]
		if !ok {
			t.Fatalf("no span handoffkit.%s among %d spans", route, len(spans))
		}
		attrs := map[attribute.Key]attribute.Value{}
		for _, a := range s.Attributes() {
			attrs[a.Key] = a.Value
		}
		if attrs["handoffkit.route"].AsString() != route || attrs["handoffkit.outcome"].AsString() != outcome {
			t.Errorf("span %s: attributes %v, want route %s, outcome %s", s.Name(), s.Attributes(), route, outcome)
		}
	}
	// The BlueNexus calls are children of the route's span.
	parentOf := func(name string) string {
		for _, s := range spans {
			if s.Name() == name {
				for _, p := range spans {
					if p.SpanContext().SpanID() == s.Parent().SpanID() {
						return p.Name()
					}
				}
			}
		}
		return ""
	}
	if p := parentOf("bluenexus POST /api/v1/auth/handoff/init"); p != "handoffkit.manage" {
		t.Errorf("the handoff init span's parent is %q, want handoffkit.manage", p)
	}
	if p := parentOf("bluenexus GET /api/v1/connections"); p != "handoffkit.return" {
		t.Errorf("the connections span's parent is %q, want handoffkit.return", p)
	}
	// Canary: no secret anywhere in any span.
	stored, _, _ := store.Load(t.Context(), "alice")
	secrets := append(append(codes, states...), pair.AccessToken.Reveal(), pair.RefreshToken.Reveal(),
		stored.AccessToken.Reveal(), stored.RefreshToken.Reveal())
	for _, s := range spans {
		text := s.Name()
		for _, a := range s.Attributes() {
			text += " " + a.Value.Emit()
		}
		for _, e := range s.Events() {
			text += " " + e.Name
			for _, a := range e.Attributes {
				text += " " + a.Value.Emit()
			}
		}
		for _, secret := range secrets {
			if len(secret) >= 8 && strings.Contains(text, secret) {
				t.Errorf("span %s carries a secret", s.Name())
			}
		}
	}
}
