package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/ext"
	"go.yaml.in/yaml/v3"

	"github.com/assignd/assignd/policy"
)

// file is the YAML layout of a rules file.
type file struct {
	Rules     []ruleSpec     `yaml:"rules"`
	Default   map[string]any `yaml:"default"`
	Fallback  map[string]any `yaml:"on_error"`
	CostLimit uint64         `yaml:"cost_limit"`
}

type ruleSpec struct {
	Name        string         `yaml:"name"`
	Description string         `yaml:"description"`
	When        string         `yaml:"when"`
	Then        map[string]any `yaml:"then"`
}

// LoadError lists every problem found in a rules file, each prefixed with the
// file and the rule it belongs to.
type LoadError struct {
	Source   string
	Problems []string
}

func (e *LoadError) Error() string {
	if len(e.Problems) == 1 {
		return e.Problems[0]
	}
	return fmt.Sprintf("%s: %d problems:\n  %s", e.Source, len(e.Problems), strings.Join(e.Problems, "\n  "))
}

// LoadFile reads and compiles the rules file at path.
func LoadFile(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read policy: %w", err)
	}
	return Parse(path, data)
}

// Parse compiles a rules file; source names it in errors.
func Parse(source string, data []byte, opts ...Option) (*Policy, error) {
	f, err := decodeFile(source, data)
	if err != nil {
		return nil, err
	}
	c, err := newCompiler(source, f.CostLimit, opts)
	if err != nil {
		return nil, err
	}
	c.pos = positionsOf(data)
	p := &Policy{source: source, costLimit: c.costLimit, costNote: c.costNote, eval: c.eval}
	p.rules = c.rules(f.Rules)
	c.line = c.pos.def
	p.def = c.defaultAction(f.Default)
	p.defReads, p.defUses = c.reads, c.uses
	c.line = c.pos.onError
	p.fallback = c.fallback(f.Fallback)
	if len(c.problems) > 0 {
		return nil, &LoadError{Source: source, Problems: c.problems}
	}
	return p, nil
}

// decodeFile reads the YAML, refusing unknown keys (all of them listed,
// before anything else is checked).
func decodeFile(source string, data []byte) (file, error) {
	var f file
	if problems := unknownKeys(source, data); len(problems) > 0 {
		return f, &LoadError{Source: source, Problems: problems}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return f, &LoadError{Source: source, Problems: []string{yamlProblem(source, err)}}
	}
	return f, nil
}

// yamlLine is the position yaml's own errors start with.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

// yamlProblem is the decoder's error as a problem: source:line: first, like
// every other problem, when yaml names one line.
func yamlProblem(source string, err error) string {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("%s:%s: %s", source, m[1], msg[len(m[0]):])
	}
	return fmt.Sprintf("%s: %v", source, err)
}

// positions are the lines of a file's parts, for problems and lint to
// point at; 0 where a part is absent.
type positions struct {
	rules        []rulePosition
	def, onError int
}

// rulePosition is the line of a rule, of its when and of its then.
type rulePosition struct {
	rule, when, then int
}

// positionsOf reads the lines from the YAML's nodes; a file the decoder
// refuses never gets here.
func positionsOf(data []byte) positions {
	var doc yaml.Node
	var p positions
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return p
	}
	top := doc.Content[0]
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		switch k.Value {
		case "default":
			p.def = k.Line
		case "on_error":
			p.onError = k.Line
		case "rules":
			if v.Kind != yaml.SequenceNode {
				continue
			}
			for _, r := range v.Content {
				rp := rulePosition{rule: r.Line, when: r.Line, then: r.Line}
				for j := 0; r.Kind == yaml.MappingNode && j+1 < len(r.Content); j += 2 {
					switch r.Content[j].Value {
					case "when":
						rp.when = r.Content[j+1].Line
					case "then":
						rp.then = r.Content[j].Line
					}
				}
				p.rules = append(p.rules, rp)
			}
		}
	}
	return p
}

// at is the position of rule i, zero when the nodes did not say.
func (p positions) at(i int) rulePosition {
	if i < len(p.rules) {
		return p.rules[i]
	}
	return rulePosition{}
}

// rules compiles the rules in order, keeping those without problems.
func (c *compiler) rules(specs []ruleSpec) []rule {
	var out []rule
	seen := map[string]bool{}
	for i, spec := range specs {
		pos := c.pos.at(i)
		c.line = pos.rule
		where := fmt.Sprintf("rule %d", i+1)
		if spec.Name == "" {
			c.problem(where, "name is required")
		} else {
			where = fmt.Sprintf("rule %q", spec.Name)
			if seen[spec.Name] {
				c.problem(where, "name is used by an earlier rule")
			}
			seen[spec.Name] = true
		}
		if r, ok := c.rule(where, spec, pos); ok {
			out = append(out, r)
		}
	}
	return out
}

