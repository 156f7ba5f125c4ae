package taskrouter

import "slices"

// SID prefixes, as Twilio assigns them.
const (
	PrefixAccount     = "AC"
	PrefixAPIKey      = "SK"
	PrefixWorkspace   = "WS"
	PrefixActivity    = "WA"
	PrefixWorker      = "WK"
	PrefixQueue       = "WQ"
	PrefixWorkflow    = "WW"
	PrefixTask        = "WT"
	PrefixReservation = "WR"
	PrefixEvent       = "EV"
	PrefixChannel     = "TC"
	PrefixCall        = "CA"
)

// SidKind names what a SID prefix identifies.
type SidKind struct {
	Prefix string // e.g. "WS"
	Kind   string // e.g. "workspace"
}

// sidKinds is every prefix above with what it names; tests and docs list from it.
var sidKinds = [...]SidKind{
	{PrefixAccount, "account"}, {PrefixAPIKey, "API key"}, {PrefixWorkspace, "workspace"},
	{PrefixActivity, "activity"}, {PrefixWorker, "worker"}, {PrefixQueue, "task queue"},
	{PrefixWorkflow, "workflow"}, {PrefixTask, "task"}, {PrefixReservation, "reservation"},
	{PrefixEvent, "event"}, {PrefixChannel, "task channel"}, {PrefixCall, "call"},
}

// SidKinds returns every SID kind assignd knows.
func SidKinds() []SidKind { return slices.Clone(sidKinds[:]) }

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

// WantSid is the one message for a value that is not a SID with prefix;
// callers add the field name and, where safe to show, what they got.
func WantSid(prefix string) string { return "want " + prefix + " followed by 32 hex digits" }
