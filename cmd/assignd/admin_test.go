package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/assignd/assignd/admin"
	"github.com/assignd/assignd/handlers"
	"github.com/assignd/assignd/internal/testwait"
	"github.com/assignd/assignd/telemetry/telemetrytest"
)

func adminGet(t *testing.T, url, password string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if password != "" {
		req.SetBasicAuth(admin.User, password)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The whole service with the admin listener and tracing on: metrics, pprof
// and River's UI answer on ADMIN_ADDR with credentials only and not on the
// public port; an async callback (from the emulator, for an email task) is
// one trace from the callback to the REST call, exported over OTLP; its log
// line carries the trace_id.
func TestAdminListenerAndTracing(t *testing.T) {
	col := telemetrytest.NewCollector(t)
	const pw = "s3cret-admin-password"
	pub, port := listenLocal(t, "127.0.0.1")
	adm, adminPort := listenLocal(t, "127.0.0.1")
	env := []string{
		"PORT=" + port, "DATA_DIR=" + filepath.Join(t.TempDir(), "data"),
		"ADMIN_ADDR=127.0.0.1:" + adminPort, "ADMIN_PASSWORD=" + pw,
		"OTEL_EXPORTER_OTLP_ENDPOINT=" + col.URL, "OTEL_SERVICE_NAME=assignd-e2e",
	}
	d := startDev(t, env, "", handedListeners{public: pub, admin: adm})
	stop, logs := d.stop, d.logs

	// An email task through the emulator: answered {}, accepted over REST.
	d.setActivity("Bob", "Idle")
	d.waitTask(d.createTask("Tutorial Workflow", `{"type":"email"}`), "assigned")

	adminURL := "http://127.0.0.1:" + adminPort
	if status, _ := adminGet(t, adminURL+"/metrics", ""); status != http.StatusUnauthorized {
		t.Fatalf("admin /metrics without credentials: %d, want 401", status)
	}
	if status, body := adminGet(t, adminURL+"/metrics", pw); status != http.StatusOK || !strings.Contains(body, "assignd_async_queue_depth") {
		t.Fatalf("admin /metrics: %d, want 200 with assignd's metrics", status)
	}
	if status, body := adminGet(t, adminURL+"/debug/pprof/", pw); status != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Fatalf("admin pprof: %d", status)
	}
	if status, _ := adminGet(t, "http://127.0.0.1:"+port+"/debug/pprof/", ""); status == http.StatusOK {
		t.Fatal("pprof answers on the public port")
	}
	// The decision is applied and River's UI shows the completed job.
	var status int
	var body string
	if !testwait.Until(30*time.Second, func() bool {
		status, body = adminGet(t, adminURL+admin.QueuePrefix+"/api/jobs?state=completed", pw)
		return status == http.StatusOK && strings.Contains(body, "apply_reservation_decision")
	}) {
		t.Fatalf("River UI never listed the completed job: %d %s", status, body)
	}

	if err := stop(); err != nil { // flushes the spans
		t.Fatalf("stop: %v", err)
	}

	cbs := col.Named(handlers.SpanCallback)
	if len(cbs) != 1 {
		t.Fatalf("%d callback spans, want 1", len(cbs))
	}
	cb := cbs[0]
	if got := telemetrytest.Attr(cb, "assignd.rule"); !strings.Contains(got, "email-accept-later") {
		t.Fatalf("callback span rule = %s", got)
	}
	store := col.Named(handlers.SpanStore)
	if len(store) != 1 || !bytes.Equal(store[0].ParentSpanId, cb.SpanId) {
		t.Fatalf("store spans %v, want one child of the callback span", store)
	}
	works := col.Named("river.work/apply_reservation_decision")
	if len(works) != 1 || len(works[0].Links) != 1 || !bytes.Equal(works[0].Links[0].SpanId, store[0].SpanId) || !bytes.Equal(works[0].Links[0].TraceId, cb.TraceId) {
		t.Fatalf("work spans %v, want one linked to the store span", works)
	}
	rest := col.Named("taskrouter POST")
	if len(rest) != 1 || !bytes.Equal(rest[0].ParentSpanId, works[0].SpanId) {
		t.Fatalf("REST spans %v, want one child of the work span", rest)
	}
	if res := col.Resources(); len(res) == 0 || res[0]["service.name"] != "assignd-e2e" {
		t.Fatalf("resources %v, want service.name assignd-e2e", res)
	}

	// The job's lines carry its work span's trace, which links back.
	traceID, workTraceID := hex.EncodeToString(cb.TraceId), hex.EncodeToString(works[0].TraceId)
	answered, applied := false, false
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) != nil {
			continue
		}
		switch line["message"] {
		case "callback answered":
			answered = line["trace_id"] == traceID
		case "async decision finished":
			applied = line["trace_id"] == workTraceID
		}
	}
	if !answered {
		t.Fatalf("the callback's log line lacks trace_id %s:\n%s", traceID, logs)
	}
	if !applied {
		t.Fatalf("the worker's log line lacks trace_id %s:\n%s", workTraceID, logs)
	}
}

