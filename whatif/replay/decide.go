package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	"github.com/assignd/assignd/policy"
)

// Decide runs p on r within deadline, tracing its steps, as a callback
// would be decided: when the policy fails (an error, an invalid decision,
// the deadline), the decision is its fallback. It is the one way a
// recorded callback is decided again, by the inspector's replay of one
// entry and by Run over many.
func Decide(ctx context.Context, p policy.Policy, r *policy.Reservation, deadline time.Duration) (policy.Decision, []policy.Step, error) {
	trace := &policy.Trace{}
	ctx, cancel := context.WithTimeout(policy.WithTrace(ctx, trace), deadline)
	defer cancel()
	d, derr := p.Decide(ctx, r)
	if derr == nil {
		derr = d.Validate()
	}
	if derr != nil {
		if f, ok := p.(policy.Fallbacker); ok {
			d = f.Fallback()
		} else {
			d = policy.Decision{Rule: "(failed)"}
		}
	}
	return d, trace.Steps(), derr
}

// JSONEqual compares two JSON documents by meaning (PostgreSQL and Go
// format them differently).
func JSONEqual(a, b json.RawMessage) bool {
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
