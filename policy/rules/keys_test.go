package rules_test

import (
	"errors"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/assignd/assignd/policy"
	"github.com/assignd/assignd/policy/examples"
	"github.com/assignd/assignd/policy/rules"
)

// A mistyped key is named with its file and line and the nearest valid key,
// at every level of the file, not with a Go type name.
func TestUnknownKeyNamesFileLineAndNearestKey(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		src, want string
	}{
		{"rules:\n  - name: r\n    whn: 'true'\n    then: {instruction: accept}\ndefault: {instruction: accept}\non_error: {instruction: accept}\n",
			`policy.yaml:3: unknown key "whn"; did you mean "when"?`},
		{"rules: []\ndefualt: {instruction: accept}\non_error: {instruction: accept}\n",
			`policy.yaml:2: unknown key "defualt"; did you mean "default"?`},
		{"rule: []\ndefault: {instruction: accept}\non_error: {instruction: accept}\n",
			`policy.yaml:1: unknown key "rule"; did you mean "rules"?`},
		{"rules: [{name: r, when: 'true', then: {instruction: accept}, colour: blue}]\ndefault: {instruction: accept}\non_error: {instruction: accept}\n",
			`policy.yaml:1: unknown key "colour"; want one of name, description, when, then`},
	} {
		_, err := rules.Parse("policy.yaml", []byte(tt.src))
		var le *rules.LoadError
		if !errors.As(err, &le) || !slices.Contains(le.Problems, tt.want) {
			t.Errorf("got %v\nwant the problem %q", err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "rules.") {
			t.Errorf("the error names a Go type: %v", err)
		}
	}
}

// YAML's merge key is no typo: a rule may start from an anchored one.
func TestMergeKeyIsNotUnknown(t *testing.T) {
	t.Parallel()
	p, err := rules.Parse("policy.yaml", []byte("rules:\n  - &base {name: a, when: 'true', then: {instruction: accept}}\n  - <<: *base\n    name: b\ndefault: {instruction: accept}\non_error: {instruction: accept}\n"))
	if err != nil || !slices.Equal(p.Rules(), []string{"a", "b"}) {
		t.Fatalf("%v %v", p, err)
	}
}

// An unknown instruction is answered with the nearest name and every valid
// one, later included, from policy's one list.
func TestUnknownInstructionListsEveryName(t *testing.T) {
	t.Parallel()
	_, err := rules.Parse("policy.yaml", []byte("rules: [{name: r, when: 'true', then: {instruction: acept}}]\ndefault: {instruction: accept}\non_error: {instruction: accept}\n"))
	want := `policy.yaml:1: rule "r": then: unknown instruction "acept"; did you mean "accept"? (one of ` + strings.Join(policy.AnswerNames(), ", ") + ")"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
	if !slices.Contains(policy.AnswerNames(), policy.Later) || !slices.Contains(policy.AnswerNames(), "accept") {
		t.Fatalf("AnswerNames %v lacks later or accept", policy.AnswerNames())
	}
}

