package policy

import (
	"context"
	"sync"
)

// Step is one rule's part in a decision: what `assignd policy explain`
// prints and what the decision log keeps.
type Step struct {
	Rule    string `json:"rule"`
	Matched bool   `json:"matched"`
	// Missing is set when the condition referred to an attribute the
	// reservation does not have; such a rule does not match.
	Missing string `json:"missing,omitempty"`
	// Err is set when the condition failed to evaluate; the decision then
	// fails (and the caller answers the fallback).
	Err string `json:"error,omitempty"`
}

// Trace collects the steps a policy took for one decision. A policy that
// can explain itself (the rules file) appends to the Trace carried by the
// context; others leave it empty. It is safe for concurrent use because a
// policy that missed its deadline may still be writing when the caller reads.
type Trace struct {
	mu    sync.Mutex
	steps []Step
}

// Add appends a step.
func (t *Trace) Add(s Step) {
	t.mu.Lock()
	t.steps = append(t.steps, s)
	t.mu.Unlock()
}

// Steps returns a copy of the steps recorded so far.
func (t *Trace) Steps() []Step {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Step(nil), t.steps...)
}

type traceKey struct{}

// WithTrace returns a context asking the policy to record its steps in t.
// Without it, policies record nothing and pay nothing.
func WithTrace(ctx context.Context, t *Trace) context.Context {
	return context.WithValue(ctx, traceKey{}, t)
}

// TraceFrom returns the Trace ctx carries, or nil.
func TraceFrom(ctx context.Context) *Trace {
	t, _ := ctx.Value(traceKey{}).(*Trace)
	return t
}