// Without OTEL_* nothing is traced and log lines carry no trace_id.
func TestNoTracingWithoutOTEL(t *testing.T) {
	pub, port := listenLocal(t, "127.0.0.1")
	env := []string{"PORT=" + port, "DATA_DIR=" + filepath.Join(t.TempDir(), "data")}
	stop, logs := startServe(t, env, handedListeners{public: pub})
	var out bytes.Buffer
	if err := run(context.Background(), []string{"send"}, env, nil, &out, &out); err != nil {
		t.Fatalf("send: %v\n%s", err, out.String())
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if l := logs.String(); strings.Contains(l, "trace_id") || strings.Contains(l, "tracing:") || !strings.Contains(l, "callback answered") {
		t.Fatalf("logs without OTEL_*:\n%s", l)
	}
}

func TestAdminAddrNeedsCredentials(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	// Refused before listening: the ports are never bound (were they, the
	// taken port would fail the test too).
	pub, port := listenLocal(t, "127.0.0.1")
	adm, adminPort := listenLocal(t, "0.0.0.0")
	ctx := withHandedListeners(context.Background(), handedListeners{public: pub, admin: adm})
	err := run(ctx, nil, []string{"PORT=" + port, "DATA_DIR=" + t.TempDir(), "ADMIN_ADDR=0.0.0.0:" + adminPort}, nil, &out, &out)
	if err == nil || !strings.HasPrefix(err.Error(), "ADMIN_ADDR: ") || !strings.Contains(err.Error(), "ADMIN_PASSWORD") {
		t.Fatalf("err = %v, want a refusal naming ADMIN_ADDR and ADMIN_PASSWORD", err)
	}
}

// ADMIN_OPEN_REASON is the explicit opt-in: start-up goes on and says so.
func TestAdminOpenReasonIsLogged(t *testing.T) {
	t.Parallel()
	pub, port := listenLocal(t, "127.0.0.1")
	adm, adminPort := listenLocal(t, "0.0.0.0")
	env := []string{"PORT=" + port, "DATA_DIR=" + filepath.Join(t.TempDir(), "data"),
		"ADMIN_ADDR=0.0.0.0:" + adminPort, "ADMIN_OPEN_REASON=Fly private network"}
	stop, logs := startServe(t, env, handedListeners{public: pub, admin: adm})
	if status, body := adminGet(t, "http://127.0.0.1:"+adminPort+"/metrics", ""); status != http.StatusOK || !strings.Contains(body, "go_goroutines") {
		t.Fatalf("admin /metrics: %d", status)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), `"reason":"Fly private network"`) {
		t.Fatalf("the exposure is not logged:\n%s", logs)
	}
}
