package decisionlog_test

import (
	"reflect"
	"testing"

	"github.com/assignd/assignd/decisionlog"
	"github.com/assignd/assignd/internal/servicetest"
	"github.com/assignd/assignd/policy"
	"github.com/assignd/assignd/taskrouter"
)

// The decision log keeps every parameter of taskrouter's table: a callback
// carrying each one, stored in full mode, gives back the same value from
// Entry.Reservation. Adding a row there fails here until the log stores it.
func TestEntryFollowsParamTable(t *testing.T) {
	t.Parallel()
	env := servicetest.New(t, "sqlite", decisionlog.ModeFull, decisionlog.Options{})
	var sent policy.Reservation
	rv := reflect.ValueOf(&sent).Elem()
	for i, p := range taskrouter.CallbackParams() {
		field := rv.FieldByName(p.Name)
		switch p.Type {
		case taskrouter.TypeSid:
			field.SetString(p.Prefix + "0123456789abcdef0123456789abcdef")
		case taskrouter.TypeCount:
			field.SetInt(int64(10 + i))
		case taskrouter.TypeJSON:
			field.Set(reflect.ValueOf(map[string]any{"k": p.Name}))
		default:
			field.SetString("17643700" + string(rune('0'+i%10)))
		}
	}
	sent.AccountSid = servicetest.Account
	if status, body := env.Post(t, sent, servicetest.Token); status != 200 {
		t.Fatalf("callback: %d %s", status, body)
	}
	env.Flush(t)
	e := env.One(t, sent.ReservationSid)
	got, err := e.Reservation()
	if err != nil {
		t.Fatal(err)
	}
	gv := reflect.ValueOf(got).Elem()
	for _, p := range taskrouter.CallbackParams() {
		if w, g := rv.FieldByName(p.Name).Interface(), gv.FieldByName(p.Name).Interface(); !reflect.DeepEqual(w, g) {
			t.Errorf("%s: stored %v, sent %v", p.Name, g, w)
		}
	}
}
