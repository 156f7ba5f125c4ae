package emulator_test

import (
	"strings"
	"testing"
	"time"

	openapi "github.com/twilio/twilio-go/rest/taskrouter/v1"

	"github.com/assignd/assignd/emulator"
)

// TestEveryLifecycleRowRuns drives one workspace over the REST API through
// every row of the lifecycle table (lifecycle.go) — offers to two workers
// at once, rescind, wrap-up, completion, reject, cancel, timeout, a worker
// and a task deleted under their reservations — checking what a client
// sees at each step, then that no row was left unvisited: a row nothing
// reaches is a row to delete.
func TestEveryLifecycleRowRuns(t *testing.T) {
	clock := emulator.NewManualClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	h := newHarness(t, emulator.Options{Clock: clock})
	a := newApp(t, answerAlways(`{}`)) // every reservation waits for REST
	l := tutorial(t, h, a, func(s *emulator.WorkspaceSpec) {
		s.TaskQueues[1].MaxReservedWorkers = 2 // English: Alice and Bob at once
		s.Workflows[0].TaskReservationTimeout = 30
	})
	ws, wf := l.Workspace, l.Workflows["Tutorial Workflow"]
	idle, offline := l.Activities["Idle"], l.Activities["Offline"]
	h.setActivity(ws, l.Workers["Alice"], idle)
	h.setActivity(ws, l.Workers["Bob"], idle)
	taskIs := func(sid, want string) {
		t.Helper()
		if got, err := h.api.FetchTask(ws, sid); err != nil || str(got.AssignmentStatus) != want {
			t.Fatalf("task %s: %v %v, want %s", sid, str(got.AssignmentStatus), err, want)
		}
	}
	resStatus := func(task string, want ...string) []openapi.TaskrouterV1TaskReservation {
		t.Helper()
		rs := h.reservations(ws, task)
		var got []string
		for _, r := range rs {
			got = append(got, str(r.ReservationStatus))
		}
		if !equal(got, want) {
			t.Fatalf("reservations of %s: %v, want %v", task, got, want)
		}
		return rs
	}
	update := func(task, res, status string) error {
		_, err := h.api.UpdateTaskReservation(ws, task, res, (&openapi.UpdateTaskReservationParams{}).SetReservationStatus(status))
		return err
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	// Offered to both, accepted by one, the other rescinded; wrap-up, completion.
	en := h.createTask(ws, wf, `{"selected_language":"en"}`)
	rs := resStatus(*en.Sid, "pending", "pending")
	must(update(*en.Sid, *rs[1].Sid, "accepted"))
	resStatus(*en.Sid, "rescinded", "accepted")
	taskIs(*en.Sid, "assigned")
	_, err := h.api.UpdateTask(ws, *en.Sid, (&openapi.UpdateTaskParams{}).SetAssignmentStatus("wrapping"))
	must(err)
	resStatus(*en.Sid, "rescinded", "wrapping")
	must(update(*en.Sid, *rs[1].Sid, "completed"))
	resStatus(*en.Sid, "rescinded", "completed")
	taskIs(*en.Sid, "completed")

	// Illegal transitions a client asks for: Twilio's 400 20001, nothing moves.
	_, err = h.api.UpdateTask(ws, *en.Sid, (&openapi.UpdateTaskParams{}).SetAssignmentStatus("wrapping"))
	if re := restErr(t, err); re.Status != 400 || re.Code != 20001 || !strings.Contains(re.Message, "cannot be updated to wrapping: it is completed") {
		t.Fatalf("completed task to wrapping: %+v", re)
	}
	err = update(*en.Sid, *rs[1].Sid, "accepted")
	if re := restErr(t, err); re.Status != 400 || re.Code != 20001 || !strings.Contains(re.Message, "not in expected state [pending]; current state completed") {
		t.Fatalf("completed reservation accepted: %+v", re)
	}
	err = update(*en.Sid, *rs[0].Sid, "completed")
	if re := restErr(t, err); re.Status != 400 || re.Code != 20001 || !strings.Contains(re.Message, "not in expected state [accepted wrapping]; current state rescinded") {
		t.Fatalf("rescinded reservation completed: %+v", re)
	}
	taskIs(*en.Sid, "completed")

	// Rejected with an activity: the task is offered again; canceled with a
	// reservation pending.
	es := h.createTask(ws, wf, `{"selected_language":"es"}`)
	rs = resStatus(*es.Sid, "pending")
	_, err = h.api.UpdateTaskReservation(ws, *es.Sid, *rs[0].Sid,
		(&openapi.UpdateTaskReservationParams{}).SetReservationStatus("rejected").SetWorkerActivitySid(offline))
	must(err)
	taskIs(*es.Sid, "pending")
	h.setActivity(ws, l.Workers["Alice"], idle)
	resStatus(*es.Sid, "rejected", "pending")
	_, err = h.api.UpdateTask(ws, *es.Sid, (&openapi.UpdateTaskParams{}).SetAssignmentStatus("canceled"))
	must(err)
	resStatus(*es.Sid, "rejected", "canceled")
	taskIs(*es.Sid, "canceled")

	// Timed out; then a new worker reserved and deleted; then accepted and
	// the task deleted.
	es = h.createTask(ws, wf, `{"selected_language":"es"}`)
	resStatus(*es.Sid, "pending")
	clock.Advance(30 * time.Second)
	resStatus(*es.Sid, "timeout")
	taskIs(*es.Sid, "pending")
	carol, err := h.api.CreateWorker(ws, (&openapi.CreateWorkerParams{}).SetFriendlyName("Carol").
		SetAttributes(`{"languages":["es"]}`).SetActivitySid(idle))
	must(err)
	resStatus(*es.Sid, "timeout", "pending")
	must(h.api.DeleteWorker(ws, *carol.Sid, &openapi.DeleteWorkerParams{}))
	resStatus(*es.Sid, "timeout", "canceled")
	taskIs(*es.Sid, "pending")
	h.setActivity(ws, l.Workers["Alice"], idle)
	rs = resStatus(*es.Sid, "timeout", "canceled", "pending")
	must(update(*es.Sid, *rs[2].Sid, "accepted"))
	must(h.api.DeleteTask(ws, *es.Sid, &openapi.DeleteTaskParams{}))
	if _, err := h.api.FetchTask(ws, *es.Sid); restErr(t, err).Status != 404 {
		t.Fatalf("deleted task still there")
	}

	for row, n := range h.emu.LifecycleRows() {
		if n == 0 {
			t.Errorf("lifecycle row never ran: %s", row)
		}
	}
}
