package emuview_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/assignd/assignd/decisionlog"
	"github.com/assignd/assignd/emulator"
	"github.com/assignd/assignd/inspect"
	"github.com/assignd/assignd/inspect/emuview"
	"github.com/assignd/assignd/internal/servicetest"
	"github.com/assignd/assignd/internal/testwait"
)

// world is the tutorial workspace in a real emulator served over loopback,
// its assignment callbacks answered by assignd's real handlers (with a
// decision log), as `assignd dev` wires them.
type world struct {
	env  *servicetest.Env
	emu  *emulator.Emulator
	api  string // the emulator's base URL
	sids emulator.Loaded
	view *emuview.View
}

func newWorld(t *testing.T) *world {
	t.Helper()
	env := servicetest.New(t, "sqlite", decisionlog.ModeFull, decisionlog.Options{})
	emu, err := emulator.New(emulator.Options{AccountSid: servicetest.Account, AuthToken: servicetest.Token})
	if err != nil {
		t.Fatal(err)
	}
	spec := emulator.Tutorial()
	spec.Workflows[0].AssignmentCallbackURL = env.URL + "/assignment"
	sids, err := emu.Load(spec)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(func() {
		srv.Close()
		emu.Close()
	})
	return &world{env: env, emu: emu, api: srv.URL, sids: sids, view: emuview.New(emu, sids.Workspace)}
}

// rest calls the emulator's REST API as a client would and decodes the
// JSON answer.
func (w *world) rest(t *testing.T, method, path string, form url.Values) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, w.api+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(servicetest.Account, servicetest.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if resp.StatusCode == http.StatusNoContent {
		return resp.StatusCode, nil
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, b, err)
	}
	return resp.StatusCode, m
}

// createSpanishTask creates the tutorial's task: {"selected_language":"es"}
// on the tutorial workflow.
func (w *world) createSpanishTask(t *testing.T) string {
	t.Helper()
	s, m := w.rest(t, http.MethodPost, "/v1/Workspaces/"+w.sids.Workspace+"/Tasks", url.Values{
		"Attributes": {`{"selected_language": "es"}`}, "WorkflowSid": {w.sids.Workflows["Tutorial Workflow"]},
	})
	if s != http.StatusCreated {
		t.Fatalf("create task: %d %v", s, m)
	}
	return m["sid"].(string)
}

