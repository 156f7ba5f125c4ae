package policy_test

import (
	"strings"
	"testing"

	"github.com/assignd/assignd/policy"
)

// TestTwilioRefuses: what TaskRouter refuses is refused here too, naming the
// field and what Twilio expects (issue 11, defect 7).
func TestTwilioRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		json  string
		field string
		want  string
	}{
		{`{"instruction":"dequeue","to":"client:a"}`, "from", "required"},
		{`{"instruction":"conference","from":"+15005550006"}`, "to", "required"},
		{`{"instruction":"conference","to":"client:a"}`, "from", "required"},
		{`{"instruction":"conference","from":"+15005550006","to":"client:a","conference_status_callback_event":"start,modify"}`, "conference_status_callback_event", "start, end, join, leave, mute, hold, speaker"},
		{`{"instruction":"conference","from":"+15005550006","to":"client:a","conference_status_callback_event":"announcement"}`, "conference_status_callback_event", `got "announcement"`},
		{`{"instruction":"conference","from":"+15005550006","to":"client:a","conference_record":"always"}`, "conference_record", "record-from-start"},
		{`{"instruction":"conference","from":"+15005550006","to":"client:a","conference_trim":"trim"}`, "conference_trim", "trim-silence, do-not-trim"},
		{`{"instruction":"conference","from":"+15005550006","to":"client:a","recording_channels":"stereo"}`, "recording_channels", "mono, dual"},
		{`{"instruction":"conference","from":"+15005550006","to":"client:a","jitter_buffer_size":"huge"}`, "jitter_buffer_size", "small, medium, large, off"},
		{`{"instruction":"dequeue","from":"5005550006"}`, "from", "E.164"},
		{`{"instruction":"call","from":"+15005550006","url":"https://x.example/t","to":"alice"}`, "to", "client:"},
	}
	for _, tt := range tests {
		ins, err := policy.ParseInstruction([]byte(tt.json))
		if err != nil {
			t.Errorf("%s: parse: %v", tt.json, err)
			continue
		}
		var found bool
		for _, fe := range policy.FieldErrors(ins.Validate()) {
			if fe.Field == tt.field && strings.Contains(fe.Msg, tt.want) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: Validate() = %v, want an error on %s saying %q", tt.json, ins.Validate(), tt.field, tt.want)
		}
	}
}

// TestConferenceUsesTwilioNames: conference's callback is status_callback
// (REST StatusCallback); the dequeue/call spelling is refused with a pointer
// to Twilio's name, and the other way round.
func TestConferenceUsesTwilioNames(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`{"instruction":"conference","from":"+15005550006","to":"client:a","status_callback_url":"https://x.example/s"}`: `Twilio calls it "status_callback"`,
		`{"instruction":"conference","from":"+15005550006","to":"client:a","status_callback_events":"initiated"}`:        `Twilio calls it "status_callback_event"`,
		`{"instruction":"dequeue","from":"+15005550006","status_callback":"https://x.example/s"}`:                        `Twilio calls it "status_callback_url"`,
	} {
		if _, err := policy.ParseInstruction([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", in, err, want)
		}
	}
}