// rule compiles one rule's when and then; where names it in problems.
func (c *compiler) rule(where string, spec ruleSpec, pos rulePosition) (rule, bool) {
	if strings.TrimSpace(spec.When) == "" {
		c.problem(where, "when is required (use `true` for a catch-all)")
		return rule{}, false
	}
	c.line, c.reads, c.uses = pos.when, nil, uses{}
	prg, checked, ok := c.compile(where+": when", spec.When, cel.BoolType)
	if spec.Then == nil {
		c.problem(where, "then is required")
		return rule{}, false
	}
	c.line = pos.then
	act, aok := c.action(where+": then", spec.Then)
	if !ok || !aok {
		return rule{}, false
	}
	paths, err := newAttrPaths(c.env, checked, c.eval.programOptions(c.costLimit, cel.EvalOptions(cel.OptTrackState)))
	if err != nil {
		c.problem(where+": when", "%v", err)
		return rule{}, false
	}
	return rule{name: spec.Name, when: prg, paths: paths, then: act, line: pos.rule, reads: c.reads, uses: c.uses}, true
}

// defaultAction compiles default, the decision when no rule matches.
func (c *compiler) defaultAction(spec map[string]any) action {
	c.reads, c.uses = nil, uses{}
	if spec == nil {
		c.problem("default", "is required: the decision when no rule matches")
		return action{}
	}
	act, ok := c.action("default", spec)
	if !ok {
		return action{}
	}
	return act
}

// fallback compiles on_error into a fixed decision: it answers when
// evaluation has failed, so it cannot evaluate anything itself.
func (c *compiler) fallback(spec map[string]any) policy.Decision {
	if spec == nil {
		c.problem("on_error", "is required: the decision when evaluation fails or is too slow")
		return policy.Decision{}
	}
	act, ok := c.action("on_error", spec)
	if !ok {
		return policy.Decision{}
	}
	if act.fixed == nil && !act.later {
		c.problem("on_error", "must not use expressions: it answers when evaluation has failed")
		return policy.Decision{}
	}
	d := policy.Decision{Instruction: act.fixed, Async: act.async, Delay: act.delay, Rule: "on_error"}
	if err := d.ValidateFallback(); err != nil {
		c.problem("on_error", "%v", err)
	}
	return d
}

// compiler compiles the expressions of one file and collects its problems.
type compiler struct {
	source    string
	env       *cel.Env
	costLimit uint64
	costNote  string // why costLimit is less than the file asked for
	eval      evaluator
	problems  []string
	// pos are the file's lines; line is the one the part being compiled
	// is at (0: unknown), which problems start with.
	pos  positions
	line int
	// reads gathers the attribute names the expressions of the part being
	// compiled read (AttributeReads).
	reads []AttributeRead
	// uses says whether they read attributes at all (named or not) and
	// the reservation's extra parameters.
	uses uses
}

