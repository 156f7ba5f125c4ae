package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Instruction is one of the six answers TaskRouter understands. Each concrete
// type marshals to Twilio's exact JSON: an "instruction" key plus snake_case
// fields, unset fields omitted.
type Instruction interface {
	// Name is the value of the "instruction" key.
	Name() string
	// Validate reports every field that TaskRouter would refuse.
	Validate() error
}

// Accept accepts the reservation.
type Accept struct{}

// Reject rejects the reservation and moves the worker to ActivitySid.
type Reject struct {
	ActivitySid string `json:"activity_sid,omitempty"`
}

// Dequeue connects a call queued with TwiML <Enqueue> to the worker.
type Dequeue struct {
	To                   string `json:"to,omitempty"`
	From                 string `json:"from,omitempty"`
	PostWorkActivitySid  string `json:"post_work_activity_sid,omitempty"`
	Record               string `json:"record,omitempty"`
	Timeout              *int   `json:"timeout,omitempty"`
	StatusCallbackURL    string `json:"status_callback_url,omitempty"`
	StatusCallbackEvents string `json:"status_callback_events,omitempty"`
}

// Call places a new call to the worker and runs URL's TwiML on that leg.
type Call struct {
	From              string `json:"from,omitempty"`
	URL               string `json:"url,omitempty"`
	To                string `json:"to,omitempty"`
	Accept            *bool  `json:"accept,omitempty"`
	Record            string `json:"record,omitempty"`
	Timeout           *int   `json:"timeout,omitempty"`
	StatusCallbackURL string `json:"status_callback_url,omitempty"`
}

// Redirect moves an existing call (CallSid) to new TwiML.
type Redirect struct {
	CallSid string `json:"call_sid,omitempty"`
	URL     string `json:"url,omitempty"`
	Accept  *bool  `json:"accept,omitempty"`
}

// Conference joins the caller and the worker in a conference. The fields are
// the snake_case of the Reservations REST API's conference parameters, which
// are the authoritative list.
type Conference struct {
	To                                      string `json:"to,omitempty"`
	From                                    string `json:"from,omitempty"`
	PostWorkActivitySid                     string `json:"post_work_activity_sid,omitempty"`
	Timeout                                 *int   `json:"timeout,omitempty"`
	Record                                  *bool  `json:"record,omitempty"`
	Muted                                   *bool  `json:"muted,omitempty"`
	Beep                                    string `json:"beep,omitempty"`
	StartConferenceOnEnter                  *bool  `json:"start_conference_on_enter,omitempty"`
	EndConferenceOnExit                     *bool  `json:"end_conference_on_exit,omitempty"`
	EndConferenceOnCustomerExit             *bool  `json:"end_conference_on_customer_exit,omitempty"`
	BeepOnCustomerEntrance                  *bool  `json:"beep_on_customer_entrance,omitempty"`
	EarlyMedia                              *bool  `json:"early_media,omitempty"`
	WaitURL                                 string `json:"wait_url,omitempty"`
	WaitMethod                              string `json:"wait_method,omitempty"`
	MaxParticipants                         *int   `json:"max_participants,omitempty"`
	StatusCallback                          string `json:"status_callback,omitempty"`
	StatusCallbackMethod                    string `json:"status_callback_method,omitempty"`
	StatusCallbackEvent                     string `json:"status_callback_event,omitempty"`
	ConferenceRecord                        string `json:"conference_record,omitempty"`
	ConferenceTrim                          string `json:"conference_trim,omitempty"`
	ConferenceStatusCallback                string `json:"conference_status_callback,omitempty"`
	ConferenceStatusCallbackMethod          string `json:"conference_status_callback_method,omitempty"`
	ConferenceStatusCallbackEvent           string `json:"conference_status_callback_event,omitempty"`
	RecordingChannels                       string `json:"recording_channels,omitempty"`
	RecordingStatusCallback                 string `json:"recording_status_callback,omitempty"`
	RecordingStatusCallbackMethod           string `json:"recording_status_callback_method,omitempty"`
	ConferenceRecordingStatusCallback       string `json:"conference_recording_status_callback,omitempty"`
	ConferenceRecordingStatusCallbackMethod string `json:"conference_recording_status_callback_method,omitempty"`
	Region                                  string `json:"region,omitempty"`
	SipAuthUsername                         string `json:"sip_auth_username,omitempty"`
	SipAuthPassword                         string `json:"sip_auth_password,omitempty"`
	Supervisor                              string `json:"supervisor,omitempty"`
	SupervisorMode                          string `json:"supervisor_mode,omitempty"`
	JitterBufferSize                        string `json:"jitter_buffer_size,omitempty"`
}

