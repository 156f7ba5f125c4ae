package policy

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// FieldError is one field of an instruction that TaskRouter would refuse.
type FieldError struct {
	Field string // JSON name, e.g. "activity_sid"
	Msg   string
}

func (e FieldError) Error() string { return e.Field + ": " + e.Msg }

// ValidationError lists every invalid field of one instruction.
type ValidationError struct {
	Instruction string
	Fields      []FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Error()
	}
	return fmt.Sprintf("invalid %s instruction: %s", e.Instruction, strings.Join(parts, "; "))
}

// FieldErrors returns the field errors inside err, if it is a validation error.
func FieldErrors(err error) []FieldError {
	var ve *ValidationError
	if errors.As(err, &ve) {
		return ve.Fields
	}
	return nil
}

// checker collects field errors for one instruction.
type checker struct {
	errs []FieldError
}

func (c *checker) add(field, format string, args ...any) {
	c.errs = append(c.errs, FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (c *checker) required(field, v string) {
	if v == "" {
		c.add(field, "required")
	}
}

func (c *checker) sid(field, prefix, v string) {
	if v != "" && !ValidSid(prefix, v) {
		c.add(field, "want %s followed by 32 hex digits, got %q", prefix, truncate(v, 40))
	}
}

func (c *checker) url(field, v string) {
	if v == "" {
		return
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		c.add(field, "want an absolute http(s) URL, got %q", truncate(v, 60))
	}
}

func (c *checker) oneOf(field, v string, allowed ...string) {
	if v == "" {
		return
	}
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	c.add(field, "want one of %s, got %q", strings.Join(allowed, ", "), truncate(v, 40))
}

// events checks a comma-separated list whose items must all be allowed.
func (c *checker) events(field, v string, allowed ...string) {
	if v == "" {
		return
	}
	for _, ev := range strings.Split(v, ",") {
		c.oneOf(field, strings.TrimSpace(ev), allowed...)
	}
}

func (c *checker) between(field string, v *int, lo, hi int) {
	if v != nil && (*v < lo || *v > hi) {
		c.add(field, "want %d to %d, got %d", lo, hi, *v)
	}
}

func (c *checker) err(name string) error {
	if len(c.errs) == 0 {
		return nil
	}
	return &ValidationError{Instruction: name, Fields: c.errs}
}

var callEvents = []string{"initiated", "ringing", "answered", "completed"}

func (Accept) Validate() error { return nil }

func (i Reject) Validate() error {
	var c checker
	// Without an activity TaskRouter answers error 40100 and the worker may be
	// offered the same task again at once.
	c.required("activity_sid", i.ActivitySid)
	c.sid("activity_sid", "WA", i.ActivitySid)
	return c.err(i.Name())
}

func (i Dequeue) Validate() error {
	var c checker
	c.sid("post_work_activity_sid", "WA", i.PostWorkActivitySid)
	c.oneOf("record", i.Record, "record-from-answer", "do-not-record")
	c.between("timeout", i.Timeout, 1, 999)
	c.url("status_callback_url", i.StatusCallbackURL)
	c.events("status_callback_events", i.StatusCallbackEvents, callEvents...)
	return c.err(i.Name())
}

func (i Call) Validate() error {
	var c checker
	c.required("from", i.From)
	c.required("url", i.URL)
	c.url("url", i.URL)
	c.oneOf("record", i.Record, "record-from-answer", "do-not-record", "true", "false")
	c.between("timeout", i.Timeout, 1, 999)
	c.url("status_callback_url", i.StatusCallbackURL)
	return c.err(i.Name())
}

func (i Redirect) Validate() error {
	var c checker
	c.required("call_sid", i.CallSid)
	c.sid("call_sid", "CA", i.CallSid)
	c.required("url", i.URL)
	c.url("url", i.URL)
	return c.err(i.Name())
}

func (i Conference) Validate() error {
	var c checker
	c.sid("post_work_activity_sid", "WA", i.PostWorkActivitySid)
	c.between("timeout", i.Timeout, 1, 999)
	c.between("max_participants", i.MaxParticipants, 2, 250)
	c.oneOf("beep", i.Beep, "true", "false", "onEnter", "onExit")
	c.url("wait_url", i.WaitURL)
	c.url("status_callback", i.StatusCallback)
	c.url("conference_status_callback", i.ConferenceStatusCallback)
	c.url("recording_status_callback", i.RecordingStatusCallback)
	c.url("conference_recording_status_callback", i.ConferenceRecordingStatusCallback)
	c.oneOf("wait_method", i.WaitMethod, "GET", "POST")
	c.oneOf("status_callback_method", i.StatusCallbackMethod, "GET", "POST")
	c.oneOf("conference_status_callback_method", i.ConferenceStatusCallbackMethod, "GET", "POST")
	c.oneOf("recording_status_callback_method", i.RecordingStatusCallbackMethod, "GET", "POST")
	c.oneOf("conference_recording_status_callback_method", i.ConferenceRecordingStatusCallbackMethod, "GET", "POST")
	c.events("status_callback_event", i.StatusCallbackEvent, callEvents...)
	c.events("conference_status_callback_event", i.ConferenceStatusCallbackEvent,
		"start", "end", "join", "leave", "mute", "hold", "modify", "speaker", "announcement")
	c.oneOf("supervisor_mode", i.SupervisorMode, "monitor", "whisper", "barge")
	return c.err(i.Name())
}
