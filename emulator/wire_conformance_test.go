package emulator_test

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/assignd/assignd/emulator"
	"github.com/assignd/assignd/taskrouter"
)

// The assignment callback the emulator posts carries every parameter of
// taskrouter's table, each written as the table says: adding a row there
// fails here until the emulator sends it.
func TestCallbackFollowsParamTable(t *testing.T) {
	h := newHarness(t, emulator.Options{})
	a := newApp(t, answerAlways(`{}`))
	l := tutorial(t, h, a, nil)
	h.spanishTaskForAlice(l)
	waitFor(t, "the assignment callback", func() bool { return len(a.requests("/assignment")) > 0 })
	form := a.requests("/assignment")[0]
	for _, p := range taskrouter.CallbackParams() {
		vals, ok := form[p.Name]
		if !ok || len(vals) != 1 {
			t.Errorf("%s: sent %q, want one value", p.Name, vals)
			continue
		}
		if err := wellFormed(p, vals[0]); err != "" {
			t.Errorf("%s = %q: %s", p.Name, vals[0], err)
		}
	}
	for name := range form {
		if !taskrouter.IsCallbackParam(name) && !slices.Contains(extraCallbackParams, name) {
			t.Errorf("%s: sent but neither in taskrouter's table nor a known extra", name)
		}
	}
}

// extraCallbackParams are what the emulator sends beyond the documented
// parameters (none today; TaskRouter itself adds some, e.g. WorkerName).
var extraCallbackParams []string

func wellFormed(p taskrouter.Param, v string) string {
	switch p.Type {
	case taskrouter.TypeSid:
		if !taskrouter.ValidSid(p.Prefix, v) {
			return taskrouter.WantSid(p.Prefix)
		}
	case taskrouter.TypeCount:
		if n, err := strconv.Atoi(v); err != nil || n < 0 {
			return "want a non-negative integer"
		}
	case taskrouter.TypeJSON:
		var m map[string]any
		if err := json.Unmarshal([]byte(v), &m); err != nil || m == nil {
			return "want a JSON object"
		}
	}
	return ""
}

// The emulator knows every instruction taskrouter lists: an answer naming
// one may lack fields, but it is never an unknown instruction. Adding a name
// there fails here until the emulator carries it out.
func TestAnswersKnowEveryInstruction(t *testing.T) {
	for _, name := range taskrouter.InstructionNames() {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, emulator.Options{})
			a := newApp(t, answerAlways(`{"instruction":"`+name+`"}`))
			h.spanishTaskForAlice(tutorial(t, h, a, nil))
			waitFor(t, "the callback", func() bool { return len(h.emu.Callbacks()) > 0 })
			if err := h.emu.Callbacks()[0].Err; strings.Contains(err, "unknown instruction") {
				t.Errorf("answer %q: %s", name, err)
			}
		})
	}
	t.Run("not one", func(t *testing.T) { // the check above can fail
		h := newHarness(t, emulator.Options{})
		a := newApp(t, answerAlways(`{"instruction":"later"}`))
		h.spanishTaskForAlice(tutorial(t, h, a, nil))
		waitFor(t, "the callback", func() bool { return len(h.emu.Callbacks()) > 0 })
		if err := h.emu.Callbacks()[0].Err; !strings.Contains(err, "unknown instruction") {
			t.Errorf(`answer "later": error %q, want unknown instruction`, err)
		}
	})
}
