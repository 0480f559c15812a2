package handlers

import (
	"context"
	"time"

	"github.com/rs/zerolog"

	"github.com/handoffkit/handoffkit/internal/obsctx"
)

// Observer receives the kit's metrics events. Implementations must be safe
// for concurrent use and fast: they run on the request path. Package
// metrics has a Prometheus implementation.
type Observer interface {
	// Minted reports a handoff code minted, and how long the upstream call
	// took. A code minted again because the first came back too
	// short-lived counts twice: BlueNexus minted two.
	Minted(latency time.Duration)
	// Outcome reports how a request to a route ("manage" or "return") ended.
	Outcome(route string, outcome Outcome)
	// UpstreamError reports a failed upstream call by class: "timeout",
	// "connection", "server", "rate_limited", "unauthorized", "forbidden",
	// "client_criteria", "refused" (another 4xx), "bad_response",
	// "circuit_open" or "other". A call the browser abandoned is not one.
	UpstreamError(class string)
	// GuardPressure reports a return refused as expired because the
	// in-memory replay guard was full and had to drop the entries that
	// expire first: under pressure the effective TTL shrinks.
	GuardPressure()
	// TokenEvent reports what the token source (Config.Tokens) did for a
	// request: "cached" (a fresh token served without a refresh),
	// "refreshed" (a new pair obtained and saved), "refused" (BlueNexus
	// refused the refresh token: the user must sign in again), "reauth"
	// (the user must sign in again, without a token call) or "failed" (a
	// refresh failed otherwise). Never a token.
	TokenEvent(event string)
}

type nopObserver struct{}

func (nopObserver) Minted(time.Duration)    {}
func (nopObserver) Outcome(string, Outcome) {}
func (nopObserver) UpstreamError(string)    {}
func (nopObserver) GuardPressure()          {}
func (nopObserver) TokenEvent(string)       {}

// newTokenObserver returns the observer a kit puts in the context of its
// token source calls: it counts each event and logs the refreshes and
// refusals.
func newTokenObserver(obs Observer, logger zerolog.Logger) *obsctx.Tokens {
	return &obsctx.Tokens{Event: func(event string) {
		obs.TokenEvent(event)
		switch event {
		case "cached":
		case "refused":
			logger.Warn().Str("event", "token.refused").
				Str("hint", "BlueNexus refused the refresh token as invalid or already used; likely causes: "+
					"a restart or another process presented an old refresh token (a pair seeded from configuration), "+
					"or the app saved the same pair twice; the user must sign in again").
				Msg("token source")
		default: // a refresh, or a refusal: worth a line, never a token
			logger.Info().Str("event", "token."+event).Msg("token source")
		}
	}}
}

// tokenCtx is ctx carrying the kit's token observer, for its calls to the
// token source.
func (k *Kit) tokenCtx(ctx context.Context) context.Context {
	return obsctx.WithTokens(ctx, k.tokenObs)
}
