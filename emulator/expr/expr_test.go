package expr

import (
	"encoding/json"
	"errors"
	goparser "go/parser"
	gotoken "go/token"
	"slices"
	"strings"
	"testing"
)

// attrs decodes JSON the way the emulator receives attributes, so the tests
// see exactly the value types encoding/json produces.
func attrs(t testing.TB, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("bad test attributes %s: %v", s, err)
	}
	return m
}

// The attributes most cases run against: the tutorial's task and workers
// plus values of every JSON type.
const taskJSON = `{
	"selected_language": "es",
	"type": "ticket",
	"customer_value": "Gold",
	"priority": 5,
	"skill_rating": 5.1,
	"vip": true,
	"closed": false,
	"nothing": null,
	"languages": ["en", "es"],
	"levels": [1, 2.5, 3],
	"flags": [true],
	"email": "alice@example.com",
	"number_string": "5",
	"object": {"array": ["a", "b", "c"], "attr": "bar", "in": "x", "deep": {"er": {"est": 42}}},
	"in": "keyword-named attribute"
}`

type evalCase struct {
	src  string
	want bool
}

// cases is the table of valid expressions; the fuzz target is seeded with it.
var cases = []evalCase{
	// The always-true expression and constants on both sides.
	{`1==1`, true},
	{`1 == 1`, true},
	{`0 != 1`, true},
	{`"apple" != "orange"`, true},
	{`'apple' == "apple"`, true},
	{`1 == 2`, false},
	{`1.0 == 1`, true},
	{`1.00 == 1.0`, true},
	{`3.141529 > 3.14`, true},
	{`-1 < 0`, true},
	{`2e3 == 2000`, true},
	{`true == true`, true},
	{`true != false`, true},
	{`TRUE == true`, true},
	{`False == false`, true},

	// == and the = alias.
	{`selected_language == "es"`, true},
	{`selected_language == 'es'`, true},
	{`selected_language = "es"`, true},
	{`selected_language == "en"`, false},
	{`"es" == selected_language`, true},
	{`priority == 5`, true},
	{`priority == 5.0`, true},
	{`vip == true`, true},
	{`closed == false`, true},
	{`vip == false`, false},

	// !=
	{`selected_language != "en"`, true},
	{`selected_language != "es"`, false},
	{`priority != 4`, true},
	{`priority != 5`, false},
	{`vip != false`, true},

	// Ordering: numbers numerically, strings byte-wise.
	{`priority > 4`, true},
	{`priority > 5`, false},
	{`priority >= 5`, true},
	{`priority >= 5.5`, false},
	{`priority < 6`, true},
	{`priority < 5`, false},
	{`priority <= 5`, true},
	{`priority <= 4.9`, false},
	{`skill_rating >= 5.1`, true},
	{`skill_rating > 5.1`, false},
	{`10 > 9`, true}, // numerically, not as the strings "10" < "9"
	{`customer_value > "Bronze"`, true},
	{`customer_value < "Silver"`, true},
	{`"b" > "a"`, true},
	{`"B" > "a"`, false},

	// HAS (and its -> alias): list on the left, value on the right.
	{`languages HAS "es"`, true},
	{`languages HAS 'en'`, true},
	{`languages HAS "fr"`, false},
	{`languages -> "es"`, true},
	{`levels HAS 2.5`, true},
	{`levels HAS 2`, false},
	{`flags HAS true`, true},
	{`object.array HAS "c"`, true},
	{`(skills HAS 'support') AND (languages HAS 'english')`, false},

	// CONTAINS: substring of a string, or of a string in a list.
	{`email CONTAINS "@example.com"`, true},
	{`email CONTAINS "alice"`, true},
	{`email CONTAINS "bob"`, false},
	{`email CONTAINS ""`, true},
	{`languages CONTAINS "s"`, true},
	{`languages CONTAINS "fr"`, false},
	{`"support" CONTAINS "port"`, true},

	// IN / NOT IN with list literals.
	{`selected_language IN ["en", "es"]`, true},
	{`selected_language IN ['en', 'fr']`, false},
	{`selected_language NOT IN ["en", "fr"]`, true},
	{`selected_language NOT IN ["en", "es"]`, false},
	{`priority IN [1, 5, 9]`, true},
	{`priority IN [1, 9]`, false},
	{`priority NOT IN [1, 9]`, true},
	{`vip IN [true]`, true},
	{`"es" IN languages`, true},
	{`"fr" NOT IN languages`, true},
	{`selected_language IN []`, false},
	{`selected_language NOT IN []`, true},
	{`customer_value IN ['Gold', 'Platinum'] AND type == 'ticket'`, true},

	// Keywords are case-insensitive (Twilio's docs write both IN and in).
	{`selected_language in ["es"]`, true},
	{`selected_language not in ["en"]`, true},
	{`selected_language Not In ["es"]`, false},
	{`languages has "es"`, true},
	{`email contains "alice"`, true},
	{`1 == 1 and 2 == 2`, true},
	{`1 == 2 or 2 == 2`, true},
	{`1 == 1 And 2 == 3`, false},

	// String comparison is case-sensitive.
	{`selected_language == "ES"`, false},
	{`languages HAS "ES"`, false},
	{`email CONTAINS "ALICE"`, false},
	{`selected_language IN ["ES"]`, false},

	// AND, OR, &&, || and precedence: AND binds tighter than OR.
	{`1 == 1 OR 1 == 2 AND 1 == 2`, true},    // 1==1 OR (1==2 AND 1==2)
	{`(1 == 1 OR 1 == 2) AND 1 == 2`, false}, // parentheses override
	{`1 == 2 AND 1 == 2 OR 1 == 1`, true},    // (1==2 AND 1==2) OR 1==1
	{`1 == 2 AND (1 == 2 OR 1 == 1)`, false},
	{`1 == 1 && 2 == 2`, true},
	{`1 == 1 && 2 == 3`, false},
	{`1 == 2 || 2 == 2`, true},
	{`1 == 2 || 2 == 3`, false},
	{`1 == 1 || 1 == 2 && 1 == 2`, true},
	{`(language == "en" OR selected_language == "es") AND skill_rating >= 5.1`, true},
	{`(condition_a == true) OR (vip == true)`, true},
	{`((((1 == 1))))`, true},
	{`((1 == 1) AND ((2 == 2) OR (3 == 4)))`, true},
	{`1 == 1 AND 1 == 1 AND 1 == 1 AND 1 == 2`, false},
	{`1 == 2 OR 1 == 2 OR 1 == 2 OR 1 == 1`, true},

	// Missing attributes and JSON null are NULL: every comparison with
	// them is false, != and NOT IN included; only that comparison fails.
	{`missing == "es"`, false},
	{`missing != "es"`, false},
	{`missing > 1`, false},
	{`missing < 1`, false},
	{`missing HAS "es"`, false},
	{`missing CONTAINS "es"`, false},
	{`missing IN ["es"]`, false},
	{`missing NOT IN ["es"]`, false},
	{`"es" IN missing`, false},
	{`nothing == "es"`, false},
	{`nothing != "es"`, false},
	{`object.missing == "bar"`, false},
	{`missing.deeper == "bar"`, false},
	{`missing == "es" OR 1 == 1`, true},
	{`missing != "es" OR selected_language == "es"`, true},

	// Type mismatches: number vs string, bool vs string, list vs scalar.
	{`number_string == 5`, false},
	{`number_string != 5`, false},
	// Ordered comparisons read a decimal string as its number (Twilio's
	// taskrouter.currentHour > 8); equality stays strict.
	{`number_string > 4`, true},
	{`number_string >= 5`, true},
	{`number_string < 5`, false},
	{`4 < number_string`, true},
	{`number_string > "4"`, true},
	{`email > 1`, false},
	{`email < 1`, false},
	{`priority == "5"`, false},
	{`priority != "5"`, false},
	{`priority > "4"`, true}, // the decimal string "4" as a number, either side
	{`priority > "four"`, false},
	{`vip == "true"`, false},
	{`vip == 1`, false},
	{`vip > false`, false},
	{`languages == "es"`, false},
	{`languages != "es"`, false},
	{`languages == ["en", "es"]`, false},
	{`selected_language HAS "es"`, false},
	{`languages IN ["en", "es"]`, false},
	{`languages NOT IN ["fr"]`, false},
	{`selected_language IN "es"`, false},
	{`selected_language NOT IN "en"`, false},
	{`levels HAS "2.5"`, false},
	{`priority CONTAINS "5"`, false},
	{`email CONTAINS 5`, false},
	{`object == "bar"`, false},
	{`object HAS "bar"`, false},
	{`object.array[0] > 1`, false},

	// Nested paths and array indices.
	{`object.attr == "bar"`, true},
	{`object.attr != "baz"`, true},
	{`object.array[2] == "c"`, true},
	{`object.array[0] == "a"`, true},
	{`object.array[3] == "c"`, false},
	{`object.deep.er.est == 42`, true},
	{`object.deep.er.est > 41.5`, true},
	{`object.attr[0] == "b"`, false},
	{`languages[1] == "es"`, true},
	{`object . attr == "bar"`, true},
	{`object.in == "x"`, true}, // a keyword after a dot is a name (a bare `in` is refused)

	// Quoted strings: either quote, the other one inside, escapes.
	{`"it's" == 'it\'s'`, true},
	{`'say "hi"' == "say \"hi\""`, true},
	{`"a\\b" CONTAINS "\\"`, true},
	{`"AND" == 'AND'`, true},
	{`"1 == 1" == '1 == 1'`, true},
	{`selected_language == "es"   `, true},
	{"\tselected_language\n==\r\n'es'", true},
}

