package policy

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"
)

// Policy decides what to do with a reservation. Implementations must be safe
// for concurrent use and should honour ctx: the caller gives up at the
// decision deadline and answers the fallback instead.
type Policy interface {
	Decide(ctx context.Context, r *Reservation) (Decision, error)
}

// Func adapts a plain function to Policy.
type Func func(ctx context.Context, r *Reservation) (Decision, error)

// Decide calls f.
func (f Func) Decide(ctx context.Context, r *Reservation) (Decision, error) { return f(ctx, r) }

// Fallbacker is implemented by policies that carry their own fallback (the
// rules file's on_error). Guard prefers it to its configured default.
type Fallbacker interface {
	Fallback() Decision
}

// ReturnsPromptly is implemented by policies that return promptly once their
// context is done and never block otherwise. Guard runs such a policy in the
// caller's goroutine; any other policy runs in a goroutine of its own, so the
// deadline holds whatever it does.
type ReturnsPromptly interface {
	Prompt() bool
}

// Decision is a policy's answer.
type Decision struct {
	// Instruction is what TaskRouter should do. Nil means "later": answer {}
	// and let something outside assignd update the reservation.
	Instruction Instruction
	// Async asks assignd to answer {} now and apply Instruction through the
	// Reservations REST API, durably, after Delay.
	Async bool
	Delay time.Duration
	// Rule names what produced the decision, for logs and metrics.
	Rule string
	// Computed names the instruction's fields (JSON keys) whose values the
	// policy computed from the reservation, such as a rules file's
	// `to: =worker.contact_uri`: they are customer data, which the
	// decision log's summary mode redacts. Shared: read it, never modify it.
	Computed []string
	// Fallback is set by Guard.Decide: the fallback of the very policy that
	// made this decision, to answer instead when the decision cannot be
	// carried out (an async one not stored in time). Taking it from the
	// same policy keeps a reload between the two from mixing policies.
	// Shared: read it, never modify it.
	Fallback *Decision
}

// Later names the decision without an instruction: answer {} and leave the
// reservation to something outside assignd.
const Later = "later"

// AnswerNames is every name a decision can have, the one list rules files,
// their error messages and documentation take them from: Twilio's
// instructions, then Later.
func AnswerNames() []string { return append(InstructionNames(), Later) }

// InstructionName names the instruction for logs, metrics and tests:
// Later when there is none.
func (d Decision) InstructionName() string {
	if d.Instruction == nil {
		return Later
	}
	return d.Instruction.Name()
}

// Validate checks that the decision can be carried out.
func (d Decision) Validate() error {
	if d.Async && d.Instruction == nil {
		return errors.New("an async decision needs an instruction to apply")
	}
	if !d.Async && d.Delay != 0 {
		return errors.New("delay applies only to async decisions")
	}
	if d.Delay < 0 {
		return errors.New("delay must not be negative")
	}
	if d.Instruction != nil {
		return d.Instruction.Validate()
	}
	return nil
}

// ValidateFallback checks that d can be answered synchronously in the HTTP
// response: a fallback must never itself need storage or leave {} behind.
func (d Decision) ValidateFallback() error {
	if d.Async {
		return errors.New("a fallback must be synchronous (no async)")
	}
	if d.Instruction == nil {
		return errors.New("a fallback needs an instruction; {} would leave the reservation pending")
	}
	return d.Validate()
}

// Guard runs a Policy under the guarantees the callback handler needs: every
// call returns by the deadline, a panic is an error, and every error comes
// with the fallback decision to answer instead.
type Guard struct {
	// views gives the policy to ask, with its promptness and fallback, in
	// one load: a *Current's view in force, or a fixed one.
	views    func() *view
	deadline time.Duration
}

