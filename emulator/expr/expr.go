// Package expr is TaskRouter's expression language: the SQL-like
// expressions of TaskQueue target_workers, workflow filter expressions and
// workflow target expressions, as Twilio documents them at
// https://www.twilio.com/docs/taskrouter/expression-syntax.
//
// An expression is comparisons joined by AND/&& and OR/|| (AND binds
// tighter) and grouped by parentheses, for example
//
//	(skills HAS 'support') AND (languages HAS "english")
//	selected_language == "es" OR task.priority >= 5.1
//	worker.activity_name in ['Generally Available', 'High Value Tasks']
//
// Each side of a comparison is a constant (a string in single or double
// quotes, a number, true or false), a list of constants (['en', "es", 1]),
// or a JSON key: dot-separated names with optional array indices
// (object.array[2]), resolved against the attributes being matched.
//
// What each operator means (a comma separates two spellings of one):
//
//	==, =     both sides are the same scalar: equal strings, equal numbers or equal booleans
//	!=        both sides are scalars of the same type and differ
//	>         both numbers and the left is greater, or both strings and the left sorts after
//	>=        as >, or equal
//	<         both numbers and the left is smaller, or both strings and the left sorts before
//	<=        as <, or equal
//	HAS, ->   the left side is a list and one of its elements equals the right side
//	CONTAINS  the right side is a string contained in the left side, a string, or in
//	          one of the strings of the left side, a list
//	IN        the right side is a list and one of its elements equals the left side
//	NOT IN    the right side is a list and none of its elements equals the left side
//
// Numbers compare numerically and strings byte-wise; AND (or &&) binds
// tighter than OR (or ||).
//
// One exception to "different types never compare": in an ordered
// comparison (>, >=, <, <=) of a string with a number, a string that is a
// plain decimal number ("08", "-2", "5.1") is compared as that number.
// Twilio's own time-of-day examples need it: taskrouter.currentHour is
// documented as an "HH" string and compared with numbers
// (`taskrouter.currentHour > 8 AND taskrouter.currentHour < 18`). Equality
// stays strict (the number 5 and the string "5" are not ==), which Twilio
// documents nothing about, and two strings still compare byte-wise.
//
// Keywords (AND, OR, HAS, IN, NOT IN, CONTAINS, true, false) are
// case-insensitive: Twilio's own examples write both `IN` and `in`. String
// comparisons are exact and case-sensitive; Twilio documents no case folding.
//
// Twilio documents that a key the attributes do not contain resolves to
// NULL, and that comparisons between different types "should be avoided";
// it does not document their results. This package follows SQL, whose
// syntax TaskRouter's borrows: a comparison with NULL is not true, and
// neither is one between different types. So a comparison is false, with
// every operator including != and NOT IN, when a side is missing or JSON
// null, when the two sides are of different types (the number 1 and the
// string "1"), or when the operator is given the wrong shape (a list to ==,
// a scalar to HAS, a list to the left of IN). Only that comparison is false:
// `missing == 1 OR 1 == 1` is true.
//
// Twilio documents no escapes inside strings. This package lets a backslash
// take the next character literally (so 'it\'s' and "a\\b" can be written);
// that is an extension, and an expression relying on it may not mean the same
// to TaskRouter.
//
// Twilio does not support hyphens in expressions, so a key like
// first-name is a syntax error; so is anything else Twilio's grammar does not
// have (a bare key without a comparison, a NOT without IN).
package expr

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Expr is a parsed expression, safe for concurrent use by many goroutines:
// Eval only reads it.
type Expr struct {
	src  string
	root node
}

// Vars are the attributes an expression reads, as encoding/json decodes
// them: objects are map[string]any and lists []any (a []string built in code
// is not a list here, and compares false). Bare identifiers resolve in
// Bare; a path whose first element names a root in Roots (e.g. "task",
// "worker") resolves there, with the rest of the path (TaskRouter: `task.`
// attributes inside target expressions and target_workers). A root shadows a
// Bare attribute of the same name.
type Vars struct {
	Bare  map[string]any
	Roots map[string]map[string]any
}

// SyntaxError is why Parse refused an expression. Pos is the byte offset in
// the source (0-based) where the problem was found. Error() carries no
// prefix because callers wrap it in their own ("Invalid TargetWorkers
// expression ...: expected a value, found end of expression at position 13").
type SyntaxError struct {
	Pos int
	Msg string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("%s at position %d", e.Msg, e.Pos)
}

