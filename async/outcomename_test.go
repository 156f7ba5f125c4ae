package async

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/assignd/assignd/emulator"
	"github.com/assignd/assignd/policy"
)

// The finished line and the stored outcome (what the inspector shows) name
// the instruction applied (accept, reject, …), and say when it was the
// policy's on_error one, not "decision".
func TestOutcomeNamesTheInstruction(t *testing.T) {
	h := newTestHarness(t, Options{DataDir: filepath.Join(t.TempDir(), "data")}, time.Minute)

	accepted := newReservation(t, h, time.Now())
	_, out := waitFinal(t, h, schedule(t, h, accepted, policy.Accept{}))
	stored := outputOf(t, h, accepted.ReservationSid)
	if out.Outcome != OutcomeApplied || stored["instruction"] != "accept" || stored["on_error"] != nil {
		t.Errorf("accept: stored outcome %v", stored)
	}
	if line := finishedLine(t, h, accepted.ReservationSid); line["instruction"] != "accept" || line["on_error"] != false {
		t.Errorf("accept: log line %v", line)
	}

	// Twilio refuses the dequeue while the reservation is pending: the
	// policy's on_error (a reject) is applied instead.
	refused := newReservation(t, h, time.Now())
	h.env.Emu.Script(emulator.UpdateTaskReservation, refused.ReservationSid, emulator.Fault{Status: 400, Code: 20001, Message: "Invalid parameter DequeueFrom"})
	_, out = waitFinal(t, h, schedule(t, h, refused, policy.Dequeue{From: "+15005550006"}))
	stored = outputOf(t, h, refused.ReservationSid)
	if out.Outcome != OutcomeFallbackApplied || stored["instruction"] != "reject" || stored["on_error"] != true {
		t.Errorf("on_error: stored outcome %v", stored)
	}
	if line := finishedLine(t, h, refused.ReservationSid); line["instruction"] != "reject" || line["on_error"] != true {
		t.Errorf("on_error: log line %v", line)
	}
}

// outputOf is the stored outcome of the reservation's job, as the inspector
// reads it (Queue.Jobs).
func outputOf(t *testing.T, h *harness, reservation string) map[string]any {
	t.Helper()
	jobs, err := h.q.Jobs(t.Context(), reservation)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("jobs for %s: %v %v", reservation, jobs, err)
	}
	var out map[string]any
	if err := json.Unmarshal(jobs[0].Output, &out); err != nil {
		t.Fatalf("output %s: %v", jobs[0].Output, err)
	}
	return out
}

// finishedLine is the reservation's "async decision finished" log line.
func finishedLine(t *testing.T, h *harness, reservation string) map[string]any {
	t.Helper()
	for _, l := range strings.Split(h.logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["message"] == "async decision finished" && m["reservation"] == reservation {
			return m
		}
	}
	t.Fatalf("no finished line for %s:\n%s", reservation, h.logs.String())
	return nil
}
