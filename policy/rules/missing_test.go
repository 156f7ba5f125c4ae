package rules_test

import (
	"context"
	"testing"

	"github.com/assignd/assignd/policy"
)

// TestMissingAttributeIsFoundByItsPath: a condition that reads an attribute
// the reservation lacks does not match, and Explain names the attribute by
// its path; a "no such key" that is not about the reservation's data (a map
// written in the rule itself) stays an error, whatever its message says.
func TestMissingAttributeIsFoundByItsPath(t *testing.T) {
	t.Parallel()
	p := mustParse(t, `
rules:
  - name: nested
    when: task.customer.tier == "gold"
    then: {instruction: accept}
  - name: indexed
    when: worker["skills"]["billing"] > 3
    then: {instruction: accept}
  - name: param
    when: reservation.params.Team == "blue"
    then: {instruction: accept}
  - name: lookup
    when: '{"es": "spanish"}[task.lang] == "spanish"'
    then: {instruction: accept}
default: {instruction: later}
on_error: {instruction: accept}
`)
	r := &policy.Reservation{
		TaskAttributes:   map[string]any{"customer": map[string]any{"name": "x"}, "lang": "es"},
		WorkerAttributes: map[string]any{"skills": map[string]any{"sales": 5}},
	}
	_, steps, err := p.Explain(context.Background(), r)
	if err != nil {
		t.Fatalf("Explain: %v", err)
	}
	want := []string{"task.customer.tier", "worker.skills.billing", "reservation.params.Team", ""}
	if len(steps) != len(want) {
		t.Fatalf("steps %+v", steps)
	}
	for i, s := range steps {
		if s.Missing != want[i] || s.Matched != (want[i] == "") {
			t.Errorf("step %d: %+v, want missing %q", i, s, want[i])
		}
	}

	// The rule's own map lacks the key: that is the rule's bug, an error.
	r.TaskAttributes["lang"] = "fr"
	if _, err := p.Decide(context.Background(), r); err == nil {
		t.Error(`a key missing from the rule's own map literal was taken for a missing attribute`)
	}
	// Present but of the wrong type is an error too.
	r.TaskAttributes["customer"] = "gold"
	if _, _, err := p.Explain(context.Background(), r); err == nil {
		t.Error("selecting a field of a string must be an error")
	}
}

// Reads whose key is computed (by an attribute's value) or whose operand is
// a comprehension's loop variable over an attribute are attribute reads too:
// the attribute missing means no match, named by the path actually walked.
// The same shapes over the rule's own literals, or on a value of the wrong
// type, stay errors.
func TestMissingAttributeThroughDynamicKeysAndLoops(t *testing.T) {
	t.Parallel()
	p := mustParse(t, `
rules:
  - name: dyn
    when: worker.skills[task.required_skill] >= 5
    then: {instruction: accept}
  - name: dynkey
    when: worker.skills[task.preferred_skill] >= 5
    then: {instruction: accept}
  - name: loop
    when: worker.langs.exists(l, l.level > 3)
    then: {instruction: accept}
  - name: nested
    when: worker.teams.exists(t, t.members.all(m, m.role == "lead"))
    then: {instruction: accept}
  - name: lit
    when: task.lang == "es"
    then: {instruction: accept}
default: {instruction: later}
on_error: {instruction: accept}
`)
	r := &policy.Reservation{
		TaskAttributes: map[string]any{"required_skill": "billing", "lang": "es"},
		WorkerAttributes: map[string]any{
			"skills": map[string]any{"sales": 5},
			"langs":  []any{map[string]any{"name": "es"}},
			"teams":  []any{map[string]any{"members": []any{map[string]any{"role": "lead"}, map[string]any{"name": "x"}}}},
		},
	}
	_, steps, err := p.Explain(context.Background(), r)
	if err != nil {
		t.Fatalf("Explain: %v", err)
	}
	want := []string{`worker.skills["billing"]`, "task.preferred_skill", "worker.langs[0].level", "worker.teams[0].members[1].role", ""}
	if len(steps) != len(want) {
		t.Fatalf("steps %+v, want %d", steps, len(want))
	}
	for i, s := range steps {
		if s.Missing != want[i] || s.Matched != (want[i] == "") {
			t.Errorf("step %d (%s): %+v, want missing %q", i, s.Rule, s, want[i])
		}
	}

	// Once present, the same rules match.
	r.WorkerAttributes["skills"] = map[string]any{"billing": 7}
	if d, err := p.Decide(context.Background(), r); err != nil || d.Rule != "dyn" {
		t.Errorf("with the skill present: %+v, %v; want rule dyn", d, err)
	}

	for name, src := range map[string]string{
		"the rule's own list":        `[{"a": 1}].exists(x, x.b == 1)`,
		"the rule's own map by attr": `{"es": {"x": 1}}[task.lang].y == 1`,
		"wrong type in a loop":       `worker.langs.exists(l, l.level > 3)`,
	} {
		p := mustParse(t, "rules:\n  - name: r\n    when: '"+src+"'\n    then: {instruction: accept}\ndefault: {instruction: later}\non_error: {instruction: accept}\n")
		r := &policy.Reservation{
			TaskAttributes:   map[string]any{"lang": "es"},
			WorkerAttributes: map[string]any{"langs": []any{map[string]any{"level": "high"}}},
		}
		if _, err := p.Decide(context.Background(), r); err == nil {
			t.Errorf("%s: %s was taken for a missing attribute, want an error", name, src)
		}
	}
}