func newCompiler(source string, asked uint64, opts []Option) (*compiler, error) {
	env, err := cel.NewEnv(
		cel.Variable("task", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("worker", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("reservation", cel.MapType(cel.StringType, cel.DynType)),
		cel.OptionalTypes(),
		ext.Strings(),
	)
	if err != nil {
		return nil, fmt.Errorf("cel environment: %w", err)
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	costLimit, note := o.costLimit(asked)
	return &compiler{source: source, env: env, costLimit: costLimit, costNote: note, eval: newEvaluator(costLimit)}, nil
}

// problem records a problem as source:line: where: what (source: where:
// what for a part the file lacks, such as a missing default).
func (c *compiler) problem(where, format string, args ...any) {
	at := c.source
	if c.line > 0 {
		at = fmt.Sprintf("%s:%d", c.source, c.line)
	}
	c.problems = append(c.problems, fmt.Sprintf("%s: %s: %s", at, where, fmt.Sprintf(format, args...)))
}

// compile parses and type-checks expr, which must yield want (or dyn, whose
// type is checked when it runs). It returns the checked AST too.
func (c *compiler) compile(where, expr string, want *cel.Type) (cel.Program, *cel.Ast, bool) {
	ast, iss := c.env.Compile(expr)
	if iss.Err() != nil {
		c.problem(where, "%v", strings.ReplaceAll(iss.Err().Error(), "\n", "\n    "))
		return nil, nil, false
	}
	if out := ast.OutputType(); !out.IsExactType(want) && !out.IsExactType(cel.DynType) {
		c.problem(where, "expression gives %s, want %s", out, want)
		return nil, nil, false
	}
	prg, err := c.env.Program(ast, c.eval.programOptions(c.costLimit, cel.EvalOptions(cel.OptOptimize))...)
	if err != nil {
		c.problem(where, "%v", err)
		return nil, nil, false
	}
	c.reads = appendReads(c.reads, ast.NativeRep().Expr(), c.line)
	c.uses = c.uses.or(usesOf(ast.NativeRep().Expr()))
	return prg, ast, true
}

// action compiles a `then` block: instruction, optional async and delay, and
// the instruction's fields, where a string starting with "=" is a CEL
// expression ("==" escapes a literal "=").
func (c *compiler) action(where string, spec map[string]any) (action, bool) {
	a, fields, ok, readable := c.actionKeys(where, spec)
	if !readable || !c.knownInstruction(where, a.name) {
		return a, false
	}
	if a.name == policy.Later {
		a.later = true
		return a, c.laterAlone(where, a, fields) && ok
	}
	if a.delay != 0 && !a.async {
		c.problem(where, "delay applies only with async: true")
		ok = false
	}
	literal, placeholders, compiled := c.fieldExprs(where, &a, fields)
	ins, checked := c.probe(where, a.name, literal, placeholders)
	if ins == nil {
		return a, false
	}
	if len(a.exprs) == 0 {
		a.fixed = ins
	} else {
		a.literal = literal
	}
	return a, ok && compiled && checked
}

// actionKeys reads the keys every `then` block shares (instruction, async,
// delay) into an action and returns the rest as the instruction's fields.
// readable is false when the instruction's name is not even a string: the
// block is not read further.
func (c *compiler) actionKeys(where string, spec map[string]any) (a action, fields map[string]any, ok, readable bool) {
	fields = map[string]any{}
	ok = true
	for k, v := range spec {
		switch k {
		case "instruction":
			s, isStr := v.(string)
			if !isStr {
				c.problem(where, "instruction must be a string")
				return a, fields, false, false
			}
			a.name = s
		case "async":
			b, isBool := v.(bool)
			if !isBool {
				c.problem(where, "async must be true or false")
				ok = false
			}
			a.async = b
		case "delay":
			s, _ := v.(string)
			d, err := time.ParseDuration(s)
			if err != nil || d < 0 {
				c.problem(where, "delay must be a duration such as 2s, got %v", v)
				ok = false
			}
			a.delay = d
		default:
			fields[k] = v
		}
	}
	return a, fields, ok, true
}

// knownInstruction reports whether name is one of policy.AnswerNames,
// suggesting the nearest one when it is not.
func (c *compiler) knownInstruction(where, name string) bool {
	names := policy.AnswerNames()
	switch {
	case name == "":
		c.problem(where, "instruction is required (one of %s)", strings.Join(names, ", "))
		return false
	case !slices.Contains(names, name):
		if near, ok := Nearest(name, names); ok {
			c.problem(where, "unknown instruction %q; did you mean %q? (one of %s)", name, near, strings.Join(names, ", "))
		} else {
			c.problem(where, "unknown instruction %q (one of %s)", name, strings.Join(names, ", "))
		}
		return false
	}
	return true
}

// laterAlone reports whether a `later` block stands alone, as it must: it
// answers {} and the rest is the user's.
func (c *compiler) laterAlone(where string, a action, fields map[string]any) bool {
	if len(fields) > 0 || a.async {
		c.problem(where, "later takes no fields and cannot be async: it answers {} and leaves the reservation to you")
		return false
	}
	return true
}

// fieldExprs sorts the instruction's fields into literals and expressions,
// compiling the expressions into a. placeholders holds an empty string for
// each expression field, to stand in for its value when probing.
func (c *compiler) fieldExprs(where string, a *action, fields map[string]any) (literal, placeholders map[string]any, ok bool) {
	literal = map[string]any{}
	placeholders = map[string]any{}
	ok = true
	for k, v := range fields {
		s, isStr := v.(string)
		switch {
		case isStr && strings.HasPrefix(s, "=="):
			literal[k] = s[1:]
		case isStr && strings.HasPrefix(s, "="):
			prg, _, pok := c.compile(fmt.Sprintf("%s.%s", where, k), strings.TrimSpace(s[1:]), cel.StringType)
			ok = ok && pok
			a.exprs = append(a.exprs, fieldExpr{field: k, prg: prg})
			a.computed = append(a.computed, k)
			placeholders[k] = ""
		default:
			literal[k] = v
		}
	}
	return literal, placeholders, ok
}

// probe builds the instruction with placeholders to check names and types
// now; required-field and format checks on expression fields wait until
// they have a value. It returns nil when the instruction cannot be built.
func (c *compiler) probe(where, name string, literal, placeholders map[string]any) (policy.Instruction, bool) {
	probe := map[string]any{}
	for k, v := range literal {
		probe[k] = v
	}
	for k, v := range placeholders {
		probe[k] = v
	}
	ins, err := buildInstruction(name, probe)
	if err != nil {
		c.problem(where, "%v", err)
		return nil, false
	}
	ok := true
	for _, fe := range policy.FieldErrors(ins.Validate()) {
		if _, isExpr := placeholders[fe.Field]; !isExpr {
			c.problem(where, "%v", fe)
			ok = false
		}
	}
	if err := ins.Validate(); err != nil && policy.FieldErrors(err) == nil {
		c.problem(where, "%v", err)
		ok = false
	}
	return ins, ok
}

// buildInstruction turns a field map into a typed instruction, refusing
// unknown fields and values of the wrong type.
func buildInstruction(name string, fields map[string]any) (policy.Instruction, error) {
	m := make(map[string]any, len(fields)+1)
	for k, v := range fields {
		m[k] = v
	}
	m["instruction"] = name
	data, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode %s instruction: %w", name, err)
	}
	ins, err := policy.ParseInstruction(data)
	if err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, fmt.Errorf("%s: field %s: want %s, got %s (expressions are allowed only in string fields)", name, te.Field, te.Type, te.Value)
		}
		return nil, err
	}
	return ins, nil
}
