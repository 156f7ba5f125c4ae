// Package rules is the shipped policy: an ordered list of rules in a YAML
// file, each a CEL condition over the reservation and an instruction to give
// when it holds. Everything is compiled and type-checked at load, so a file
// that loads cannot fail for a reason the checker could have seen.
package rules

import (
	"context"
	"fmt"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/interpreter"

	"github.com/assignd/assignd/policy"
)

// DefaultCostLimit bounds the runtime cost of one expression evaluation. A
// comparison costs about 1; iterating a 1,000-element list about 3,000.
const DefaultCostLimit = 100_000

// Policy is a compiled rules file. It is immutable and safe for concurrent use.
type Policy struct {
	source    string
	rules     []rule
	def       action
	fallback  policy.Decision
	costLimit uint64
	costNote  string
	eval      evaluator
	// defReads are the attribute names default's expressions read.
	defReads []AttributeRead
	defUses  uses
}

type rule struct {
	name  string
	when  cel.Program
	paths attrPaths // the attribute reads in when, to tell a missing one
	then  action
	line  int             // where the rule starts in the file
	reads []AttributeRead // the attribute names when and then read
	uses  uses            // whether they read attributes, parameters
}

// Step is one rule's part in a decision, as Explain reports it.
type Step = policy.Step

// CostLimit is the limit each expression's evaluation runs with: the file's
// cost_limit, DefaultCostLimit when it sets none, at most MaxCostLimit.
func (p *Policy) CostLimit() uint64 { return p.costLimit }

// CostLimitNote says why CostLimit is lower than the file's cost_limit
// (MaxCostLimit); empty when it is not.
func (p *Policy) CostLimitNote() string { return p.costNote }

// Source names where the policy was loaded from.
func (p *Policy) Source() string { return p.source }

// Rules returns the rule names in evaluation order.
func (p *Policy) Rules() []string {
	names := make([]string, len(p.rules))
	for i, r := range p.rules {
		names[i] = r.name
	}
	return names
}

// HasAsync reports whether any rule or the default decides asynchronously,
// which needs REST credentials.
func (p *Policy) HasAsync() bool {
	for _, r := range p.rules {
		if r.then.async {
			return true
		}
	}
	return p.def.async
}

// Prompt reports that Decide returns promptly once its context is done: it
// checks the context between rules, and each expression's work is bounded by
// the cost limit or, above DefaultCostLimit, interrupted by the context
// (evaluator). policy.Guard may then run it without a goroutine.
func (p *Policy) Prompt() bool { return true }

// Fallback returns the file's on_error decision.
func (p *Policy) Fallback() policy.Decision { return p.fallback }

// Decide returns the decision of the first rule whose condition holds, or the
// default decision when none does.
// When ctx carries a policy.Trace (the decision log asks for one), every
// rule looked at is added to it.
func (p *Policy) Decide(ctx context.Context, r *policy.Reservation) (policy.Decision, error) {
	if t := policy.TraceFrom(ctx); t != nil {
		return p.decide(ctx, r, t.Add)
	}
	return p.decide(ctx, r, nil)
}

// Explain decides like Decide and also returns every rule it looked at.
func (p *Policy) Explain(ctx context.Context, r *policy.Reservation) (policy.Decision, []Step, error) {
	var steps []Step
	d, err := p.decide(ctx, r, func(s Step) { steps = append(steps, s) })
	return d, steps, err
}

func (p *Policy) decide(ctx context.Context, r *policy.Reservation, trace func(Step)) (policy.Decision, error) {
	act := newActivation(r)
	for i := range p.rules {
		rl := &p.rules[i]
		if err := ctx.Err(); err != nil {
			return policy.Decision{}, fmt.Errorf("before rule %q: %w", rl.name, err)
		}
		matched, missing, err := p.evalBool(ctx, rl.when, rl.paths, act)
		if err != nil {
			if trace != nil {
				trace(Step{Rule: rl.name, Err: err.Error()})
			}
			return policy.Decision{}, &policy.RuleError{Rule: rl.name, Part: "when", Err: err}
		}
		if trace != nil {
			trace(Step{Rule: rl.name, Matched: matched, Missing: missing})
		}
		if matched {
			return rl.then.decision(ctx, p.eval, act, rl.name)
		}
	}
	return p.def.decision(ctx, p.eval, act, "default")
}

