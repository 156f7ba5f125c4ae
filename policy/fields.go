package policy

import (
	"fmt"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/assignd/assignd/taskrouter"
)

// Every field of every instruction is defined once, on its struct field:
//
//	json:"…"  its key in the assignment answer (encoding/json uses it as is)
//	rest:"…"  its Reservations API form parameter
//	check:"…" what TaskRouter accepts, comma-separated:
//	          required, url, contact, sid=XX, enum=NAME, list=NAME, range=LO..HI
//	          (NAME is one of taskrouter.EnumValues' value sets),
//	          secret (never stored or shown in plain text: sealed in job
//	          args, redacted in the decision log and the inspector)
//
// mustBuildInstructions reads those tags once, at init, into an immutable table from
// which ParseInstruction, Validate and ReservationUpdateForm are derived. Adding a
// field means adding one struct field; a missing rest tag or an unknown check
// stops the program at init, and TestEveryFieldMaps proves each one maps.

// Kind is how a field is written in JSON and sent over REST.
type Kind int

const (
	KindString Kind = iota // a string; REST sends it as is
	KindBool               // *bool, so that false is kept; REST sends "true"/"false"
	KindInt                // *int, so that 0 is kept; REST sends the decimal
	KindList               // a comma-separated string; REST repeats the parameter per item
)

func (k Kind) String() string {
	return [...]string{"string", "bool", "int", "list"}[k]
}

// Field describes one field of one instruction, as its struct tags define it.
type Field struct {
	JSON      string   // key in the assignment answer, e.g. "from"
	REST      string   // Reservations API parameter, e.g. "DequeueFrom"
	Kind      Kind     // see Kind
	Required  bool     // TaskRouter refuses the instruction without it
	URL       bool     // an absolute http(s) URL
	Contact   bool     // a phone number (+E.164), client:identity or sip: URI
	SidPrefix string   // a SID with this two-letter prefix, e.g. "WA"
	EnumName  string   // the named value set Enum comes from
	Enum      []string // allowed values (each item, for KindList)
	Min, Max  int      // allowed range when Max > 0 (KindInt)
	Secret    bool     // a credential: sealed at rest, redacted wherever shown

	index int // struct field index
}

// instructionSpec is one instruction: how REST names it and its fields.
type instructionSpec struct {
	name string
	typ  reflect.Type
	// restKey/restValue identify the instruction on REST: ReservationStatus
	// for accept and reject, Instruction for the others.
	restKey, restValue string
	fields             []Field
	decode             func([]byte) (Instruction, error)
}

// instructions is built once at init and never written afterwards; accessors
// hand out copies.
var instructions = mustBuildInstructions()

func mustBuildInstructions() []instructionSpec {
	specs := []instructionSpec{
		// accept and reject set the reservation's status; the others are
		// named by Instruction=<name>.
		{name: Accept{}.Name(), restKey: "ReservationStatus", restValue: taskrouter.ReservationAccepted, typ: reflect.TypeFor[Accept](), decode: decodeStrict[Accept]},
		{name: Reject{}.Name(), restKey: "ReservationStatus", restValue: taskrouter.ReservationRejected, typ: reflect.TypeFor[Reject](), decode: decodeStrict[Reject]},
		{name: Dequeue{}.Name(), typ: reflect.TypeFor[Dequeue](), decode: decodeStrict[Dequeue]},
		{name: Call{}.Name(), typ: reflect.TypeFor[Call](), decode: decodeStrict[Call]},
		{name: Redirect{}.Name(), typ: reflect.TypeFor[Redirect](), decode: decodeStrict[Redirect]},
		{name: Conference{}.Name(), typ: reflect.TypeFor[Conference](), decode: decodeStrict[Conference]},
	}
	if names := specNames(specs); !slices.Equal(names, taskrouter.InstructionNames()) {
		panic(fmt.Sprintf("policy: instructions %v, want taskrouter's %v", names, taskrouter.InstructionNames()))
	}
	for i := range specs {
		if specs[i].restKey == "" {
			specs[i].restKey, specs[i].restValue = "Instruction", specs[i].name
		}
		fields, err := fieldsOf(specs[i].typ)
		if err != nil {
			panic(fmt.Sprintf("policy: %s instruction: %v", specs[i].name, err))
		}
		specs[i].fields = fields
	}
	return specs
}

