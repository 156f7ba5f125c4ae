package rules

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/interpreter"
)

// attrPaths knows which expressions of a condition read the reservation's
// data, so that an evaluation error can be told apart as "an attribute is
// missing" (the condition does not match) or a real error, by where it
// happened and by the data, never by the words of CEL's message.
//
// A read is a field selection or an index whose operand comes from the
// data: task, worker or reservation, another read (with literal or computed
// keys: worker.skills[task.required_skill]), or a comprehension's loop
// variable whose range is a read (worker.langs.exists(l, l.level > 3)). CEL
// labels an evaluation error with the ID of the expression that failed
// (types.Err.NodeID); when that expression is a read, the read is walked
// through the data and the error is a missing attribute exactly when the
// walk stops at a map that lacks the next key.
type attrPaths struct {
	reads map[int64]*dataRead
	// tracked evaluates the condition again recording every
	// subexpression's value, for the computed keys; only built when a read
	// has one, and only run after an error.
	tracked cel.Program
}

// dataRead is one read: where it starts and the keys it follows.
type dataRead struct {
	root  string    // task, worker or reservation; "" when loop is set
	loop  *dataRead // starts at a loop variable over the elements this read reaches
	steps []readStep
}

// readStep is one key: a literal (a field name or a constant index) or the
// ID of the expression that computes it.
type readStep struct {
	key      string
	computed int64     // non-zero: the key is this expression's value
	keyRead  *dataRead // and that expression is itself a read (task.required_skill)
	opaque   bool      // a constant that is not a string (a list index)
}

// newAttrPaths finds the reads in checked; programOptions compile the
// program that tracks computed keys, when one is needed.
func newAttrPaths(env *cel.Env, checked *cel.Ast, programOptions []cel.ProgramOption) (attrPaths, error) {
	p := attrPaths{reads: map[int64]*dataRead{}}
	p.collect(checked.NativeRep().Expr(), map[string]*dataRead{})
	for _, r := range p.reads {
		if !r.hasComputedKey() {
			continue
		}
		prg, err := env.Program(checked, programOptions...)
		if err != nil {
			return attrPaths{}, fmt.Errorf("program for missing-attribute detection: %w", err)
		}
		p.tracked = prg
		break
	}
	return p, nil
}

// collect records every read in e. loops maps the loop variables in scope
// that range over a read to that read.
func (p *attrPaths) collect(e ast.Expr, loops map[string]*dataRead) {
	switch e.Kind() {
	case ast.SelectKind:
		p.record(e, loops)
		p.collect(e.AsSelect().Operand(), loops)
	case ast.CallKind:
		c := e.AsCall()
		p.record(e, loops)
		if c.IsMemberFunction() {
			p.collect(c.Target(), loops)
		}
		for _, a := range c.Args() {
			p.collect(a, loops)
		}
	case ast.ListKind:
		for _, el := range e.AsList().Elements() {
			p.collect(el, loops)
		}
	case ast.MapKind:
		for _, en := range e.AsMap().Entries() {
			en := en.AsMapEntry()
			p.collect(en.Key(), loops)
			p.collect(en.Value(), loops)
		}
	case ast.StructKind:
		for _, f := range e.AsStruct().Fields() {
			p.collect(f.AsStructField().Value(), loops)
		}
	case ast.ComprehensionKind:
		c := e.AsComprehension()
		p.collect(c.IterRange(), loops)
		p.collect(c.AccuInit(), loops)
		inner := maps.Clone(loops)
		delete(inner, c.AccuVar())
		delete(inner, c.IterVar())
		if c.HasIterVar2() {
			delete(inner, c.IterVar2())
		} else if rng, ok := readOf(c.IterRange(), loops); ok {
			// One loop variable over a list: each element in turn. (Over a
			// map it is each key, a string: nothing to read from.)
			inner[c.IterVar()] = rng
		}
		p.collect(c.LoopCondition(), inner)
		p.collect(c.LoopStep(), inner)
		p.collect(c.Result(), inner)
	}
}

func (p *attrPaths) record(e ast.Expr, loops map[string]*dataRead) {
	if r, ok := readOf(e, loops); ok && len(r.steps) > 0 {
		p.reads[e.ID()] = r
	}
}

