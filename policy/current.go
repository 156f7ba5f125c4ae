package policy

import (
	"context"
	"sync/atomic"
)

// view is a policy together with what Guard needs to know about it, resolved
// once when the policy is put in force, so that one load gives a decision's
// policy, its promptness and its fallback together.
type view struct {
	policy   Policy
	prompt   bool
	fallback Decision
}

// resolve is the one definition of a policy's fallback (its own, when it is a
// Fallbacker, else def) and of its promptness (see ReturnsPromptly).
func resolve(p Policy, def Decision) *view {
	v := &view{policy: p, fallback: def}
	if f, ok := p.(Fallbacker); ok {
		v.fallback = f.Fallback()
	}
	if pr, ok := p.(ReturnsPromptly); ok {
		v.prompt = pr.Prompt()
	}
	return v
}

// Current is the policy in force, replaced atomically on reload: a callback
// is decided wholly by the old policy or wholly by the new one, fallback
// included, when a Guard runs it.
type Current struct {
	v   atomic.Pointer[view]
	def Decision
}

// NewCurrent starts with p. fallback is used while the policy in force is
// not a Fallbacker.
func NewCurrent(p Policy, fallback Decision) *Current {
	c := &Current{def: fallback}
	c.Store(p)
	return c
}

// Store puts p in force.
func (c *Current) Store(p Policy) { c.v.Store(resolve(p, c.def)) }

// Load returns the policy in force.
func (c *Current) Load() Policy { return c.v.Load().policy }

func (c *Current) view() *view { return c.v.Load() }

// Decide asks the policy in force.
func (c *Current) Decide(ctx context.Context, r *Reservation) (Decision, error) {
	return c.view().policy.Decide(ctx, r)
}

// Fallback is the fallback of the policy in force.
func (c *Current) Fallback() Decision { return c.view().fallback }

// Prompt forwards the promise of the policy in force (see ReturnsPromptly).
func (c *Current) Prompt() bool { return c.view().prompt }
