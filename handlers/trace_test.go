package handlers_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/assignd/assignd/async"
	"github.com/assignd/assignd/async/asynctest"
	"github.com/assignd/assignd/emulator"
	"github.com/assignd/assignd/emulator/emulatortest"
	"github.com/assignd/assignd/handlers"
	"github.com/assignd/assignd/internal/testwait"
	"github.com/assignd/assignd/telemetry"
)

func newRecorder() (*tracetest.InMemoryExporter, *sdktrace.TracerProvider) {
	exp := tracetest.NewInMemoryExporter()
	return exp, sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
}

func spanNamed(spans tracetest.SpanStubs, name string) (tracetest.SpanStub, bool) {
	for _, s := range spans {
		if s.Name == name {
			return s, true
		}
	}
	return tracetest.SpanStub{}, false
}

func mustSpan(t *testing.T, spans tracetest.SpanStubs, name string) tracetest.SpanStub {
	t.Helper()
	s, ok := spanNamed(spans, name)
	if !ok {
		names := make([]string, len(spans))
		for i, s := range spans {
			names[i] = s.Name
		}
		t.Fatalf("no %q span among %q", name, names)
	}
	return s
}

func attrs(s tracetest.SpanStub) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes {
		m[kv.Key] = kv.Value
	}
	return m
}

func assertChild(t *testing.T, child, parent tracetest.SpanStub) {
	t.Helper()
	if child.Parent.SpanID() != parent.SpanContext.SpanID() || child.SpanContext.TraceID() != parent.SpanContext.TraceID() {
		t.Fatalf("%q (parent %s) is not a child of %q (%s)", child.Name, child.Parent.SpanID(), parent.Name, parent.SpanContext.SpanID())
	}
}

// One trace from the callback to the REST call: the callback's server span
// has the signature, decision and store spans as children; River's work
// span links to the store span through the stored job; the REST call's
// client span is a child of the work span.
func TestTraceFromCallbackToRESTCall(t *testing.T) {
	t.Parallel()
	for _, store := range []string{"sqlite", "postgres"} {
		t.Run(store, func(t *testing.T) { traceFromCallbackToRESTCall(t, store) })
	}
}

func traceFromCallbackToRESTCall(t *testing.T, db string) {
	exp, tp := newRecorder()
	o := async.Options{Logger: zerolog.Nop(), DataDir: t.TempDir(), ReservationTimeout: time.Minute, Middleware: async.TraceMiddleware(tp)}
	if db == "postgres" {
		o.DatabaseURL = asynctest.DatabaseURL(t)
	}
	api := emulatortest.New(t, emulator.Options{AccountSid: testAccount, AuthToken: testToken})
	client, err := async.NewAPI(api.URL, testAccount, testAccount, testToken, telemetry.Transport(nil, tp))
	if err != nil {
		t.Fatal(err)
	}
	o.API = client
	q, err := async.Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Stop(context.Background()); q.Close() })
	srv := startServer(t, handlers.Options{Decider: guard(t, asyncAccept(), time.Second), Scheduler: q, Tracer: tp.Tracer(handlers.TracerName)})

	r := pendingReservation(t, api)
	if status, body, _ := postSigned(t, srv.URL, r); status != http.StatusOK || body != "{}" {
		t.Fatalf("got %d %q, want 200 {}", status, body)
	}
	// The client span ends when the REST call returns, before the work
	// span: wait for the work span, which is last.
	const workSpan = "river.work/apply_reservation_decision"
	if !testwait.Until(30*time.Second, func() bool { _, ok := spanNamed(exp.GetSpans(), workSpan); return ok }) {
		mustSpan(t, exp.GetSpans(), workSpan)
	}
	if got := api.Get(r.ReservationSid); got.Status != "accepted" {
		t.Fatalf("emulator: %+v, want accepted", got)
	}

	spans := exp.GetSpans()
	cb := mustSpan(t, spans, handlers.SpanCallback)
	if cb.SpanKind != trace.SpanKindServer || cb.Parent.IsValid() {
		t.Fatalf("callback span: kind %s, parent %v; want a root server span", cb.SpanKind, cb.Parent.SpanID())
	}
	a := attrs(cb)
	for k, want := range map[attribute.Key]string{
		"twilio.reservation_sid": r.ReservationSid, "twilio.task_sid": r.TaskSid, "twilio.worker_sid": r.WorkerSid,
		"twilio.workspace_sid": r.WorkspaceSid, "twilio.workflow_sid": r.WorkflowSid, "twilio.task_queue_sid": r.TaskQueueSid,
		"assignd.rule": "later", "assignd.instruction": "accept", "assignd.result": handlers.ResultOK,
	} {
		if got := a[k].AsString(); got != want {
			t.Errorf("callback span %s = %q, want %q", k, got, want)
		}
	}
	if !a["assignd.async"].AsBool() || a["http.response.status_code"].AsInt64() != http.StatusOK {
		t.Errorf("callback span async=%v status=%d, want async and 200", a["assignd.async"].AsBool(), a["http.response.status_code"].AsInt64())
	}

	store := mustSpan(t, spans, handlers.SpanStore)
	for _, name := range []string{handlers.SpanSignature, handlers.SpanDecide, handlers.SpanStore} {
		assertChild(t, mustSpan(t, spans, name), cb)
	}

	work := mustSpan(t, spans, workSpan)
	linked := false
	for _, l := range work.Links {
		if l.SpanContext.TraceID() == store.SpanContext.TraceID() && l.SpanContext.SpanID() == store.SpanContext.SpanID() {
			linked = true
		}
	}
	if !linked {
		t.Fatalf("work span links %v, want a link to the store span %s", work.Links, store.SpanContext.SpanID())
	}
	rest := mustSpan(t, spans, "taskrouter POST")
	if rest.SpanKind != trace.SpanKindClient {
		t.Fatalf("REST span kind %s, want client", rest.SpanKind)
	}
	assertChild(t, rest, work)
	if got := attrs(rest)["http.response.status_code"].AsInt64(); got != http.StatusOK {
		t.Fatalf("REST span status %d, want 200", got)
	}
	// The batch insert is traced too, as its own operation.
	mustSpan(t, spans, "river.insert_many")
}

// Refused requests are spans too, with the result and no decision.
func TestTraceOfRefusedCallback(t *testing.T) {
	t.Parallel()
	exp, tp := newRecorder()
	srv := startServer(t, handlers.Options{Tracer: tp.Tracer(handlers.TracerName)})
	if status, _, _ := post(t, srv.URL+"/assignment", "TaskSid=WT1", "forged"); status != http.StatusForbidden {
		t.Fatalf("got %d, want 403", status)
	}
	spans := exp.GetSpans()
	cb := mustSpan(t, spans, handlers.SpanCallback)
	if got := attrs(cb)["assignd.result"].AsString(); got != handlers.ResultBadSignature {
		t.Fatalf("result attribute %q, want %s", got, handlers.ResultBadSignature)
	}
	assertChild(t, mustSpan(t, spans, handlers.SpanSignature), cb)
	if _, ok := spanNamed(spans, handlers.SpanDecide); ok {
		t.Fatal("a forged callback reached the policy")
	}
}
