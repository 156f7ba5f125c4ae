package rules

import (
	"errors"
	"strings"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
)

// attrPaths maps the ID of each expression in a condition that reads the
// reservation's data along a fixed path (task.customer.tier,
// worker["skills"]["billing"], reservation.params.Team) to that path. CEL
// labels an evaluation error with the ID of the expression that failed
// (types.Err.NodeID), so a failed read is recognised by where it happened,
// not by the words of its message.
type attrPaths map[int64][]string

func newAttrPaths(checked *cel.Ast) attrPaths {
	paths := attrPaths{}
	root := ast.NavigateAST(checked.NativeRep())
	for _, e := range ast.MatchDescendants(root, ast.AllMatcher()) {
		if p, ok := fixedPath(e); ok && len(p) > 1 {
			paths[e.ID()] = p
		}
	}
	return paths
}

// fixedPath is the path e reads from a variable, when every step is a field
// selection or an index by a string literal. Presence tests (has) and
// optional selections never fail on a missing key, so they are not paths.
func fixedPath(e ast.Expr) ([]string, bool) {
	switch e.Kind() {
	case ast.IdentKind:
		switch name := e.AsIdent(); name {
		case "task", "worker", "reservation":
			return []string{name}, true
		}
	case ast.SelectKind:
		s := e.AsSelect()
		if s.IsTestOnly() {
			return nil, false
		}
		if p, ok := fixedPath(s.Operand()); ok {
			return append(p, s.FieldName()), true
		}
	case ast.CallKind:
		c := e.AsCall()
		if c.FunctionName() != operators.Index || len(c.Args()) != 2 || c.Args()[1].Kind() != ast.LiteralKind {
			return nil, false
		}
		key, isStr := c.Args()[1].AsLiteral().(types.String)
		if !isStr {
			return nil, false
		}
		if p, ok := fixedPath(c.Args()[0]); ok {
			return append(p, string(key)), true
		}
	}
	return nil, false
}

// missing reports the attribute whose absence caused err: err must come
// from one of the paths' expressions, and walking that path through the
// reservation's data must stop at a map that lacks the next key. Anything
// else (a wrong type, a rule's own map literal, a bad index) is a real error.
func (paths attrPaths) missing(err error, act *activation) (string, bool) {
	var celErr *types.Err
	if !errors.As(err, &celErr) {
		return "", false
	}
	path, ok := paths[celErr.NodeID()]
	if !ok {
		return "", false
	}
	cur, _ := act.ResolveName(path[0])
	for i, key := range path[1:] {
		var found bool
		switch m := cur.(type) {
		case map[string]any:
			cur, found = m[key]
		case map[string]string:
			cur, found = m[key]
		default:
			return "", false // not a map: a type error, not a missing key
		}
		if !found {
			return strings.Join(path[:i+2], "."), true
		}
	}
	return "", false
}
