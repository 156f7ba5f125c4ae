package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Redacted replaces a value that must not be kept or shown.
const Redacted = "(redacted)"

// RuleError is a rules policy's failure in one part of one rule. Its text
// may quote attribute values (a CEL error naming a computed key, a refused
// value built from an attribute); Redacted keeps only what the rules file
// itself says: the rule and the part.
type RuleError struct {
	Rule string
	Part string // "when", "then.to", …; empty for the instruction as a whole
	Err  error
}

func (e *RuleError) Error() string {
	if e.Part == "" {
		return fmt.Sprintf("rule %q: %v", e.Rule, e.Err)
	}
	return fmt.Sprintf("rule %q: %s: %v", e.Rule, e.Part, e.Err)
}

func (e *RuleError) Unwrap() error { return e.Err }

// Redacted is the error without its detail.
func (e *RuleError) Redacted() string {
	part := e.Part
	if part == "" {
		part = "instruction"
	}
	return fmt.Sprintf("rule %q: %s: failed %s", e.Rule, part, Redacted)
}

// redacter is an error whose detail may carry attribute values.
type redacter interface {
	error
	Redacted() string
}

// RedactError returns err's text with the detail of any error in its chain
// that may carry attribute values (see RuleError) replaced by that error's
// Redacted text. Wrapping prefixes ("policy failed: ") are kept; they are
// assignd's own words. Logs without LOG_ATTRIBUTES and the decision log in
// summary mode use it.
func RedactError(err error) string {
	if err == nil {
		return ""
	}
	var r redacter
	if !errors.As(err, &r) {
		return err.Error()
	}
	full, inner := err.Error(), r.Error()
	if prefix, ok := strings.CutSuffix(full, inner); ok {
		return prefix + r.Redacted()
	}
	return r.Redacted()
}

// RedactMissing cuts a missing attribute's path at its first computed key:
// worker.skills["billing"] becomes worker.skills[…], because "billing" came
// from the task.
func RedactMissing(path string) string {
	if i := strings.IndexByte(path, '['); i >= 0 {
		return path[:i] + "[…]"
	}
	return path
}

// RedactSteps returns a copy of steps as a summary entry keeps them: each
// missing attribute cut with RedactMissing, and each evaluation error's
// text replaced by Redacted.
func RedactSteps(steps []Step) []Step {
	steps = slices.Clone(steps)
	for i := range steps {
		s := &steps[i]
		s.Missing = RedactMissing(s.Missing)
		if s.Err != "" {
			s.Err = Redacted
		}
	}
	return steps
}

// MayHoldSecret reports whether the instruction JSON b may hold a secret
// field (see SecretFields): false means none of their names appears in b as
// a quoted string, so decoding b to look for them would find nothing. It is
// the cheap test that lets the hot paths skip that decoding.
func MayHoldSecret(b []byte) bool {
	return slices.ContainsFunc(secretFields, func(k string) bool {
		return bytes.Contains(b, []byte(`"`+k+`"`))
	})
}

// RedactInstructionJSON returns the instruction JSON b with every secret
// field (see SecretFields) and every field named in computed replaced by
// Redacted. b is returned as is when nothing needed replacing (or when it is
// not a JSON object, such as {} or nothing).
func RedactInstructionJSON(b []byte, computed []string) []byte {
	if len(b) == 0 || b[0] != '{' {
		return b
	}
	// The decision log's writer calls this for every entry: skip the
	// decoding when no field can need it.
	if len(computed) == 0 && !MayHoldSecret(b) {
		return b
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return b
	}
	changed := false
	red, _ := json.Marshal(Redacted)
	for k, v := range fields {
		if k == "instruction" || string(v) == `""` {
			continue
		}
		if slices.Contains(computed, k) || slices.Contains(secretFields, k) {
			fields[k] = red
			changed = true
		}
	}
	if !changed {
		return b
	}
	out, err := json.Marshal(fields)
	if err != nil {
		return b
	}
	return out
}
