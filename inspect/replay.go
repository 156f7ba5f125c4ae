package inspect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/assignd/assignd/decisionlog"
	"github.com/assignd/assignd/policy"
	"github.com/assignd/assignd/whatif/replay"
)

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

// replayEntry decides e again with p and compares the outcome with what was
// answered then.
func replayEntry(ctx context.Context, p policy.Policy, e *decisionlog.Entry, deadline time.Duration) (Replay, error) {
	r, err := e.Reservation()
	if err != nil {
		return Replay{}, err
	}
	out := Replay{Policy: policyName(p), Note: replayNote(e)}
	d, steps, derr := replay.Decide(ctx, p, r, deadline)
	if err := out.show(d, steps, derr, e.Mode, deadline); err != nil {
		return Replay{}, err
	}
	out.Differences = differences(e, &out)
	out.Changed = len(out.Differences) > 0
	return out, nil
}

// replayNote warns when the replay cannot be faithful to e.
func replayNote(e *decisionlog.Entry) string {
	switch {
	case e.Result == "bad_signature" || e.Result == "bad_request":
		return "this callback was refused (" + e.Result + ") and never reached the policy; the replay shows what the policy would decide for the SIDs it claimed"
	case e.Mode == decisionlog.ModeSummary:
		return "stored in summary mode: task and worker attributes were not kept, so the replay decides on empty attributes"
	}
	return ""
}

// show fills out with the decision as a log in mode stored would have kept
// it: secrets never, and for a summary entry nothing computed from the
// reservation.
func (out *Replay) show(d policy.Decision, steps []policy.Step, derr error, stored decisionlog.Mode, deadline time.Duration) error {
	if derr != nil {
		out.Error = derr.Error()
	}
	out.Steps = steps
	out.Rule, out.Instruction, out.Async = d.Rule, d.InstructionName(), d.Async
	if d.Instruction != nil {
		var err error
		if out.Answer, err = json.Marshal(d.Instruction); err != nil {
			return fmt.Errorf("replay: encode instruction: %w", err)
		}
	}
	var computed []string
	if stored != decisionlog.ModeFull {
		computed = d.Computed
		out.Error = policy.RedactError(derr)
		out.Steps = policy.RedactSteps(out.Steps)
	}
	out.Answer = policy.RedactInstructionJSON(out.Answer, computed)
	if errors.Is(derr, context.DeadlineExceeded) {
		out.Error = stoppedAtDeadline(derr, deadline)
	}
	return nil
}

// differences says how the replayed decision differs from e's; empty (not
// nil: the page shows a list) when it does not.
func differences(e *decisionlog.Entry, out *Replay) []string {
	diffs := []string{}
	diff := func(what, was, now string) {
		if was != now {
			diffs = append(diffs, fmt.Sprintf("%s: %s → %s", what, orNone(was), orNone(now)))
		}
	}
	diff("rule", e.Rule, out.Rule)
	diff("instruction", e.Instruction, out.Instruction)
	if !replay.JSONEqual(e.InstructionJSON, out.Answer) {
		diff("answer", string(e.InstructionJSON), string(out.Answer))
	}
	diff("mode", mode(e.Async), mode(out.Async))
	return diffs
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
