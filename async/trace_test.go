package async

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/assignd/assignd/policy"
)

// Callbacks stored together in one group commit each keep their own trace
// context on their job, not the batch's; without a span nothing is added.
func TestJobsCarryTheirCallbacksTrace(t *testing.T) {
	t.Parallel()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	q, err := Open(context.Background(), Options{Logger: zerolog.Nop(), DataDir: t.TempDir(), ReservationTimeout: time.Minute, Middleware: TraceMiddleware(tp)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(q.Close)

	const n = 64
	type stored struct {
		id          int64
		traceparent string
	}
	results := make([]stored, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			want := ""
			if i%4 != 0 { // every fourth callback untraced
				c, s := tp.Tracer("t").Start(ctx, "store")
				defer s.End()
				ctx = c
				sc := s.SpanContext()
				want = fmt.Sprintf("00-%s-%s-01", sc.TraceID(), sc.SpanID())
			}
			r := &policy.Reservation{AccountSid: testAccount, WorkspaceSid: workspace, TaskSid: task, WorkerSid: worker,
				ReservationSid: fmt.Sprintf("WR%032d", i), ReceivedAt: time.Now()}
			res, err := q.schedule(ctx, r, policy.Decision{Instruction: policy.Accept{}, Async: true})
			if err != nil {
				t.Error(err)
				return
			}
			results[i] = stored{res.Job.ID, want}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for i, s := range results {
		row, err := q.Job(context.Background(), s.id)
		if err != nil {
			t.Fatal(err)
		}
		var md struct {
			Traceparent string `json:"traceparent"`
		}
		if err := json.Unmarshal(row.Metadata, &md); err != nil {
			t.Fatalf("job %d metadata %s: %v", i, row.Metadata, err)
		}
		if md.Traceparent != s.traceparent {
			t.Errorf("job %d traceparent %q, want %q (its own callback's)", i, md.Traceparent, s.traceparent)
		}
	}
	batches := 0
	for _, s := range exp.GetSpans() {
		if s.Name == "river.insert_many" {
			batches++
		}
	}
	if batches == 0 {
		t.Fatal("no river.insert_many span: the insert side is not traced")
	}
	t.Logf("%d callbacks stored in %d batches", n, batches)
}