func TestEval(t *testing.T) {
	task := attrs(t, taskJSON)
	for _, c := range cases {
		e, err := Parse(c.src)
		if err != nil {
			t.Errorf("Parse(%s): %v", c.src, err)
			continue
		}
		if got := e.Eval(Vars{Bare: task}); got != c.want {
			t.Errorf("Eval(%s) = %v, want %v", c.src, got, c.want)
		}
		if e.String() != c.src {
			t.Errorf("String() = %q, want the source %q", e.String(), c.src)
		}
	}
}

// TestRoots checks `task.` and `worker.` paths inside target expressions and
// target_workers: the first element of a path names a root when Roots has
// it, and otherwise is an ordinary attribute.
func TestRoots(t *testing.T) {
	worker := attrs(t, `{"languages": ["en", "es"], "level": 3, "team": "blue", "task": {"shadowed": true}}`)
	task := attrs(t, `{"selected_language": "es", "required_level": 2, "team": "blue", "customer": {"tier": "gold"}}`)
	withTask := Vars{Bare: worker, Roots: map[string]map[string]any{"task": task}}
	both := Vars{
		Bare:  map[string]any{},
		Roots: map[string]map[string]any{"task": task, "worker": worker},
	}
	for _, c := range []struct {
		src  string
		vars Vars
		want bool
	}{
		{`languages HAS task.selected_language`, withTask, true},
		{`task.selected_language IN languages`, withTask, true},
		{`level >= task.required_level`, withTask, true},
		{`level < task.required_level`, withTask, false},
		{`team == task.team`, withTask, true},
		{`task.customer.tier == "gold"`, withTask, true},
		{`task.missing == "gold"`, withTask, false},
		{`task.missing != "gold"`, withTask, false},
		// A root shadows the bare attribute of the same name.
		{`task.shadowed == true`, withTask, false},
		// Without the root, task.x is an ordinary nested attribute.
		{`task.shadowed == true`, Vars{Bare: worker}, true},
		{`task.selected_language == "es"`, Vars{Bare: worker}, false},
		{`worker.languages HAS task.selected_language`, both, true},
		{`worker.team == task.team AND worker.level > 2`, both, true},
		{`languages HAS "es"`, both, false}, // nothing bare
		// A root alone is an object: not comparable.
		{`task == "es"`, withTask, false},
		// Roots may be nil maps, Vars may be empty.
		{`task.team == "blue"`, Vars{}, false},
		{`1 == 1`, Vars{}, true},
	} {
		e, err := Parse(c.src)
		if err != nil {
			t.Errorf("Parse(%s): %v", c.src, err)
			continue
		}
		if got := e.Eval(c.vars); got != c.want {
			t.Errorf("Eval(%s) = %v, want %v", c.src, got, c.want)
		}
	}
}

