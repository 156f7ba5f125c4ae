package async

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"
	"github.com/rs/zerolog"

	"github.com/assignd/assignd/async/asynctest"
	"github.com/assignd/assignd/emulator"
	"github.com/assignd/assignd/emulator/emulatortest"
	"github.com/assignd/assignd/internal/testwait"
	"github.com/assignd/assignd/policy"
)

const (
	testAccount = "AC0123456789abcdef0123456789abcdef"
	testToken   = "faketoken0123456789"
	workspace   = "WS0123456789abcdef0123456789abcdef"
	task        = "WT0123456789abcdef0123456789abcdef"
	worker      = "WK0123456789abcdef0123456789abcdef"
)

// harness is a queue whose REST calls go to a TaskRouter emulator holding
// the reservations the tests decide.
type harness struct {
	env  *emulatortest.Env
	q    *Queue
	logs *logBuffer
}

// logBuffer holds a queue's log lines; the queue's goroutines write while
// the test reads.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// fallback is the harness policy's on_error: a reject that moves the worker
// to Offline.
func (h *harness) fallback() policy.Reject { return policy.Reject{ActivitySid: h.env.Offline} }

// forEachStore runs f against a queue on SQLite and on PostgreSQL, at once:
// each has its own emulator, directory and database.
func forEachStore(t *testing.T, f func(t *testing.T, newHarness func(timeout time.Duration) *harness)) {
	for _, store := range []string{"sqlite", "postgres"} {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			f(t, func(timeout time.Duration) *harness {
				o := Options{DataDir: filepath.Join(t.TempDir(), "data")}
				if store == "postgres" {
					o.DatabaseURL = asynctest.DatabaseURL(t)
				}
				return newTestHarness(t, o, timeout)
			})
		})
	}
}

func newTestHarness(t *testing.T, o Options, timeout time.Duration) *harness {
	t.Helper()
	h := &harness{env: emulatortest.New(t, emulator.Options{AccountSid: testAccount, AuthToken: testToken}), logs: &logBuffer{}}
	api, err := NewAPI(h.env.URL, testAccount, testAccount, testToken, nil)
	if err != nil {
		t.Fatal(err)
	}
	api.timeout = 2 * time.Second
	o.API, o.Workers, o.ReservationTimeout = api, 10, timeout
	if o.Fallback == nil {
		o.Fallback = func() policy.Decision { return policy.Decision{Instruction: h.fallback()} }
	}
	o.Logger = zerolog.New(h.logs)
	ctx := context.Background()
	q, err := Open(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = q.Stop(sctx)
		q.Close()
	})
	h.q = q
	return h
}

// newReservation has the emulator make a pending reservation (a task
// routed to a worker of its own) and returns it as a callback names it.
func newReservation(t *testing.T, h *harness, received time.Time) *policy.Reservation {
	t.Helper()
	r := h.env.One(t)
	return &policy.Reservation{AccountSid: testAccount, WorkspaceSid: r.WorkspaceSid, WorkflowSid: r.WorkflowSid,
		TaskQueueSid: r.TaskQueueSid, TaskSid: r.TaskSid, WorkerSid: r.WorkerSid, ReservationSid: r.Sid, ReceivedAt: received}
}

func jsonString(v any) string { b, _ := json.Marshal(v); return string(b) }

