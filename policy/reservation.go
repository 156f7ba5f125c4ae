// Package policy holds what a routing decision is made of: the reservation
// TaskRouter offers, the instructions it understands, and the small interface
// every policy implements. It knows nothing about HTTP or storage.
//
// A policy's fallback is the decision answered when it cannot decide or its
// decision cannot be carried out; a rules file spells it on_error, and the
// code says Fallback everywhere (the result label is "fallback" too).
package policy

import (
	"fmt"
	"time"

	"github.com/assignd/assignd/taskrouter"
)

// Reservation is one assignment callback, parsed and validated. Each field
// up to Timestamp holds the taskrouter callback parameter of the same name:
// handlers parses and encodes by that name, and refuses to start without one.
type Reservation struct {
	AccountSid     string
	WorkspaceSid   string
	WorkflowSid    string
	TaskQueueSid   string
	WorkerSid      string
	TaskSid        string
	ReservationSid string

	TaskAge      int // seconds since the task was created
	TaskPriority int

	TaskAttributes   map[string]any
	WorkerAttributes map[string]any

	// Timestamp is the callback's Timestamp parameter as sent (Unix seconds).
	Timestamp string
	// Params holds every parameter Twilio sent that is not one of the
	// documented ones above (e.g. WorkerName): Twilio adds parameters without
	// notice and policies may want them.
	Params map[string]string

	// ReceivedAt is when assignd received the callback; the reservation's
	// timeout runs from here.
	ReceivedAt time.Time
}

// CheckSid returns an error naming field when s is not a SID with prefix.
func CheckSid(field, prefix, s string) error {
	if !taskrouter.ValidSid(prefix, s) {
		return fmt.Errorf("%s: %s, got %q", field, taskrouter.WantSid(prefix), truncate(s, 40))
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