// TestValueTypes checks attributes built in Go rather than decoded from
// JSON: integers, json.Number from a UseNumber decoder.
func TestValueTypes(t *testing.T) {
	e, err := Parse(`n == 5 AND m > 4.5 AND k IN [5] AND j HAS 5`)
	if err != nil {
		t.Fatal(err)
	}
	bare := map[string]any{"n": 5, "m": int64(5), "k": json.Number("5"), "j": []any{uint(5)}}
	if !e.Eval(Vars{Bare: bare}) {
		t.Errorf("integer and json.Number attributes should compare as numbers")
	}
	bare["k"] = json.Number("not a number")
	if e.Eval(Vars{Bare: bare}) {
		t.Errorf("a malformed json.Number is not a number")
	}
}

type badCase struct {
	src string
	pos int
	msg string // a fragment of the message
}

// invalid is the table of refused expressions; the fuzz target is seeded
// with it too.
var invalid = []badCase{
	{``, 0, "empty expression"},
	{`   `, 0, "empty expression"},
	// Unbalanced parentheses and brackets.
	{`(1 == 1`, 0, "'(' is never closed"},
	{`((1 == 1)`, 0, "'(' is never closed"},
	{`1 == 1)`, 6, "')' without '('"},
	{`(1 == 1))`, 8, "')' without '('"},
	{`()`, 1, "expected a value, found ')'"},
	{`x IN ["a", "b"`, 5, "'[' is never closed"},
	{`x IN ["a" "b"]`, 10, "expected ',' or ']'"},
	{`x IN ["a",]`, 10, "expected a value, found ']'"},
	{`x IN [y]`, 6, "expected a value, found 'y'"},
	{`x IN [["a"]]`, 6, "expected a value, found '['"},
	// Dangling operators.
	{`x ==`, 4, "expected a value, found end of expression"},
	{`== 1`, 0, "expected a value, found '=='"},
	{`1 == 1 AND`, 10, "expected a value, found end of expression"},
	{`1 == 1 OR`, 9, "expected a value, found end of expression"},
	{`1 == 1 &&`, 9, "end of expression"},
	{`AND 1 == 1`, 0, "found operator 'AND'"},
	{`1 == 1 AND OR 2 == 2`, 11, "found operator 'OR'"},
	{`x NOT ["a"]`, 6, "expected IN after NOT"},
	{`x NOT`, 5, "expected IN after NOT"},
	{`x HAS`, 5, "end of expression"},
	// Missing operator, bare values, trailing junk.
	{`x`, 1, "expected a comparison operator"},
	{`true`, 4, "expected a comparison operator"},
	{`(vip)`, 4, "unknown operator ')'"},
	{`x "a"`, 2, "unknown operator"},
	{`1 == 1 2 == 2`, 7, "expected AND, OR or end of expression"},
	{`1 == 1 == 1`, 7, "expected AND, OR or end of expression"},
	{`(1 == 1 2 == 2)`, 8, "expected ')', AND or OR"},
	{`NOT x == 1`, 0, "found operator 'NOT'"},
	// Unknown operators.
	{`x === 1`, 4, "expected a value, found '='"},
	{`x ~= 1`, 2, "unexpected character '~'"},
	{`x <> 1`, 3, "expected a value, found '>'"},
	{`x LIKE "a%"`, 2, "unknown operator 'LIKE'"},
	{`x IS "a"`, 2, "unknown operator 'IS'"},
	{`x ! = 1`, 2, "unexpected character '!'"},
	{`x & y`, 2, "unexpected character '&'"},
	{`x | y`, 2, "unexpected character '|'"},
	{`1 == 1 XOR 2 == 2`, 7, "expected AND, OR or end of expression"},
	// Bad literals.
	{`x == "abc`, 5, "unterminated string"},
	{`x == 'abc"`, 5, "unterminated string"},
	{`x == 1.2.3`, 5, "invalid number"},
	{`x == 12abc`, 5, "invalid number"},
	{`x == 1e999`, 5, "invalid number"},
	{`x == .5`, 5, "expected a value, found '.'"},
	{`x == #`, 5, "unexpected character '#'"},
	{`x == é`, 5, "unexpected character 'é'"},
	// Hyphens are not supported in TaskRouter expressions.
	{`first-name == "a"`, 5, "hyphens are not supported"},
	{`x == 1-2`, 5, "invalid number"},
	// Paths.
	{`object. == 1`, 8, "expected an attribute name after '.'"},
	{`object.1 == 1`, 7, "expected an attribute name after '.'"},
	{`a[x] == 1`, 2, "expected an array index"},
	{`a[1.5] == 1`, 2, "expected an array index"},
	{`a[-1] == 1`, 2, "expected an array index"},
	{`a[1 == 1`, 4, "expected ']' after array index"},
	{`.x == 1`, 0, "expected a value, found '.'"},
	{`in == "x"`, 0, "found operator 'in'"},
}