// readOf is the read e is, if it is one. Presence tests (has) and optional
// selections never fail on a missing key, so they are not reads.
func readOf(e ast.Expr, loops map[string]*dataRead) (*dataRead, bool) {
	switch e.Kind() {
	case ast.IdentKind:
		name := e.AsIdent()
		if rng, ok := loops[name]; ok {
			return &dataRead{loop: rng}, true
		}
		switch name {
		case "task", "worker", "reservation":
			return &dataRead{root: name}, true
		}
	case ast.SelectKind:
		s := e.AsSelect()
		if s.IsTestOnly() {
			return nil, false
		}
		if r, ok := readOf(s.Operand(), loops); ok {
			return r.with(readStep{key: s.FieldName()}), true
		}
	case ast.CallKind:
		c := e.AsCall()
		if c.FunctionName() != operators.Index || len(c.Args()) != 2 {
			return nil, false
		}
		r, ok := readOf(c.Args()[0], loops)
		if !ok {
			return nil, false
		}
		k := c.Args()[1]
		if k.Kind() != ast.LiteralKind {
			kr, _ := readOf(k, loops)
			return r.with(readStep{computed: k.ID(), keyRead: kr}), true
		}
		if s, isStr := k.AsLiteral().(types.String); isStr {
			return r.with(readStep{key: string(s)}), true
		}
		return r.with(readStep{opaque: true}), true
	}
	return nil, false
}

func (r *dataRead) with(s readStep) *dataRead {
	return &dataRead{root: r.root, loop: r.loop, steps: append(r.steps[:len(r.steps):len(r.steps)], s)}
}

func (r *dataRead) hasComputedKey() bool {
	for _, s := range r.steps {
		if s.computed != 0 {
			return true
		}
	}
	return r.loop != nil && r.loop.hasComputedKey()
}

// reached is a value a read reaches and the path it took.
type reached struct {
	v    any
	path string
}

// walk follows r through the data: the values it reaches (one for each
// element of the loops it runs through), or the path of the first key found
// missing on the way. A step it cannot take for another reason (not a map,
// a key that is not a string or whose value is unknown) reaches nothing.
func (r *dataRead) walk(act *activation, state interpreter.EvalState) (out []reached, missing string) {
	var starts []reached
	if r.loop == nil {
		v, _ := act.ResolveName(r.root)
		starts = []reached{{v, r.root}}
	} else {
		ranges, miss := r.loop.walk(act, state)
		if miss != "" {
			return nil, miss
		}
		for _, rg := range ranges {
			if list, ok := rg.v.([]any); ok {
				for i, el := range list {
					starts = append(starts, reached{el, rg.path + "[" + strconv.Itoa(i) + "]"})
				}
			}
		}
	}
next:
	for _, s := range starts {
		cur, path := s.v, s.path
		for _, st := range r.steps {
			key, label, ok := st.resolve(state)
			if !ok {
				// A computed key that has no value may itself be a
				// missing attribute: the read the error is labelled with
				// is then the one that uses it as a key.
				if st.keyRead != nil {
					if _, miss := st.keyRead.walk(act, state); miss != "" {
						return nil, miss
					}
				}
				continue next
			}
			var found bool
			switch m := cur.(type) {
			case map[string]any:
				cur, found = m[key]
			case map[string]string:
				cur, found = m[key]
			default:
				continue next // not a map: a type error, not a missing key
			}
			if path += label; !found {
				return nil, path
			}
		}
		out = append(out, reached{cur, path})
	}
	return out, ""
}

// resolve returns the step's key and how it reads in a path: a literal as
// .name, a computed key as its value in brackets.
func (s readStep) resolve(state interpreter.EvalState) (key, label string, ok bool) {
	switch {
	case s.opaque:
		return "", "", false
	case s.computed == 0:
		return s.key, "." + s.key, true
	case state == nil:
		return "", "", false
	}
	v, ok := state.Value(s.computed)
	if !ok {
		return "", "", false
	}
	str, isStr := v.(types.String)
	if !isStr {
		return "", "", false
	}
	return string(str), "[" + strconv.Quote(string(str)) + "]", true
}

// missing reports the attribute whose absence caused err: err must come
// from a read, and walking that read through the reservation's data must
// stop at a map that lacks the next key. Anything else (a wrong type, a
// rule's own map literal, a bad index) is a real error.
func (paths attrPaths) missing(ctx context.Context, eval evaluator, err error, act *activation) (string, bool) {
	var celErr *types.Err
	if !errors.As(err, &celErr) {
		return "", false
	}
	r, ok := paths.reads[celErr.NodeID()]
	if !ok {
		return "", false
	}
	var state interpreter.EvalState
	if paths.tracked != nil && r.hasComputedKey() {
		// The computed keys' values, from the same evaluation again.
		if _, det, _ := eval.eval(ctx, paths.tracked, act); det != nil {
			state = det.State()
		}
	}
	_, missing := r.walk(act, state)
	return missing, missing != ""
}
