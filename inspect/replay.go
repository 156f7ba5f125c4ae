package inspect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/assignd/assignd/decisionlog"
	"github.com/assignd/assignd/policy"
)

// defaultDecisionDeadline bounds a replayed decision when Options leave
// DecisionDeadline unset (tests); serve passes DECISION_DEADLINE's value.
const defaultDecisionDeadline = 3 * time.Second

// Replay is a stored callback decided again.
type Replay struct {
	Policy      string          `json:"policy"` // which policy decided it
	Rule        string          `json:"rule"`
	Instruction string          `json:"instruction"`
	Answer      json.RawMessage `json:"instruction_json,omitempty"`
	Async       bool            `json:"async"`
	Steps       []policy.Step   `json:"steps"`
	Error       string          `json:"error,omitempty"` // the policy failed; the decision is its fallback
	// Changed says whether the decision differs from the stored one, and
	// Differences says how.
	Changed     bool     `json:"changed"`
	Differences []string `json:"differences"`
	// Note warns when the replay cannot be faithful (summary mode kept no
	// attributes; a refused callback had no decision).
	Note string `json:"note,omitempty"`
}

// policyName names p for the page.
func policyName(p policy.Policy) string {
	if s, ok := p.(interface{ Source() string }); ok {
		return s.Source()
	}
	return fmt.Sprintf("%T", p)
}

// replay decides e again with p and compares the outcome with what was
// answered then.
func replay(ctx context.Context, p policy.Policy, e *decisionlog.Entry, deadline time.Duration) (Replay, error) {
	r, err := e.Reservation()
	if err != nil {
		return Replay{}, err
	}
	out := Replay{Policy: policyName(p), Differences: []string{}}
	switch {
	case e.Result == "bad_signature" || e.Result == "bad_request":
		out.Note = "this callback was refused (" + e.Result + ") and never reached the policy; the replay shows what the policy would decide for the SIDs it claimed"
	case e.Mode == decisionlog.ModeSummary:
		out.Note = "stored in summary mode: task and worker attributes were not kept, so the replay decides on empty attributes"
	}
	trace := &policy.Trace{}
	ctx, cancel := context.WithTimeout(policy.WithTrace(ctx, trace), deadline)
	defer cancel()
	d, derr := p.Decide(ctx, r)
	if derr == nil {
		derr = d.Validate()
	}
	if derr != nil {
		out.Error = derr.Error()
		if f, ok := p.(policy.Fallbacker); ok {
			d = f.Fallback()
		} else {
			d = policy.Decision{Rule: "(failed)"}
		}
	}
	out.Steps = trace.Steps()
	out.Rule, out.Instruction, out.Async = d.Rule, d.InstructionName(), d.Async
	if d.Instruction != nil {
		if out.Answer, err = json.Marshal(d.Instruction); err != nil {
			return Replay{}, fmt.Errorf("replay: encode instruction: %w", err)
		}
	}
	// Shown as the decision log would have stored it: secrets never, and
	// for a summary entry nothing computed from the reservation.
	var computed []string
	if e.Mode != decisionlog.ModeFull {
		computed = d.Computed
		out.Error = policy.RedactError(derr)
		out.Steps = policy.RedactSteps(out.Steps)
	}
	out.Answer = policy.RedactInstructionJSON(out.Answer, computed)
	if errors.Is(derr, context.DeadlineExceeded) {
		out.Error = stoppedAtDeadline(derr, deadline)
	}
	diff := func(what, was, now string) {
		if was != now {
			out.Differences = append(out.Differences, fmt.Sprintf("%s: %s → %s", what, orNone(was), orNone(now)))
		}
	}
	diff("rule", e.Rule, out.Rule)
	diff("instruction", e.Instruction, out.Instruction)
	if !jsonEqual(e.InstructionJSON, out.Answer) {
		diff("answer", string(e.InstructionJSON), string(out.Answer))
	}
	diff("mode", mode(e.Async), mode(out.Async))
	out.Changed = len(out.Differences) > 0
	return out, nil
}

// stoppedAtDeadline says which rule the deadline stopped, in words that
// survive redaction: a rule's name is the policy's, not customer data.
func stoppedAtDeadline(err error, deadline time.Duration) string {
	if re, ok := errors.AsType[*policy.RuleError](err); ok {
		return fmt.Sprintf("rule %q did not finish within the %s decision deadline: its evaluation was stopped and on_error decides", re.Rule, deadline)
	}
	return fmt.Sprintf("the policy did not decide within the %s decision deadline: on_error decides", deadline)
}

func mode(async bool) string {
	if async {
		return "async"
	}
	return "sync"
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// jsonEqual compares two JSON documents by meaning (PostgreSQL and Go
// format them differently).
func jsonEqual(a, b json.RawMessage) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return bytes.Equal(xb, yb)
}
