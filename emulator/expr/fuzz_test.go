package expr

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// canonical prints e's parse tree fully parenthesised with one spelling per
// operator; parsing it again must give the same tree.
func canonical(e *Expr) string {
	var b strings.Builder
	e.root.canon(&b)
	return b.String()
}

// TestCanonicalRoundTrip runs the fuzz target's round-trip property over the
// whole table, so it is checked on every `go test`, not only when fuzzing.
func TestCanonicalRoundTrip(t *testing.T) {
	task := attrs(t, taskJSON)
	for _, c := range cases {
		e, err := Parse(c.src)
		if err != nil {
			t.Fatalf("Parse(%s): %v", c.src, err)
		}
		checkRoundTrip(t, e, Vars{Bare: task})
	}
	// Precedence is explicit in the canonical form.
	e, err := Parse(`a == 1 OR b == 2 AND c == 3`)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := canonical(e), `(a == 1 OR (b == 2 AND c == 3))`; got != want {
		t.Errorf("canonical = %s, want %s", got, want)
	}
}

func checkRoundTrip(t *testing.T, e *Expr, v Vars) {
	t.Helper()
	again, err := Parse(e.String())
	if err != nil || canonical(again) != canonical(e) {
		t.Fatalf("String() %q does not parse the same: %v", e.String(), err)
	}
	c := canonical(e)
	e2, err := Parse(c)
	if err != nil {
		t.Fatalf("canonical form %q of %q does not parse: %v", c, e.String(), err)
	}
	if c2 := canonical(e2); c2 != c {
		t.Fatalf("canonical form of %q is not stable: %q then %q", e.String(), c, c2)
	}
	if e.Eval(v) != e2.Eval(v) {
		t.Fatalf("%q and its canonical form %q evaluate differently", e.String(), c)
	}
}

// FuzzExpr: Parse never panics and refuses only with a *SyntaxError inside
// the source; what it accepts evaluates without panicking against random
// attributes, bare and under the task root, and prints back to an
// expression that parses to the same tree and evaluates the same.
func FuzzExpr(f *testing.F) {
	for _, c := range cases {
		f.Add(c.src, taskJSON)
	}
	for _, c := range invalid {
		f.Add(c.src, `{}`)
	}
	f.Add(`task.a.b[0] HAS worker.x`, `{"a": {"b": [[1, "x"]]}, "x": 1}`)
	f.Add(`a[0][1] == "x"`, `{"a": [[0, "x"]]}`)
	f.Fuzz(func(t *testing.T, src, attrJSON string) {
		e, err := Parse(src)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) error %T is not a *SyntaxError", src, err)
			}
			if se.Pos < 0 || se.Pos > len(src) || se.Msg == "" {
				t.Fatalf("Parse(%q) error %+v has no position in the source", src, se)
			}
			return
		}
		var bare map[string]any
		if json.Unmarshal([]byte(attrJSON), &bare) != nil {
			bare = attrs(t, taskJSON)
		}
		for _, v := range []Vars{
			{Bare: bare},
			{Bare: bare, Roots: map[string]map[string]any{"task": bare, "worker": {}}},
			{},
		} {
			e.Eval(v)
			checkRoundTrip(t, e, v)
		}
	})
}
