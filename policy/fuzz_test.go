package policy_test

import (
	"encoding/json"
	"testing"

	"github.com/assignd/assignd/policy"
)

// FuzzInstructionJSON: any bytes either fail to parse or give an instruction
// whose JSON parses back to the same JSON (the marshaller and parser agree,
// and "instruction" names the type) and that maps to REST parameters, one
// per JSON field; nothing panics, Validate included.
func FuzzInstructionJSON(f *testing.F) {
	for _, s := range []string{
		`{"instruction":"accept"}`,
		`{"instruction":"reject","activity_sid":"WA0123456789abcdef0123456789abcdef"}`,
		`{"instruction":"dequeue","from":"+1","timeout":30,"status_callback_events":"initiated,completed"}`,
		`{"instruction":"call","from":"+1","url":"https://x.example","accept":true}`,
		`{"instruction":"redirect","call_sid":"CA0123456789abcdef0123456789abcdef","url":"https://x"}`,
		`{"instruction":"conference","end_conference_on_exit":false,"max_participants":10,"beep":"onEnter"}`,
		`{"instruction":"conference","to":"\u0000\ud800"}`,
		`{"instruction":1}`, `[]`, `null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ins, err := policy.ParseInstruction(data)
		if err != nil {
			return
		}
		_ = ins.Validate()
		out, err := json.Marshal(ins)
		if err != nil {
			t.Fatalf("marshal %#v: %v", ins, err)
		}
		form, err := policy.ReservationUpdateForm(ins)
		if err != nil {
			t.Fatalf("ReservationUpdateForm(%#v): %v", ins, err)
		}
		var set map[string]json.RawMessage
		_ = json.Unmarshal(out, &set)
		for _, f := range policy.Fields(ins.Name()) {
			if _, inJSON := set[f.JSON]; inJSON != form.Has(f.REST) && f.Kind != policy.KindList {
				t.Fatalf("%s: %s in JSON %v, %s in REST %v", out, f.JSON, inJSON, f.REST, form.Has(f.REST))
			}
		}
		var head struct{ Instruction string }
		if err := json.Unmarshal(out, &head); err != nil || head.Instruction != ins.Name() {
			t.Fatalf("marshalled %s names %q, want %q", out, head.Instruction, ins.Name())
		}
		again, err := policy.ParseInstruction(out)
		if err != nil {
			t.Fatalf("re-parse %s: %v", out, err)
		}
		out2, _ := json.Marshal(again)
		if string(out) != string(out2) {
			t.Fatalf("round trip changed %s into %s", out, out2)
		}
	})
}
