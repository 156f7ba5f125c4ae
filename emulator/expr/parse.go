package expr

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The grammar is small and fixed, so a hand-written lexer and
// recursive-descent parser is clearer than a parser generator would be, and
// it gives exact positions for errors without another dependency:
//
//	expr       = and { or-op and }            or-op: orSpellings
//	and        = primary { and-op primary }   and-op: andSpellings
//	primary    = "(" expr ")" | comparison
//	comparison = operand cmp-op operand       cmp-op: spellings ("NOT IN" is two words)
//	operand    = string | number | "true" | "false" | list | path
//	list       = "[" [ constant { "," constant } ] "]"
//	path       = name { "." name | "[" digits "]" }
//	name       = letter_or_underscore { letter_or_underscore | digit }

// maxDepth bounds nested parentheses so that a hostile expression cannot
// make the recursive parser use unbounded stack.
const maxDepth = 64

type tokKind int

const (
	tEOF tokKind = iota
	tLParen
	tRParen
	tLBrack
	tRBrack
	tComma
	tDot
	tString
	tNumber
	tName // identifier or keyword; keywords are recognised by the parser
	tOp   // a symbolic spelling from spellings, andSpellings or orSpellings
)

type token struct {
	kind tokKind
	pos  int
	text string // the source text, or a string literal's value
}

func (t token) describe() string {
	switch t.kind {
	case tEOF:
		return "end of expression"
	case tString:
		return strconv.Quote(t.text)
	}
	return "'" + t.text + "'"
}

func isLetter(c byte) bool { return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool  { return '0' <= c && c <= '9' }

// lex splits src into tokens.
func lex(src string) ([]token, error) {
	var toks []token
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(' || c == ')' || c == '[' || c == ']' || c == ',' || c == '.':
			toks = append(toks, token{punct(c), i, src[i : i+1]})
			i++
		case c == '"' || c == '\'':
			s, j, err := scanString(src, i)
			if err != nil {
				return nil, err
			}
			toks = append(toks, token{tString, i, s})
			i = j
		case isDigit(c) || c == '-' && i+1 < len(src) && isDigit(src[i+1]):
			j := scanNumber(src, i)
			if j < len(src) && (isLetter(src[j]) || src[j] == '.' || src[j] == '-') {
				return nil, &SyntaxError{Pos: i, Msg: fmt.Sprintf("invalid number %q", src[i:j+1])}
			}
			toks = append(toks, token{tNumber, i, src[i:j]})
			i = j
		case isLetter(c):
			j := i + 1
			for j < len(src) && (isLetter(src[j]) || isDigit(src[j])) {
				j++
			}
			if j < len(src) && src[j] == '-' && opLen(src[j:]) == 0 {
				return nil, &SyntaxError{Pos: j, Msg: "hyphens are not supported in TaskRouter expressions"}
			}
			toks = append(toks, token{tName, i, src[i:j]})
			i = j
		default:
			if n := opLen(src[i:]); n > 0 {
				toks = append(toks, token{tOp, i, src[i : i+n]})
				i += n
				continue
			}
			r, _ := utf8.DecodeRuneInString(src[i:])
			return nil, &SyntaxError{Pos: i, Msg: fmt.Sprintf("unexpected character %q", r)}
		}
	}
	return append(toks, token{tEOF, len(src), ""}), nil
}

func punct(c byte) tokKind {
	switch c {
	case '(':
		return tLParen
	case ')':
		return tRParen
	case '[':
		return tLBrack
	case ']':
		return tRBrack
	case ',':
		return tComma
	}
	return tDot
}

// opLen is the length of the longest symbolic operator (one of spellings,
// andSpellings or orSpellings) at the start of s, or 0.
func opLen(s string) int {
	n := 0
	check := func(sp string) {
		if !isLetter(sp[0]) && len(sp) > n && strings.HasPrefix(s, sp) {
			n = len(sp)
		}
	}
	for _, sps := range spellings {
		for _, sp := range sps {
			check(sp)
		}
	}
	for _, sps := range [...][]string{andSpellings, orSpellings} {
		for _, sp := range sps {
			check(sp)
		}
	}
	return n
}