// Every name in the list is one the loader knows: the list and the loader
// cannot drift apart.
func TestEveryAnswerNameLoads(t *testing.T) {
	t.Parallel()
	for _, name := range policy.AnswerNames() {
		_, err := rules.Parse("policy.yaml", []byte("rules: [{name: r, when: 'true', then: {instruction: "+name+"}}]\ndefault: {instruction: accept}\non_error: {instruction: accept}\n"))
		if err != nil && strings.Contains(err.Error(), "unknown instruction") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// The starter policy's comment lists every instruction a policy may use,
// in the list's order, so it cannot drift from the code either.
func TestStarterListsEveryAnswerName(t *testing.T) {
	t.Parallel()
	var listed []string
	in := false
	for _, line := range strings.Split(string(examples.Starter()), "\n") {
		switch {
		case strings.HasPrefix(line, "# Instructions"):
			in = true
		case in && regexp.MustCompile(`^#   [a-z]`).MatchString(line):
			listed = append(listed, strings.Fields(line)[1])
		case in:
			in = false
		}
	}
	if !slices.Equal(listed, policy.AnswerNames()) {
		t.Fatalf("starter.yaml lists %v, want %v", listed, policy.AnswerNames())
	}
}

// Every problem of a rule starts with the file and the line of the part
// that has it: the rule, its when, its then, default.
func TestProblemsStartWithFileAndLine(t *testing.T) {
	t.Parallel()
	src := `rules:
  - name: ok
    when: 'true'
    then: {instruction: accept}
  - name: bad-when
    when: 'task.x =='
    then: {instruction: accept}
  - name: bad-then
    when: 'true'
    then:
      instruction: acept
  - when: 'true'
    then: {instruction: accept}
default: {instruction: rejct}
on_error: {instruction: accept}
`
	_, err := rules.Parse("p.yaml", []byte(src))
	var le *rules.LoadError
	if !errors.As(err, &le) {
		t.Fatalf("err = %v, want a LoadError", err)
	}
	for _, want := range []string{`p.yaml:6: rule "bad-when": when:`, `p.yaml:10: rule "bad-then": then: unknown instruction "acept"`,
		`p.yaml:12: rule 4: name is required`, `p.yaml:14: default: unknown instruction "rejct"`} {
		if !slices.ContainsFunc(le.Problems, func(p string) bool { return strings.HasPrefix(p, want) }) {
			t.Errorf("no problem starts with %q: %q", want, le.Problems)
		}
	}
	if _, err := rules.Parse("p.yaml", []byte("rules: [\n")); err == nil || !regexp.MustCompile(`^p\.yaml:\d+: `).MatchString(err.Error()) {
		t.Errorf("YAML syntax error: %v, want it to start with p.yaml:LINE:", err)
	}
}

// AttributeReads names every attribute a rule reads by a literal name, in
// its condition and its instruction, whichever way it is written, once
// each; a loop variable that hides task is not task.
func TestAttributeReads(t *testing.T) {
	t.Parallel()
	src := `rules:
  - name: a
    when: 'has(task.vip) && task.selected_language == "es" && "es" in worker["languages"] && task.?tier.orValue(0) > 1'
    then: {instruction: dequeue, from: "+15005550006", to: "=worker.contact_uri", post_work_activity_sid: WA00000000000000000000000000000002}
  - name: b
    when: '[{"x": 1}].exists(task, task.x == 1) || worker.skills[task.required_skill] > 0 || task.vip'
    then: {instruction: accept}
default: {instruction: accept}
on_error: {instruction: accept}
`
	p, err := rules.Parse("p.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, rr := range p.AttributeReads() {
		for _, r := range rr.Reads {
			got[rr.Rule] = append(got[rr.Rule], r.String())
		}
	}
	want := map[string][]string{
		"a": {"task.vip", "task.selected_language", "worker.languages", "task.tier", "worker.contact_uri"},
		"b": {"worker.skills", "task.required_skill", "task.vip"},
	}
	for rule, w := range want {
		g := slices.Clone(got[rule])
		slices.Sort(g)
		w = slices.Clone(w)
		slices.Sort(w)
		if !slices.Equal(g, w) {
			t.Errorf("rule %s reads %v, want %v", rule, got[rule], w)
		}
	}
	if len(got["default"]) != 0 {
		t.Errorf("default reads %v, want nothing", got["default"])
	}
	if p.RuleLine("b") != 5 {
		t.Errorf("rule b at line %d, want 5", p.RuleLine("b"))
	}
}

// Nearest suggests the spelling a typo was meant to be, and nothing for a
// name that is no near miss.
func TestNearest(t *testing.T) {
	t.Parallel()
	names := []string{"selected_language", "type", "vip"}
	if got, ok := rules.Nearest("selected_langauge", names); !ok || got != "selected_language" {
		t.Errorf("Nearest(selected_langauge) = %q %v", got, ok)
	}
	if got, ok := rules.Nearest("customer_segment", names); ok {
		t.Errorf("Nearest(customer_segment) = %q, want none", got)
	}
}

// AttributeReads says which rules read attributes at all (a computed key
// or the whole map, too) and which read reservation.params: what a
// summary-mode decision log does not record. The reservation's own fields
// (task_age and the like) are recorded in every mode and count as neither.
func TestAttributeReadsFlagsParamsAndAttributes(t *testing.T) {
	t.Parallel()
	src := `rules:
  - name: params
    when: 'reservation.params["Foo"] == "x"'
    then: {instruction: accept}
  - name: params-index
    when: 'reservation["params"].size() > 0'
    then: {instruction: accept}
  - name: whole-task
    when: '"vip" in task'
    then: {instruction: accept}
  - name: age
    when: 'reservation.task_age > 30 && reservation["task_priority"] > 1'
    then: {instruction: accept}
  - name: shadowed
    when: '[1].exists(task, task == 1)'
    then: {instruction: accept}
default: {instruction: dequeue, from: "+15005550006", to: "=reservation.params.To"}
on_error: {instruction: accept}
`
	p, err := rules.Parse("p.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	type flags struct{ attributes, params bool }
	got := map[string]flags{}
	for _, rr := range p.AttributeReads() {
		got[rr.Rule] = flags{rr.Attributes, rr.Params}
	}
	want := map[string]flags{"params": {false, true}, "params-index": {false, true}, "whole-task": {true, false},
		"age": {false, false}, "shadowed": {false, false}, "default": {false, true}}
	if !maps.Equal(got, want) {
		t.Errorf("flags %+v, want %+v", got, want)
	}
}
