package emulator_test

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"

	openapi "github.com/twilio/twilio-go/rest/taskrouter/v1"

	"github.com/assignd/assignd/emulator"
)

// Many clients at once: tasks created from several goroutines, answered by
// callbacks, completed over REST as they are assigned. Every task ends
// completed with exactly one reservation applied once, and no worker ever
// holds two tasks.
func TestConcurrentTraffic(t *testing.T) {
	const tasks, workers, clients = 200, 8, 4
	h := newHarness(t, emulator.Options{})
	a := newApp(t, answerAlways(`{"instruction":"accept"}`))
	spec := emulator.Tutorial()
	spec.Workers = nil
	for i := range workers {
		spec.Workers = append(spec.Workers, emulator.WorkerSpec{Name: fmt.Sprint("agent", i), Activity: "Idle",
			Attributes: map[string]any{"languages": []any{"en"}}})
	}
	spec.Workflows[0].AssignmentCallbackURL = a.srv.URL + "/assignment"
	l, err := h.emu.Load(spec)
	if err != nil {
		t.Fatal(err)
	}
	ws, wf := l.Workspace, l.Workflows["Tutorial Workflow"]

	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range tasks / clients {
				if _, err := h.api.CreateTask(ws, (&openapi.CreateTaskParams{}).SetWorkflowSid(wf).
					SetAttributes(fmt.Sprintf(`{"client":%d,"n":%d}`, c, i))); err != nil {
					t.Errorf("CreateTask: %v", err)
					return
				}
			}
		}()
	}
	// Complete tasks as they get assigned, freeing their workers.
	done := map[string]bool{}
	waitFor(t, "every task completed", func() bool {
		assigned, err := h.api.ListTask(ws, (&openapi.ListTaskParams{}).SetAssignmentStatus([]string{"assigned"}).SetPageSize(100))
		if err != nil {
			t.Fatalf("ListTask: %v", err)
		}
		if len(assigned) > workers {
			t.Fatalf("%d tasks assigned at once to %d workers", len(assigned), workers)
		}
		for _, tk := range assigned {
			if _, err := h.api.UpdateTask(ws, *tk.Sid, (&openapi.UpdateTaskParams{}).SetAssignmentStatus("completed")); err != nil {
				t.Fatalf("completing: %v", err)
			}
			done[*tk.Sid] = true
		}
		return len(done) == tasks
	})
	wg.Wait()
	st := h.emu.Stats()
	if st.Reservations != tasks || st.ByStatus["completed"] != tasks || st.AppliedTwice != 0 || st.Applied != tasks {
		t.Fatalf("stats: %+v", st)
	}

	// The same counts over HTTP for scripts (not a Twilio endpoint, so
	// asked of the emulator directly rather than through the spec check).
	srv := httptest.NewServer(h.emu)
	defer srv.Close()
	_, b := rawGet(t, srv.URL+"/__emulator/stats")
	var overHTTP emulator.Stats
	if err := json.Unmarshal([]byte(b), &overHTTP); err != nil || overHTTP.Applied != tasks {
		t.Fatalf("/__emulator/stats: %+v %v", overHTTP, err)
	}
}
