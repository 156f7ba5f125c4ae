package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/assignd/assignd/config"
	"github.com/assignd/assignd/telemetry"
	"github.com/assignd/assignd/telemetry/telemetrytest"
)

// Without an endpoint nothing is installed: spans are OTel's no-op ones.
func TestOffWithoutEndpoint(t *testing.T) {
	for _, environ := range [][]string{
		nil,
		{"OTEL_SERVICE_NAME=assignd-test", "OTEL_TRACES_SAMPLER=always_on"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318", "OTEL_SDK_DISABLED=true"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER=none"},
	} {
		tr, err := telemetry.Setup(context.Background(), environ, "test")
		if err != nil {
			t.Fatalf("%v: %v", environ, err)
		}
		if tr.Enabled {
			t.Fatalf("%v: tracing enabled, want off", environ)
		}
		if _, ok := tr.Provider.(*sdktrace.TracerProvider); ok {
			t.Fatalf("%v: an SDK provider was installed, want the no-op", environ)
		}
		_, span := tr.Provider.Tracer("t").Start(context.Background(), "s")
		if span.IsRecording() || span.SpanContext().IsValid() {
			t.Fatalf("%v: the span records, want a no-op span", environ)
		}
		span.End()
		if err := tr.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

func TestExportsToTheConfiguredCollector(t *testing.T) {
	for _, c := range []struct {
		name, env, path string
	}{
		{"base endpoint", "OTEL_EXPORTER_OTLP_ENDPOINT", "/v1/traces"},
		{"traces endpoint", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "/custom/traces"},
	} {
		t.Run(c.name, func(t *testing.T) {
			col := telemetrytest.NewCollector(t)
			url := col.URL
			if c.env == "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" {
				url += c.path
			}
			tr, err := telemetry.Setup(context.Background(), []string{c.env + "=" + url, "OTEL_SERVICE_NAME=assignd-test"}, "v1.2.3")
			if err != nil {
				t.Fatal(err)
			}
			if !tr.Enabled {
				t.Fatal("tracing off with an endpoint set")
			}
			_, span := tr.Provider.Tracer("t").Start(context.Background(), "exported span")
			span.End()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := tr.Shutdown(ctx); err != nil { // flushes the batch
				t.Fatal(err)
			}
			paths := col.Paths()
			if len(paths) == 0 {
				t.Fatal("the collector received nothing")
			}
			if paths[0] != c.path {
				t.Fatalf("exported to %s, want %s", paths[0], c.path)
			}
			attrs := col.Resources()[0]
			if attrs["service.name"] != "assignd-test" || attrs["service.version"] != "v1.2.3" {
				t.Fatalf("resource = %v, want service.name assignd-test, service.version v1.2.3", attrs)
			}
			if len(col.Named("exported span")) != 1 {
				t.Fatalf("spans = %v, want one called \"exported span\"", col.Spans())
			}
		})
	}
}

func TestBadSettingsNameTheVariable(t *testing.T) {
	for _, c := range []struct {
		environ []string
		varName string
	}{
		{[]string{"OTEL_EXPORTER_OTLP_ENDPOINT=localhost:4318"}, "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{[]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=ftp://collector/v1/traces"}, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"},
		{[]string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317", "OTEL_EXPORTER_OTLP_PROTOCOL=grpc"}, "OTEL_EXPORTER_OTLP_PROTOCOL"},
		{[]string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/json"}, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"},
		{[]string{"OTEL_TRACES_EXPORTER=zipkin"}, "OTEL_TRACES_EXPORTER"},
	} {
		_, err := telemetry.Setup(context.Background(), c.environ, "test")
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Var != c.varName {
			t.Errorf("%v: got %v, want an error naming %s", c.environ, err, c.varName)
		}
	}
}

func TestLogLinesCarryTraceID(t *testing.T) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(tracetest.NewInMemoryExporter()))
	ctx, span := tp.Tracer("t").Start(context.Background(), "s")
	defer span.End()
	var buf bytes.Buffer
	log := zerolog.New(&buf).Hook(telemetry.LogHook{})

	log.Info().Ctx(ctx).Msg("in a span")
	log.Info().Msg("outside")

	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	var in, out map[string]any
	if err := json.Unmarshal(lines[0], &in); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(lines[1], &out); err != nil {
		t.Fatal(err)
	}
	if in["trace_id"] != span.SpanContext().TraceID().String() || in["span_id"] != span.SpanContext().SpanID().String() {
		t.Fatalf("line in a span = %s, want trace_id %s", lines[0], span.SpanContext().TraceID())
	}
	if _, ok := out["trace_id"]; ok {
		t.Fatalf("line outside a span has a trace_id: %s", lines[1])
	}
}

// The transport makes a client span, child of the caller's span, and sends
// its context to the server in traceparent.
func TestTransportMakesClientSpans(t *testing.T) {
	var gotParent string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotParent = r.Header.Get("traceparent")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer srv.Close()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	ctx, parent := tp.Tracer("t").Start(context.Background(), "job")

	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/Workspaces/WS1/Tasks/WT1/Reservations/WR1", nil)
	resp, err := (&http.Client{Transport: telemetry.Transport(nil, tp)}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	parent.End()

	var client *tracetest.SpanStub
	for _, s := range exp.GetSpans() {
		if s.SpanKind == trace.SpanKindClient {
			client = &s
		}
	}
	if client == nil {
		t.Fatalf("no client span among %d spans", len(exp.GetSpans()))
	}
	if client.Parent.SpanID() != parent.SpanContext().SpanID() || client.Name != "taskrouter POST" {
		t.Fatalf("client span %q has parent %s, want child of %s", client.Name, client.Parent.SpanID(), parent.SpanContext().SpanID())
	}
	if want := "00-" + client.SpanContext.TraceID().String() + "-" + client.SpanContext.SpanID().String() + "-01"; gotParent != want {
		t.Fatalf("server got traceparent %q, want %q", gotParent, want)
	}
	var status int64
	for _, kv := range client.Attributes {
		if kv.Key == "http.response.status_code" {
			status = kv.Value.AsInt64()
		}
	}
	if status != http.StatusTooManyRequests {
		t.Fatalf("client span status attribute = %d, want 429", status)
	}
}

// Check lists every bad OTEL_* value at once, each naming its variable, so
// start-up can refuse with them and config's problems in one list; Setup
// refuses the same ones.
func TestCheckListsEveryProblem(t *testing.T) {
	environ := []string{
		"OTEL_TRACES_EXPORTER=zipkin",
		"OTEL_EXPORTER_OTLP_ENDPOINT=localhost:4318",
		"OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
		"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/json",
	}
	errs := telemetry.Check(environ)
	var got []string
	for _, e := range errs {
		got = append(got, e.Var)
	}
	want := []string{"OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("Check named %v, want %v", got, want)
	}
	_, err := telemetry.Setup(context.Background(), environ, "test")
	var ce config.Errors
	if !errors.As(err, &ce) || len(ce) != len(want) {
		t.Fatalf("Setup: %v, want the same %d problems", err, len(want))
	}
	for _, ok := range [][]string{
		nil,
		{"OTEL_EXPORTER_OTLP_PROTOCOL=grpc"}, // no endpoint: tracing is off, the protocol unused
		{"OTEL_SDK_DISABLED=true", "OTEL_EXPORTER_OTLP_ENDPOINT=nonsense"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318", "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf"},
	} {
		if errs := telemetry.Check(ok); errs != nil {
			t.Errorf("%v: %v", ok, errs)
		}
	}
}
