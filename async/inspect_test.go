package async

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/assignd/assignd/emulator"
	"github.com/assignd/assignd/policy"
)

// TestJobs reads a finished job back by ReservationSid: every failed
// attempt River recorded and the worker's final outcome.
func TestJobs(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, newHarness func(time.Duration) *harness) {
		h := newHarness(120 * time.Second)
		r := newReservation(t, h, time.Now())
		other := newReservation(t, h, time.Now())
		h.env.Emu.Script(emulator.UpdateTaskReservation, r.ReservationSid, emulator.Fault{Status: 502})
		waitFinal(t, h, schedule(t, h, r, policy.Accept{}))
		waitFinal(t, h, schedule(t, h, other, policy.Accept{}))

		jobs, err := h.q.Jobs(context.Background(), r.ReservationSid)
		if err != nil {
			t.Fatal(err)
		}
		if len(jobs) != 1 {
			t.Fatalf("want 1 job for %s, got %d: %+v", r.ReservationSid, len(jobs), jobs)
		}
		j := jobs[0]
		var out Output
		if err := json.Unmarshal(j.Output, &out); err != nil {
			t.Fatalf("output %s: %v", j.Output, err)
		}
		ins, err := policy.ParseInstruction(j.Instruction) // jsonb reformats; compare meaning
		if err != nil {
			t.Fatal(err)
		}
		if j.State != "completed" || j.Attempt != 2 || len(j.Errors) != 1 || !strings.Contains(j.Errors[0].Error, "502") ||
			out.Outcome != OutcomeApplied || j.Rule != "test" || ins.Name() != "accept" {
			t.Fatalf("job report %+v (output %s)", j, j.Output)
		}

		none, err := h.q.Jobs(context.Background(), "WR"+strings.Repeat("f", 32))
		if err != nil || len(none) != 0 {
			t.Fatalf("unknown reservation: %v %+v", err, none)
		}
	})
}
