package async

import (
	"context"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/riverqueue/rivercontrib/otelriver"
	"github.com/tidwall/sjson"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// TraceMiddleware returns River middleware tracing job inserts and work
// with tp (rivercontrib/otelriver), for Options.Middleware.
//
// otelriver can carry the trace context through the job itself, but it
// stamps every job with the context of the InsertMany call, and a group
// commit inserts many callbacks' jobs in one call from the batcher, outside
// any callback. So the insert side runs without propagation, Schedule stamps
// each job with its own callback's context (traceMetadata), and the work
// side reads it back: each job's work span links to the callback that
// stored it, and the REST call's client span is a child of the work span.
func TraceMiddleware(tp trace.TracerProvider) []rivertype.Middleware {
	insert := otelriver.NewMiddleware(&otelriver.MiddlewareConfig{TracerProvider: tp})
	work := otelriver.NewMiddleware(&otelriver.MiddlewareConfig{TracerProvider: tp, EnableTracePropagation: true, EnableWorkSpanJobKindSuffix: true})
	// Each half on its own, so River sees an insert-only and a work-only
	// middleware with different propagation settings.
	return []rivertype.Middleware{river.JobInsertMiddlewareFunc(insert.InsertMany), river.WorkerMiddlewareFunc(work.Work)}
}

// traceMetadata adds ctx's W3C trace context (traceparent, tracestate) to a
// job's metadata, in the keys otelriver's work side reads. Without a
// sampled span in ctx (tracing off) it returns metadata untouched at the
// cost of one context lookup.
func traceMetadata(ctx context.Context, metadata []byte) []byte {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return metadata
	}
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, carrier)
	if len(metadata) == 0 {
		metadata = []byte("{}")
	}
	for k, v := range carrier {
		out, err := sjson.SetBytes(metadata, k, v)
		if err != nil {
			return metadata // tracing must never cost a decision
		}
		metadata = out
	}
	return metadata
}