// String returns the source the expression was parsed from.
func (e *Expr) String() string { return e.src }

// Eval reports whether the attributes in v satisfy the expression. It never
// panics and never errs: what Parse accepted is evaluated against whatever
// the attributes hold, and a comparison that cannot be true is false (see
// the package comment).
func (e *Expr) Eval(v Vars) bool { return e.root.eval(v) }

// node is one part of the parsed expression. canon prints it in a canonical
// form that parses back to the same tree (the fuzz target checks this).
type node interface {
	eval(v Vars) bool
	canon(b *strings.Builder)
}

type orNode struct{ left, right node }

func (n orNode) eval(v Vars) bool { return n.left.eval(v) || n.right.eval(v) }
func (n orNode) canon(b *strings.Builder) {
	b.WriteByte('(')
	n.left.canon(b)
	b.WriteString(" " + orSpellings[0] + " ")
	n.right.canon(b)
	b.WriteByte(')')
}

type andNode struct{ left, right node }

func (n andNode) eval(v Vars) bool { return n.left.eval(v) && n.right.eval(v) }
func (n andNode) canon(b *strings.Builder) {
	b.WriteByte('(')
	n.left.canon(b)
	b.WriteString(" " + andSpellings[0] + " ")
	n.right.canon(b)
	b.WriteByte(')')
}

// op is a comparison operator.
type op int

const (
	opEq op = iota
	opNe
	opGt
	opGe
	opLt
	opLe
	opHas
	opContains
	opIn
	opNotIn
	numOps
)

// spellings is the one list of how each operator may be written, the
// canonical spelling first; the lexer, the parser, the canonical printer and
// the error messages all derive from it. Words match case-insensitively.
var spellings = [numOps][]string{
	opEq:       {"==", "="},
	opNe:       {"!="},
	opGt:       {">"},
	opGe:       {">="},
	opLt:       {"<"},
	opLe:       {"<="},
	opHas:      {"HAS", "->"},
	opContains: {"CONTAINS"},
	opIn:       {"IN"},
	opNotIn:    {"NOT IN"},
}

// The logical operators' spellings, canonical first.
var (
	andSpellings = []string{"AND", "&&"}
	orSpellings  = []string{"OR", "||"}
)

func (o op) String() string { return spellings[o][0] }

type cmpNode struct {
	left, right operand
	op          op
}

func (n cmpNode) canon(b *strings.Builder) {
	n.left.canon(b)
	b.WriteByte(' ')
	b.WriteString(n.op.String())
	b.WriteByte(' ')
	n.right.canon(b)
}

func (n cmpNode) eval(v Vars) bool {
	l, ok := n.left.value(v)
	if !ok {
		return false
	}
	r, ok := n.right.value(v)
	if !ok {
		return false
	}
	switch n.op {
	case opEq:
		return equal(l, r)
	case opNe:
		c, ok := compare(l, r)
		return ok && c != 0
	case opGt, opGe, opLt, opLe:
		return ordered(n.op, l, r)
	case opHas:
		return member(r, l)
	case opIn:
		return member(l, r)
	case opNotIn:
		list, ok := r.([]any)
		return ok && isScalar(l) && !member(l, list)
	case opContains:
		return contains(l, r)
	}
	return false
}

// operand is one side of a comparison: a constant, a list of constants or a
// key path. value reports false when the attributes do not hold the key
// (TaskRouter's NULL).
type operand interface {
	value(v Vars) (any, bool)
	canon(b *strings.Builder)
}

// constant is a string, float64 or bool literal, or a []any of them.
type constant struct{ v any }

func (c constant) value(Vars) (any, bool) { return c.v, true }
func (c constant) canon(b *strings.Builder) {
	canonValue(b, c.v)
}

func canonValue(b *strings.Builder, v any) {
	switch x := v.(type) {
	case string:
		// Only the two escapes the lexer knows, so the result parses back.
		b.WriteByte('"')
		for i := 0; i < len(x); i++ {
			if x[i] == '"' || x[i] == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(x[i])
		}
		b.WriteByte('"')
	case float64:
		b.WriteString(strconv.FormatFloat(x, 'g', -1, 64))
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			canonValue(b, e)
		}
		b.WriteByte(']')
	}
}

// step is one element of a key path: a name, or an index when name is "".
type step struct {
	name  string
	index int
}

type path []step

