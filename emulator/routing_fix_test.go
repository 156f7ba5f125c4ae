package emulator_test

import (
	"strings"
	"testing"
	"time"

	openapi "github.com/twilio/twilio-go/rest/taskrouter/v1"

	"github.com/assignd/assignd/emulator"
)

// This file is the routing fixes after issue 17's review: who is reserved
// first, queue entry across targets, target timeouts while reserved, and
// skip_if at the end of a workflow.

const (
	english = "Customer Care Requests - English"
	spanish = "Customer Care Requests - Spanish"
)

// accept accepts the task's one pending reservation and returns its worker.
func (h *harness) accept(ws, task string) string {
	h.t.Helper()
	for _, r := range h.reservations(ws, task) {
		if str(r.ReservationStatus) == "pending" {
			if _, err := h.api.UpdateTaskReservation(ws, task, *r.Sid, (&openapi.UpdateTaskReservationParams{}).SetReservationStatus("accepted")); err != nil {
				h.t.Fatalf("accepting %s: %v", *r.Sid, err)
			}
			return str(r.WorkerName)
		}
	}
	h.t.Fatalf("task %s has no pending reservation", task)
	return ""
}

// In a multitasking workspace (the default) a worker's activity does not
// move when they take or finish a task, so the worker waiting longest
// without a task comes from their tasks, not their activity: Carol, idle
// first, takes and completes task 1; task 2 goes to Alice, idle next.
func TestLongestIdleAfterATask(t *testing.T) {
	h, l := levelled(t, emulator.TargetSpec{Queue: english})
	wf := l.Workflows["Tutorial Workflow"]
	first := h.createTask(l.Workspace, wf, `{}`)
	if got := h.accept(l.Workspace, *first.Sid); got != "Carol" {
		t.Fatalf("task 1 reserved %s, want Carol (idle longest)", got)
	}
	h.complete(l.Workspace, *first.Sid)
	if got := h.reservedWorker(l, `{}`); got != "Alice" {
		t.Fatalf("task 2 reserved %s, want Alice: Carol has just finished a task", got)
	}
}

// A worker going available starts waiting then, though their last task
// ended earlier: Carol completes a task, then Alice goes Offline and Idle
// again; Bob has waited longest, then Carol, then Alice.
func TestLongestIdleFromBecomingAvailable(t *testing.T) {
	clock := emulator.NewManualClock(epoch)
	h := newHarness(t, emulator.Options{Clock: clock})
	l := tutorial(t, h, newApp(t, answerAlways(`{}`)), func(s *emulator.WorkspaceSpec) {
		s.Workers = []emulator.WorkerSpec{
			{Name: "Alice", Attributes: map[string]any{"languages": []any{"en"}}},
			{Name: "Bob", Attributes: map[string]any{"languages": []any{"en"}}},
			{Name: "Carol", Attributes: map[string]any{"languages": []any{"en"}}},
		}
		s.Workflows[0].Filters = []emulator.FilterSpec{{Name: "Everyone", Expression: "1==1",
			Targets: []emulator.TargetSpec{{Queue: english}}}}
	})
	for _, name := range []string{"Carol", "Alice", "Bob"} {
		h.setActivity(l.Workspace, l.Workers[name], l.Activities["Idle"])
		clock.Advance(time.Second)
	}
	wf := l.Workflows["Tutorial Workflow"]
	first := h.createTask(l.Workspace, wf, `{}`)
	if got := h.accept(l.Workspace, *first.Sid); got != "Carol" {
		t.Fatalf("task 1 reserved %s, want Carol", got)
	}
	clock.Advance(time.Second)
	h.complete(l.Workspace, *first.Sid)
	clock.Advance(time.Second)
	h.setActivity(l.Workspace, l.Workers["Alice"], l.Activities["Offline"])
	h.setActivity(l.Workspace, l.Workers["Alice"], l.Activities["Idle"])
	for i, want := range []string{"Bob", "Carol", "Alice"} {
		clock.Advance(time.Second)
		if got := h.reservedWorker(l, `{}`); got != want {
			t.Fatalf("task %d reserved %s, want %s", i+2, got, want)
		}
	}
}

