package policy_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/assignd/assignd/policy"
)

func TestInstructionJSON(t *testing.T) {
	t.Parallel()
	yes, n := true, 30
	tests := []struct {
		ins  policy.Instruction
		want string
	}{
		{policy.Accept{}, `{"instruction":"accept"}`},
		{policy.Reject{ActivitySid: "WA0123456789abcdef0123456789abcdef"}, `{"instruction":"reject","activity_sid":"WA0123456789abcdef0123456789abcdef"}`},
		{policy.Dequeue{}, `{"instruction":"dequeue"}`},
		{policy.Dequeue{From: "+15005550006", To: "client:a", PostWorkActivitySid: "WA0123456789abcdef0123456789abcdef", Record: "record-from-answer", Timeout: &n, StatusCallbackURL: "https://x.example/cb", StatusCallbackEvents: "initiated,completed"},
			`{"instruction":"dequeue","to":"client:a","from":"+15005550006","post_work_activity_sid":"WA0123456789abcdef0123456789abcdef","record":"record-from-answer","timeout":30,"status_callback_url":"https://x.example/cb","status_callback_events":"initiated,completed"}`},
		{policy.Call{From: "+1", URL: "https://x.example/t", To: "+2", Accept: &yes, Record: "do-not-record", Timeout: &n, StatusCallbackURL: "https://x.example/s"},
			`{"instruction":"call","from":"+1","url":"https://x.example/t","to":"+2","accept":true,"record":"do-not-record","timeout":30,"status_callback_url":"https://x.example/s"}`},
		{policy.Redirect{CallSid: "CA0123456789abcdef0123456789abcdef", URL: "https://x.example/r", Accept: &yes},
			`{"instruction":"redirect","call_sid":"CA0123456789abcdef0123456789abcdef","url":"https://x.example/r","accept":true}`},
		{policy.Conference{From: "+15005550006", To: "client:a", EndConferenceOnExit: &yes, ConferenceRecord: "record-from-start", WaitURL: "https://x.example/w"},
			`{"instruction":"conference","to":"client:a","from":"+15005550006","end_conference_on_exit":true,"wait_url":"https://x.example/w","conference_record":"record-from-start"}`},
	}
	for _, tt := range tests {
		b, err := json.Marshal(tt.ins)
		if err != nil || string(b) != tt.want {
			t.Errorf("%s: got %s %v\nwant %s", tt.ins.Name(), b, err, tt.want)
			continue
		}
		back, err := policy.ParseInstruction(b)
		if err != nil {
			t.Errorf("%s: parse back: %v", tt.ins.Name(), err)
			continue
		}
		again, _ := json.Marshal(back)
		if string(again) != tt.want {
			t.Errorf("%s: round trip gave %s", tt.ins.Name(), again)
		}
	}
}

func TestParseInstructionErrors(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`{}`:                                   `missing "instruction"`,
		`{"instruction":"hold"}`:               `unknown instruction "hold"`,
		`{"instruction":"accept","x":1}`:       `unknown field "x"`,
		`{"instruction":"call","timeout":"5"}`: "cannot unmarshal",
		`[`:                                    "decode instruction",
	} {
		if _, err := policy.ParseInstruction([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", in, err, want)
		}
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	bad := 1000
	tests := []struct {
		ins    policy.Instruction
		fields []string
	}{
		{policy.Reject{}, []string{"activity_sid"}},
		{policy.Reject{ActivitySid: "WK0123456789abcdef0123456789abcdef"}, []string{"activity_sid"}},
		{policy.Call{}, []string{"from", "url"}},
		{policy.Call{From: "+15005550006", URL: "ftp://x"}, []string{"url"}},
		// E.164: no country code starts with 0, at most 15 digits.
		{policy.Call{From: "+0123456789", URL: "https://x.example"}, []string{"from"}},
		{policy.Call{From: "+1234567890123456", URL: "https://x.example"}, []string{"from"}},
		{policy.Call{From: "+1", URL: "https://x.example"}, []string{"from"}},
		{policy.Redirect{URL: "https://x.example"}, []string{"call_sid"}},
		{policy.Dequeue{Timeout: &bad, Record: "always", StatusCallbackEvents: "initiated,exploded"}, []string{"from", "record", "timeout", "status_callback_events"}},
		{policy.Conference{Beep: "loud", MaxParticipants: &bad}, []string{"to", "from", "beep", "max_participants"}},
	}
	for _, tt := range tests {
		var got []string
		for _, fe := range policy.FieldErrors(tt.ins.Validate()) {
			got = append(got, fe.Field)
		}
		if strings.Join(got, ",") != strings.Join(tt.fields, ",") {
			t.Errorf("%#v: invalid fields %v, want %v", tt.ins, got, tt.fields)
		}
	}
	for _, ok := range []policy.Instruction{policy.Accept{}, policy.Dequeue{From: "+15005550006"}, policy.Conference{From: "+15005550006", To: "client:alice"}} {
		if err := ok.Validate(); err != nil {
			t.Errorf("%s: %v", ok.Name(), err)
		}
	}
}

func TestGuardPanicAndInvalid(t *testing.T) {
	t.Parallel()
	fb := policy.Decision{Instruction: policy.Accept{}, Rule: "fb"}
	panicky, _ := policy.NewGuard(policy.WithFallback(policy.Func(func(context.Context, *policy.Reservation) (policy.Decision, error) {
		panic("boom")
	}), fb), time.Second)
	d, err := panicky.Decide(context.Background(), &policy.Reservation{})
	var pe *policy.PanicError
	if !errors.As(err, &pe) || d.Rule != "fb" || len(pe.Stack) == 0 {
		t.Fatalf("panic: got %+v %v", d, err)
	}
	invalid, _ := policy.NewGuard(policy.WithFallback(policy.Func(func(context.Context, *policy.Reservation) (policy.Decision, error) {
		return policy.Decision{Async: true}, nil
	}), fb), time.Second)
	if d, err := invalid.Decide(context.Background(), &policy.Reservation{}); err == nil || d.Rule != "fb" {
		t.Fatalf("async without instruction: got %+v %v", d, err)
	}
	if _, err := policy.NewGuard(policy.WithFallback(panicky, policy.Decision{Async: true, Instruction: policy.Accept{}}), time.Second); err == nil {
		t.Fatal("an async fallback must be refused")
	}
	if _, err := policy.NewGuard(panicky, 0); err == nil {
		t.Fatal("a zero deadline must be refused")
	}
}
