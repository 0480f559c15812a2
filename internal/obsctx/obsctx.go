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