// scanNumber returns the end of the number starting at i: an optional minus,
// digits, an optional fraction and an optional exponent. Validity is checked
// by strconv when the parser converts it.
func scanNumber(src string, i int) int {
	j := i
	if src[j] == '-' {
		j++
	}
	for j < len(src) && isDigit(src[j]) {
		j++
	}
	if j < len(src) && src[j] == '.' {
		j++
		for j < len(src) && isDigit(src[j]) {
			j++
		}
	}
	if j < len(src) && (src[j] == 'e' || src[j] == 'E') {
		k := j + 1
		if k < len(src) && (src[k] == '+' || src[k] == '-') {
			k++
		}
		if k < len(src) && isDigit(src[k]) {
			for k < len(src) && isDigit(src[k]) {
				k++
			}
			j = k
		}
	}
	return j
}

// scanString reads the quoted string starting at src[i] (either quote).
// A backslash escapes the next character, so a quote of the same kind can
// appear inside; Twilio documents no other escapes.
func scanString(src string, i int) (string, int, error) {
	q := src[i]
	var b strings.Builder
	for j := i + 1; j < len(src); j++ {
		switch src[j] {
		case q:
			return b.String(), j + 1, nil
		case '\\':
			if j+1 < len(src) {
				j++
			}
		}
		b.WriteByte(src[j])
	}
	return "", 0, &SyntaxError{Pos: i, Msg: "unterminated string"}
}

// Parse compiles a TaskRouter expression (workflow filter expressions,
// workflow target expressions, TaskQueue target_workers). A syntax error
// returns *SyntaxError saying what was expected and where.
func Parse(src string) (*Expr, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	if p.peek().kind == tEOF {
		return nil, &SyntaxError{Pos: 0, Msg: "empty expression"}
	}
	root, err := p.expr(0)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		if t.kind == tRParen {
			return nil, &SyntaxError{Pos: t.pos, Msg: "unbalanced parenthesis: ')' without '('"}
		}
		return nil, &SyntaxError{Pos: t.pos, Msg: fmt.Sprintf("expected %s, %s or end of expression, found %s", andSpellings[0], orSpellings[0], t.describe())}
	}
	return &Expr{src: src, root: root}, nil
}

