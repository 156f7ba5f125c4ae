package policy

import (
	"context"
	"sync/atomic"
)

// Current is the policy in force, replaced atomically on reload: a callback
// is decided wholly by the old policy or wholly by the new one.
type Current struct {
	p        atomic.Pointer[Policy]
	fallback Decision
}

// NewCurrent starts with p. fallback is used while the policy in force is
// not a Fallbacker.
func NewCurrent(p Policy, fallback Decision) *Current {
	c := &Current{fallback: fallback}
	c.Store(p)
	return c
}

// Store puts p in force.
func (c *Current) Store(p Policy) { c.p.Store(&p) }

// Load returns the policy in force.
func (c *Current) Load() Policy { return *c.p.Load() }

// Decide asks the policy in force.
func (c *Current) Decide(ctx context.Context, r *Reservation) (Decision, error) {
	return c.Load().Decide(ctx, r)
}

// Fallback is the fallback of the policy in force.
func (c *Current) Fallback() Decision {
	if f, ok := c.Load().(Fallbacker); ok {
		return f.Fallback()
	}
	return c.fallback
}

// Prompt forwards the promise of the policy in force (see Prompter).
func (c *Current) Prompt() bool {
	p, ok := c.Load().(Prompter)
	return ok && p.Prompt()
}