// "Preferred agents, then anyone in the same queue": moving on between two
// targets of one queue is a new target, not a new queue entry — one
// task-queue.entered, the entered date kept, two workflow.target-matched.
func TestSameQueueNextTargetKeepsQueueEntry(t *testing.T) {
	clock := emulator.NewManualClock(epoch)
	h := newHarness(t, emulator.Options{Clock: clock})
	l := tutorial(t, h, newApp(t, answerAlways(`{}`)), func(s *emulator.WorkspaceSpec) {
		s.Workflows[0].Filters = []emulator.FilterSpec{{Name: "Everyone", Expression: "1==1",
			Targets: []emulator.TargetSpec{
				{Queue: english, Expression: `worker.level == 9`, Timeout: 10}, // nobody: preferred agents
				{Queue: english},
			}}}
	})
	task := h.createTask(l.Workspace, l.Workflows["Tutorial Workflow"], `{}`)
	entered := *task.TaskQueueEnteredDate
	clock.Advance(10 * time.Second)
	if n := len(h.events(l.Workspace, *task.Sid, "workflow.target-matched")); n != 2 {
		t.Fatalf("%d workflow.target-matched, want 2: the task did not move on", n)
	}
	if n := len(h.events(l.Workspace, *task.Sid, "task-queue.entered")); n != 1 {
		t.Errorf("%d task-queue.entered, want 1: the queue did not change", n)
	}
	got, err := h.api.FetchTask(l.Workspace, *task.Sid)
	if err != nil || !got.TaskQueueEnteredDate.Equal(entered) {
		t.Errorf("task_queue_entered_date %v (%v), want %v kept", got.TaskQueueEnteredDate, err, entered)
	}
}

// A target timeout passing while the task is reserved is not lost: once
// the task is pending again (Alice rejects), its age is past the target's
// timeout, so it moves on at once (Twilio's Timeout Evaluation: the target
// timeout is based on the task's age, unlike the reservation timeout).
func TestTargetTimeoutWhileReserved(t *testing.T) {
	clock := emulator.NewManualClock(epoch)
	h := newHarness(t, emulator.Options{Clock: clock})
	l := tutorial(t, h, newApp(t, answerAlways(`{}`)), func(s *emulator.WorkspaceSpec) {
		s.Workflows[0].Filters[0].Targets = []emulator.TargetSpec{{Queue: spanish, Timeout: 10}, {Queue: english}}
	})
	ws := l.Workspace
	task := h.spanishTaskForAlice(l)
	rs := h.reservations(ws, *task.Sid)
	if len(rs) != 1 || str(rs[0].WorkerName) != "Alice" {
		t.Fatalf("reservations %+v, want Alice's", rs)
	}
	clock.Advance(11 * time.Second)
	if _, err := h.api.UpdateTaskReservation(ws, *task.Sid, *rs[0].Sid, (&openapi.UpdateTaskReservationParams{}).
		SetReservationStatus("rejected").SetWorkerActivitySid(l.Activities["Offline"])); err != nil {
		t.Fatalf("reject: %v", err)
	}
	got, err := h.api.FetchTask(ws, *task.Sid)
	if err != nil || str(got.TaskQueueFriendlyName) != english || str(got.AssignmentStatus) != "pending" {
		t.Fatalf("after the reject: %s in %q (%v), want pending in %q at once", str(got.AssignmentStatus), str(got.TaskQueueFriendlyName), err, english)
	}
	for _, typ := range []string{"task-queue.timeout", "task-queue.moved"} {
		if n := len(h.events(ws, *task.Sid, typ)); n != 1 {
			t.Errorf("%d %s events, want 1", n, typ)
		}
	}
}

