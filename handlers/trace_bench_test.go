package handlers_test

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/assignd/assignd/handlers"
	"github.com/assignd/assignd/taskrouter"
)

// BenchmarkCallbackTracing compares, in one run, a callback untraced (the
// default no-op tracer, what serve uses without OTEL_*) with one whose spans
// are all sampled and handed to the SDK's batch processor (exported to
// nowhere): the cost of turning tracing on.
func BenchmarkCallbackTracing(b *testing.B) {
	r := reservation(map[string]any{"selected_language": "es"}, map[string]any{"languages": []any{"es", "en"}, "skills": []any{"billing"}})
	form, _ := handlers.EncodeForm(&r)
	body := form.Encode()
	sig := taskrouter.Sign(testToken, "http://example.com/assignment", form)
	for _, c := range []struct {
		name string
		tp   func() *sdktrace.TracerProvider
	}{
		{"off", nil},
		{"sampled", func() *sdktrace.TracerProvider {
			return sdktrace.NewTracerProvider(sdktrace.WithBatcher(discardExporter{}), sdktrace.WithSampler(sdktrace.AlwaysSample()))
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			o := handlers.Options{
				Logger:   zerolog.New(discard{}),
				Verifier: handlers.NewVerifier([]string{testToken}, nil, handlers.ProxyNone),
				Decider:  guard(b, examplePolicy(b), time.Second),
			}
			if c.tp != nil {
				tp := c.tp()
				b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
				o.Tracer = tp.Tracer(handlers.TracerName)
			}
			h, err := handlers.New(o)
			if err != nil {
				b.Fatal(err)
			}
			runBench(b, h, body, sig, `{"instruction":"accept"}`)
		})
	}
}

type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }
