package taskrouter

// Value set names for EnumValues.
const (
	EnumCallStatus      = "call-status"
	EnumConferenceEvent = "conference-event"
	EnumSupervisorMode  = "supervisor-mode"
)

// EnumValues returns the named value set of an instruction field, as
// policy's check tags (enum=NAME, list=NAME) and the emulator name them.
// Where Twilio's OpenAPI description of TaskRouter lists them (as an enum or
// in the parameter's description), the conformance tests in async and the
// emulator prove they are equal. Each call returns a fresh slice.
func EnumValues(name string) ([]string, bool) {
	switch name {
	case EnumCallStatus: // task_reservation_enum_call_status
		return []string{"initiated", "ringing", "answered", "completed"}, true
	case EnumConferenceEvent: // task_reservation_enum_conference_event
		return []string{"start", "end", "join", "leave", "mute", "hold", "speaker"}, true
	case EnumSupervisorMode: // task_reservation_enum_supervisor_mode
		return []string{"monitor", "whisper", "barge"}, true
	case "http-method":
		return []string{"GET", "POST"}, true
	case "dequeue-record": // taskrouter.md §3; the spec gives no list
		return []string{"record-from-answer", "do-not-record"}, true
	case "call-record": // taskrouter.md §3; the spec gives no list
		return []string{"record-from-answer", "do-not-record", "true", "false"}, true
	case "beep":
		return []string{"true", "false", "onEnter", "onExit"}, true
	case "conference-record":
		return []string{"true", "false", "record-from-start", "do-not-record"}, true
	case "conference-trim":
		return []string{"trim-silence", "do-not-trim"}, true
	case "recording-channels":
		return []string{"mono", "dual"}, true
	case "jitter-buffer-size":
		return []string{"small", "medium", "large", "off"}, true
	case "region":
		return []string{"us1", "us2", "ie1", "de1", "sg1", "br1", "au1", "jp1"}, true
	}
	return nil, false
}
