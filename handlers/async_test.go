package handlers_test

import (
	"context"
	"database/sql"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/assignd/assignd/async"
	"github.com/assignd/assignd/emulator"
	"github.com/assignd/assignd/emulator/emulatortest"
	"github.com/assignd/assignd/handlers"
	"github.com/assignd/assignd/internal/testwait"
	"github.com/assignd/assignd/policy"
)

func asyncAccept() policy.Policy {
	return policy.Func(func(ctx context.Context, r *policy.Reservation) (policy.Decision, error) {
		return policy.Decision{Instruction: policy.Accept{}, Async: true, Rule: "later"}, nil
	})
}

// testAccount is the account of reservation() and of the emulator.
const testAccount = "AC0123456789abcdef0123456789abcdef"

// openQueue opens a queue whose REST calls go to a TaskRouter emulator.
func openQueue(t *testing.T) (*async.Queue, *emulatortest.Env) {
	t.Helper()
	return openQueueIn(t, t.TempDir())
}

// openQueueIn is openQueue with its SQLite store in dataDir.
func openQueueIn(t *testing.T, dataDir string) (*async.Queue, *emulatortest.Env) {
	t.Helper()
	env := emulatortest.New(t, emulator.Options{AccountSid: testAccount, AuthToken: testToken})
	client, err := async.NewAPI(env.URL, testAccount, testAccount, testToken, nil)
	if err != nil {
		t.Fatal(err)
	}
	q, err := async.Open(context.Background(), async.Options{Logger: zerolog.Nop(), DataDir: dataDir, API: client, ReservationTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return q, env
}

// pendingReservation is the callback for a reservation the emulator made
// pending (a task routed to a worker), as TaskRouter would send it.
func pendingReservation(t *testing.T, env *emulatortest.Env) policy.Reservation {
	t.Helper()
	p := env.One(t)
	r := reservation(nil, nil)
	r.WorkspaceSid, r.WorkflowSid, r.TaskQueueSid = p.WorkspaceSid, p.WorkflowSid, p.TaskQueueSid
	r.TaskSid, r.WorkerSid, r.ReservationSid = p.TaskSid, p.WorkerSid, p.Sid
	return r
}

// The async answer is {} only once the decision is stored; a duplicate
// callback gets the same {} and no second job.
func TestAsyncCallbackStoresThenAnswers(t *testing.T) {
	t.Parallel()
	q, api := openQueue(t)
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Stop(context.Background()); q.Close() })
	srv := startServer(t, handlers.Options{Decider: guard(t, asyncAccept(), time.Second), Scheduler: q})
	r := pendingReservation(t, api)
	for range 2 {
		if status, body, _ := postSigned(t, srv.URL, r); status != http.StatusOK || body != "{}" {
			t.Fatalf("got %d %q, want 200 {}", status, body)
		}
	}
	testwait.Until(30*time.Second, func() bool { return api.Get(r.ReservationSid).Status == "accepted" })
	if got := api.Get(r.ReservationSid); got.Status != "accepted" || got.Applied != 1 || got.Updates != 1 {
		t.Fatalf("emulator: %+v", got)
	}
	if !strings.Contains(srv.Log.String(), `"duplicate":true`) {
		t.Errorf("the duplicate callback was not logged as one")
	}
}

// If the decision cannot be stored, the answer is the synchronous fallback,
// never a {} that nobody will act on.
func TestAsyncCallbackStoreDownGivesFallback(t *testing.T) {
	t.Parallel()
	q, _ := openQueue(t)
	q.Close() // the store is gone: every insert fails
	fb := policy.Decision{Instruction: policy.Reject{ActivitySid: "WA00000000000000000000000000000004"}, Rule: "fb"}
	g, err := policy.NewGuard(policy.WithFallback(asyncAccept(), fb), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, handlers.Options{Decider: g, Scheduler: q})
	status, body, _ := postSigned(t, srv.URL, reservation(nil, nil))
	if status != http.StatusOK || body != `{"instruction":"reject","activity_sid":"WA00000000000000000000000000000004"}` {
		t.Fatalf("got %d %q, want the synchronous fallback", status, body)
	}
	if !strings.Contains(srv.Log.String(), "could not store async decision") {
		t.Errorf("no log line for the store failure:\n%s", srv.Log.String())
	}
}

// reloadThenSchedule puts next in force just before the store is asked: a
// policy reload landing between the decision and a failed Schedule.
type reloadThenSchedule struct {
	handlers.Scheduler
	cur  *policy.Current
	next policy.Policy
}

