package decisionlog

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/assignd/assignd/policy"
)

// TestPayloadRoundTrip holds the hand-written encoder to encoding/json: what
// appendPayload writes, payload decodes to the same values.
func TestPayloadRoundTrip(t *testing.T) {
	t.Parallel()
	e := Entry{
		Mode: ModeFull, Error: "quote \" backslash \\ newline \n tab \t bell \a ünïcødé 🙂", CheckedURL: "https://x.example/assignment?a=1&b=<2>",
		AccountSid: "AC1", WorkspaceSid: "WS1", WorkflowSid: "WW1", Timestamp: "1764370000",
		TaskAge: 7, TaskPriority: -3, Latency: 1234 * time.Microsecond, Async: true, Duplicate: true, Delay: 1500 * time.Millisecond,
		InstructionJSON: json.RawMessage(`{"instruction":"reject","activity_sid":"WA1"}`), Answer: json.RawMessage(`{}`),
		Steps: []policy.Step{{Rule: "a", Missing: "no such key: x"}, {Rule: "b\"", Err: "boom\x01"}, {Rule: "c", Matched: true}},
	}
	raw := appendPayload(nil, &e)
	if !json.Valid(raw) {
		t.Fatalf("invalid JSON: %s", raw)
	}
	var p payload
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	var steps []policy.Step
	if err := json.Unmarshal(p.Steps, &steps); err != nil {
		t.Fatal(err)
	}
	got := payload{Error: p.Error, CheckedURL: p.CheckedURL, Mode: p.Mode, AccountSid: p.AccountSid, WorkspaceSid: p.WorkspaceSid,
		WorkflowSid: p.WorkflowSid, TaskAge: p.TaskAge, TaskPriority: p.TaskPriority, Timestamp: p.Timestamp,
		Async: p.Async, DelayMs: p.DelayMs, Duplicate: p.Duplicate, LatencyUs: p.LatencyUs}
	want := payload{Error: e.Error, CheckedURL: e.CheckedURL, Mode: e.Mode, AccountSid: "AC1", WorkspaceSid: "WS1", WorkflowSid: "WW1",
		TaskAge: 7, TaskPriority: -3, Timestamp: "1764370000", Async: true, DelayMs: 1500, Duplicate: true, LatencyUs: 1234}
	if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(steps, e.Steps) || string(p.InstructionJSON) != string(e.InstructionJSON) || string(p.Answer) != "{}" {
		t.Fatalf("round trip:\n got %+v %+v\nwant %+v %+v", got, steps, want, e.Steps)
	}
	bad := appendPayload(nil, &Entry{Error: "bad \xff utf-8"})
	if !json.Valid(bad) {
		t.Fatalf("invalid UTF-8 made invalid JSON: %s", bad)
	}
}

// TestAppendQuotedMatchesEncodingJSON: the hand-written string encoder
// decodes to the same string encoding/json's would, for plain, escaped,
// non-ASCII and invalid UTF-8 input, after a prefix already in the buffer.
func TestAppendQuotedMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "WR0123456789abcdef", `a"b\c`, "tab\tnl\nnul\x00", "ünï\"cødé 🙂", "ok then \xff bad", "\xc3", "é\x01"} {
		got := appendQuoted([]byte(`{"k":`), s)
		want, _ := json.Marshal(s)
		var a, b string
		if err := json.Unmarshal(got[len(`{"k":`):], &a); err != nil {
			t.Fatalf("%q: invalid JSON %s: %v", s, got, err)
		}
		if err := json.Unmarshal(want, &b); err != nil {
			t.Fatal(err)
		}
		if a != b || string(got[:len(`{"k":`)]) != `{"k":` {
			t.Errorf("%q: got %s (%q), want %q", s, got, a, b)
		}
	}
}
