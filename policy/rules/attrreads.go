package rules

import (
	"slices"

	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
)

// AttributeRead is an attribute of the task or the worker that a rule's
// expressions name: task.selected_language, worker["languages"],
// has(task.vip), task.?vip. Policy replay holds these names against the
// attributes recorded callbacks carried, so that a typo such as
// task.selected_langauge (which simply never matches: a missing attribute
// is a non-match) is found before the policy ships.
type AttributeRead struct {
	Root string `json:"root"` // task or worker
	Name string `json:"name"` // the attribute's name, its first key
	// Line is the line in the file of the expression that reads it.
	Line int `json:"line,omitempty"`
}

// String is root.name, as a rule writes it.
func (a AttributeRead) String() string { return a.Root + "." + a.Name }

// RuleReads is one rule's attribute reads, in the order they occur, each
// name once.
type RuleReads struct {
	Rule  string          `json:"rule"`
	Line  int             `json:"line,omitempty"` // where the rule starts
	Reads []AttributeRead `json:"reads"`
	// Attributes says the rule reads the task's or the worker's
	// attributes at all: a name in Reads, or a computed key, or the whole
	// map ("vip" in task). Params says it reads the reservation's extra
	// parameters (reservation.params, or the reservation map whole). A
	// decision log in summary mode records neither, so a replay of such a
	// rule on a summary entry would decide on what was not recorded.
	Attributes bool `json:"attributes,omitempty"`
	Params     bool `json:"params,omitempty"`
}

// AttributeReads lists, rule by rule in evaluation order and then default,
// the attribute names each rule's condition and instruction read. Only
// literal names count: a computed key (worker.skills[task.required_skill])
// names no attribute the file can misspell.
func (p *Policy) AttributeReads() []RuleReads {
	out := make([]RuleReads, 0, len(p.rules)+1)
	for _, r := range p.rules {
		out = append(out, RuleReads{Rule: r.name, Line: r.line, Reads: slices.Clone(r.reads), Attributes: r.uses.attributes, Params: r.uses.params})
	}
	return append(out, RuleReads{Rule: "default", Reads: slices.Clone(p.defReads), Attributes: p.defUses.attributes, Params: p.defUses.params})
}

// uses is what an expression reads beyond the reservation's recorded
// fields: attributes, extra parameters.
type uses struct{ attributes, params bool }

func (u uses) or(v uses) uses { return uses{u.attributes || v.attributes, u.params || v.params} }

// usesOf says whether e reads task or worker at all, and whether it reads
// reservation.params (reservation["params"], or the reservation map in
// any way other than selecting another of its fields).
func usesOf(e ast.Expr) uses {
	var u uses
	// otherField reports whether e selects a literal field other than params
	// directly off the reservation variable.
	otherField := func(e ast.Expr, shadowed map[string]bool) bool {
		isRes := func(x ast.Expr) bool {
			return x.Kind() == ast.IdentKind && x.AsIdent() == "reservation" && !shadowed["reservation"]
		}
		switch e.Kind() {
		case ast.SelectKind:
			s := e.AsSelect()
			return isRes(s.Operand()) && s.FieldName() != "params"
		case ast.CallKind:
			c := e.AsCall()
			switch c.FunctionName() {
			case operators.Index, operators.OptIndex, operators.OptSelect:
				if args := c.Args(); len(args) == 2 && isRes(args[0]) && args[1].Kind() == ast.LiteralKind {
					s, isStr := args[1].AsLiteral().(types.String)
					return isStr && string(s) != "params"
				}
			}
		}
		return false
	}
	walkScoped(e, func(e ast.Expr, shadowed map[string]bool) bool {
		if otherField(e, shadowed) {
			return false // reservation.task_age and the like: recorded in every mode
		}
		if e.Kind() == ast.IdentKind {
			switch name := e.AsIdent(); {
			case shadowed[name]:
			case name == "task" || name == "worker":
				u.attributes = true
			case name == "reservation":
				u.params = true
			}
		}
		return true
	})
	return u
}

// RuleLine is the line rule name starts at in the file, 0 when unknown.
func (p *Policy) RuleLine(name string) int {
	for _, r := range p.rules {
		if r.name == name {
			return r.line
		}
	}
	return 0
}

// appendReads adds to reads every attribute name e reads directly off task
// or worker, once each, at line. It walks the checked AST: a field
// selection (presence tests included), an index or optional selection with
// a literal string key.
func appendReads(reads []AttributeRead, e ast.Expr, line int) []AttributeRead {
	add := func(root, name string) {
		r := AttributeRead{Root: root, Name: name, Line: line}
		if !slices.ContainsFunc(reads, func(x AttributeRead) bool { return x.Root == root && x.Name == name }) {
			reads = append(reads, r)
		}
	}
	walkScoped(e, func(e ast.Expr, shadowed map[string]bool) bool {
		switch e.Kind() {
		case ast.SelectKind:
			s := e.AsSelect()
			if root, ok := rootOf(s.Operand(), shadowed); ok {
				add(root, s.FieldName())
			}
		case ast.CallKind:
			c := e.AsCall()
			switch c.FunctionName() {
			case operators.Index, operators.OptIndex, operators.OptSelect:
				if args := c.Args(); len(args) == 2 {
					if root, ok := rootOf(args[0], shadowed); ok && args[1].Kind() == ast.LiteralKind {
						if s, isStr := args[1].AsLiteral().(types.String); isStr {
							add(root, string(s))
						}
					}
				}
			}
		}
		return true
	})
	return reads
}

// walkScoped visits e and every expression under it, parents first, with
// the names comprehension variables shadow there (a loop variable named
// task or worker hides the variable). visit returning false skips what is
// under e.
func walkScoped(e ast.Expr, visit func(e ast.Expr, shadowed map[string]bool) bool) {
	var walk func(e ast.Expr, shadowed map[string]bool)
	walk = func(e ast.Expr, shadowed map[string]bool) {
		if !visit(e, shadowed) {
			return
		}
		switch e.Kind() {
		case ast.SelectKind:
			walk(e.AsSelect().Operand(), shadowed)
		case ast.CallKind:
			c := e.AsCall()
			if c.IsMemberFunction() {
				walk(c.Target(), shadowed)
			}
			for _, a := range c.Args() {
				walk(a, shadowed)
			}
		case ast.ListKind:
			for _, el := range e.AsList().Elements() {
				walk(el, shadowed)
			}
		case ast.MapKind:
			for _, en := range e.AsMap().Entries() {
				en := en.AsMapEntry()
				walk(en.Key(), shadowed)
				walk(en.Value(), shadowed)
			}
		case ast.StructKind:
			for _, f := range e.AsStruct().Fields() {
				walk(f.AsStructField().Value(), shadowed)
			}
		case ast.ComprehensionKind:
			c := e.AsComprehension()
			walk(c.IterRange(), shadowed)
			walk(c.AccuInit(), shadowed)
			inner := map[string]bool{c.IterVar(): true, c.AccuVar(): true}
			if c.HasIterVar2() {
				inner[c.IterVar2()] = true
			}
			for k := range shadowed {
				inner[k] = true
			}
			walk(c.LoopCondition(), inner)
			walk(c.LoopStep(), inner)
			walk(c.Result(), inner)
		}
	}
	walk(e, nil)
}

// rootOf reports whether e is the variable task or worker itself.
func rootOf(e ast.Expr, shadowed map[string]bool) (string, bool) {
	if e.Kind() != ast.IdentKind {
		return "", false
	}
	switch name := e.AsIdent(); name {
	case "task", "worker":
		return name, !shadowed[name]
	}
	return "", false
}
