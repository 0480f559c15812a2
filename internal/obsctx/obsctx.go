// Package obsctx carries, in a request's context, a function that hears how
// the kit's route ended. The tracing adapter puts one there to annotate the
// request's span with the outcome; the handlers report to it. It is
// internal: the public way to observe the kit is handlers.Observer.
package obsctx

import "context"

type key struct{}

// Sink hears a route's outcome ("minted", "success", "expired", ...) and
// the HTTP status the kit answered. It never gets a secret.
type Sink func(route, outcome string, status int)

// With returns ctx carrying sink.
func With(ctx context.Context, sink Sink) context.Context {
	return context.WithValue(ctx, key{}, sink)
}

// Report hands the outcome to the sink in ctx, if any.
func Report(ctx context.Context, route, outcome string, status int) {
	if sink, ok := ctx.Value(key{}).(Sink); ok && sink != nil {
		sink(route, outcome, status)
	}
}

type tokensKey struct{}

// Tokens hears the token source's events ("cached", "refreshed", "reauth",
// "refused", "failed") for the calls made with a context that carries it:
// each kit puts its own there; a refresh is heard by the Tokens of the
// call that started it. Event never gets a secret or a user id.
type Tokens struct {
	Event func(event string)
}

// WithTokens returns ctx carrying o.
func WithTokens(ctx context.Context, o *Tokens) context.Context {
	return context.WithValue(ctx, tokensKey{}, o)
}

// TokenEvent hands event to the Tokens in ctx, if any.
func TokenEvent(ctx context.Context, event string) {
	if o, _ := ctx.Value(tokensKey{}).(*Tokens); o != nil && o.Event != nil {
		o.Event(event)
	}
}
