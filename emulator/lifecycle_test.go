package emulator_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/taskrouter/v1"

	"github.com/assignd/assignd/emulator"
)

// app is the customer's application: it receives assignment callbacks (or
// events), checks X-Twilio-Signature with twilio-go's RequestValidator, and
// answers what answer returns.
type app struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	got    []url.Values // verified requests, by path
	paths  []string
	answer func(path string, f url.Values) (int, string)
}

func newApp(t *testing.T, answer func(path string, f url.Values) (int, string)) *app {
	a := &app{t: t, answer: answer}
	rv := client.NewRequestValidator(authToken)
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			t.Errorf("app: bad form: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		params := map[string]string{}
		for k, v := range r.PostForm {
			params[k] = v[0]
		}
		full := "http://" + r.Host + r.URL.RequestURI()
		if !rv.Validate(full, params, r.Header.Get("X-Twilio-Signature")) {
			t.Errorf("app: X-Twilio-Signature of %s does not verify", full)
			w.WriteHeader(http.StatusForbidden)
			return
		}
		a.mu.Lock()
		a.got = append(a.got, r.PostForm)
		a.paths = append(a.paths, r.URL.Path)
		a.mu.Unlock()
		status, body := a.answer(r.URL.Path, r.PostForm)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *app) requests(path string) []url.Values {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []url.Values
	for i, p := range a.paths {
		if p == path {
			out = append(out, a.got[i])
		}
	}
	return out
}

func answerAlways(body string) func(string, url.Values) (int, string) {
	return func(string, url.Values) (int, string) { return http.StatusOK, body }
}

// tutorial loads the ready workspace with the workflow calling app.
func tutorial(t *testing.T, h *harness, a *app, edit func(*emulator.WorkspaceSpec)) emulator.Loaded {
	t.Helper()
	spec := emulator.Tutorial()
	spec.Workflows[0].AssignmentCallbackURL = a.srv.URL + "/assignment"
	if edit != nil {
		edit(&spec)
	}
	l, err := h.emu.Load(spec)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return l
}

func (h *harness) setActivity(ws, worker, activity string) {
	h.t.Helper()
	if _, err := h.api.UpdateWorker(ws, worker, (&openapi.UpdateWorkerParams{}).SetActivitySid(activity)); err != nil {
		h.t.Fatalf("UpdateWorker: %v", err)
	}
}

func (h *harness) createTask(ws, workflow, attrs string) *openapi.TaskrouterV1Task {
	h.t.Helper()
	task, err := h.api.CreateTask(ws, (&openapi.CreateTaskParams{}).SetAttributes(attrs).SetWorkflowSid(workflow))
	if err != nil {
		h.t.Fatalf("CreateTask: %v", err)
	}
	return task
}

// spanishTaskForAlice makes Alice idle and creates a task in Spanish, which
// the tutorial's workflow routes to her queue (she is its only speaker).
func (h *harness) spanishTaskForAlice(l emulator.Loaded) *openapi.TaskrouterV1Task {
	h.t.Helper()
	h.setActivity(l.Workspace, l.Workers["Alice"], l.Activities["Idle"])
	return h.createTask(l.Workspace, l.Workflows["Tutorial Workflow"], `{"selected_language":"es"}`)
}

func (h *harness) waitTask(ws, task, status string) *openapi.TaskrouterV1Task {
	h.t.Helper()
	var got *openapi.TaskrouterV1Task
	waitFor(h.t, "task "+task+" "+status, func() bool {
		var err error
		got, err = h.api.FetchTask(ws, task)
		if err != nil {
			h.t.Fatalf("FetchTask: %v", err)
		}
		return str(got.AssignmentStatus) == status
	})
	return got
}

func (h *harness) reservations(ws, task string) []openapi.TaskrouterV1TaskReservation {
	h.t.Helper()
	rs, err := h.api.ListTaskReservation(ws, task, &openapi.ListTaskReservationParams{})
	if err != nil {
		h.t.Fatalf("ListTaskReservation: %v", err)
	}
	return rs
}

// The seed tutorial as written: Alice Offline, the Spanish task created
// with the tutorial's parameters waits pending in the Spanish queue; Alice
// Idle → a reservation, a signed callback with Twilio's parameters, the
// app's accept → the task assigned to Alice.
func TestSeedFlowSyncAccept(t *testing.T) {
	h := newHarness(t, emulator.Options{})
	a := newApp(t, answerAlways(`{"instruction":"accept"}`))
	l := tutorial(t, h, a, nil)
	ws := l.Workspace

	// Everything is discoverable over the API, as on Twilio.
	workers, err := h.api.ListWorker(ws, (&openapi.ListWorkerParams{}).SetFriendlyName("Alice"))
	if err != nil || len(workers) != 1 {
		t.Fatalf("ListWorker Alice: %v %v", workers, err)
	}
	alice := workers[0]
	if str(alice.ActivityName) != "Offline" || alice.Available == nil || *alice.Available {
		t.Fatalf("Alice starts %s available=%v, want Offline, not available", str(alice.ActivityName), alice.Available)
	}
	idle, err := h.api.ListActivity(ws, (&openapi.ListActivityParams{}).SetFriendlyName("Idle"))
	if err != nil || len(idle) != 1 {
		t.Fatalf("ListActivity Idle: %v %v", idle, err)
	}
	flows, err := h.api.ListWorkflow(ws, &openapi.ListWorkflowParams{})
	if err != nil || len(flows) != 1 {
		t.Fatalf("ListWorkflow: %v %v", flows, err)
	}

	task := h.createTask(ws, *flows[0].Sid, `{"selected_language": "es"}`)
	if str(task.AssignmentStatus) != "pending" || str(task.TaskQueueFriendlyName) != "Customer Care Requests - Spanish" {
		t.Fatalf("new task: %s in %q, want pending in the Spanish queue", str(task.AssignmentStatus), str(task.TaskQueueFriendlyName))
	}
	if rs := h.reservations(ws, *task.Sid); len(rs) != 0 {
		t.Fatalf("reservations while Alice is Offline: %d, want 0", len(rs))
	}

	h.setActivity(ws, *alice.Sid, *idle[0].Sid)
	h.waitTask(ws, *task.Sid, "assigned")

	rs := h.reservations(ws, *task.Sid)
	if len(rs) != 1 || str(rs[0].ReservationStatus) != "accepted" || str(rs[0].WorkerSid) != *alice.Sid || str(rs[0].WorkerName) != "Alice" {
		t.Fatalf("reservations: %+v, want one accepted by Alice", rs)
	}
	cbs := a.requests("/assignment")
	if len(cbs) != 1 {
		t.Fatalf("callbacks: %d, want 1", len(cbs))
	}
	want := map[string]string{
		"AccountSid": accountSid, "WorkspaceSid": ws, "WorkflowSid": *flows[0].Sid,
		"TaskQueueSid": l.TaskQueues["Customer Care Requests - Spanish"], "TaskSid": *task.Sid,
		"WorkerSid": *alice.Sid, "ReservationSid": *rs[0].Sid, "TaskAttributes": `{"selected_language": "es"}`,
		"WorkerAttributes": `{"languages":["en","es"]}`, "TaskPriority": "0",
	}
	for k, v := range want {
		if got := cbs[0].Get(k); got != v {
			t.Errorf("callback %s = %q, want %q", k, got, v)
		}
	}
	for _, k := range []string{"TaskAge", "Timestamp"} {
		if cbs[0].Get(k) == "" {
			t.Errorf("callback has no %s", k)
		}
	}
	wr, err := h.api.ListWorkerReservation(ws, *alice.Sid, &openapi.ListWorkerReservationParams{})
	if err != nil || len(wr) != 1 || str(wr[0].ReservationStatus) != "accepted" {
		t.Fatalf("Alice's reservations: %+v %v", wr, err)
	}
}

// A reject moves the worker to the activity given and offers the task to
// the next eligible worker.
func TestRejectOffersNextWorker(t *testing.T) {
	h := newHarness(t, emulator.Options{})
	var l emulator.Loaded
	a := newApp(t, func(_ string, f url.Values) (int, string) {
		if f.Get("WorkerSid") == l.Workers["Alice"] {
			return http.StatusOK, `{"instruction":"reject","activity_sid":"` + l.Activities["Busy"] + `"}`
		}
		return http.StatusOK, `{"instruction":"accept"}`
	})
	l = tutorial(t, h, a, nil)
	ws := l.Workspace
	h.setActivity(ws, l.Workers["Alice"], l.Activities["Idle"]) // idle longest: offered first
	h.setActivity(ws, l.Workers["Bob"], l.Activities["Idle"])
	task := h.createTask(ws, l.Workflows["Tutorial Workflow"], `{"selected_language":"en"}`)
	h.waitTask(ws, *task.Sid, "assigned")

	rs := h.reservations(ws, *task.Sid)
	if len(rs) != 2 || str(rs[0].WorkerSid) != l.Workers["Alice"] || str(rs[0].ReservationStatus) != "rejected" ||
		str(rs[1].WorkerSid) != l.Workers["Bob"] || str(rs[1].ReservationStatus) != "accepted" {
		t.Fatalf("reservations: %+v, want Alice rejected then Bob accepted", rs)
	}
	alice, err := h.api.FetchWorker(ws, l.Workers["Alice"])
	if err != nil || str(alice.ActivityName) != "Busy" {
		t.Fatalf("Alice after reject: %v %v, want Busy", str(alice.ActivityName), err)
	}
}

// `{}` leaves the reservation pending; the app accepts later over REST.
func TestAsyncAcceptOverREST(t *testing.T) {
	h := newHarness(t, emulator.Options{})
	a := newApp(t, answerAlways(`{}`))
	l := tutorial(t, h, a, nil)
	ws := l.Workspace
	task := h.spanishTaskForAlice(l)
	waitFor(t, "the callback", func() bool { return len(h.emu.Callbacks()) == 1 })
	rs := h.reservations(ws, *task.Sid)
	if len(rs) != 1 || str(rs[0].ReservationStatus) != "pending" {
		t.Fatalf("after {}: %+v, want one pending reservation", rs)
	}
	if got := h.waitTask(ws, *task.Sid, "reserved"); got == nil {
		t.Fatal("task not reserved")
	}
	res, err := h.api.UpdateTaskReservation(ws, *task.Sid, *rs[0].Sid, (&openapi.UpdateTaskReservationParams{}).SetReservationStatus("accepted"))
	if err != nil || str(res.ReservationStatus) != "accepted" {
		t.Fatalf("REST accept: %v %v", res, err)
	}
	h.waitTask(ws, *task.Sid, "assigned")
	info, _ := h.emu.Reservation(*rs[0].Sid)
	if info.Applied != 1 || info.Updates != 1 || info.Instruction != "accept" {
		t.Fatalf("inspection: %+v, want applied once by one update", info)
	}

	// A second update finds it no longer pending: Twilio's 400, code 20001.
	_, err = h.api.UpdateTaskReservation(ws, *task.Sid, *rs[0].Sid, (&openapi.UpdateTaskReservationParams{}).SetReservationStatus("accepted"))
	re := restErr(t, err)
	if re.Status != http.StatusBadRequest || re.Code != 20001 || !contains(re.Message, "is not in expected state") {
		t.Fatalf("second accept: %+v, want 400 20001 not in expected state", re)
	}
	// Wrap-up and completion through the reservation, as Twilio allows.
	for _, st := range []string{"wrapping", "completed"} {
		if _, err := h.api.UpdateTaskReservation(ws, *task.Sid, *rs[0].Sid, (&openapi.UpdateTaskReservationParams{}).SetReservationStatus(st)); err != nil {
			t.Fatalf("reservation → %s: %v", st, err)
		}
		h.waitTask(ws, *task.Sid, st)
	}
}

func contains(s, sub string) bool {
	return len(sub) == 0 || (len(s) >= len(sub) && indexOf(s, sub) >= 0)
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// With max_reserved_workers 2 both idle English speakers are reserved at
// once; the first accept wins and the other reservation is rescinded.
func TestMultiReservationRescind(t *testing.T) {
	h := newHarness(t, emulator.Options{})
	a := newApp(t, answerAlways(`{}`))
	l := tutorial(t, h, a, func(s *emulator.WorkspaceSpec) { s.TaskQueues[1].MaxReservedWorkers = 2 })
	ws := l.Workspace
	h.setActivity(ws, l.Workers["Alice"], l.Activities["Idle"])
	h.setActivity(ws, l.Workers["Bob"], l.Activities["Idle"])
	task := h.createTask(ws, l.Workflows["Tutorial Workflow"], `{"selected_language":"en"}`)
	rs := h.reservations(ws, *task.Sid)
	if len(rs) != 2 || rs[0].WorkerSid == rs[1].WorkerSid {
		t.Fatalf("reservations: %+v, want two, for distinct workers", rs)
	}
	waitFor(t, "both callbacks", func() bool { return len(h.emu.Callbacks()) == 2 })
	// Accept the second through the worker's path.
	if _, err := h.api.UpdateWorkerReservation(ws, *rs[1].WorkerSid, *rs[1].Sid,
		(&openapi.UpdateWorkerReservationParams{}).SetReservationStatus("accepted")); err != nil {
		t.Fatalf("accept: %v", err)
	}
	rs = h.reservations(ws, *task.Sid)
	if str(rs[0].ReservationStatus) != "rescinded" || str(rs[1].ReservationStatus) != "accepted" {
		t.Fatalf("after accept: %s/%s, want rescinded/accepted", str(rs[0].ReservationStatus), str(rs[1].ReservationStatus))
	}
	_, err := h.api.UpdateTaskReservation(ws, *task.Sid, *rs[0].Sid, (&openapi.UpdateTaskReservationParams{}).SetReservationStatus("accepted"))
	if re := restErr(t, err); re.Code != 20001 {
		t.Fatalf("accepting the rescinded one: %+v", re)
	}
}

// `{}` and nothing else: at task_reservation_timeout (driven clock) the
// reservation times out and the worker goes to the timeout activity.
func TestReservationTimeout(t *testing.T) {
	clock := emulator.NewManualClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	h := newHarness(t, emulator.Options{Clock: clock})
	a := newApp(t, answerAlways(`{}`))
	l := tutorial(t, h, a, func(s *emulator.WorkspaceSpec) { s.Workflows[0].TaskReservationTimeout = 30 })
	ws := l.Workspace
	task := h.spanishTaskForAlice(l)
	waitFor(t, "the callback", func() bool { return len(h.emu.Callbacks()) == 1 })
	clock.Advance(29 * time.Second)
	if rs := h.reservations(ws, *task.Sid); str(rs[0].ReservationStatus) != "pending" {
		t.Fatalf("at 29 s: %s, want pending", str(rs[0].ReservationStatus))
	}
	clock.Advance(time.Second)
	rs := h.reservations(ws, *task.Sid)
	if str(rs[0].ReservationStatus) != "timeout" {
		t.Fatalf("at 30 s: %s, want timeout", str(rs[0].ReservationStatus))
	}
	got, _ := h.api.FetchTask(ws, *task.Sid)
	if str(got.AssignmentStatus) != "pending" {
		t.Fatalf("task after timeout: %s, want pending again", str(got.AssignmentStatus))
	}
	alice, _ := h.api.FetchWorker(ws, l.Workers["Alice"])
	if str(alice.ActivitySid) != l.Activities["Offline"] {
		t.Fatalf("Alice after timeout: %s, want the timeout activity Offline", str(alice.ActivityName))
	}
	_, err := h.api.UpdateTaskReservation(ws, *task.Sid, *rs[0].Sid, (&openapi.UpdateTaskReservationParams{}).SetReservationStatus("accepted"))
	if re := restErr(t, err); re.Status != 400 || re.Code != 20001 {
		t.Fatalf("accept after timeout: %+v", re)
	}
}

// The primary callback answers 500: the fallback URL is called and its
// answer applied.
func TestFallbackURL(t *testing.T) {
	h := newHarness(t, emulator.Options{})
	a := newApp(t, func(path string, _ url.Values) (int, string) {
		if path == "/primary" {
			return http.StatusInternalServerError, `{"instruction":"accept"}`
		}
		return http.StatusOK, `{"instruction":"accept"}`
	})
	l := tutorial(t, h, a, func(s *emulator.WorkspaceSpec) {
		s.Workflows[0].AssignmentCallbackURL = a.srv.URL + "/primary"
		s.Workflows[0].FallbackAssignmentCallbackURL = a.srv.URL + "/fallback"
	})
	ws := l.Workspace
	task := h.spanishTaskForAlice(l)
	h.waitTask(ws, *task.Sid, "assigned")
	p, f := a.requests("/primary"), a.requests("/fallback")
	if len(p) != 1 || len(f) != 1 || p[0].Get("ReservationSid") != f[0].Get("ReservationSid") {
		t.Fatalf("primary %d, fallback %d calls, want one each for the same reservation", len(p), len(f))
	}
	cbs := h.emu.Callbacks()
	if len(cbs) != 2 || cbs[0].Fallback || cbs[0].Status != 500 || !cbs[1].Fallback || cbs[1].Err != "" {
		t.Fatalf("callback attempts: %+v", cbs)
	}
}

// A slow primary (past the callback timeout) also goes to the fallback.
func TestSlowPrimaryGoesToFallback(t *testing.T) {
	h := newHarness(t, emulator.Options{CallbackTimeout: 2 * time.Second})
	release := make(chan struct{})
	a := newApp(t, func(path string, _ url.Values) (int, string) {
		if path == "/primary" {
			<-release
		}
		return http.StatusOK, `{"instruction":"accept"}`
	})
	defer close(release)
	l := tutorial(t, h, a, func(s *emulator.WorkspaceSpec) {
		s.Workflows[0].AssignmentCallbackURL = a.srv.URL + "/primary"
		s.Workflows[0].FallbackAssignmentCallbackURL = a.srv.URL + "/fallback"
	})
	h.setActivity(l.Workspace, l.Workers["Alice"], l.Activities["Idle"])
	task := h.createTask(l.Workspace, l.Workflows["Tutorial Workflow"], `{"selected_language":"es"}`)
	h.waitTask(l.Workspace, *task.Sid, "assigned")
	if cbs := h.emu.Callbacks(); len(cbs) != 2 || cbs[0].Status != 0 || cbs[0].Err == "" {
		t.Fatalf("attempts: %+v, want the primary timed out", cbs)
	}
}

// Events reach event_callback_url signed, in Twilio's format, filtered by
// events_filter, and are listed by the Events API.
func TestSignedEvents(t *testing.T) {
	h := newHarness(t, emulator.Options{})
	a := newApp(t, func(path string, _ url.Values) (int, string) {
		if path == "/events" {
			return http.StatusNoContent, ""
		}
		return http.StatusOK, `{"instruction":"accept"}`
	})
	l := tutorial(t, h, a, func(s *emulator.WorkspaceSpec) {
		s.EventCallbackURL = a.srv.URL + "/events"
		s.EventsFilter = "reservation.created,reservation.accepted,task.created,worker.activity.update"
	})
	ws := l.Workspace
	task := h.spanishTaskForAlice(l)
	h.waitTask(ws, *task.Sid, "assigned")
	waitFor(t, "four events", func() bool { return len(a.requests("/events")) == 4 })
	evs := a.requests("/events")
	var types []string
	for _, ev := range evs {
		types = append(types, ev.Get("EventType"))
	}
	want := []string{"worker.activity.update", "task.created", "reservation.created", "reservation.accepted"}
	if !equal(types, want) {
		t.Fatalf("events %v, want %v (task-queue.entered filtered out)", types, want)
	}
	acc := evs[3]
	for k, v := range map[string]string{"ResourceType": "reservation", "TaskSid": *task.Sid, "WorkerSid": l.Workers["Alice"],
		"WorkspaceSid": ws, "AccountSid": accountSid, "TaskAssignmentStatus": "assigned", "WorkerName": "Alice"} {
		if acc.Get(k) != v {
			t.Errorf("reservation.accepted %s = %q, want %q", k, acc.Get(k), v)
		}
	}
	if acc.Get("ResourceSid") == "" || acc.Get("ResourceSid") != acc.Get("ReservationSid") || acc.Get("Timestamp") == "" {
		t.Errorf("reservation.accepted: %v", acc)
	}
	listed, err := h.api.ListEvent(ws, (&openapi.ListEventParams{}).SetTaskSid(*task.Sid))
	if err != nil {
		t.Fatalf("ListEvent: %v", err)
	}
	var listedTypes []string
	for _, ev := range listed {
		listedTypes = append(listedTypes, str(ev.EventType))
	}
	if !equal(listedTypes, []string{"task.created", "workflow.entered", "task-queue.entered", "workflow.target-matched", "reservation.created", "reservation.accepted"}) {
		t.Fatalf("listed events for the task: %v", listedTypes)
	}
	if ed, ok := (*listed[5].EventData).(map[string]any); listed[5].EventData == nil || !ok || ed["worker_sid"] != l.Workers["Alice"] {
		t.Fatalf("event_data: %#v", listed[5].EventData)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
