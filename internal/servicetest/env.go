// Package servicetest runs the real callback handlers over loopback with
// a decision log (and an async queue applying decisions to a TaskRouter
// emulator) on SQLite or PostgreSQL, for the decision log's and the
// inspector's tests. It composes the whole service, so it lives beside no
// single part of it; only tests and cmd/... import it (see deps_test.go).
package servicetest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/assignd/assignd/async"
	"github.com/assignd/assignd/async/asynctest"
	"github.com/assignd/assignd/decisionlog"
	"github.com/assignd/assignd/emulator"
	"github.com/assignd/assignd/emulator/emulatortest"
	"github.com/assignd/assignd/handlers"
	"github.com/assignd/assignd/policy"
	"github.com/assignd/assignd/policy/rules"
	"github.com/assignd/assignd/taskrouter"
)

// Token signs callbacks; Account owns the emulated TaskRouter account.
const (
	Token   = "testtoken0123456789"
	Account = "AC0123456789abcdef0123456789abcdef"
)

// Policy is the rules file the environment starts with. Each rule exercises
// one kind of step: an attribute missing (vip on most tasks), a match, an
// evaluation error (boom: comparing a string with a number), an async rule
// (send it for a reservation from Pending: its update goes to TaskRouter).
const Policy = `
rules:
  - name: vip
    when: 'task.vip == true'
    then: {instruction: accept}
  - name: spanish
    when: 'task.selected_language == "es"'
    then: {instruction: accept}
  - name: boom
    when: 'task.type == "boom" && task.n > 1'
    then: {instruction: accept}
  - name: later-async
    when: 'task.type == "async"'
    then: {instruction: accept, async: true}
default: {instruction: reject, activity_sid: WA00000000000000000000000000000002}
on_error: {instruction: accept}
`

// Stores are the stores every test runs against.
var Stores = []string{"sqlite", "postgres"}

// Env is a running callback server with a decision log.
type Env struct {
	URL   string // callback server, e.g. http://127.0.0.1:1234
	Log   *decisionlog.Log
	Queue *async.Queue
	// TaskRouter is the emulator the queue's REST calls go to.
	TaskRouter *emulatortest.Env
	Current    *policy.Current
	// DataDir and DatabaseURL locate the log's store, for raw reads.
	DataDir, DatabaseURL string
}

// New starts an environment on store ("sqlite" or "postgres"); o may set
// the log's retention and buffer options. Everything stops with the test.
func New(t testing.TB, store string, mode decisionlog.Mode, o decisionlog.Options) *Env {
	t.Helper()
	e := &Env{DataDir: filepath.Join(t.TempDir(), "data")}
	if store == "postgres" {
		e.DatabaseURL = asynctest.DatabaseURL(t)
	}
	ctx := context.Background()
	log := zerolog.New(io.Discard)

	e.TaskRouter = emulatortest.New(t, emulator.Options{AccountSid: Account, AuthToken: Token})
	client, err := async.NewAPI(e.TaskRouter.URL, Account, Account, Token, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The queue and the log share DATA_DIR (or the database), as in serve.
	q, err := async.Open(ctx, async.Options{Logger: log, DatabaseURL: e.DatabaseURL, DataDir: e.DataDir, API: client, Workers: 4})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	e.Queue = q

	o.Logger, o.DatabaseURL, o.DataDir, o.Mode = log, e.DatabaseURL, e.DataDir, mode
	l, err := decisionlog.Open(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	e.Log = l

	p, err := rules.Parse("test.yaml", []byte(Policy))
	if err != nil {
		t.Fatal(err)
	}
	e.Current = policy.NewCurrent(p, p.Fallback())
	g, err := policy.NewGuard(e.Current, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	h, err := handlers.New(handlers.Options{
		Logger: log, Verifier: handlers.NewVerifier([]string{Token}, nil, handlers.ProxyNone),
		Decider: g, Scheduler: q, Recorder: l,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	e.URL = srv.URL
	t.Cleanup(func() {
		srv.Close()
		sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = q.Stop(sctx)
		q.Close()
		_ = l.Close()
	})
	return e
}

// Reservation is a reservation numbered n (its SIDs end in n).
func Reservation(n int, task, worker map[string]any) policy.Reservation {
	sid := func(prefix string) string { return fmt.Sprintf("%s%032x", prefix, n) }
	return policy.Reservation{
		AccountSid: Account, WorkspaceSid: sid("WS"), WorkflowSid: sid("WW"), TaskQueueSid: sid("WQ"),
		WorkerSid: sid("WK"), TaskSid: sid("WT"), ReservationSid: sid("WR"),
		TaskAge: 7, TaskPriority: 2, TaskAttributes: task, WorkerAttributes: worker, Timestamp: "1764370000",
	}
}

// Pending is a reservation the emulator made pending (a task with these
// attributes routed to a worker of its own), as its callback names it: the
// one to send when the decision is async and its REST update must apply.
func (e *Env) Pending(t testing.TB, task, worker map[string]any) policy.Reservation {
	t.Helper()
	p := e.TaskRouter.Pending(t, 1, task)[0]
	r := Reservation(0, task, worker)
	r.WorkspaceSid, r.WorkflowSid, r.TaskQueueSid = p.WorkspaceSid, p.WorkflowSid, p.TaskQueueSid
	r.WorkerSid, r.TaskSid, r.ReservationSid = p.WorkerSid, p.TaskSid, p.Sid
	return r
}

// Post sends r as TaskRouter would, signed with token (Token for a good
// signature), and returns the status and body.
func (e *Env) Post(t testing.TB, r policy.Reservation, token string) (int, string) {
	t.Helper()
	form, err := handlers.EncodeForm(&r)
	if err != nil {
		t.Fatal(err)
	}
	u := e.URL + "/assignment"
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", taskrouter.Sign(token, u, form))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Flush waits until everything recorded so far is stored.
func (e *Env) Flush(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.Log.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// One returns the single entry for reservation sid.
func (e *Env) One(t testing.TB, sid string) decisionlog.Entry {
	t.Helper()
	got, err := e.Log.Query(context.Background(), decisionlog.Filter{ReservationSid: sid})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("want one entry for %s, got %d", sid, len(got))
	}
	return got[0]
}