func (Accept) Name() string     { return "accept" }
func (Reject) Name() string     { return "reject" }
func (Dequeue) Name() string    { return "dequeue" }
func (Call) Name() string       { return "call" }
func (Redirect) Name() string   { return "redirect" }
func (Conference) Name() string { return "conference" }

// Each MarshalJSON puts the "instruction" key first and promotes the type's
// own fields next to it; the local type drops the method to avoid recursion.

func (i Accept) MarshalJSON() ([]byte, error) { return []byte(`{"instruction":"accept"}`), nil }

func (i Reject) MarshalJSON() ([]byte, error) {
	type fields Reject
	return json.Marshal(struct {
		Instruction string `json:"instruction"`
		fields
	}{i.Name(), fields(i)})
}

func (i Dequeue) MarshalJSON() ([]byte, error) {
	type fields Dequeue
	return json.Marshal(struct {
		Instruction string `json:"instruction"`
		fields
	}{i.Name(), fields(i)})
}

func (i Call) MarshalJSON() ([]byte, error) {
	type fields Call
	return json.Marshal(struct {
		Instruction string `json:"instruction"`
		fields
	}{i.Name(), fields(i)})
}

func (i Redirect) MarshalJSON() ([]byte, error) {
	type fields Redirect
	return json.Marshal(struct {
		Instruction string `json:"instruction"`
		fields
	}{i.Name(), fields(i)})
}

func (i Conference) MarshalJSON() ([]byte, error) {
	type fields Conference
	return json.Marshal(struct {
		Instruction string `json:"instruction"`
		fields
	}{i.Name(), fields(i)})
}

// InstructionNames lists the instructions in the order the docs give them.
var instructionNames = []string{"accept", "reject", "dequeue", "call", "redirect", "conference"}

// InstructionNames returns the names ParseInstruction accepts.
func InstructionNames() []string { return slices.Clone(instructionNames) }

// ParseInstruction decodes Twilio's instruction JSON into its concrete type.
// Unknown fields are an error, so a typo in a policy never reaches Twilio.
// It does not validate; call Validate for that.
func ParseInstruction(data []byte) (Instruction, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return nil, fmt.Errorf("decode instruction: %w", err)
	}
	var name string
	if raw, ok := fields["instruction"]; !ok {
		return nil, errors.New(`decode instruction: missing "instruction" key`)
	} else if err := json.Unmarshal(raw, &name); err != nil {
		return nil, fmt.Errorf(`decode instruction: "instruction": %w`, err)
	}
	delete(fields, "instruction")
	rest, err := json.Marshal(fields)
	if err != nil {
		return nil, fmt.Errorf("decode instruction: %w", err)
	}
	var ins Instruction
	switch name {
	case "accept":
		ins, err = decodeStrict[Accept](rest)
	case "reject":
		ins, err = decodeStrict[Reject](rest)
	case "dequeue":
		ins, err = decodeStrict[Dequeue](rest)
	case "call":
		ins, err = decodeStrict[Call](rest)
	case "redirect":
		ins, err = decodeStrict[Redirect](rest)
	case "conference":
		ins, err = decodeStrict[Conference](rest)
	default:
		return nil, fmt.Errorf("decode instruction: unknown instruction %q (want one of %s)",
			name, strings.Join(instructionNames, ", "))
	}
	if err != nil {
		return nil, fmt.Errorf("decode %s instruction: %w", name, err)
	}
	return ins, nil
}

// decodeStrict decodes data into a T, refusing fields T does not have.
// The local alias drops T's MarshalJSON so plain struct decoding applies.
func decodeStrict[T Instruction](data []byte) (Instruction, error) {
	var v T
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}
