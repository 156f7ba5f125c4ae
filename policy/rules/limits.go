package rules

import (
	"context"
	"fmt"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"
)

// interruptCheckFrequency is how many comprehension iterations run between
// two looks at the decision's context: often enough to stop within a
// millisecond or so of the deadline, rarely enough to cost nothing.
const interruptCheckFrequency = 100

// memoryLimit bounds, in list and map elements, what one expression may hold
// once its cost limit is above DefaultCostLimit. Below it the cost limit
// bounds memory too (building an element costs at least 1); above it a
// nested map() would fill gigabytes before the deadline. As many elements
// as the default cost limit lets an expression build: a higher cost_limit
// buys time, not memory.
const memoryLimit = DefaultCostLimit

// Option adjusts how Parse compiles a file.
type Option func(*options)

type options struct {
	maxCostLimit uint64 // 0: whatever the file asks for
}

// MaxCostLimit lowers a file's cost_limit to n when it asks for more. The
// inspector compiles rules sent over HTTP with it, so an upload cannot buy
// more CPU per expression than the service allows.
func MaxCostLimit(n uint64) Option { return func(o *options) { o.maxCostLimit = n } }

// costLimit is the limit a file's expressions run with (its cost_limit,
// DefaultCostLimit when it sets none, no more than MaxCostLimit), and a
// note when the file asked for more than it got.
func (o options) costLimit(asked uint64) (uint64, string) {
	if asked == 0 {
		asked = DefaultCostLimit
	}
	if o.maxCostLimit > 0 && asked > o.maxCostLimit {
		return o.maxCostLimit, fmt.Sprintf("cost_limit %d is above the server's %d: lowered to it", asked, o.maxCostLimit)
	}
	return asked, ""
}

// evaluator runs compiled expressions. Up to DefaultCostLimit the cost
// limit alone keeps one expression short and small, and Eval is cheaper
// (ContextEval's per-call set-up cost 40% of a rule's evaluation). Above it
// a loop can run for minutes within its budget, so the programs are
// compiled interruptible, with a memory limit, and run under the
// decision's context: the deadline stops them.
type evaluator struct {
	interruptible bool
}

func newEvaluator(costLimit uint64) evaluator {
	return evaluator{interruptible: costLimit > DefaultCostLimit}
}

// programOptions are every program's options.
func (e evaluator) programOptions(costLimit uint64, extra ...cel.ProgramOption) []cel.ProgramOption {
	opts := append([]cel.ProgramOption{cel.CostLimit(costLimit)}, extra...)
	if e.interruptible {
		opts = append(opts, cel.InterruptCheckFrequency(interruptCheckFrequency), cel.MemoryLimit(memoryLimit))
	}
	return opts
}

func (e evaluator) eval(ctx context.Context, prg cel.Program, act interpreter.Activation) (ref.Val, *cel.EvalDetails, error) {
	if e.interruptible {
		return prg.ContextEval(ctx, act)
	}
	return prg.Eval(act)
}
