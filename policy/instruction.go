package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/assignd/assignd/taskrouter"
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
// Without an activity TaskRouter answers error 40100 and the worker may be
// offered the same task again at once, so it is required.
type Reject struct {
	ActivitySid string `json:"activity_sid,omitempty" rest:"WorkerActivitySid" check:"required,sid=WA"`
}

// Dequeue connects a call queued with TwiML <Enqueue> to the worker.
type Dequeue struct {
	To                   string `json:"to,omitempty" rest:"DequeueTo" check:"contact"`
	From                 string `json:"from,omitempty" rest:"DequeueFrom" check:"required,contact"`
	PostWorkActivitySid  string `json:"post_work_activity_sid,omitempty" rest:"DequeuePostWorkActivitySid" check:"sid=WA"`
	Record               string `json:"record,omitempty" rest:"DequeueRecord" check:"enum=dequeue-record"`
	Timeout              *int   `json:"timeout,omitempty" rest:"DequeueTimeout" check:"range=1..999"`
	StatusCallbackURL    string `json:"status_callback_url,omitempty" rest:"DequeueStatusCallbackUrl" check:"url"`
	StatusCallbackEvents string `json:"status_callback_events,omitempty" rest:"DequeueStatusCallbackEvent" check:"list=call-status"`
}

// Call places a new call to the worker and runs URL's TwiML on that leg.
type Call struct {
	From              string `json:"from,omitempty" rest:"CallFrom" check:"required,contact"`
	URL               string `json:"url,omitempty" rest:"CallUrl" check:"required,url"`
	To                string `json:"to,omitempty" rest:"CallTo" check:"contact"`
	Accept            *bool  `json:"accept,omitempty" rest:"CallAccept"`
	Record            string `json:"record,omitempty" rest:"CallRecord" check:"enum=call-record"`
	Timeout           *int   `json:"timeout,omitempty" rest:"CallTimeout" check:"range=1..999"`
	StatusCallbackURL string `json:"status_callback_url,omitempty" rest:"CallStatusCallbackUrl" check:"url"`
}

// Redirect moves an existing call (CallSid) to new TwiML.
type Redirect struct {
	CallSid string `json:"call_sid,omitempty" rest:"RedirectCallSid" check:"required,sid=CA"`
	URL     string `json:"url,omitempty" rest:"RedirectUrl" check:"required,url"`
	Accept  *bool  `json:"accept,omitempty" rest:"RedirectAccept"`
}

// Conference joins the caller and the worker in a conference. The fields are
// the snake_case of the Reservations REST API's conference parameters, which
// are the authoritative list (so the callback is status_callback here, not
// dequeue's and call's status_callback_url).
type Conference struct {
	To                                      string `json:"to,omitempty" rest:"To" check:"required,contact"`
	From                                    string `json:"from,omitempty" rest:"From" check:"required,contact"`
	PostWorkActivitySid                     string `json:"post_work_activity_sid,omitempty" rest:"PostWorkActivitySid" check:"sid=WA"`
	Timeout                                 *int   `json:"timeout,omitempty" rest:"Timeout" check:"range=1..999"`
	Record                                  *bool  `json:"record,omitempty" rest:"Record"`
	Muted                                   *bool  `json:"muted,omitempty" rest:"Muted"`
	Beep                                    string `json:"beep,omitempty" rest:"Beep" check:"enum=beep"`
	StartConferenceOnEnter                  *bool  `json:"start_conference_on_enter,omitempty" rest:"StartConferenceOnEnter"`
	EndConferenceOnExit                     *bool  `json:"end_conference_on_exit,omitempty" rest:"EndConferenceOnExit"`
	EndConferenceOnCustomerExit             *bool  `json:"end_conference_on_customer_exit,omitempty" rest:"EndConferenceOnCustomerExit"`
	BeepOnCustomerEntrance                  *bool  `json:"beep_on_customer_entrance,omitempty" rest:"BeepOnCustomerEntrance"`
	EarlyMedia                              *bool  `json:"early_media,omitempty" rest:"EarlyMedia"`
	WaitURL                                 string `json:"wait_url,omitempty" rest:"WaitUrl" check:"url"`
	WaitMethod                              string `json:"wait_method,omitempty" rest:"WaitMethod" check:"enum=http-method"`
	MaxParticipants                         *int   `json:"max_participants,omitempty" rest:"MaxParticipants" check:"range=2..250"`
	StatusCallback                          string `json:"status_callback,omitempty" rest:"StatusCallback" check:"url"`
	StatusCallbackMethod                    string `json:"status_callback_method,omitempty" rest:"StatusCallbackMethod" check:"enum=http-method"`
	StatusCallbackEvent                     string `json:"status_callback_event,omitempty" rest:"StatusCallbackEvent" check:"list=call-status"`
	ConferenceRecord                        string `json:"conference_record,omitempty" rest:"ConferenceRecord" check:"enum=conference-record"`
	ConferenceTrim                          string `json:"conference_trim,omitempty" rest:"ConferenceTrim" check:"enum=conference-trim"`
	ConferenceStatusCallback                string `json:"conference_status_callback,omitempty" rest:"ConferenceStatusCallback" check:"url"`
	ConferenceStatusCallbackMethod          string `json:"conference_status_callback_method,omitempty" rest:"ConferenceStatusCallbackMethod" check:"enum=http-method"`
	ConferenceStatusCallbackEvent           string `json:"conference_status_callback_event,omitempty" rest:"ConferenceStatusCallbackEvent" check:"list=conference-event"`
	RecordingChannels                       string `json:"recording_channels,omitempty" rest:"RecordingChannels" check:"enum=recording-channels"`
	RecordingStatusCallback                 string `json:"recording_status_callback,omitempty" rest:"RecordingStatusCallback" check:"url"`
	RecordingStatusCallbackMethod           string `json:"recording_status_callback_method,omitempty" rest:"RecordingStatusCallbackMethod" check:"enum=http-method"`
	ConferenceRecordingStatusCallback       string `json:"conference_recording_status_callback,omitempty" rest:"ConferenceRecordingStatusCallback" check:"url"`
	ConferenceRecordingStatusCallbackMethod string `json:"conference_recording_status_callback_method,omitempty" rest:"ConferenceRecordingStatusCallbackMethod" check:"enum=http-method"`
	Region                                  string `json:"region,omitempty" rest:"Region" check:"enum=region"`
	SipAuthUsername                         string `json:"sip_auth_username,omitempty" rest:"SipAuthUsername"`
	SipAuthPassword                         string `json:"sip_auth_password,omitempty" rest:"SipAuthPassword" check:"secret"`
	Supervisor                              string `json:"supervisor,omitempty" rest:"Supervisor"`
	SupervisorMode                          string `json:"supervisor_mode,omitempty" rest:"SupervisorMode" check:"enum=supervisor-mode"`
	JitterBufferSize                        string `json:"jitter_buffer_size,omitempty" rest:"JitterBufferSize" check:"enum=jitter-buffer-size"`
}