func (p path) canon(b *strings.Builder) {
	for i, s := range p {
		switch {
		case s.name == "":
			fmt.Fprintf(b, "[%d]", s.index)
		case i > 0:
			b.WriteByte('.')
			b.WriteString(s.name)
		default:
			b.WriteString(s.name)
		}
	}
}

func (p path) value(v Vars) (any, bool) {
	var cur any = v.Bare
	rest := p
	if root, ok := v.Roots[p[0].name]; ok {
		cur, rest = root, p[1:]
	}
	for _, s := range rest {
		if s.name == "" {
			list, ok := cur.([]any)
			if !ok || s.index >= len(list) {
				return nil, false
			}
			cur = list[s.index]
			continue
		}
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[s.name]; !ok {
			return nil, false
		}
	}
	if cur == nil {
		return nil, false // JSON null is TaskRouter's NULL too
	}
	return cur, true
}

// number returns x as a float64 when it is a number: what encoding/json
// decodes (float64, or json.Number with UseNumber) and Go's integer types for
// attributes built in code.
func number(x any) (float64, bool) {
	switch n := x.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case int32:
		return float64(n), true
	case uint:
		return float64(n), true
	case uint64:
		return float64(n), true
	case uint32:
		return float64(n), true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

func isScalar(x any) bool {
	switch x.(type) {
	case string, bool:
		return true
	}
	_, ok := number(x)
	return ok
}

// compare orders two scalars of the same type: -1, 0 or +1, and false when
// they are not scalars of the same type. Booleans have no order: two
// different ones give +1, which only equality may use (ordered refuses
// booleans).
func compare(l, r any) (int, bool) {
	if ln, ok := number(l); ok {
		rn, ok := number(r)
		switch {
		case !ok:
			return 0, false
		case ln < rn:
			return -1, true
		case ln > rn:
			return 1, true
		case ln == rn:
			return 0, true
		}
		return 0, false // NaN cannot come from JSON, but is never equal
	}
	switch lv := l.(type) {
	case string:
		rv, ok := r.(string)
		return strings.Compare(lv, rv), ok
	case bool:
		rv, ok := r.(bool)
		if !ok {
			return 0, false
		}
		if lv == rv {
			return 0, true
		}
		return 1, true
	}
	return 0, false
}

func equal(l, r any) bool {
	c, ok := compare(l, r)
	return ok && c == 0
}

func ordered(o op, l, r any) bool {
	if _, isBool := l.(bool); isBool {
		return false
	}
	l, r = numericStrings(l, r)
	c, ok := compare(l, r)
	if !ok {
		return false
	}
	switch o {
	case opGt:
		return c > 0
	case opGe:
		return c >= 0
	case opLt:
		return c < 0
	case opLe:
		return c <= 0
	}
	return false
}

// numericStrings turns a decimal string compared with a number into that
// number (see the package comment: Twilio's taskrouter.currentHour > 8).
func numericStrings(l, r any) (any, any) {
	if s, ok := l.(string); ok {
		if _, num := number(r); num {
			if f, ok := decimal(s); ok {
				return f, r
			}
		}
	}
	if s, ok := r.(string); ok {
		if _, num := number(l); num {
			if f, ok := decimal(s); ok {
				return l, f
			}
		}
	}
	return l, r
}

// decimal parses a plain decimal number: an optional sign, digits and an
// optional fraction. Not what strconv.ParseFloat also takes (exponents, hex,
// "Inf", "NaN", underscores), which no attribute means as a number.
func decimal(s string) (float64, bool) {
	body := strings.TrimLeft(s, "+-")
	if len(s)-len(body) > 1 || body == "" {
		return 0, false
	}
	intPart, frac, hasDot := strings.Cut(body, ".")
	if intPart == "" || !allDigits(intPart) || (hasDot && (frac == "" || !allDigits(frac))) {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// member reports whether list is a list holding an element equal to the
// scalar x.
func member(x, list any) bool {
	l, ok := list.([]any)
	if !ok || !isScalar(x) {
		return false
	}
	for _, e := range l {
		if equal(x, e) {
			return true
		}
	}
	return false
}

func contains(l, r any) bool {
	sub, ok := r.(string)
	if !ok {
		return false
	}
	switch lv := l.(type) {
	case string:
		return strings.Contains(lv, sub)
	case []any:
		for _, e := range lv {
			if s, ok := e.(string); ok && strings.Contains(s, sub) {
				return true
			}
		}
	}
	return false
}
