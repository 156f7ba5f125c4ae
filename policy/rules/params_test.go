package rules_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode"

	"github.com/assignd/assignd/policy"
	"github.com/assignd/assignd/taskrouter"
)

// celKey is how a rule names a callback parameter under `reservation`: its
// snake_case name (task_queue_sid), the reservation's own SID plainly `sid`.
func celKey(param string) string {
	if param == taskrouter.ParamReservationSid {
		return "sid"
	}
	var b strings.Builder
	for i, r := range param {
		if unicode.IsUpper(r) && i > 0 {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// Every SID and count in taskrouter's parameter table is a key of the CEL
// variable `reservation` holding the reservation's value: adding a row there
// fails here until rules expose it.
func TestReservationVariableFollowsParamTable(t *testing.T) {
	t.Parallel()
	for _, p := range taskrouter.CallbackParams() {
		if p.Type != taskrouter.TypeSid && p.Type != taskrouter.TypeCount {
			continue // attributes are the task and worker variables; Timestamp is not exposed
		}
		t.Run(p.Name, func(t *testing.T) {
			var r policy.Reservation
			field := reflect.ValueOf(&r).Elem().FieldByName(p.Name)
			want := `42`
			if p.Type == taskrouter.TypeSid {
				field.SetString(p.Prefix + "0123456789abcdef0123456789abcdef")
				want = `"` + field.String() + `"`
			} else {
				field.SetInt(42)
			}
			src := fmt.Sprintf("rules:\n  - name: it\n    when: 'reservation.%s == %s'\n    then: {instruction: dequeue, from: \"+15005550006\"}\ndefault: {instruction: reject, activity_sid: WA00000000000000000000000000000001}\non_error: {instruction: accept}\n", celKey(p.Name), want)
			d, err := mustParse(t, src).Decide(context.Background(), &r)
			if err != nil {
				t.Fatal(err)
			}
			if d.InstructionName() != taskrouter.InstructionDequeue {
				t.Errorf("reservation.%s == %s did not match: %+v", celKey(p.Name), want, d)
			}
		})
	}
}
