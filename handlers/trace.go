package handlers

import (
	"context"

	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Span names: the callback's server span and its children.
const (
	SpanCallback  = "assignment callback"
	SpanSignature = "verify signature"
	SpanDecide    = "policy decide"
	SpanStore     = "store async decision"
)

// TracerName names the handler's tracer (the instrumentation scope).
const TracerName = "github.com/assignd/assignd/handlers"

// noSpan stands in for every span when Options.Tracer is nil. Even OTel's
// no-op tracer allocates a context per span; without a tracer an untraced
// callback allocates nothing for tracing. (A value, never written.)
var noSpan trace.Span = noop.Span{}

// callbackSpan is the server span of one callback; end records the
// callback's outcome on it as attributes, whichever way it answered.
type callbackSpan struct {
	span trace.Span
	c    echo.Context
}

// startSpan returns the span by value: it lives on the handler's stack.
func (h *callback) startSpan(c echo.Context) (context.Context, callbackSpan) {
	if h.tracer == nil {
		return c.Request().Context(), callbackSpan{span: noSpan, c: c}
	}
	ctx, span := h.tracer.Start(c.Request().Context(), SpanCallback, trace.WithSpanKind(trace.SpanKindServer))
	return ctx, callbackSpan{span: span, c: c}
}

func (s *callbackSpan) end(o *outcome) {
	defer s.span.End()
	if !s.span.IsRecording() {
		return
	}
	req := s.c.Request()
	s.span.SetAttributes(
		attribute.String("http.request.method", req.Method),
		attribute.String("url.path", req.URL.Path),
		attribute.Int("http.response.status_code", s.c.Response().Status),
		attribute.String("assignd.result", o.Result),
	)
	if r := o.Reservation; r != nil {
		s.span.SetAttributes(
			attribute.String("twilio.reservation_sid", r.ReservationSid),
			attribute.String("twilio.task_sid", r.TaskSid),
			attribute.String("twilio.worker_sid", r.WorkerSid),
			attribute.String("twilio.task_queue_sid", r.TaskQueueSid),
			attribute.String("twilio.workflow_sid", r.WorkflowSid),
			attribute.String("twilio.workspace_sid", r.WorkspaceSid),
		)
	}
	if d := o.Decision; o.decided {
		s.span.SetAttributes(
			attribute.String("assignd.rule", d.Rule),
			attribute.String("assignd.instruction", d.InstructionName()),
			attribute.Bool("assignd.async", d.Async),
		)
		if o.Duplicate {
			s.span.SetAttributes(attribute.Bool("assignd.duplicate", true))
		}
	}
	// A refused request is the client's error (left unset, as OTel's HTTP
	// conventions say for 4xx); a fallback is ours.
	if o.Result == ResultFallback {
		s.span.SetStatus(codes.Error, o.Result)
	}
}

// childSpan starts one step of the callback (signature, decision, store).
func (h *callback) childSpan(ctx context.Context, name string) (context.Context, trace.Span) {
	if h.tracer == nil {
		return ctx, noSpan
	}
	return h.tracer.Start(ctx, name)
}

// endStep ends a step's span, marking it failed when err is set.
func endStep(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
