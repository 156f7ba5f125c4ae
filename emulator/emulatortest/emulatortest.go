// Package emulatortest gives a client of TaskRouter's REST API — assignd's
// async worker, the service as a whole — a TaskRouter to test against: the
// emulator served over loopback HTTP, holding a workspace in which each
// task created here is routed to a worker of its own and waits, pending,
// for the client's update. Reservations are made the way TaskRouter makes
// them (a worker made available, a task entering the workflow), over the
// REST API, so every SID a test sends is one the emulator knows.
package emulatortest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/assignd/assignd/emulator"
)

// ReservationTimeout is the workspace's task_reservation_timeout: a
// reservation stays pending this long on the emulator's clock, which only
// moves when a test calls TimeOut.
const ReservationTimeout = 120 * time.Second

// Env is an emulator on loopback HTTP with one workspace ready for
// Pending. Its clock is manual: nothing times out unless a test says so.
type Env struct {
	Emu   *emulator.Emulator
	Clock *emulator.ManualClock
	// URL is the base URL to give a Twilio client (TWILIO_API_BASE_URL).
	URL                   string
	AccountSid, AuthToken string
	// Workspace and Workflow are the workspace's SIDs; Idle (available)
	// and Offline (not available, the timeout activity) its activities.
	Workspace, Workflow, Idle, Offline string

	mu sync.Mutex
	n  int // tasks and workers created so far
}

// Reservation names one pending reservation and what it belongs to.
type Reservation struct {
	Sid, WorkspaceSid, TaskSid, WorkerSid, WorkflowSid, TaskQueueSid string
}