// NewGuard returns a Guard around p; deadline bounds each decision (Twilio
// waits 5 s in all). The fallback comes from p, its one definition: a
// *Current gives the policy in force and its fallback together on each
// decision; any other policy must be a Fallbacker (a rules file, or any
// policy wrapped with WithFallback).
func NewGuard(p Policy, deadline time.Duration) (*Guard, error) {
	if deadline <= 0 {
		return nil, fmt.Errorf("decision deadline must be positive, got %s", deadline)
	}
	g := &Guard{deadline: deadline}
	var fallback Decision
	if cur, ok := p.(*Current); ok {
		fallback, g.views = cur.def, cur.view
	} else {
		if _, ok := p.(Fallbacker); !ok {
			return nil, errors.New("fallback: the policy has none; wrap it with policy.WithFallback")
		}
		v := resolve(p, Decision{})
		fallback, g.views = v.fallback, func() *view { return v }
	}
	if err := fallback.ValidateFallback(); err != nil {
		return nil, fmt.Errorf("fallback: %w", err)
	}
	return g, nil
}

// WithFallback gives p the fallback fb (a Fallbacker, for NewGuard), keeping
// p's promise of promptness (ReturnsPromptly).
func WithFallback(p Policy, fb Decision) Policy { return withFallback{p, fb} }

type withFallback struct {
	Policy
	fb Decision
}

func (w withFallback) Fallback() Decision { return w.fb }

func (w withFallback) Prompt() bool {
	pr, ok := w.Policy.(ReturnsPromptly)
	return ok && pr.Prompt()
}

// Fallback returns the decision answered when the policy in force fails.
func (g *Guard) Fallback() Decision { return g.views().fallback }

// ErrDeadline is wrapped by the error Decide returns when the policy was too slow.
var ErrDeadline = errors.New("policy exceeded the decision deadline")

// PanicError is returned when the policy panicked.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("policy panicked: %v", e.Value) }

// Decide asks the policy. On success it returns the policy's decision, with
// that policy's fallback in Decision.Fallback, and a nil error. On any failure (error,
// invalid decision, panic, deadline) it returns the fallback decision and an
// error saying why, so the caller can answer at once and log the cause.
func (g *Guard) Decide(ctx context.Context, r *Reservation) (Decision, error) {
	v := g.views() // one policy for the whole decision, across reloads
	ctx, cancel := context.WithTimeout(ctx, g.deadline)
	defer cancel()

	if v.prompt {
		d, err := g.call(ctx, v.policy, r)
		if err == nil && ctx.Err() != nil {
			err = context.Cause(ctx) // it noticed, but the answer is late
		}
		return g.check(ctx, v, d, err)
	}

	type result struct {
		d   Decision
		err error
	}
	// Buffered so a policy that returns after we gave up does not leak.
	done := make(chan result, 1)
	go func() {
		d, err := g.call(ctx, v.policy, r)
		done <- result{d, err}
	}()
	select {
	case res := <-done:
		return g.check(ctx, v, res.d, res.err)
	case <-ctx.Done():
		return v.fallback, fmt.Errorf("decide: %w (%s): %w", ErrDeadline, g.deadline, context.Cause(ctx))
	}
}

// call asks the policy, turning a panic into an error.
func (g *Guard) call(ctx context.Context, p Policy, r *Reservation) (d Decision, err error) {
	defer func() {
		if v := recover(); v != nil {
			d, err = Decision{}, &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return p.Decide(ctx, r)
}

// check passes a sound decision through and turns anything else into the
// fallback of the policy that decided.
func (g *Guard) check(ctx context.Context, v *view, d Decision, err error) (Decision, error) {
	switch {
	case ctx.Err() != nil && err == nil:
		return v.fallback, fmt.Errorf("decide: %w (%s): %w", ErrDeadline, g.deadline, context.Cause(ctx))
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		// The policy's own error says where the deadline stopped it (a
		// rules file: which rule).
		return v.fallback, fmt.Errorf("decide: %w (%s): %w", ErrDeadline, g.deadline, err)
	case err != nil:
		return v.fallback, fmt.Errorf("decide: %w", err)
	}
	if err := d.Validate(); err != nil {
		return v.fallback, fmt.Errorf("decide: rule %q: %w", d.Rule, err)
	}
	d.Fallback = &v.fallback
	return d, nil
}
