package emulator_test

import (
	"testing"
	"time"

	openapi "github.com/twilio/twilio-go/rest/taskrouter/v1"

	"github.com/assignd/assignd/emulator"
)

// VirtualStartTime is shown as virtual_start_time and orders routing: a
// task created later but given an earlier virtual start (a transfer keeping
// its place in line) is offered first. One in the future is refused.
func TestTaskVirtualStartTime(t *testing.T) {
	clock := emulator.NewManualClock(epoch)
	h := newHarness(t, emulator.Options{Clock: clock})
	l := tutorial(t, h, newApp(t, answerAlways(`{}`)), nil)
	ws, wf := l.Workspace, l.Workflows["Tutorial Workflow"]
	first := h.createTask(ws, wf, `{}`)
	if first.VirtualStartTime == nil || !first.VirtualStartTime.Equal(epoch) {
		t.Fatalf("virtual_start_time of a task without one: %v, want date_created %v", first.VirtualStartTime, epoch)
	}
	clock.Advance(10 * time.Second)
	earlier := epoch.Add(-time.Hour)
	second, err := h.api.CreateTask(ws, (&openapi.CreateTaskParams{}).SetWorkflowSid(wf).SetAttributes(`{}`).SetVirtualStartTime(earlier))
	if err != nil || second.VirtualStartTime == nil || !second.VirtualStartTime.Equal(earlier) {
		t.Fatalf("CreateTask with VirtualStartTime: %v, %v", second, err)
	}
	if second.Age != 0 {
		t.Fatalf("age %d: it counts from date_created, want 0", second.Age)
	}
	h.setActivity(ws, l.Workers["Bob"], l.Activities["Idle"])
	if rs := h.reservations(ws, *second.Sid); len(rs) != 1 {
		t.Fatalf("the task with the earlier virtual start has %d reservations, want 1 (offered first)", len(rs))
	}
	if rs := h.reservations(ws, *first.Sid); len(rs) != 0 {
		t.Fatalf("the task created first was offered before the one with the earlier virtual start")
	}
	_, err = h.api.CreateTask(ws, (&openapi.CreateTaskParams{}).SetWorkflowSid(wf).SetVirtualStartTime(epoch.Add(time.Hour)))
	if re := restErr(t, err); re.Status != 400 || re.Code != 20001 {
		t.Fatalf("a virtual start in the future: %d %d, want 400 20001", re.Status, re.Code)
	}
	// An update moves a waiting task's place in line: given a virtual start
	// before the third task's, the first is offered before it.
	third, err := h.api.CreateTask(ws, (&openapi.CreateTaskParams{}).SetWorkflowSid(wf).SetAttributes(`{}`).SetVirtualStartTime(earlier))
	if err != nil {
		t.Fatal(err)
	}
	moved, err := h.api.UpdateTask(ws, *first.Sid, (&openapi.UpdateTaskParams{}).SetVirtualStartTime(earlier.Add(-time.Hour)))
	if err != nil || moved.VirtualStartTime == nil || !moved.VirtualStartTime.Equal(earlier.Add(-time.Hour)) {
		t.Fatalf("UpdateTask VirtualStartTime: %v, %v", moved, err)
	}
	h.setActivity(ws, l.Workers["Alice"], l.Activities["Idle"])
	if rs := h.reservations(ws, *first.Sid); len(rs) != 1 || len(h.reservations(ws, *third.Sid)) != 0 {
		t.Fatalf("after its update the first task was not offered before the third")
	}
}

// RoutingTarget: a task queue's SID puts the task straight into that queue,
// past the workflow's filters; a workflow's SID routes it through that
// workflow; both are shown as routing_target. A worker's SID, or a SID of
// nothing in the workspace, is refused.
func TestTaskRoutingTarget(t *testing.T) {
	h := newHarness(t, emulator.Options{})
	l := tutorial(t, h, newApp(t, answerAlways(`{}`)), nil)
	ws, english := l.Workspace, l.TaskQueues["Customer Care Requests - English"]
	h.setActivity(ws, l.Workers["Bob"], l.Activities["Idle"])
	direct, err := h.api.CreateTask(ws, (&openapi.CreateTaskParams{}).SetAttributes(`{"selected_language":"es"}`).SetRoutingTarget(english))
	if err != nil {
		t.Fatalf("CreateTask with a queue as RoutingTarget: %v", err)
	}
	if str(direct.TaskQueueSid) != english || str(direct.RoutingTarget) != english {
		t.Fatalf("task in %s, routing_target %s: want both %s, though the workflow sends Spanish elsewhere",
			str(direct.TaskQueueFriendlyName), str(direct.RoutingTarget), english)
	}
	if rs := h.reservations(ws, *direct.Sid); len(rs) != 1 || str(rs[0].WorkerName) != "Bob" {
		t.Fatalf("reservations of the directly routed task: %+v, want Bob's", rs)
	}
	wf := l.Workflows["Tutorial Workflow"]
	viaWorkflow, err := h.api.CreateTask(ws, (&openapi.CreateTaskParams{}).SetAttributes(`{"selected_language":"es"}`).SetRoutingTarget(wf))
	if err != nil || str(viaWorkflow.WorkflowSid) != wf || str(viaWorkflow.RoutingTarget) != wf ||
		str(viaWorkflow.TaskQueueSid) != l.TaskQueues["Customer Care Requests - Spanish"] {
		t.Fatalf("CreateTask with the workflow as RoutingTarget: %+v %v", viaWorkflow, err)
	}
	for _, sid := range []string{l.Workers["Alice"], "WQ00000000000000000000000000000000"} {
		_, err := h.api.CreateTask(ws, (&openapi.CreateTaskParams{}).SetRoutingTarget(sid))
		if re := restErr(t, err); re.Status != 400 || re.Code != 20001 {
			t.Errorf("RoutingTarget %s: %d %d, want 400 20001", sid, re.Status, re.Code)
		}
	}
}
