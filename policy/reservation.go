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
)

// Reservation is one assignment callback, parsed and validated.
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

// ValidSid reports whether s is a Twilio SID with the given two-letter prefix:
// the prefix followed by 32 lowercase or uppercase hex digits. SIDs end up in
// REST URLs, so nothing else may pass.
func ValidSid(prefix, s string) bool {
	if len(s) != 34 || s[:2] != prefix {
		return false
	}
	for i := 2; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// CheckSid returns an error naming field when s is not a SID with prefix.
func CheckSid(field, prefix, s string) error {
	if !ValidSid(prefix, s) {
		return fmt.Errorf("%s: want %s followed by 32 hex digits, got %q", field, prefix, truncate(s, 40))
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
