package emulator_test

import (
	"testing"
	"time"

	openapi "github.com/twilio/twilio-go/rest/taskrouter/v1"

	"github.com/assignd/assignd/emulator"
)

// PrioritizeQueueOrder chooses, among waiting tasks of equal priority from
// a FIFO and a LIFO queue, whose are offered first: Alice, eligible for
// both tutorial queues (Spanish FIFO, English LIFO here), gets the task
// from the queue of the workspace's order, though it is the younger one.
func TestPrioritizeQueueOrder(t *testing.T) {
	for _, order := range []string{"FIFO", "LIFO"} {
		t.Run(order, func(t *testing.T) {
			clock := emulator.NewManualClock(epoch)
			h := newHarness(t, emulator.Options{Clock: clock})
			l := tutorial(t, h, newApp(t, answerAlways(`{}`)), func(s *emulator.WorkspaceSpec) { s.TaskQueues[1].TaskOrder = "LIFO" })
			ws, wf := l.Workspace, l.Workflows["Tutorial Workflow"]
			got, err := h.api.UpdateWorkspace(ws, (&openapi.UpdateWorkspaceParams{}).SetPrioritizeQueueOrder(order))
			if err != nil || str(got.PrioritizeQueueOrder) != order {
				t.Fatalf("UpdateWorkspace PrioritizeQueueOrder=%s: %v, shown %q", order, err, str(got.PrioritizeQueueOrder))
			}
			lang := map[string]string{"FIFO": "es", "LIFO": "en"} // the preferred queue's language
			other := map[string]string{"es": "en", "en": "es"}[lang[order]]
			older := h.createTask(ws, wf, `{"selected_language":"`+other+`"}`)
			clock.Advance(time.Second)
			preferred := h.createTask(ws, wf, `{"selected_language":"`+lang[order]+`"}`)
			h.setActivity(ws, l.Workers["Alice"], l.Activities["Idle"]) // capacity 1: one offer
			if n, m := len(h.reservations(ws, *preferred.Sid)), len(h.reservations(ws, *older.Sid)); n != 1 || m != 0 {
				t.Fatalf("PrioritizeQueueOrder %s: %d reservations of the %s queue's task, %d of the older other; want 1 and 0",
					order, n, order, m)
			}
		})
	}
}