// waitFinal waits for the job to reach a final state and returns its output.
func waitFinal(t *testing.T, h *harness, id int64) (*rivertype.JobRow, Output) {
	t.Helper()
	var row *rivertype.JobRow
	if !testwait.Until(time.Minute, func() bool {
		var err error
		if row, err = h.q.Job(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		return row.FinalizedAt != nil
	}) {
		t.Fatalf("job %d never finished; logs:\n%s", id, h.logs.String())
	}
	var md struct {
		Output Output `json:"output"`
	}
	_ = json.Unmarshal(row.Metadata, &md)
	return row, md.Output
}

func schedule(t *testing.T, h *harness, r *policy.Reservation, ins policy.Instruction) int64 {
	t.Helper()
	res, err := h.q.schedule(context.Background(), r, policy.Decision{Instruction: ins, Async: true, Rule: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return res.Job.ID
}

func TestApply(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, newHarness func(time.Duration) *harness) {
		h := newHarness(120 * time.Second)

		t.Run("happy path", func(t *testing.T) {
			r := newReservation(t, h, time.Now())
			row, out := waitFinal(t, h, schedule(t, h, r, policy.Accept{}))
			got := h.env.Get(r.ReservationSid)
			if row.State != rivertype.JobStateCompleted || out.Outcome != OutcomeApplied || got.Status != "accepted" || got.Applied != 1 || got.Updates != 1 {
				t.Fatalf("job %s %+v; emulator %+v", row.State, out, got)
			}
		})

		t.Run("429 with Retry-After then 200", func(t *testing.T) {
			r := newReservation(t, h, time.Now())
			h.env.Emu.Script(emulator.UpdateTaskReservation, r.ReservationSid, emulator.Fault{Status: 429, RetryAfter: "1"})
			_, out := waitFinal(t, h, schedule(t, h, r, policy.Accept{}))
			got := h.env.Get(r.ReservationSid)
			// Applied once whatever the timing: the retry either sends a
			// second update, or, when the slow first one has landed by the
			// time the retry runs (a loaded machine's backoff), finds it
			// applied and sends none.
			if out.Outcome != OutcomeApplied || got.Applied != 1 || got.Updates < 1 || got.Updates > 2 {
				t.Fatalf("out %+v; emulator %+v", out, got)
			}
			if gap := got.UpdateTimes[1].Sub(got.UpdateTimes[0]); gap < time.Second {
				t.Fatalf("retried after %s, before Retry-After's 1s", gap)
			}
		})

		t.Run("500 after applying, then not pending: verified by fetch", func(t *testing.T) {
			r := newReservation(t, h, time.Now())
			h.env.Emu.Script(emulator.UpdateTaskReservation, r.ReservationSid, emulator.Fault{Status: 500, Apply: true})
			_, out := waitFinal(t, h, schedule(t, h, r, policy.Accept{}))
			got := h.env.Get(r.ReservationSid)
			if out.Outcome != OutcomeApplied || !out.VerifiedByFetch || got.Applied != 1 || got.Fetches != 1 {
				t.Fatalf("out %+v; emulator %+v", out, got)
			}
		})

		t.Run("connection dropped after applying", func(t *testing.T) {
			r := newReservation(t, h, time.Now())
			h.env.Emu.Script(emulator.UpdateTaskReservation, r.ReservationSid, emulator.Fault{Drop: true, Apply: true})
			_, out := waitFinal(t, h, schedule(t, h, r, policy.Reject{ActivitySid: h.env.Offline}))
			got := h.env.Get(r.ReservationSid)
			if out.Outcome != OutcomeApplied || !out.VerifiedByFetch || got.Status != "rejected" || got.Applied != 1 {
				t.Fatalf("out %+v; emulator %+v", out, got)
			}
		})

		t.Run("502 HTML from a proxy, then success", func(t *testing.T) {
			r := newReservation(t, h, time.Now())
			h.env.Emu.Script(emulator.UpdateTaskReservation, r.ReservationSid, emulator.Fault{Status: 502}, emulator.Fault{Status: 503})
			_, out := waitFinal(t, h, schedule(t, h, r, policy.Accept{}))
			got := h.env.Get(r.ReservationSid)
			if out.Outcome != OutcomeApplied || got.Applied != 1 || got.Updates != 3 {
				t.Fatalf("out %+v; emulator %+v", out, got)
			}
		})

		t.Run("slow answer past the client timeout, then success", func(t *testing.T) {
			r := newReservation(t, h, time.Now())
			h.env.Emu.Script(emulator.UpdateTaskReservation, r.ReservationSid, emulator.Fault{Delay: 3 * time.Second}) // the API client gives up at 2 s
			_, out := waitFinal(t, h, schedule(t, h, r, policy.Accept{}))
			got := h.env.Get(r.ReservationSid)
			if out.Outcome != OutcomeApplied || got.Applied != 1 || got.Updates != 2 {
				t.Fatalf("out %+v; emulator %+v", out, got)
			}
		})

		t.Run("delay holds the update back", func(t *testing.T) {
			received := time.Now()
			r := newReservation(t, h, received)
			res, err := h.q.schedule(context.Background(), r, policy.Decision{Instruction: policy.Accept{}, Async: true, Delay: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			_, out := waitFinal(t, h, res.Job.ID)
			got := h.env.Get(r.ReservationSid)
			if out.Outcome != OutcomeApplied || got.UpdateTimes[0].Sub(received) < time.Second {
				t.Fatalf("out %+v; first update %s after the callback", out, got.UpdateTimes[0].Sub(received))
			}
		})

		t.Run("duplicate callbacks store one job and apply once", func(t *testing.T) {
			r := newReservation(t, h, time.Now())
			first, err := h.q.schedule(context.Background(), r, policy.Decision{Instruction: policy.Accept{}, Async: true})
			if err != nil {
				t.Fatal(err)
			}
			waitFinal(t, h, first.Job.ID)
			for range 3 { // the fallback URL's copy, a retry, a late one after completion
				dup, err := h.q.Schedule(context.Background(), r, policy.Decision{Instruction: policy.Accept{}, Async: true})
				if err != nil || !dup {
					t.Fatalf("duplicate = %v, err %v", dup, err)
				}
			}
			got := h.env.Get(r.ReservationSid)
			if got.Applied != 1 || got.Updates != 1 {
				t.Fatalf("emulator %+v", got)
			}
		})

		t.Run("reservation canceled meanwhile", func(t *testing.T) {
			r := newReservation(t, h, time.Now())
			h.env.CancelTask(t, r.TaskSid)
			row, out := waitFinal(t, h, schedule(t, h, r, policy.Accept{}))
			if row.State != rivertype.JobStateCancelled || out.Outcome != OutcomeCanceled || out.ReservationStatus != "canceled" {
				t.Fatalf("job %s %+v", row.State, out)
			}
		})

		t.Run("voice instruction parameters reach the API", func(t *testing.T) {
			r := newReservation(t, h, time.Now())
			n := 25
			ins := policy.Dequeue{From: "+15005550006", To: "client:alice", Timeout: &n, StatusCallbackEvents: "initiated,completed",
				PostWorkActivitySid: h.env.Idle}
			_, out := waitFinal(t, h, schedule(t, h, r, ins))
			got := h.env.Get(r.ReservationSid)
			want := map[string][]string{"Instruction": {"dequeue"}, "DequeueFrom": {"+15005550006"}, "DequeueTo": {"client:alice"},
				"DequeueTimeout": {"25"}, "DequeueStatusCallbackEvent": {"initiated", "completed"},
				"DequeuePostWorkActivitySid": {h.env.Idle}}
			if out.Outcome != OutcomeApplied || jsonString(got.Params) != jsonString(want) {
				t.Fatalf("out %+v; form %v", out, got.Params)
			}
		})
	})
}

func TestDeadline(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, newHarness func(time.Duration) *harness) {
		h := newHarness(1500 * time.Millisecond)

		t.Run("already past: no call at all", func(t *testing.T) {
			r := newReservation(t, h, time.Now().Add(-time.Hour))
			row, out := waitFinal(t, h, schedule(t, h, r, policy.Accept{}))
			got := h.env.Get(r.ReservationSid)
			if row.State != rivertype.JobStateCancelled || out.Outcome != OutcomeExpired || got.Updates != 0 {
				t.Fatalf("job %s %+v; emulator %+v", row.State, out, got)
			}
		})

		t.Run("failing until the deadline: no call after it", func(t *testing.T) {
			received := time.Now()
			r := newReservation(t, h, received)
			for range 100 {
				h.env.Emu.Script(emulator.UpdateTaskReservation, r.ReservationSid, emulator.Fault{Status: 500})
			}
			_, out := waitFinal(t, h, schedule(t, h, r, policy.Accept{}))
			got := h.env.Get(r.ReservationSid)
			deadline := received.Add(1500 * time.Millisecond)
			if out.Outcome != OutcomeExpired || got.Updates < 2 || got.Applied != 0 {
				t.Fatalf("out %+v; emulator updates %d applied %d", out, got.Updates, got.Applied)
			}
			if last := got.UpdateTimes[len(got.UpdateTimes)-1]; !last.Before(deadline) {
				t.Fatalf("called at %s, after the deadline %s", last, deadline)
			}
		})

		t.Run("Retry-After past the deadline ends the job", func(t *testing.T) {
			r := newReservation(t, h, time.Now())
			h.env.Emu.Script(emulator.UpdateTaskReservation, r.ReservationSid, emulator.Fault{Status: 429, RetryAfter: "60"})
			_, out := waitFinal(t, h, schedule(t, h, r, policy.Accept{}))
			got := h.env.Get(r.ReservationSid)
			if out.Outcome != OutcomeExpired || got.Updates != 1 {
				t.Fatalf("out %+v; emulator %+v", out, got)
			}
		})
	})
}

func TestBadCredentialsFailWithoutRetry(t *testing.T) {
	t.Parallel()
	h := newTestHarness(t, Options{DataDir: t.TempDir()}, time.Minute)
	bad, _ := NewAPI(h.env.URL, testAccount, testAccount, "wrongtoken", nil)
	r := newReservation(t, h, time.Now())
	res := bad.Update(context.Background(), r.WorkspaceSid, r.TaskSid, r.ReservationSid, policy.Accept{})
	if res.Class != Fatal || res.Status != 401 {
		t.Fatalf("got %+v, want a fatal 401", res)
	}
}

func TestSQLiteIsOneProcess(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	newTestHarness(t, Options{DataDir: dir}, time.Minute)
	_, err := Open(context.Background(), Options{DataDir: dir})
	if err == nil || !strings.Contains(err.Error(), "in use by another assignd") {
		t.Fatalf("second open: %v", err)
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	for attempt := 1; attempt < 20; attempt++ {
		d := backoff(attempt, time.Hour)
		if d < backoffMin/2 || d > backoffMax {
			t.Fatalf("attempt %d: %s out of [%s, %s]", attempt, d, backoffMin/2, backoffMax)
		}
	}
	if d := backoff(10, 300*time.Millisecond); d > 300*time.Millisecond {
		t.Fatalf("backoff exceeds the time left: %s", d)
	}
	if d := parseRetryAfter("3", time.Now()); d != 3*time.Second {
		t.Fatalf("Retry-After 3 = %s", d)
	}
	now := time.Now()
	if d := parseRetryAfter(now.Add(5*time.Second).UTC().Format(http.TimeFormat), now); d < 4*time.Second || d > 5*time.Second {
		t.Fatalf("Retry-After date = %s", d)
	}
}

// Concurrent callbacks are stored in shared batches, duplicates within a
// batch included, and a closed queue refuses at once.
func TestBatchedSchedule(t *testing.T) {
	t.Parallel()
	q, err := Open(context.Background(), Options{Logger: zerolog.Nop(), DataDir: t.TempDir(), ReservationTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	dups := make(chan bool, 2*n)
	var wg sync.WaitGroup
	for i := range 2 * n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &policy.Reservation{AccountSid: testAccount, WorkspaceSid: workspace, TaskSid: task, WorkerSid: worker,
				ReservationSid: fmt.Sprintf("WR%032d", i%n), ReceivedAt: time.Now()}
			dup, err := q.Schedule(context.Background(), r, policy.Decision{Instruction: policy.Accept{}, Async: true})
			if err != nil {
				t.Error(err)
			}
			dups <- dup
		}()
	}
	wg.Wait()
	close(dups)
	fresh := 0
	for d := range dups {
		if !d {
			fresh++
		}
	}
	if fresh != n {
		t.Fatalf("%d callbacks stored a new job, want %d (one per reservation)", fresh, n)
	}
	depth, err := q.Depth(context.Background())
	if err != nil || depth["available"] != n {
		t.Fatalf("depth %v %v, want %d available", depth, err, n)
	}
	q.Close()
	if _, err := q.Schedule(context.Background(), &policy.Reservation{ReservationSid: fmt.Sprintf("WR%032d", 1)},
		policy.Decision{Instruction: policy.Accept{}, Async: true}); err == nil {
		t.Fatal("a closed queue must refuse")
	}
}