// New serves an emulator for the account in o (AccountSid and AuthToken
// required; Clock, if nil, is a manual clock standing at the wall clock's
// now) and loads the workspace. Everything stops at the test's end.
func New(t testing.TB, o emulator.Options) *Env {
	t.Helper()
	clock, _ := o.Clock.(*emulator.ManualClock)
	if o.Clock == nil {
		clock = emulator.NewManualClock(time.Now())
		o.Clock = clock
	}
	emu, err := emulator.New(o)
	if err != nil {
		t.Fatalf("emulatortest: %v", err)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(func() {
		srv.Close()
		emu.Close()
	})
	l, err := emu.Load(Workspace())
	if err != nil {
		t.Fatalf("emulatortest: %v", err)
	}
	return &Env{Emu: emu, Clock: clock, URL: srv.URL, AccountSid: o.AccountSid, AuthToken: o.AuthToken,
		Workspace: l.Workspace, Workflow: l.Workflows["One worker per task"],
		Idle: l.Activities["Idle"], Offline: l.Activities["Offline"]}
}

// Workspace is the spec Env loads: one queue every worker is in, and a
// workflow whose target pairs a task with the worker whose "pair"
// attribute is the task's, so that what happens to one reservation (a
// reject puts its task back in the queue) never reaches another. The
// workflow has no assignment callback URL: as on Twilio, its reservations
// wait for a REST update (or their timeout).
func Workspace() emulator.WorkspaceSpec {
	return emulator.WorkspaceSpec{
		FriendlyName:    "assignd tests",
		DefaultActivity: "Offline",
		TimeoutActivity: "Offline",
		Activities:      []emulator.ActivitySpec{{Name: "Offline"}, {Name: "Idle", Available: true}},
		TaskQueues:      []emulator.QueueSpec{{Name: "Everyone", TargetWorkers: "1==1"}},
		Workflows: []emulator.WorkflowSpec{{
			Name:                   "One worker per task",
			TaskReservationTimeout: int(ReservationTimeout / time.Second),
			Filters: []emulator.FilterSpec{{Name: "paired", Expression: "1==1",
				Targets: []emulator.TargetSpec{{Queue: "Everyone", Expression: "pair == task.pair"}}}},
		}},
	}
}

// Pending creates n reservations, each for a new task and a new Idle
// worker, and returns them pending, in order. attrs, if not nil, are
// further task attributes.
func (e *Env) Pending(t testing.TB, n int, attrs map[string]any) []Reservation {
	t.Helper()
	out := make([]Reservation, 0, n)
	for range n {
		r, err := e.pending(attrs)
		if err != nil {
			t.Fatalf("emulatortest: %v", err)
		}
		out = append(out, r)
	}
	return out
}

// One is Pending for a single reservation.
func (e *Env) One(t testing.TB) Reservation {
	t.Helper()
	return e.Pending(t, 1, nil)[0]
}

func (e *Env) pending(attrs map[string]any) (Reservation, error) {
	e.mu.Lock()
	e.n++
	k := e.n
	e.mu.Unlock()
	ws := "/v1/Workspaces/" + e.Workspace
	var worker, task struct {
		Sid string `json:"sid"`
	}
	wattrs, _ := json.Marshal(map[string]any{"pair": k})
	if err := e.do(http.MethodPost, ws+"/Workers", url.Values{"FriendlyName": {fmt.Sprintf("worker %d", k)},
		"ActivitySid": {e.Idle}, "Attributes": {string(wattrs)}}, &worker); err != nil {
		return Reservation{}, err
	}
	ta := map[string]any{}
	for key, v := range attrs {
		ta[key] = v
	}
	ta["pair"] = k
	tattrs, _ := json.Marshal(ta)
	if err := e.do(http.MethodPost, ws+"/Tasks", url.Values{"WorkflowSid": {e.Workflow}, "Attributes": {string(tattrs)}}, &task); err != nil {
		return Reservation{}, err
	}
	var list struct {
		Reservations []struct {
			Sid    string `json:"sid"`
			Worker string `json:"worker_sid"`
			Status string `json:"reservation_status"`
		} `json:"reservations"`
	}
	if err := e.do(http.MethodGet, ws+"/Tasks/"+task.Sid+"/Reservations", nil, &list); err != nil {
		return Reservation{}, err
	}
	if len(list.Reservations) != 1 || list.Reservations[0].Worker != worker.Sid || list.Reservations[0].Status != "pending" {
		return Reservation{}, fmt.Errorf("task %s was not reserved for worker %s: %+v", task.Sid, worker.Sid, list.Reservations)
	}
	info, _ := e.Emu.Reservation(list.Reservations[0].Sid)
	return Reservation{Sid: info.Sid, WorkspaceSid: e.Workspace, TaskSid: task.Sid, WorkerSid: worker.Sid,
		WorkflowSid: e.Workflow, TaskQueueSid: info.TaskQueueSid}, nil
}

// CancelTask cancels the task over REST (assignment_status canceled), as
// its owner would: a pending reservation of it becomes canceled.
func (e *Env) CancelTask(t testing.TB, taskSid string) {
	t.Helper()
	err := e.do(http.MethodPost, "/v1/Workspaces/"+e.Workspace+"/Tasks/"+taskSid,
		url.Values{"AssignmentStatus": {"canceled"}, "Reason": {"canceled by the test"}}, nil)
	if err != nil {
		t.Fatalf("emulatortest: %v", err)
	}
}

// TimeOut moves the emulator's clock past the reservation timeout: every
// reservation still pending times out, its worker going Offline.
func (e *Env) TimeOut(t testing.TB) {
	t.Helper()
	if e.Clock == nil {
		t.Fatal("emulatortest: TimeOut needs the manual clock")
	}
	e.Clock.Advance(ReservationTimeout + time.Second)
}

// Get returns the emulator's record of the reservation (zero if unknown).
func (e *Env) Get(sid string) emulator.ReservationInfo {
	r, _ := e.Emu.Reservation(sid)
	return r
}

// CountStatus counts the reservations in status.
func (e *Env) CountStatus(status string) int {
	return e.Emu.Stats().ByStatus[status]
}

// do sends one REST request with the account's credentials and decodes a
// 2xx JSON answer into out (if not nil).
func (e *Env) do(method, path string, form url.Values, out any) error {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, e.URL+path, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.SetBasicAuth(e.AccountSid, e.AuthToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decoding %s: %w", method, path, b, err)
		}
	}
	return nil
}