func TestSyntaxErrors(t *testing.T) {
	for _, c := range invalid {
		e, err := Parse(c.src)
		if err == nil {
			t.Errorf("Parse(%q) accepted: %v", c.src, e)
			continue
		}
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q) error %T %v is not a *SyntaxError", c.src, err, err)
			continue
		}
		if se.Pos != c.pos || !strings.Contains(se.Msg, c.msg) {
			t.Errorf("Parse(%q) = %q at %d, want %q at %d", c.src, se.Msg, se.Pos, c.msg, c.pos)
		}
		if want := "at position"; !strings.Contains(err.Error(), want) {
			t.Errorf("Error() %q does not say where", err.Error())
		}
	}
}

func TestNestingLimit(t *testing.T) {
	ok := strings.Repeat("(", maxDepth) + "1 == 1" + strings.Repeat(")", maxDepth)
	if _, err := Parse(ok); err != nil {
		t.Fatalf("%d levels of parentheses refused: %v", maxDepth, err)
	}
	deep := strings.Repeat("(", maxDepth+1) + "1 == 1" + strings.Repeat(")", maxDepth+1)
	_, err := Parse(deep)
	var se *SyntaxError
	if !errors.As(err, &se) || se.Pos != maxDepth || !strings.Contains(se.Msg, "nested deeper") {
		t.Fatalf("Parse(%d levels) = %v, want a nesting error at %d", maxDepth+1, err, maxDepth)
	}
}

