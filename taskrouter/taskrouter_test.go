package taskrouter_test

import (
	"strings"
	"testing"

	"github.com/assignd/assignd/taskrouter"
)

func TestValidSid(t *testing.T) {
	t.Parallel()
	hex32 := strings.Repeat("0123456789abcdeF", 2)
	for _, k := range taskrouter.SidKinds() {
		if !taskrouter.ValidSid(k.Prefix, k.Prefix+hex32) {
			t.Errorf("%s (%s): a well-formed SID is refused", k.Prefix, k.Kind)
		}
	}
	for _, bad := range []string{"", "WS", "ws" + hex32, "WK" + hex32, "WS" + hex32[:31], "WS" + hex32 + "0",
		"WS" + hex32[:31] + "g", "WS" + hex32[:31] + "/"} {
		if taskrouter.ValidSid(taskrouter.PrefixWorkspace, bad) {
			t.Errorf("ValidSid(WS, %q) = true", bad)
		}
	}
	if got, want := taskrouter.WantSid("WS"), "want WS followed by 32 hex digits"; got != want {
		t.Errorf("WantSid = %q, want %q", got, want)
	}
}

// Moved from policy with ValidSid.
func TestValidSidTwilioShapes(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{
		"WR0123456789abcdef0123456789ABCDEF":  true,
		"WR0123456789abcdef0123456789abcde":   false,
		"WR0123456789abcdef0123456789abcdef0": false,
		"WT0123456789abcdef0123456789abcdef":  false,
		"WR0123456789abcdef0123456789abcd/.":  false,
		"":                                    false,
	} {
		if got := taskrouter.ValidSid("WR", s); got != want {
			t.Errorf("ValidSid(WR, %q) = %v", s, got)
		}
	}
}

func TestSidKindsDistinct(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, k := range taskrouter.SidKinds() {
		if len(k.Prefix) != 2 || k.Prefix != strings.ToUpper(k.Prefix) || seen[k.Prefix] || k.Kind == "" {
			t.Errorf("SID kind %+v: want a new two-letter uppercase prefix and a name", k)
		}
		seen[k.Prefix] = true
	}
}

// Every parameter is well-formed: a SID names a known prefix, nothing else has one.
func TestCallbackParamsTable(t *testing.T) {
	t.Parallel()
	prefixes := map[string]bool{}
	for _, k := range taskrouter.SidKinds() {
		prefixes[k.Prefix] = true
	}
	seen := map[string]bool{}
	for _, p := range taskrouter.CallbackParams() {
		if seen[p.Name] || p.Meaning == "" {
			t.Errorf("%s: named twice or without a meaning", p.Name)
		}
		seen[p.Name] = true
		if (p.Type == taskrouter.TypeSid) != prefixes[p.Prefix] {
			t.Errorf("%s: type %s with prefix %q", p.Name, p.Type, p.Prefix)
		}
		if !taskrouter.IsCallbackParam(p.Name) {
			t.Errorf("IsCallbackParam(%s) = false", p.Name)
		}
	}
	if taskrouter.IsCallbackParam("WorkerName") {
		t.Error("WorkerName is an extra, not a documented parameter")
	}
}

func TestInstructionNames(t *testing.T) {
	t.Parallel()
	names := taskrouter.InstructionNames()
	if got := strings.Join(names, ","); got != "accept,reject,dequeue,call,redirect,conference" {
		t.Errorf("InstructionNames = %s", got)
	}
	names[0] = "changed"
	if !taskrouter.IsInstruction("accept") || taskrouter.IsInstruction("changed") || taskrouter.IsInstruction("later") {
		t.Error("IsInstruction disagrees with InstructionNames, or the list was shared")
	}
}

func TestReservationEvent(t *testing.T) {
	t.Parallel()
	if got := taskrouter.ReservationEvent(taskrouter.ReservationRejected); got != "reservation.rejected" {
		t.Errorf("ReservationEvent(rejected) = %q", got)
	}
	if !taskrouter.IsReservationEvent(taskrouter.EventReservationAccepted) || taskrouter.IsReservationEvent(taskrouter.EventTaskCreated) {
		t.Error("IsReservationEvent misreads event types")
	}
}
