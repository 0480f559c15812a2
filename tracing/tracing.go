// Package tracing traces the kit with OpenTelemetry: a server span for each
// request to the kit's two routes, with the route and the outcome, and a
// client span for each call to BlueNexus under it (through otelhttp).
//
//	t, err := tracing.New(otel.GetTracerProvider())
//	client, err := bluenexus.NewClient(bluenexus.WithTransport(t.Transport))
//	kit, err := handlers.New(cfg, handlers.WithClient(client))
//	r.With(appAuth).Get("/manage-connections", t.Handler("manage", kit.ManageConnections()).ServeHTTP)
//	r.With(appAuth).Handle("/connections/return", t.Handler("return", kit.Return()))
//
// No span carries a secret: the server spans record the route, the method,
// the outcome and the status, never the URL (a state rides in the return's
// query), a header or a cookie; the client spans are otelhttp's, whose
// attributes are the BlueNexus API URL (no query carries a secret there),
// the method and the status, never the Authorization header or a body.
package tracing

import (
	"errors"
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/handoffkit/handoffkit/internal/obsctx"
)

// Tracer traces the kit's routes and its calls to BlueNexus on one
// TracerProvider. Create it with [New]; it is safe for concurrent use.
type Tracer struct {
	tp     trace.TracerProvider
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
}

// New returns a Tracer on tp. It continues traces from W3C trace-context
// headers (traceparent, tracestate) of incoming requests.
func New(tp trace.TracerProvider) (*Tracer, error) {
	if tp == nil {
		return nil, errors.New("tracing: New: nil TracerProvider")
	}
	return &Tracer{
		tp:     tp,
		tracer: tp.Tracer("github.com/handoffkit/handoffkit/tracing"),
		prop:   propagation.TraceContext{},
	}, nil
}

// Handler wraps one of the kit's handlers (route "manage" for
// ManageConnections, "return" for Return) in a server span named
// "handoffkit.<route>", with the attributes handoffkit.route,
// handoffkit.outcome, http.request.method and http.response.status_code.
// A failure of the kit's own (a 5xx other than from BlueNexus being down)
// marks the span as an error.
func (t *Tracer) Handler(route string, h http.Handler) http.Handler {
	name := "handoffkit." + route
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := t.prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := t.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("handoffkit.route", route), attribute.String("http.request.method", r.Method)))
		defer span.End()
		ctx = obsctx.With(ctx, func(_, outcome string, status int) {
			span.SetAttributes(attribute.String("handoffkit.outcome", outcome), attribute.Int("http.response.status_code", status))
			if status >= 500 && status != 499 {
				span.SetStatus(codes.Error, outcome)
			}
		})
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

// Transport wraps the BlueNexus client's transport with otelhttp, so that
// each call is a client span under the request's span: pass it to
// bluenexus.WithTransport, which keeps the kit's tuned transport inside.
func (t *Tracer) Transport(rt http.RoundTripper) http.RoundTripper {
	return otelhttp.NewTransport(rt, otelhttp.WithTracerProvider(t.tp), otelhttp.WithPropagators(t.prop),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
			return "bluenexus " + r.Method + " " + r.URL.Path
		}))
}