func TestSyntaxErrorMessage(t *testing.T) {
	_, err := Parse(`languages HAS`)
	if got, want := err.Error(), "expected a value, found end of expression at position 13"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
}

// TestOperatorSpellings walks the one table of operator spellings: every
// spelling, in upper and lower case, parses to its operator (the canonical
// form prints the operator's canonical spelling) and evaluates like it.
func TestOperatorSpellings(t *testing.T) {
	task := attrs(t, taskJSON)
	// Operands for which each operator is true.
	operands := [numOps][2]string{
		opEq:       {`priority`, `5`},
		opNe:       {`priority`, `4`},
		opGt:       {`priority`, `4`},
		opGe:       {`priority`, `5`},
		opLt:       {`priority`, `6`},
		opLe:       {`priority`, `5`},
		opHas:      {`languages`, `"es"`},
		opContains: {`email`, `"alice"`},
		opIn:       {`selected_language`, `["es"]`},
		opNotIn:    {`selected_language`, `["fr"]`},
	}
	for o, sps := range spellings {
		for _, sp := range sps {
			for _, spelling := range []string{sp, strings.ToLower(sp)} {
				src := operands[o][0] + " " + spelling + " " + operands[o][1]
				e, err := Parse(src)
				if err != nil {
					t.Errorf("Parse(%s): %v", src, err)
					continue
				}
				want := operands[o][0] + " " + op(o).String() + " " + operands[o][1]
				if got := canonical(e); got != want {
					t.Errorf("canonical(%s) = %s, want %s", src, got, want)
				}
				if !e.Eval(Vars{Bare: task}) {
					t.Errorf("Eval(%s) = false, want true", src)
				}
			}
		}
	}
	for _, c := range []struct {
		sps  []string
		want string
	}{{andSpellings, "(1 == 1 AND 2 == 2)"}, {orSpellings, "(1 == 1 OR 2 == 2)"}} {
		for _, sp := range c.sps {
			for _, spelling := range []string{sp, strings.ToLower(sp)} {
				e, err := Parse("1 == 1 " + spelling + " 2 == 2")
				if err != nil {
					t.Errorf("Parse with %s: %v", spelling, err)
					continue
				}
				if got := canonical(e); got != c.want || !e.Eval(Vars{}) {
					t.Errorf("%s: canonical %s, want %s, true", spelling, got, c.want)
				}
			}
		}
	}
}

