package telemetry

import (
	"net/http"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// LogHook adds trace_id and span_id to a log line whose event carries a
// context with a span (zerolog's Event.Ctx, or River's logs through
// zerolog's slog handler), so a log line leads to its trace.
type LogHook struct{}

// Run implements zerolog.Hook.
func (LogHook) Run(e *zerolog.Event, _ zerolog.Level, _ string) {
	sc := trace.SpanContextFromContext(e.GetCtx())
	if !sc.IsValid() {
		return
	}
	e.Str("trace_id", sc.TraceID().String()).Str("span_id", sc.SpanID().String())
}

// Transport makes each request through next a client span of tp, child of
// the span in the request's context, and sends the W3C trace context along.
// async.NewAPI takes it, so every REST call to TaskRouter is a span.
func Transport(next http.RoundTripper, tp trace.TracerProvider) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return otelhttp.NewTransport(next,
		otelhttp.WithTracerProvider(tp),
		otelhttp.WithPropagators(propagation.TraceContext{}),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return "taskrouter " + r.Method }),
	)
}
