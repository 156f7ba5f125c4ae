package emulator

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/assignd/assignd/taskrouter"
)

// The table itself: one row at most for any status and trigger (so lookup
// is unambiguous), only real statuses, only TaskRouter's event names.
func TestLifecycleRowsWellFormed(t *testing.T) {
	statuses := map[string][]string{
		"task":        {"", taskPending, taskReserved, taskAssigned, taskWrapping, taskCompleted, taskCanceled},
		"reservation": append([]string{""}, reservationStatuses...),
	}
	seen := map[string]string{}
	for _, rw := range lifecycleRows() {
		valid, ok := statuses[rw.machine]
		if !ok {
			t.Errorf("%s: unknown machine", &rw)
			continue
		}
		for _, s := range append(slices.Clone(rw.from), rw.to) {
			if !slices.Contains(valid, s) {
				t.Errorf("%s: %q is not a %s status", &rw, s, rw.machine)
			}
		}
		for _, from := range rw.from {
			k := rw.machine + " " + from + " " + string(rw.on)
			if prev, dup := seen[k]; dup {
				t.Errorf("%s overlaps %s", &rw, prev)
			}
			seen[k] = rw.String()
		}
		prefix := rw.machine + "."
		if rw.event != "" && (!strings.HasPrefix(rw.event, prefix) || rw.machine == "reservation" && !taskrouter.IsReservationEvent(rw.event)) {
			t.Errorf("%s: event %q is not a %s event", &rw, rw.event, rw.machine)
		}
		if (rw.event == "") != (rw.desc == "") {
			t.Errorf("%s: an event goes with its description", &rw)
		}
	}
}

// A transition with no row is a bug in the emulator: it panics rather than
// leave a task or reservation in a state the table does not know.
func TestTransitionWithoutRowPanics(t *testing.T) {
	e, err := New(Options{AccountSid: "AC0123456789abcdef0123456789abcdef", AuthToken: "x", Clock: NewManualClock(time.Unix(0, 0))})
	if err != nil {
		t.Fatal(err)
	}
	ws := newWorkspace("WS0123456789abcdef0123456789abcdef", "w", time.Unix(0, 0))
	tk := &task{sid: "WT0123456789abcdef0123456789abcdef", status: taskCompleted}
	ws.tasks.put(tk.sid, tk)
	defer func() {
		msg, _ := recover().(string)
		if !strings.Contains(msg, `no lifecycle row moves a task from "completed" on accept`) {
			t.Fatalf("recovered %q, want the missing row named", msg)
		}
		if tk.status != taskCompleted {
			t.Fatalf("status %s after the refused transition, want completed", tk.status)
		}
	}()
	e.taskTo(ws, tk, onAccept, "")
}