func (Accept) Name() string     { return taskrouter.InstructionAccept }
func (Reject) Name() string     { return taskrouter.InstructionReject }
func (Dequeue) Name() string    { return taskrouter.InstructionDequeue }
func (Call) Name() string       { return taskrouter.InstructionCall }
func (Redirect) Name() string   { return taskrouter.InstructionRedirect }
func (Conference) Name() string { return taskrouter.InstructionConference }

// Each MarshalJSON puts the "instruction" key first and promotes the type's
// own fields next to it; the local type drops the method to avoid recursion.

func (i Accept) MarshalJSON() ([]byte, error) {
	return []byte(`{"instruction":"` + taskrouter.InstructionAccept + `"}`), nil
}

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
	spec, ok := specOf(name)
	if !ok {
		return nil, fmt.Errorf("decode instruction: unknown instruction %q (want one of %s)",
			name, strings.Join(InstructionNames(), ", "))
	}
	if err := spec.knownFields(fields); err != nil {
		return nil, fmt.Errorf("decode %s instruction: %w", name, err)
	}
	rest, err := json.Marshal(fields)
	if err != nil {
		return nil, fmt.Errorf("decode instruction: %w", err)
	}
	ins, err := spec.decode(rest)
	if err != nil {
		return nil, fmt.Errorf("decode %s instruction: %w", name, err)
	}
	return ins, nil
}

// knownFields refuses keys the instruction does not have, naming the field
// Twilio uses instead when the key is a near miss, such as dequeue's
// status_callback_url written for conference's status_callback.
func (s *instructionSpec) knownFields(fields map[string]json.RawMessage) error {
	keys := slices.Sorted(maps.Keys(fields))
	for _, k := range keys {
		if slices.ContainsFunc(s.fields, func(f Field) bool { return f.JSON == k }) {
			continue
		}
		for _, f := range s.fields {
			if nearName(f.JSON) == nearName(k) {
				return fmt.Errorf("unknown field %q: Twilio calls it %q in a %s instruction (REST %s)", k, f.JSON, s.name, f.REST)
			}
		}
		return fmt.Errorf("json: unknown field %q", k)
	}
	return nil
}

// nearName folds the spellings Twilio varies between instructions:
// status_callback_url / status_callback, _event / _events.
func nearName(s string) string {
	s = strings.TrimSuffix(s, "_url")
	return strings.TrimSuffix(s, "s")
}

// decodeStrict decodes data into a T, refusing fields T does not have.
// The local alias drops T's MarshalJSON so plain struct decoding applies.
// ParseInstruction has already refused keys the field table lacks (with a
// message naming the near miss); refusing here too checks the other side of
// that one definition: a key in the table that the Go struct cannot hold
// fails loudly rather than being dropped.
func decodeStrict[T Instruction](data []byte) (Instruction, error) {
	var v T
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}