func (w *world) state(t *testing.T) inspect.EmulatorState {
	t.Helper()
	st, err := w.view.State(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func worker(t *testing.T, st inspect.EmulatorState, name string) inspect.EmulatorWorker {
	t.Helper()
	for _, w := range st.Workers {
		if w.Name == name {
			return w
		}
	}
	t.Fatalf("no worker %s in %+v", name, st.Workers)
	return inspect.EmulatorWorker{}
}

func task(st inspect.EmulatorState, sid string) (inspect.EmulatorTask, bool) {
	for _, x := range st.Tasks {
		if x.Sid == sid {
			return x, true
		}
	}
	return inspect.EmulatorTask{}, false
}

// eventually polls cond until it holds; generous for a loaded machine.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testwait.For(t, what, 30*time.Second, cond)
}

// TestTutorialThroughTheView is the seed tutorial seen through the
// inspector's adapter: Alice and Bob start Offline, the Spanish task waits
// pending in the Spanish queue, "set Alice to Idle" reserves it for her, the
// real service accepts it and the task is assigned.
func TestTutorialThroughTheView(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	st := w.state(t)
	if st.Workspace != "TaskRouter Tutorial" {
		t.Errorf("workspace %q", st.Workspace)
	}
	var names []string
	for _, a := range st.Activities {
		names = append(names, a.Name)
		if want := a.Name == "Idle"; a.Available != want {
			t.Errorf("activity %s available=%v", a.Name, a.Available)
		}
	}
	if got := strings.Join(names, ","); got != "Offline,Idle,Busy" {
		t.Errorf("activities %s", got)
	}
	alice, bob := worker(t, st, "Alice"), worker(t, st, "Bob")
	for _, wk := range []inspect.EmulatorWorker{alice, bob} {
		if wk.ActivityName != "Offline" || wk.Available || wk.ActivitySid != w.sids.Activities["Offline"] {
			t.Errorf("%s starts %+v, want Offline and unavailable", wk.Name, wk)
		}
	}
	if alice.Sid != w.sids.Workers["Alice"] || !strings.Contains(alice.Attributes, `"es"`) {
		t.Errorf("alice %+v", alice)
	}

	taskSid := w.createSpanishTask(t)
	st = w.state(t)
	tk, ok := task(st, taskSid)
	if !ok || tk.Status != "pending" || tk.Queue != "Customer Care Requests - Spanish" || !strings.Contains(tk.Attributes, "selected_language") {
		t.Fatalf("task before Alice is Idle: %+v (found %v)", tk, ok)
	}
	if len(st.Reservations) != 0 {
		t.Fatalf("reservations while everyone is Offline: %+v", st.Reservations)
	}

	// "Set Alice to Idle", as the page's button does.
	if err := w.view.SetWorkerActivity(context.Background(), alice.Sid, w.sids.Activities["Idle"]); err != nil {
		t.Fatal(err)
	}
	if a := worker(t, w.state(t), "Alice"); a.ActivityName != "Idle" || !a.Available {
		t.Errorf("alice after set: %+v", a)
	}
	var res inspect.EmulatorReservation
	eventually(t, "the task assigned to Alice", func() bool {
		st := w.state(t)
		tk, _ := task(st, taskSid)
		if tk.Status != "assigned" || len(st.Reservations) != 1 {
			return false
		}
		res = st.Reservations[0]
		return true
	})
	if res.TaskSid != taskSid || res.WorkerSid != alice.Sid || res.WorkerName != "Alice" || res.Status != "accepted" || res.Instruction != "accept" {
		t.Errorf("reservation %+v", res)
	}
	if b := worker(t, w.state(t), "Bob"); b.ActivityName != "Offline" {
		t.Errorf("bob moved: %+v", b)
	}

	// The same path as a REST client: the emulator recorded the event, and
	// the real service's decision is in its log.
	s, events := w.rest(t, http.MethodGet, "/v1/Workspaces/"+w.sids.Workspace+"/Events?EventType=worker.activity.update", nil)
	if s != http.StatusOK {
		t.Fatalf("events: %d %v", s, events)
	}
	list, _ := events["events"].([]any)
	if len(list) != 1 || !strings.Contains(list[0].(map[string]any)["description"].(string), "Alice") {
		t.Errorf("worker.activity.update events: %v", list)
	}
	w.env.Flush(t)
	if e := w.env.One(t, res.Sid); e.Rule != "spanish" || e.TaskSid != taskSid || e.WorkerSid != alice.Sid {
		t.Errorf("decision %+v", e)
	}
}

// TestSetWorkerActivityRefusals: what the REST API refuses, the view
// refuses with Twilio's message, and a scripted fault on UpdateWorker hits
// the page's button as it would hit any client.
func TestSetWorkerActivityRefusals(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	alice, idle := w.sids.Workers["Alice"], w.sids.Activities["Idle"]

	err := w.view.SetWorkerActivity(ctx, "WK00000000000000000000000000000000", idle)
	var apiErr *emulator.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 404 || apiErr.Code != 20404 {
		t.Errorf("unknown worker: %v", err)
	}
	err = w.view.SetWorkerActivity(ctx, alice, "WA00000000000000000000000000000000")
	if !errors.As(err, &apiErr) || apiErr.Status != 400 || !strings.Contains(apiErr.Message, "ActivitySid") {
		t.Errorf("unknown activity: %v", err)
	}

	w.emu.Script(emulator.UpdateWorker, alice,
		emulator.Fault{Status: http.StatusTooManyRequests, RetryAfter: "1"},
		emulator.Fault{Drop: true},
		emulator.Fault{Status: http.StatusBadGateway})
	err = w.view.SetWorkerActivity(ctx, alice, idle)
	if !errors.As(err, &apiErr) || apiErr.Status != 429 || apiErr.Code != 20429 {
		t.Errorf("scripted 429: %v", err)
	}
	if err := w.view.SetWorkerActivity(ctx, alice, idle); err == nil || !strings.Contains(err.Error(), "dropped") {
		t.Errorf("scripted drop: %v", err)
	}
	err = w.view.SetWorkerActivity(ctx, alice, idle)
	if !errors.As(err, &apiErr) || apiErr.Status != 502 || !strings.Contains(apiErr.Message, "Bad Gateway") {
		t.Errorf("scripted 502: %v", err)
	}
	if a := worker(t, w.state(t), "Alice"); a.ActivityName != "Offline" {
		t.Fatalf("a refused update moved Alice: %+v", a)
	}
	// The script is used up: the next click goes through.
	if err := w.view.SetWorkerActivity(ctx, alice, idle); err != nil {
		t.Fatal(err)
	}
	if a := worker(t, w.state(t), "Alice"); a.ActivityName != "Idle" {
		t.Errorf("alice: %+v", a)
	}

	// A workspace deleted over REST: the page says so instead of going blank.
	if s, m := w.rest(t, http.MethodDelete, "/v1/Workspaces/"+w.sids.Workspace, nil); s != http.StatusNoContent {
		t.Fatalf("delete workspace: %d %v", s, m)
	}
	if _, err := w.view.State(ctx); err == nil || !strings.Contains(err.Error(), w.sids.Workspace) {
		t.Errorf("state of a deleted workspace: %v", err)
	}
}