// The same with nowhere left to go: workflow.timeout fires when the task
// is pending again, and the task is canceled.
func TestLastTargetTimeoutWhileReserved(t *testing.T) {
	clock := emulator.NewManualClock(epoch)
	h := newHarness(t, emulator.Options{Clock: clock})
	l := tutorial(t, h, newApp(t, answerAlways(`{}`)), func(s *emulator.WorkspaceSpec) {
		s.Workflows[0].Filters[0].Targets = []emulator.TargetSpec{{Queue: spanish, Timeout: 10}}
		s.Workflows[0].DefaultQueue = ""
	})
	ws := l.Workspace
	task := h.spanishTaskForAlice(l)
	rs := h.reservations(ws, *task.Sid)
	clock.Advance(11 * time.Second)
	if _, err := h.api.UpdateTaskReservation(ws, *task.Sid, *rs[0].Sid, (&openapi.UpdateTaskReservationParams{}).
		SetReservationStatus("rejected").SetWorkerActivitySid(l.Activities["Offline"])); err != nil {
		t.Fatalf("reject: %v", err)
	}
	if n := len(h.events(ws, *task.Sid, "workflow.timeout")); n != 1 {
		t.Fatalf("%d workflow.timeout events, want 1", n)
	}
	if got, err := h.api.FetchTask(ws, *task.Sid); err != nil || str(got.AssignmentStatus) != "canceled" {
		t.Fatalf("after workflow.timeout: %s (%v), want canceled", str(got.AssignmentStatus), err)
	}
}

// skip_if on the last step with nowhere left to go does not skip: no
// workflow.skipped, and the step's timeout is armed (workflow.timeout when
// it passes). The same on the default_filter.
func TestSkipIfWithNowhereToGo(t *testing.T) {
	for name, cfg := range map[string]string{
		"last target":    `{"task_routing":{"filters":[{"expression":"1==1","targets":[{"queue":"Q","timeout":10,"skip_if":"workers.available == 0"}]}]}}`,
		"default_filter": `{"task_routing":{"filters":[],"default_filter":{"queue":"Q","timeout":10,"skip_if":"workers.available == 0"}}}`,
	} {
		t.Run(name, func(t *testing.T) {
			clock := emulator.NewManualClock(epoch)
			h := newHarness(t, emulator.Options{Clock: clock})
			l := tutorial(t, h, newApp(t, answerAlways(`{}`)), nil) // everyone Offline
			cfg = strings.ReplaceAll(cfg, `"Q"`, `"`+l.TaskQueues[spanish]+`"`)
			wf, err := h.api.CreateWorkflow(l.Workspace, (&openapi.CreateWorkflowParams{}).SetFriendlyName("ends").SetConfiguration(cfg))
			if err != nil {
				t.Fatalf("CreateWorkflow: %v", err)
			}
			task := h.createTask(l.Workspace, *wf.Sid, `{}`)
			if n := len(h.events(l.Workspace, *task.Sid, "workflow.skipped")); n != 0 {
				t.Errorf("%d workflow.skipped with no step to skip to, want 0", n)
			}
			clock.Advance(10 * time.Second)
			if n := len(h.events(l.Workspace, *task.Sid, "workflow.timeout")); n != 1 {
				t.Errorf("%d workflow.timeout after the step's timeout, want 1", n)
			}
		})
	}
}

// skip_if does not skip a target whose worker can be reserved at once,
// though its expression holds: Carol is reserved in the English target.
func TestSkipIfNotWhenReservable(t *testing.T) {
	h, l := levelled(t, emulator.TargetSpec{Queue: english, SkipIf: "1==1"}, emulator.TargetSpec{Queue: spanish})
	task := h.createTask(l.Workspace, l.Workflows["Tutorial Workflow"], `{}`)
	rs := h.reservations(l.Workspace, *task.Sid)
	if len(rs) != 1 || str(rs[0].WorkerName) != "Carol" {
		t.Fatalf("reservations %+v, want Carol's", rs)
	}
	if got, err := h.api.FetchTask(l.Workspace, *task.Sid); err != nil || str(got.TaskQueueFriendlyName) != english {
		t.Fatalf("task in %q (%v), want %q", str(got.TaskQueueFriendlyName), err, english)
	}
	if n := len(h.events(l.Workspace, *task.Sid, "workflow.skipped")); n != 0 {
		t.Fatalf("%d workflow.skipped, want 0", n)
	}
}