type parser struct {
	toks []token
	i    int
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

// keyword reports whether t is the case-insensitive keyword kw.
func keyword(t token, kw string) bool { return t.kind == tName && strings.EqualFold(t.text, kw) }

// spelled reports whether t is one of sps: a symbol exactly, a word in any case.
func spelled(t token, sps []string) bool {
	for _, sp := range sps {
		if t.kind == tOp && t.text == sp || keyword(t, sp) {
			return true
		}
	}
	return false
}

// reserved reports whether t is a word that spells an operator, so cannot
// start a key path.
func reserved(t token) bool {
	if spelled(t, andSpellings) || spelled(t, orSpellings) {
		return true
	}
	for _, sps := range spellings {
		for _, sp := range sps {
			if first, _, _ := strings.Cut(sp, " "); keyword(t, first) {
				return true
			}
		}
	}
	return false
}

// operatorList names the comparison operators for error messages.
func operatorList() string {
	names := make([]string, numOps)
	for o := range numOps {
		names[o] = o.String()
	}
	return strings.Join(names[:numOps-1], ", ") + " or " + names[numOps-1]
}

func (p *parser) expr(depth int) (node, error) {
	left, err := p.and(depth)
	if err != nil {
		return nil, err
	}
	for t := p.peek(); spelled(t, orSpellings); t = p.peek() {
		p.next()
		right, err := p.and(depth)
		if err != nil {
			return nil, err
		}
		left = orNode{left, right}
	}
	return left, nil
}

func (p *parser) and(depth int) (node, error) {
	left, err := p.primary(depth)
	if err != nil {
		return nil, err
	}
	for t := p.peek(); spelled(t, andSpellings); t = p.peek() {
		p.next()
		right, err := p.primary(depth)
		if err != nil {
			return nil, err
		}
		left = andNode{left, right}
	}
	return left, nil
}

func (p *parser) primary(depth int) (node, error) {
	t := p.peek()
	if t.kind != tLParen {
		return p.comparison()
	}
	if depth >= maxDepth {
		return nil, &SyntaxError{Pos: t.pos, Msg: fmt.Sprintf("parentheses nested deeper than %d", maxDepth)}
	}
	p.next()
	n, err := p.expr(depth + 1)
	if err != nil {
		return nil, err
	}
	if c := p.next(); c.kind != tRParen {
		if c.kind == tEOF {
			return nil, &SyntaxError{Pos: t.pos, Msg: "unbalanced parenthesis: '(' is never closed"}
		}
		return nil, &SyntaxError{Pos: c.pos, Msg: fmt.Sprintf("expected ')', %s or %s, found %s", andSpellings[0], orSpellings[0], c.describe())}
	}
	return n, nil
}

func (p *parser) comparison() (node, error) {
	left, err := p.operand()
	if err != nil {
		return nil, err
	}
	o, err := p.operator()
	if err != nil {
		return nil, err
	}
	right, err := p.operand()
	if err != nil {
		return nil, err
	}
	return cmpNode{left: left, right: right, op: o}, nil
}

func (p *parser) operator() (op, error) {
	t := p.next()
	for o, sps := range spellings {
		for _, sp := range sps {
			first, second, twoWords := strings.Cut(sp, " ") // "NOT IN"
			if t.kind == tOp && t.text != first || t.kind != tOp && !keyword(t, first) {
				continue
			}
			if twoWords {
				if n := p.next(); !keyword(n, second) {
					return 0, &SyntaxError{Pos: n.pos, Msg: fmt.Sprintf("expected %s after %s, found %s", second, t.text, n.describe())}
				}
			}
			return op(o), nil
		}
	}
	if t.kind == tEOF {
		return 0, &SyntaxError{Pos: t.pos, Msg: "expected a comparison operator (" + operatorList() + "), found end of expression"}
	}
	return 0, &SyntaxError{Pos: t.pos, Msg: fmt.Sprintf("unknown operator %s: expected %s", t.describe(), operatorList())}
}

func (p *parser) operand() (operand, error) {
	t := p.peek()
	switch t.kind {
	case tLBrack:
		return p.list()
	case tName:
		if reserved(t) {
			return nil, &SyntaxError{Pos: t.pos, Msg: fmt.Sprintf("expected a value or attribute, found operator %s", t.describe())}
		}
		if !keyword(t, "true") && !keyword(t, "false") {
			return p.path()
		}
	}
	c, err := p.constant()
	if err != nil {
		return nil, err
	}
	return constant{c}, nil
}

// constant parses a string, number or boolean.
func (p *parser) constant() (any, error) {
	t := p.next()
	switch {
	case t.kind == tString:
		return t.text, nil
	case t.kind == tNumber:
		f, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			return nil, &SyntaxError{Pos: t.pos, Msg: fmt.Sprintf("invalid number %q", t.text)}
		}
		return f, nil
	case keyword(t, "true"):
		return true, nil
	case keyword(t, "false"):
		return false, nil
	case t.kind == tEOF:
		return nil, &SyntaxError{Pos: t.pos, Msg: "expected a value, found end of expression"}
	}
	return nil, &SyntaxError{Pos: t.pos, Msg: fmt.Sprintf("expected a value, found %s", t.describe())}
}

func (p *parser) list() (operand, error) {
	open := p.next()
	list := []any{}
	if p.peek().kind == tRBrack {
		p.next()
		return constant{list}, nil
	}
	for {
		c, err := p.constant()
		if err != nil {
			return nil, err
		}
		list = append(list, c)
		switch t := p.next(); t.kind {
		case tComma:
			continue
		case tRBrack:
			return constant{list}, nil
		case tEOF:
			return nil, &SyntaxError{Pos: open.pos, Msg: "unbalanced bracket: '[' is never closed"}
		default:
			return nil, &SyntaxError{Pos: t.pos, Msg: fmt.Sprintf("expected ',' or ']' in list, found %s", t.describe())}
		}
	}
}

func (p *parser) path() (operand, error) {
	t := p.next()
	pa := path{{name: t.text}}
	for {
		switch p.peek().kind {
		case tDot:
			p.next()
			n := p.next()
			if n.kind != tName {
				return nil, &SyntaxError{Pos: n.pos, Msg: fmt.Sprintf("expected an attribute name after '.', found %s", n.describe())}
			}
			pa = append(pa, step{name: n.text})
		case tLBrack:
			p.next()
			n := p.next()
			idx, err := strconv.Atoi(n.text)
			if n.kind != tNumber || err != nil || idx < 0 {
				return nil, &SyntaxError{Pos: n.pos, Msg: fmt.Sprintf("expected an array index, found %s", n.describe())}
			}
			if c := p.next(); c.kind != tRBrack {
				return nil, &SyntaxError{Pos: c.pos, Msg: fmt.Sprintf("expected ']' after array index, found %s", c.describe())}
			}
			pa = append(pa, step{index: idx})
		default:
			return pa, nil
		}
	}
}
