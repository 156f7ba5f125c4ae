package policy_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/assignd/assignd/policy"
	"github.com/assignd/assignd/policy/policytest"
)

// TestEveryFieldMaps: for every instruction with every field set, the JSON
// round-trips (JSON → Instruction → JSON), and ReservationUpdateForm sends exactly
// one REST parameter per field, with the field's value, plus the parameter
// naming the instruction.
func TestEveryFieldMaps(t *testing.T) {
	t.Parallel()
	names := policy.InstructionNames()
	if want := []string{"accept", "reject", "dequeue", "call", "redirect", "conference"}; !slices.Equal(names, want) {
		t.Fatalf("instructions %v, want %v", names, want)
	}
	for _, name := range names {
		fields := policy.Fields(name)
		if name != "accept" && len(fields) == 0 {
			t.Errorf("%s: no fields", name)
		}
		ins, err := policytest.Full(name)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if ins.Name() != name {
			t.Errorf("%s parsed as %s", name, ins.Name())
		}

		// JSON: every field present with the value given, instruction key first.
		out, err := json.Marshal(ins)
		if err != nil {
			t.Errorf("%s: marshal: %v", name, err)
			continue
		}
		if !strings.HasPrefix(string(out), `{"instruction":"`+name+`"`) {
			t.Errorf("%s: JSON %s does not start with the instruction key", name, out)
		}
		var back map[string]any
		if err := json.Unmarshal(out, &back); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		want := policytest.FullJSON(name)
		wantJSON, _ := json.Marshal(want)
		var wantBack map[string]any
		_ = json.Unmarshal(wantJSON, &wantBack)
		if !reflect.DeepEqual(back, wantBack) {
			t.Errorf("%s: JSON round trip\n got %v\nwant %v", name, back, wantBack)
		}
		again, err := policy.ParseInstruction(out)
		if err != nil || !reflect.DeepEqual(again, ins) {
			t.Errorf("%s: parse of own JSON gave %#v %v", name, again, err)
		}

		// REST: one parameter per field, carrying the field's value.
		params, err := policy.ReservationUpdateForm(ins)
		if err != nil {
			t.Errorf("%s: ReservationUpdateForm: %v", name, err)
			continue
		}
		key, value, _ := policy.RESTIdentity(name)
		if got := params[key]; len(got) != 1 || got[0] != value {
			t.Errorf("%s: %s = %v, want %s", name, key, got, value)
		}
		if len(params) != len(fields)+1 {
			t.Errorf("%s: %d REST parameters for %d fields: %v", name, len(params), len(fields), params)
		}
		for i, f := range fields {
			var wantVals []string
			switch v := policytest.Sample(f, i).(type) {
			case string:
				wantVals = []string{v}
				if f.Kind == policy.KindList {
					wantVals = strings.Split(v, ",")
				}
			default:
				wantVals = []string{fmt.Sprint(v)}
			}
			if got := params[f.REST]; !slices.Equal(got, wantVals) {
				t.Errorf("%s.%s: REST %s = %q, want %q", name, f.JSON, f.REST, got, wantVals)
			}
		}
	}
}

// TestUnsetFieldsAreNotSent: false and 0 are sent, unset fields are not.
func TestUnsetFieldsAreNotSent(t *testing.T) {
	t.Parallel()
	no, zero := false, 0
	p, err := policy.ReservationUpdateForm(policy.Call{From: "+15005550006", URL: "https://x.example/t", Accept: &no, Timeout: &zero})
	if err != nil {
		t.Fatal(err)
	}
	want := "CallAccept=false&CallFrom=%2B15005550006&CallTimeout=0&CallUrl=https%3A%2F%2Fx.example%2Ft&Instruction=call"
	if got := p.Encode(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	p, _ = policy.ReservationUpdateForm(policy.Dequeue{From: "+15005550006", StatusCallbackEvents: " initiated, ,completed"})
	if got := p["DequeueStatusCallbackEvent"]; !slices.Equal(got, []string{"initiated", "completed"}) {
		t.Errorf("events %q", got)
	}
	if _, err := policy.ReservationUpdateForm(nil); err == nil {
		t.Error("nil instruction mapped")
	}
}