// A worker without the order_by attribute comes after those with it, in
// either direction: Carol, idle longest, lacks a level, so level ASC
// reserves Alice (1), Bob (3), then Carol.
func TestTargetOrderByMissingAttributeLast(t *testing.T) {
	h, l := levelled(t, emulator.TargetSpec{Queue: english, OrderBy: "worker.level ASC"})
	if _, err := h.api.UpdateWorker(l.Workspace, l.Workers["Carol"], (&openapi.UpdateWorkerParams{}).
		SetAttributes(`{"languages":["en"]}`)); err != nil {
		t.Fatalf("UpdateWorker: %v", err)
	}
	for i, want := range []string{"Alice", "Bob", "Carol"} {
		if got := h.reservedWorker(l, `{}`); got != want {
			t.Fatalf("task %d reserved %s, want %s", i+1, got, want)
		}
	}
}

// A target without a queue, as in Twilio's "Lifecycle of a Task" example
// ({"timeout": 15}), is refused, saying the queue is missing: no Twilio
// page documents what such a target routes to, and guessing (the previous
// target's queue) would route silently where Twilio might not.
func TestTargetWithoutQueueRefused(t *testing.T) {
	h := newHarness(t, emulator.Options{})
	l := tutorial(t, h, newApp(t, answerAlways(`{}`)), nil)
	q := l.TaskQueues[english]
	cfg := `{"task_routing":{"filters":[{"expression":"1==1","targets":[{"queue":"` + q + `","timeout":15},{"timeout":15}]}]}}`
	_, err := h.api.CreateWorkflow(l.Workspace, (&openapi.CreateWorkflowParams{}).SetFriendlyName("no queue").SetConfiguration(cfg))
	if re := restErr(t, err); re.Status != 400 || re.Code != 20001 || !strings.Contains(re.Message, "target 1") || !strings.Contains(re.Message, "queue is missing") {
		t.Fatalf("%d %d %q, want 400 20001 naming target 1's missing queue", re.Status, re.Code, re.Message)
	}
}

// Moving on when the task is pending again sees the rejecting worker in
// the activity the reject names: Alice rejects to Offline, so the English
// target's skip_if (no one available) holds and the task skips it.
func TestTargetTimeoutWhileReservedSeesRejectActivity(t *testing.T) {
	clock := emulator.NewManualClock(epoch)
	h := newHarness(t, emulator.Options{Clock: clock})
	l := tutorial(t, h, newApp(t, answerAlways(`{}`)), func(s *emulator.WorkspaceSpec) {
		s.Workflows[0].Filters[0].Targets = []emulator.TargetSpec{{Queue: spanish, Timeout: 10},
			{Queue: english, SkipIf: "workers.available == 0"}}
	})
	ws := l.Workspace
	task := h.spanishTaskForAlice(l)
	rs := h.reservations(ws, *task.Sid)
	clock.Advance(11 * time.Second)
	if _, err := h.api.UpdateTaskReservation(ws, *task.Sid, *rs[0].Sid, (&openapi.UpdateTaskReservationParams{}).
		SetReservationStatus("rejected").SetWorkerActivitySid(l.Activities["Offline"])); err != nil {
		t.Fatalf("reject: %v", err)
	}
	if n := len(h.events(ws, *task.Sid, "workflow.skipped")); n != 1 {
		t.Fatalf("%d workflow.skipped, want 1: Alice is Offline, no one is available in English", n)
	}
}

// With capacity above 1, a worker holding a task is not "without a task":
// Carol (capacity 2, idle longest) takes task 1 and still has room, but
// task 2 goes to Alice, who holds none.
func TestLongestIdlePrefersWorkersWithoutATask(t *testing.T) {
	h, l := levelled(t, emulator.TargetSpec{Queue: english})
	ws, carol := l.Workspace, l.Workers["Carol"]
	wc := h.workerChannel(ws, carol, "default")
	if _, err := h.api.UpdateWorkerChannel(ws, carol, *wc.Sid, (&openapi.UpdateWorkerChannelParams{}).SetCapacity(2)); err != nil {
		t.Fatal(err)
	}
	first := h.createTask(ws, l.Workflows["Tutorial Workflow"], `{}`)
	if got := h.accept(ws, *first.Sid); got != "Carol" {
		t.Fatalf("task 1 reserved %s, want Carol", got)
	}
	if got := h.reservedWorker(l, `{}`); got != "Alice" {
		t.Fatalf("task 2 reserved %s, want Alice: Carol holds a task", got)
	}
}
