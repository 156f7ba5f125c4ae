package decisionlog_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/assignd/assignd/decisionlog"
	"github.com/assignd/assignd/handlers"
	"github.com/assignd/assignd/internal/servicetest"
	"github.com/assignd/assignd/policy"
	"github.com/assignd/assignd/policy/examples"
	"github.com/assignd/assignd/policy/rules"
	"github.com/assignd/assignd/taskrouter"
)

// BenchmarkCallbackDecisionLog measures a signed sync callback in-process
// (signature, parse, the example policy, answer, log line) with the decision
// log off, summary and full, in one run: compare full's ns/op with off's.
// The log's writer runs on the same cores, as it does in production; the
// dropped/op metric shows whether it kept up.
func BenchmarkCallbackDecisionLog(b *testing.B) {
	for _, mode := range []decisionlog.Mode{decisionlog.ModeOff, decisionlog.ModeSummary, decisionlog.ModeFull} {
		b.Run(string(mode), func(b *testing.B) {
			p, err := rules.Parse("example", examples.Assignment())
			if err != nil {
				b.Fatal(err)
			}
			g, err := policy.NewGuard(p, time.Second)
			if err != nil {
				b.Fatal(err)
			}
			o := handlers.Options{Logger: zerolog.New(io.Discard), Verifier: handlers.NewVerifier([]string{servicetest.Token}, nil, handlers.ProxyNone), Decider: g}
			var log *decisionlog.Log
			reg := prometheus.NewRegistry()
			if mode != decisionlog.ModeOff {
				log, err = decisionlog.Open(context.Background(), decisionlog.Options{Logger: zerolog.New(io.Discard),
					DataDir: filepath.Join(b.TempDir(), "data"), Mode: mode, Registerer: reg})
				if err != nil {
					b.Fatal(err)
				}
				defer log.Close()
				o.Recorder = log
			}
			h, err := handlers.New(o)
			if err != nil {
				b.Fatal(err)
			}
			r := servicetest.Reservation(1, map[string]any{"selected_language": "es"}, map[string]any{"languages": []any{"es", "en"}, "skills": []any{"billing"}})
			form, _ := handlers.EncodeForm(&r)
			body := form.Encode()
			sig := taskrouter.Sign(servicetest.Token, "http://example.com/assignment", form)
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "http://example.com/assignment", strings.NewReader(body))
				req.Header.Set("X-Twilio-Signature", sig)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK || rec.Body.String() != `{"instruction":"accept"}` {
					b.Fatalf("got %d %s", rec.Code, rec.Body.String())
				}
			}
			b.StopTimer()
			if log != nil {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				if err := log.Flush(ctx); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(testutil.ToFloat64(counterOf(b, reg, "assignd_decision_log_dropped_total"))/float64(b.N), "dropped/op")
			}
			// The process's CPU time per callback, the writer's share
			// included (flushed above): what bounds throughput when the
			// cores are saturated, and steadier than ns/op on a shared
			// machine.
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func counterOf(b *testing.B, reg *prometheus.Registry, name string) prometheus.Collector {
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			v := mf.GetMetric()[0].GetCounter().GetValue()
			return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: "copy"}, func() float64 { return v })
		}
	}
	b.Fatalf("metric %s not registered", name)
	return nil
}

// BenchmarkWriter is the writer's cost per record (full mode, SQLite): the
// CPU the log takes from the callbacks when the cores are saturated. fresh
// starts from an empty table; prefilled-300k from one already holding
// 300,000 entries (the steady state is a grown table: up to a day,
// DefaultMaxRows), where index pages no longer fit a small page cache.
// Reservation SIDs cycle through 50,000 values, as bench/loadgen's do, so
// index inserts land all over the index, as real ones do.
func BenchmarkWriter(b *testing.B) {
	for _, c := range []struct {
		name    string
		prefill int
		batch   int
	}{{"fresh", 0, 300}, {"fresh-batch-1000", 0, 1000}, {"prefilled-300k", 300_000, 300}} {
		b.Run(c.name, func(b *testing.B) {
			log, err := decisionlog.Open(context.Background(), decisionlog.Options{Logger: zerolog.New(io.Discard),
				DataDir: filepath.Join(b.TempDir(), "data"), Mode: decisionlog.ModeFull, BufferSize: 1 << 16, BatchSize: max(c.batch, decisionlog.DefaultBatchSize)})
			if err != nil {
				b.Fatal(err)
			}
			defer log.Close()
			r := servicetest.Reservation(1, map[string]any{"selected_language": "es"}, map[string]any{"languages": []any{"es", "en"}, "skills": []any{"billing"}})
			form, _ := handlers.EncodeForm(&r)
			p, _ := rules.Parse("example", examples.Assignment())
			trace := &policy.Trace{}
			d, _ := p.Decide(policy.WithTrace(context.Background(), trace), &r)
			// 50,000 reservations, each its own copy: the writer reads a
			// record's reservation after Record returns.
			rs := make([]policy.Reservation, 50_000)
			for i := range rs {
				rs[i] = r
				rs[i].ReservationSid = fmt.Sprintf("WR%08d%024d", 1, i)
			}
			rec := handlers.CallbackRecord{Received: time.Now(), Latency: 30 * time.Microsecond, Result: handlers.ResultOK,
				CheckedURL: "http://example.com/assignment", Form: form, Decision: d, Steps: trace.Steps(),
				Answer: []byte(`{"instruction":"accept"}`)}
			ctx := context.Background()
			n := 0
			record := func() {
				rec.Reservation = &rs[n%len(rs)]
				log.Record(rec)
				// A batch of 300, what 100 ms of 3,000 callbacks/s gathers
				// (1,000: 10,000/s): not a multiple of the INSERT chunk, as
				// real batches are not.
				if n++; n%c.batch == 0 {
					if err := log.Flush(ctx); err != nil {
						b.Fatal(err)
					}
				}
			}
			for range c.prefill {
				record()
			}
			if err := log.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			for b.Loop() {
				record()
			}
			if err := log.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}