func specNames(specs []instructionSpec) []string {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.name
	}
	return names
}

// fieldsOf reads the tags of an instruction struct.
func fieldsOf(t reflect.Type) ([]Field, error) {
	var out []Field
	seenJSON, seenREST := map[string]bool{}, map[string]bool{}
	for i := range t.NumField() {
		sf := t.Field(i)
		name, opts, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "" || name == "-" || opts != "omitempty" {
			return nil, fmt.Errorf("field %s: want a json:\"name,omitempty\" tag", sf.Name)
		}
		f := Field{JSON: name, REST: sf.Tag.Get("rest"), index: i}
		if f.REST == "" {
			return nil, fmt.Errorf("field %s (%s) has no REST mapping: add a rest:\"…\" tag", sf.Name, name)
		}
		if seenJSON[f.JSON] || seenREST[f.REST] {
			return nil, fmt.Errorf("field %s: JSON name %q or REST name %q used twice", sf.Name, f.JSON, f.REST)
		}
		seenJSON[f.JSON], seenREST[f.REST] = true, true
		switch sf.Type {
		case reflect.TypeFor[string]():
			f.Kind = KindString
		case reflect.TypeFor[*bool]():
			f.Kind = KindBool
		case reflect.TypeFor[*int]():
			f.Kind = KindInt
		default:
			return nil, fmt.Errorf("field %s: type %s, want string, *bool or *int", sf.Name, sf.Type)
		}
		if err := f.parseChecks(sf.Tag.Get("check")); err != nil {
			return nil, fmt.Errorf("field %s: %w", sf.Name, err)
		}
		out = append(out, f)
	}
	return out, nil
}

func (f *Field) parseChecks(tag string) error {
	for _, c := range strings.Split(tag, ",") {
		if c == "" {
			continue
		}
		key, arg, _ := strings.Cut(c, "=")
		switch key {
		case "required":
			f.Required = true
		case "url":
			f.URL = true
		case "contact":
			f.Contact = true
		case "secret":
			f.Secret = true
		case "sid":
			if len(arg) != 2 {
				return fmt.Errorf("check %q: want sid=XX", c)
			}
			f.SidPrefix = arg
		case "enum", "list":
			vals, ok := taskrouter.EnumValues(arg)
			if !ok {
				return fmt.Errorf("check %q: no value set named %q", c, arg)
			}
			f.EnumName, f.Enum = arg, vals
			if key == "list" {
				f.Kind = KindList
			}
		case "range":
			lo, hi, ok := strings.Cut(arg, "..")
			var err1, err2 error
			f.Min, err1 = strconv.Atoi(lo)
			f.Max, err2 = strconv.Atoi(hi)
			if !ok || err1 != nil || err2 != nil || f.Min > f.Max {
				return fmt.Errorf("check %q: want range=LO..HI", c)
			}
		default:
			return fmt.Errorf("unknown check %q", c)
		}
	}
	if (f.Kind == KindInt) != (f.Max > 0) {
		return fmt.Errorf("range applies to int fields, and int fields need one")
	}
	if f.Kind != KindString && f.Kind != KindList && (f.URL || f.Contact || f.SidPrefix != "" || f.Enum != nil || f.Required) {
		return fmt.Errorf("string checks on a %s field", f.Kind)
	}
	return nil
}

// specOf returns the definition of the named instruction.
func specOf(name string) (*instructionSpec, bool) {
	for i := range instructions {
		if instructions[i].name == name {
			return &instructions[i], true
		}
	}
	return nil, false
}

// InstructionNames returns the instruction names in the order the docs give
// them: taskrouter's list, which mustBuildInstructions holds its specs to.
func InstructionNames() []string { return taskrouter.InstructionNames() }

// Fields returns the field definitions of the named instruction (nil if
// there is no such instruction), for tools and tests that work from them.
func Fields(instruction string) []Field {
	s, ok := specOf(instruction)
	if !ok {
		return nil
	}
	out := slices.Clone(s.fields)
	for i := range out {
		out[i].Enum = slices.Clone(out[i].Enum)
	}
	return out
}

// SecretFields returns the JSON names of every field marked secret, in any
// instruction, sorted: what async seals in job args and what the decision
// log and the inspector redact.
func SecretFields() []string { return slices.Clone(secretFields) }

// secretFields is derived once from instructions and never written.
var secretFields = secretFieldsOf(instructions)