// TestDocumentedOperators fails when the package documentation's operator
// table drifts from the spellings the parser accepts.
func TestDocumentedOperators(t *testing.T) {
	f, err := goparser.ParseFile(gotoken.NewFileSet(), "expr.go", nil, goparser.ParseComments|goparser.PackageClauseOnly)
	if err != nil {
		t.Fatal(err)
	}
	var table []string // the operator column of the documented table
	for _, line := range strings.Split(f.Doc.Text(), "\n") {
		if !strings.HasPrefix(line, "\t") || !strings.Contains(line, "  ") {
			continue
		}
		if name := strings.TrimSpace(strings.SplitN(line, "  ", 2)[0]); name != "" {
			table = append(table, name)
		}
	}
	var want []string
	for _, sps := range spellings {
		want = append(want, strings.Join(sps, ", "))
	}
	slices.Sort(table)
	slices.Sort(want)
	if !slices.Equal(table, want) {
		t.Errorf("documented operators %q, the parser's %q", table, want)
	}
	doc := f.Doc.Text()
	for _, sps := range [][]string{andSpellings, orSpellings} {
		for _, sp := range sps {
			if !strings.Contains(doc, sp) {
				t.Errorf("the package documentation does not mention %s", sp)
			}
		}
	}
}

// TestTimeOfDay runs the examples of Twilio's time-of-day routing page
// (https://www.twilio.com/docs/taskrouter/time-of-day-routing) against the
// values it documents: taskrouter.currentTime an HHMM integer,
// taskrouter.currentHour an "HH" string compared with numbers,
// taskrouter.dayOfWeek a three-letter string.
func TestTimeOfDay(t *testing.T) {
	at := func(hhmm float64, hour, min, day string) Vars {
		return Vars{Roots: map[string]map[string]any{"taskrouter": {
			"currentTime": hhmm, "currentHour": hour, "currentMin": min, "dayOfWeek": day,
		}}}
	}
	morning, evening := at(930, "09", "30", "Sat"), at(1900, "19", "05", "Mon")
	for _, c := range []struct {
		src  string
		vars Vars
		want bool
	}{
		{`taskrouter.currentTime > 0800 AND taskrouter.currentTime < 1830`, morning, true},
		{`taskrouter.currentTime > 0800 AND taskrouter.currentTime < 1830`, evening, false},
		{`taskrouter.currentHour > 8 AND taskrouter.currentHour < 18`, morning, true},
		{`taskrouter.currentHour > 8 AND taskrouter.currentHour < 18`, evening, false},
		{`taskrouter.currentMin > 10 AND taskrouter.currentMin < 50`, morning, true},
		{`taskrouter.currentMin > 10 AND taskrouter.currentMin < 50`, evening, false},
		{`taskrouter.dayOfWeek = 'Sat'`, morning, true},
		{`taskrouter.dayOfWeek = 'Sat'`, evening, false},
		{`taskrouter.dayOfWeek IN ['Sat', 'Sun']`, morning, true},
		// "09" is not the number 9 for equality, and two strings compare byte-wise.
		{`taskrouter.currentHour == 9`, morning, false},
		{`taskrouter.currentHour < "10"`, morning, true},
	} {
		e, err := Parse(c.src)
		if err != nil {
			t.Errorf("Parse(%s): %v", c.src, err)
			continue
		}
		if got := e.Eval(c.vars); got != c.want {
			t.Errorf("Eval(%s) = %v, want %v", c.src, got, c.want)
		}
	}
}

func TestDecimal(t *testing.T) {
	for s, want := range map[string]bool{
		"08": true, "5": true, "-2": true, "+3": true, "5.1": true, "0.5": true,
		"": false, "-": false, "+-1": false, "1e3": false, "0x10": false, "Inf": false, "NaN": false,
		"1_000": false, " 5": false, "5.": false, ".5": false, "1.2.3": false,
	} {
		if _, ok := decimal(s); ok != want {
			t.Errorf("decimal(%q) ok = %v, want %v", s, ok, want)
		}
	}
}
