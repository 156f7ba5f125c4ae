package emulator_test

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	openapi "github.com/twilio/twilio-go/rest/taskrouter/v1"

	"github.com/assignd/assignd/emulator"
)

var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// A task nobody takes is canceled at its Timeout.
func TestTaskTimeoutCancels(t *testing.T) {
	clock := emulator.NewManualClock(epoch)
	h := newHarness(t, emulator.Options{Clock: clock})
	a := newApp(t, answerAlways(`{}`))
	l := tutorial(t, h, a, nil)
	task, err := h.api.CreateTask(l.Workspace, (&openapi.CreateTaskParams{}).SetAttributes(`{"selected_language":"es"}`).
		SetWorkflowSid(l.Workflows["Tutorial Workflow"]).SetTimeout(60))
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(59 * time.Second)
	if got, _ := h.api.FetchTask(l.Workspace, *task.Sid); str(got.AssignmentStatus) != "pending" || got.Age != 59 {
		t.Fatalf("at 59 s: %s age %d", str(got.AssignmentStatus), got.Age)
	}
	clock.Advance(time.Second)
	got, _ := h.api.FetchTask(l.Workspace, *task.Sid)
	if str(got.AssignmentStatus) != "canceled" || str(got.Reason) == "" {
		t.Fatalf("at 60 s: %s (%s), want canceled with a reason", str(got.AssignmentStatus), str(got.Reason))
	}
	evs, _ := h.api.ListEvent(l.Workspace, (&openapi.ListEventParams{}).SetEventType("task.canceled"))
	if len(evs) != 1 {
		t.Fatalf("task.canceled events: %d", len(evs))
	}
}

// A target's timeout moves the task on to the next target.
func TestTargetTimeoutMovesOn(t *testing.T) {
	clock := emulator.NewManualClock(epoch)
	h := newHarness(t, emulator.Options{Clock: clock})
	a := newApp(t, answerAlways(`{"instruction":"accept"}`))
	l := tutorial(t, h, a, func(s *emulator.WorkspaceSpec) {
		s.Workflows[0].Filters[0].Targets = []emulator.TargetSpec{
			{Queue: "Customer Care Requests - Spanish", Timeout: 10},
			{Queue: "Customer Care Requests - English", Priority: ptr(7)},
		}
	})
	ws := l.Workspace
	h.setActivity(ws, l.Workers["Bob"], l.Activities["Idle"]) // English only
	task := h.createTask(ws, l.Workflows["Tutorial Workflow"], `{"selected_language":"es"}`)
	clock.Advance(9 * time.Second)
	if got, _ := h.api.FetchTask(ws, *task.Sid); str(got.AssignmentStatus) != "pending" || str(got.TaskQueueSid) != l.TaskQueues["Customer Care Requests - Spanish"] {
		t.Fatalf("at 9 s: %s in %s", str(got.AssignmentStatus), str(got.TaskQueueFriendlyName))
	}
	clock.Advance(time.Second)
	got := h.waitTask(ws, *task.Sid, "assigned")
	if str(got.TaskQueueSid) != l.TaskQueues["Customer Care Requests - English"] || got.Priority != 7 {
		t.Fatalf("after the target timeout: %s priority %d", str(got.TaskQueueFriendlyName), got.Priority)
	}
	if rs := h.reservations(ws, *task.Sid); str(rs[0].WorkerName) != "Bob" {
		t.Fatalf("reserved %s, want Bob", str(rs[0].WorkerName))
	}
}

// A task rejected again and again is canceled after the maximum number of
// reservations.
func TestMaxReservationAttemptsCancels(t *testing.T) {
	h := newHarness(t, emulator.Options{MaxReservationAttempts: 3})
	a := newApp(t, answerAlways(`{"instruction":"reject"}`)) // no activity_sid: Alice stays Idle
	l := tutorial(t, h, a, nil)
	h.setActivity(l.Workspace, l.Workers["Alice"], l.Activities["Idle"])
	task := h.createTask(l.Workspace, l.Workflows["Tutorial Workflow"], `{"selected_language":"es"}`)
	got := h.waitTask(l.Workspace, *task.Sid, "canceled")
	if rs := h.reservations(l.Workspace, *task.Sid); len(rs) != 3 {
		t.Fatalf("%d reservations before giving up, want 3 (%s)", len(rs), str(got.Reason))
	}
}

// Waiting tasks are offered by priority, then age (FIFO); LIFO queues
// offer the newest first.
func TestQueueOrder(t *testing.T) {
	for _, order := range []string{"FIFO", "LIFO"} {
		t.Run(order, func(t *testing.T) {
			clock := emulator.NewManualClock(epoch)
			h := newHarness(t, emulator.Options{Clock: clock})
			a := newApp(t, func(string, url.Values) (int, string) { return http.StatusOK, `{"instruction":"accept"}` })
			l := tutorial(t, h, a, func(s *emulator.WorkspaceSpec) { s.TaskQueues[1].TaskOrder = order })
			ws, wf := l.Workspace, l.Workflows["Tutorial Workflow"]
			var sids []string
			for i, prio := range []int{0, 0, 5} {
				tk, err := h.api.CreateTask(ws, (&openapi.CreateTaskParams{}).SetAttributes(fmt.Sprintf(`{"n":%d}`, i)).SetWorkflowSid(wf).SetPriority(prio))
				if err != nil {
					t.Fatal(err)
				}
				sids = append(sids, *tk.Sid)
				clock.Advance(time.Second)
			}
			want := map[string][]string{"FIFO": {sids[2], sids[0], sids[1]}, "LIFO": {sids[2], sids[1], sids[0]}}[order]
			for i, w := range want {
				worker := l.Workers["Bob"]
				if i%2 == 1 {
					worker = l.Workers["Alice"]
				}
				h.setActivity(ws, worker, l.Activities["Idle"])
				h.waitTask(ws, w, "assigned")
				if _, err := h.api.UpdateTask(ws, w, (&openapi.UpdateTaskParams{}).SetAssignmentStatus("completed")); err != nil {
					t.Fatal(err)
				}
				h.setActivity(ws, worker, l.Activities["Offline"])
			}
		})
	}
}
