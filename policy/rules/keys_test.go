package rules_test

import (
	"errors"
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
			`unknown key "whn" at policy.yaml:3; did you mean "when"?`},
		{"rules: []\ndefualt: {instruction: accept}\non_error: {instruction: accept}\n",
			`unknown key "defualt" at policy.yaml:2; did you mean "default"?`},
		{"rule: []\ndefault: {instruction: accept}\non_error: {instruction: accept}\n",
			`unknown key "rule" at policy.yaml:1; did you mean "rules"?`},
		{"rules: [{name: r, when: 'true', then: {instruction: accept}, colour: blue}]\ndefault: {instruction: accept}\non_error: {instruction: accept}\n",
			`unknown key "colour" at policy.yaml:1; want one of name, description, when, then`},
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
	want := `policy.yaml: rule "r": then: unknown instruction "acept"; did you mean "accept"? (one of ` + strings.Join(policy.AnswerNames(), ", ") + ")"
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
