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
