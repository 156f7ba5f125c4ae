package emulator_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	openapi "github.com/twilio/twilio-go/rest/taskrouter/v1"

	"github.com/assignd/assignd/emulator"
)

// The parameters emulator.SupportedParams lists whose effect no other test
// shows over REST, each set over REST and its effect observed: a listed
// parameter is carried out, not just stored.
func TestListedParamsTakeEffect(t *testing.T) {
	t.Run("UpdateWorkspace DefaultActivitySid MultiTaskEnabled=false, UpdateActivity FriendlyName", func(t *testing.T) {
		h := newHarness(t, emulator.Options{})
		l := tutorial(t, h, newApp(t, answerAlways(`{}`)), nil)
		w, err := h.api.UpdateWorkspace(l.Workspace, (&openapi.UpdateWorkspaceParams{}).
			SetDefaultActivitySid(l.Activities["Idle"]).SetMultiTaskEnabled(false))
		if err != nil || w.MultiTaskEnabled == nil || *w.MultiTaskEnabled {
			t.Fatalf("UpdateWorkspace: %v %+v", err, w)
		}
		wk, err := h.api.CreateWorker(l.Workspace, (&openapi.CreateWorkerParams{}).SetFriendlyName("Zed"))
		if err != nil || str(wk.ActivitySid) != l.Activities["Idle"] {
			t.Fatalf("new worker: %v, activity %s, want the default Idle", err, str(wk.ActivityName))
		}
		a, err := h.api.UpdateActivity(l.Workspace, l.Activities["Busy"], (&openapi.UpdateActivityParams{}).SetFriendlyName("On a call"))
		if err != nil || str(a.FriendlyName) != "On a call" {
			t.Fatalf("UpdateActivity: %v %+v", err, a)
		}
	})
	t.Run("UpdateWorkspace TimeoutActivitySid", func(t *testing.T) {
		clock := emulator.NewManualClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
		h := newHarness(t, emulator.Options{Clock: clock})
		l := tutorial(t, h, newApp(t, answerAlways(`{}`)), func(s *emulator.WorkspaceSpec) { s.Workflows[0].TaskReservationTimeout = 30 })
		if _, err := h.api.UpdateWorkspace(l.Workspace, (&openapi.UpdateWorkspaceParams{}).SetTimeoutActivitySid(l.Activities["Busy"])); err != nil {
			t.Fatal(err)
		}
		h.spanishTaskForAlice(l)
		waitFor(t, "the callback", func() bool { return len(h.emu.Callbacks()) == 1 })
		clock.Advance(30 * time.Second)
		if alice, _ := h.api.FetchWorker(l.Workspace, l.Workers["Alice"]); str(alice.ActivitySid) != l.Activities["Busy"] {
			t.Fatalf("Alice after the reservation timed out: %s, want the timeout activity Busy", str(alice.ActivityName))
		}
	})
	t.Run("UpdateTaskQueue ReservationActivitySid AssignmentActivitySid", func(t *testing.T) {
		h := newHarness(t, emulator.Options{})
		// Queue activities move workers only without multitasking (doc.go).
		single := false
		l := tutorial(t, h, newApp(t, answerAlways(`{}`)), func(s *emulator.WorkspaceSpec) { s.MultiTaskEnabled = &single })
		q := l.TaskQueues["Customer Care Requests - Spanish"]
		if _, err := h.api.UpdateTaskQueue(l.Workspace, q, (&openapi.UpdateTaskQueueParams{}).
			SetReservationActivitySid(l.Activities["Busy"]).SetAssignmentActivitySid(l.Activities["Offline"])); err != nil {
			t.Fatal(err)
		}
		task := h.spanishTaskForAlice(l)
		waitFor(t, "the callback", func() bool { return len(h.emu.Callbacks()) == 1 })
		if alice, _ := h.api.FetchWorker(l.Workspace, l.Workers["Alice"]); str(alice.ActivitySid) != l.Activities["Busy"] {
			t.Fatalf("Alice reserved: %s, want the queue's reservation activity Busy", str(alice.ActivityName))
		}
		res := h.reservations(l.Workspace, *task.Sid)[0]
		if _, err := h.api.UpdateTaskReservation(l.Workspace, *task.Sid, *res.Sid, (&openapi.UpdateTaskReservationParams{}).SetReservationStatus("accepted")); err != nil {
			t.Fatal(err)
		}
		if alice, _ := h.api.FetchWorker(l.Workspace, l.Workers["Alice"]); str(alice.ActivitySid) != l.Activities["Offline"] {
			t.Fatalf("Alice assigned: %s, want the queue's assignment activity Offline", str(alice.ActivityName))
		}
	})
	t.Run("UpdateWorker RejectPendingReservations", func(t *testing.T) {
		h := newHarness(t, emulator.Options{})
		l := tutorial(t, h, newApp(t, answerAlways(`{}`)), nil)
		task := h.spanishTaskForAlice(l)
		waitFor(t, "the callback", func() bool { return len(h.emu.Callbacks()) == 1 })
		if _, err := h.api.UpdateWorker(l.Workspace, l.Workers["Alice"], (&openapi.UpdateWorkerParams{}).
			SetActivitySid(l.Activities["Offline"]).SetRejectPendingReservations(true)); err != nil {
			t.Fatal(err)
		}
		if rs := h.reservations(l.Workspace, *task.Sid); str(rs[0].ReservationStatus) != "rejected" {
			t.Fatalf("pending reservation after Alice went Offline rejecting it: %s, want rejected", str(rs[0].ReservationStatus))
		}
	})
	t.Run("UpdateWorkflow Configuration ReEvaluateTasks", func(t *testing.T) {
		h := newHarness(t, emulator.Options{})
		l := tutorial(t, h, newApp(t, answerAlways(`{}`)), nil)
		task := h.createTask(l.Workspace, l.Workflows["Tutorial Workflow"], `{"selected_language":"es"}`) // Alice Offline: it waits
		english := l.TaskQueues["Customer Care Requests - English"]
		if _, err := h.api.UpdateWorkflow(l.Workspace, l.Workflows["Tutorial Workflow"], (&openapi.UpdateWorkflowParams{}).
			SetConfiguration(`{"task_routing":{"default_filter":{"queue":"`+english+`"}}}`).SetReEvaluateTasks("true")); err != nil {
			t.Fatal(err)
		}
		if got, _ := h.api.FetchTask(l.Workspace, *task.Sid); str(got.TaskQueueSid) != english {
			t.Fatalf("waiting task after ReEvaluateTasks: queue %s, want %s", str(got.TaskQueueFriendlyName), english)
		}
	})
	t.Run("UpdateWorkspace EventCallbackUrl EventsFilter", func(t *testing.T) {
		h := newHarness(t, emulator.Options{})
		a := newApp(t, answerAlways(`{}`))
		l := tutorial(t, h, a, nil)
		if _, err := h.api.UpdateWorkspace(l.Workspace, (&openapi.UpdateWorkspaceParams{}).
			SetEventCallbackUrl(a.srv.URL+"/events").SetEventsFilter("worker.created")); err != nil {
			t.Fatal(err)
		}
		h.createTask(l.Workspace, l.Workflows["Tutorial Workflow"], `{}`) // task.created: filtered out
		if _, err := h.api.CreateWorker(l.Workspace, (&openapi.CreateWorkerParams{}).SetFriendlyName("Zed")); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "worker.created at the new URL", func() bool { return len(a.requests("/events")) > 0 })
		if got := a.requests("/events")[0].Get("EventType"); got != "worker.created" { // events arrive in order
			t.Fatalf("first event delivered: %s, want worker.created alone", got)
		}
	})
	t.Run("UpdateTask Reason, CreateTask TaskChannel", func(t *testing.T) {
		h := newHarness(t, emulator.Options{})
		l := tutorial(t, h, newApp(t, answerAlways(`{}`)), nil)
		wf := l.Workflows["Tutorial Workflow"]
		_, err := h.api.CreateTask(l.Workspace, (&openapi.CreateTaskParams{}).SetWorkflowSid(wf).SetTaskChannel("fax"))
		if re := restErr(t, err); re.Status != 400 {
			t.Fatalf("TaskChannel fax: %+v, want 400 (no such channel)", re)
		}
		task, err := h.api.CreateTask(l.Workspace, (&openapi.CreateTaskParams{}).SetWorkflowSid(wf).SetTaskChannel("default"))
		if err != nil || str(task.TaskChannelUniqueName) != "default" {
			t.Fatalf("TaskChannel default: %v %+v", err, task)
		}
		resp, body, err := postForm(t, http.DefaultClient, h.srv.URL+"/v1/Workspaces/"+l.Workspace+"/Tasks/"+*task.Sid,
			url.Values{"AssignmentStatus": {"canceled"}, "Reason": {"caller hung up"}})
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("cancel: %v %d %s", err, resp.StatusCode, body)
		}
		if got, _ := h.api.FetchTask(l.Workspace, *task.Sid); str(got.Reason) != "caller hung up" {
			t.Fatalf("reason: %q, want the one given", str(got.Reason))
		}
	})
}