func (s reloadThenSchedule) Schedule(ctx context.Context, r *policy.Reservation, d policy.Decision) (bool, error) {
	s.cur.Store(s.next)
	return s.Scheduler.Schedule(ctx, r, d)
}

// The fallback answered for an async decision that could not be stored is
// the on_error of the policy that made the decision, even when a reload put
// another policy (with another on_error) in force meanwhile.
func TestAsyncStoreFailureAnswersTheDecidingPolicysFallback(t *testing.T) {
	t.Parallel()
	q, _ := openQueue(t)
	q.Close() // every insert fails
	old := policy.WithFallback(asyncAccept(), policy.Decision{Instruction: policy.Reject{ActivitySid: "WA00000000000000000000000000000004"}, Rule: "old-fb"})
	next := policy.WithFallback(asyncAccept(), policy.Decision{Instruction: policy.Reject{ActivitySid: "WA00000000000000000000000000000005"}, Rule: "new-fb"})
	cur := policy.NewCurrent(old, policy.Decision{Instruction: policy.Accept{}, Rule: "default"})
	g, err := policy.NewGuard(cur, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, handlers.Options{Decider: g, Scheduler: reloadThenSchedule{Scheduler: q, cur: cur, next: next}})
	status, body, _ := postSigned(t, srv.URL, reservation(nil, nil))
	if status != http.StatusOK || body != `{"instruction":"reject","activity_sid":"WA00000000000000000000000000000004"}` {
		t.Fatalf("got %d %q, want the deciding policy's fallback (WA…04)", status, body)
	}
	if g.Fallback().Rule != "new-fb" {
		t.Fatal("the reload did not happen; the test proves nothing")
	}
}

// Issue 8's budget against the real queue: while another connection holds
// SQLite's write lock, the async decision cannot be stored, so when the
// callback's budget runs out the answer is the fallback, inside Twilio's
// 5 s. The lock is released right after, while the batch holding the
// decision is still waiting to commit (its own bound is longer than this
// budget): the batch then commits, but without the decision nobody was
// told about, which is never applied either.
func TestBlockedStoreAnswersFallbackInTime(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	q, api := openQueueIn(t, dir)
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Stop(context.Background()); q.Close() })
	// A budget shorter than the batch's own bound (async's insertTimeout,
	// 3 s), so the budget is what cuts the wait.
	const budget = 1500 * time.Millisecond
	srv := startServer(t, handlers.Options{Decider: guard(t, asyncAccept(), time.Second), Scheduler: q, Budget: budget})

	// Warm up with one stored decision, so the database exists and the
	// writer's connection is open before the lock is taken.
	if status, body, _ := postSigned(t, srv.URL, pendingReservation(t, api)); status != http.StatusOK || body != "{}" {
		t.Fatalf("warm-up: %d %q", status, body)
	}

	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "queue.sqlite")+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tx, err := db.Begin() // BEGIN IMMEDIATE: the write lock, held until Rollback
	if err != nil {
		t.Fatal(err)
	}
	r := pendingReservation(t, api)
	sent := time.Now()
	status, body, _ := postSigned(t, srv.URL, r)
	took := time.Since(sent)
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if status != http.StatusOK || body != `{"instruction":"accept"}` {
		t.Fatalf("with the store blocked: %d %q, want the fallback accept", status, body)
	}
	if took >= handlers.TwilioTimeout {
		t.Fatalf("answered after %s; Twilio waits %s", took, handlers.TwilioTimeout)
	}
	if l := srv.Log.String(); !strings.Contains(l, "could not store async decision") || !strings.Contains(l, "callback budget of 1.5s used up") {
		t.Errorf("the fallback's reason (the budget) is not logged:\n%s", l)
	}

	// The lock is gone: a later callback is stored and applied, and the
	// blocked one never is. Waiting for the later one to be applied bounds
	// how long a late insert of the blocked one could have taken.
	later := pendingReservation(t, api)
	if status, body, _ := postSigned(t, srv.URL, later); status != http.StatusOK || body != "{}" {
		t.Fatalf("after the lock: %d %q", status, body)
	}
	if !testwait.Until(30*time.Second, func() bool { return api.Get(later.ReservationSid).Status == "accepted" }) {
		t.Fatalf("the later decision was never applied: %+v", api.Get(later.ReservationSid))
	}
	jobs, err := q.Jobs(context.Background(), r.ReservationSid)
	if err != nil {
		t.Fatal(err)
	}
	if got := api.Get(r.ReservationSid); len(jobs) != 0 || got.Updates != 0 {
		t.Fatalf("the blocked decision was stored late: %d jobs, %d REST updates", len(jobs), got.Updates)
	}
}