func secretFieldsOf(instructions []instructionSpec) []string {
	var out []string
	for _, s := range instructions {
		for _, f := range s.fields {
			if f.Secret && !slices.Contains(out, f.JSON) {
				out = append(out, f.JSON)
			}
		}
	}
	slices.Sort(out)
	return out
}

// RESTIdentity returns the form parameter and value that name the
// instruction in a Reservations update (ReservationStatus=accepted,
// Instruction=dequeue, …).
func RESTIdentity(instruction string) (key, value string, ok bool) {
	s, ok := specOf(instruction)
	if !ok {
		return "", "", false
	}
	return s.restKey, s.restValue, true
}

// fieldValue is a field's value as text, and whether it is set.
func fieldValue(v reflect.Value, f *Field) (string, bool) {
	fv := v.Field(f.index)
	switch f.Kind {
	case KindBool:
		if fv.IsNil() {
			return "", false
		}
		return strconv.FormatBool(fv.Elem().Bool()), true
	case KindInt:
		if fv.IsNil() {
			return "", false
		}
		return strconv.FormatInt(fv.Elem().Int(), 10), true
	default:
		s := fv.String()
		return s, s != ""
	}
}

// listItems splits a comma-separated list, dropping blanks.
func listItems(s string) []string {
	var out []string
	for _, it := range strings.Split(s, ",") {
		if it = strings.TrimSpace(it); it != "" {
			out = append(out, it)
		}
	}
	return out
}

// ReservationUpdateForm is ins as the form parameters of a Reservations update
// (POST /v1/Workspaces/{WS}/Tasks/{WT}/Reservations/{WR}).
func ReservationUpdateForm(ins Instruction) (url.Values, error) {
	if ins == nil {
		return nil, fmt.Errorf("no instruction to send")
	}
	s, ok := specOf(ins.Name())
	v := reflect.ValueOf(ins)
	if !ok || v.Type() != s.typ {
		return nil, fmt.Errorf("no REST mapping for instruction %T", ins)
	}
	out := url.Values{s.restKey: {s.restValue}}
	for i := range s.fields {
		f := &s.fields[i]
		val, set := fieldValue(v, f)
		if !set {
			continue
		}
		if f.Kind == KindList {
			if items := listItems(val); len(items) > 0 {
				out[f.REST] = items
			}
			continue
		}
		out.Set(f.REST, val)
	}
	return out, nil
}

// contactPattern is what TaskRouter can dial or show as caller ID: an E.164
// phone number (+, a country code not starting with 0, at most 15 digits), a
// Twilio Client identity or a SIP URI.
var contactPattern = regexp.MustCompile(`^(\+[1-9][0-9]{1,14}|client:[^\s]+|sips?:[^\s]+)$`)

// validate checks ins against its field definitions.
func validate(ins Instruction) error {
	s, ok := specOf(ins.Name())
	v := reflect.ValueOf(ins)
	if !ok || v.Type() != s.typ {
		return fmt.Errorf("no definition for instruction %T", ins)
	}
	var c checker
	for i := range s.fields {
		f := &s.fields[i]
		val, set := fieldValue(v, f)
		if !set {
			if f.Required {
				c.add(f.JSON, "required (Twilio's %s)", f.REST)
			}
			continue
		}
		switch {
		case f.Kind == KindInt:
			if n := v.Field(f.index).Elem().Int(); n < int64(f.Min) || n > int64(f.Max) {
				c.add(f.JSON, "want %d to %d, got %d", f.Min, f.Max, n)
			}
		case f.Kind == KindList:
			for _, it := range strings.Split(val, ",") {
				c.oneOf(f.JSON, strings.TrimSpace(it), f.Enum)
			}
		case f.Kind == KindString:
			if f.Enum != nil {
				c.oneOf(f.JSON, val, f.Enum)
			}
			if f.SidPrefix != "" && !taskrouter.ValidSid(f.SidPrefix, val) {
				c.add(f.JSON, "%s, got %q", taskrouter.WantSid(f.SidPrefix), truncate(val, 40))
			}
			if f.URL {
				c.url(f.JSON, val)
			}
			if f.Contact && !contactPattern.MatchString(val) {
				c.add(f.JSON, "want a phone number in E.164 (+15005550006), client:identity or a sip: URI, got %q", truncate(val, 40))
			}
		}
	}
	return c.err(ins.Name())
}