// evalBool evaluates a condition. A reference to a missing attribute is not
// an error but a non-match: tasks differ in which attributes they carry, and
// `task.selected_language == "es"` should simply not hold for a task that
// has no language. missing names the attribute (task.selected_language).
// Every other evaluation error is returned.
func (p *Policy) evalBool(ctx context.Context, prg cel.Program, paths attrPaths, act *activation) (matched bool, missing string, err error) {
	val, _, err := p.eval.eval(ctx, prg, act)
	if err != nil {
		if attr, ok := paths.missing(ctx, p.eval, err, act); ok {
			return false, attr, nil
		}
		return false, "", err
	}
	b, ok := val.(types.Bool)
	if !ok {
		return false, "", fmt.Errorf("condition gave %s, want bool", val.Type().TypeName())
	}
	return bool(b), "", nil
}

// action is a compiled `then` (or `default`) block.
type action struct {
	async bool
	delay time.Duration
	later bool // instruction: later, answer {} and act elsewhere

	// fixed is the whole instruction when no field is an expression.
	fixed policy.Instruction
	// Otherwise the instruction is built per decision from literal fields
	// and the evaluated expressions.
	name     string
	literal  map[string]any
	exprs    []fieldExpr
	computed []string // the fields of exprs, for policy.Decision.Computed
}

type fieldExpr struct {
	field string
	prg   cel.Program
}

func (a *action) decision(ctx context.Context, eval evaluator, act interpreter.Activation, ruleName string) (policy.Decision, error) {
	d := policy.Decision{Async: a.async, Delay: a.delay, Rule: ruleName}
	if a.later {
		return d, nil
	}
	if a.fixed != nil {
		d.Instruction = a.fixed
		return d, nil
	}
	fields := make(map[string]any, len(a.literal)+len(a.exprs))
	for k, v := range a.literal {
		fields[k] = v
	}
	for _, fe := range a.exprs {
		val, _, err := eval.eval(ctx, fe.prg, act)
		if err != nil {
			return policy.Decision{}, &policy.RuleError{Rule: ruleName, Part: "then." + fe.field, Err: err}
		}
		s, ok := val.(types.String)
		if !ok {
			return policy.Decision{}, &policy.RuleError{Rule: ruleName, Part: "then." + fe.field,
				Err: fmt.Errorf("expression gave %s, want string", val.Type().TypeName())}
		}
		fields[fe.field] = string(s)
	}
	ins, err := buildInstruction(a.name, fields)
	if err == nil {
		err = ins.Validate()
	}
	if err != nil {
		return policy.Decision{}, &policy.RuleError{Rule: ruleName, Err: err}
	}
	d.Instruction = ins
	d.Computed = a.computed
	return d, nil
}

// activation resolves the three CEL variables without building a map per
// call; the reservation map is built only if an expression asks for it.
type activation struct {
	r           *policy.Reservation
	reservation map[string]any
}

func newActivation(r *policy.Reservation) *activation { return &activation{r: r} }

func (a *activation) reservationMap() map[string]any {
	if a.reservation == nil {
		r := a.r
		params := r.Params
		if params == nil {
			params = map[string]string{}
		}
		a.reservation = map[string]any{
			"sid":            r.ReservationSid,
			"task_sid":       r.TaskSid,
			"worker_sid":     r.WorkerSid,
			"workspace_sid":  r.WorkspaceSid,
			"workflow_sid":   r.WorkflowSid,
			"account_sid":    r.AccountSid,
			"task_queue_sid": r.TaskQueueSid,
			"task_age":       int64(r.TaskAge),
			"task_priority":  int64(r.TaskPriority),
			"params":         params,
		}
	}
	return a.reservation
}

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case "task":
		return orEmpty(a.r.TaskAttributes), true
	case "worker":
		return orEmpty(a.r.WorkerAttributes), true
	case "reservation":
		return a.reservationMap(), true
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }
