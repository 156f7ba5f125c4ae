package handlers_test

import (
	"errors"
	"maps"
	"net/url"
	"reflect"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/assignd/assignd/handlers"
	"github.com/assignd/assignd/taskrouter"
)

func TestParseReservationRoundTrip(t *testing.T) {
	t.Parallel()
	want := reservation(map[string]any{"selected_language": "es", "n": 2.5, "tags": []any{"a"}}, map[string]any{"languages": []any{"es"}})
	want.Params = map[string]string{"WorkerName": "alice"}
	now := time.Unix(1764370000, 0)
	want.ReceivedAt = now
	form, err := handlers.EncodeForm(&want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := handlers.ParseReservation(form, now)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
	}
}

func TestParseReservationErrors(t *testing.T) {
	t.Parallel()
	base := func() url.Values {
		f, _ := handlers.EncodeForm(ptr(reservation(nil, nil)))
		return f
	}
	tests := []struct {
		name  string
		edit  func(url.Values)
		param string // want a *ParamError for this parameter
		attr  string // want an *AttributeError for this parameter
	}{
		{"SID with path characters", func(f url.Values) { f.Set("WorkerSid", "WK/../../../../0123456789abcdef0123") }, "WorkerSid", ""},
		{"SID with wrong prefix", func(f url.Values) { f.Set("WorkspaceSid", "WK0123456789abcdef0123456789abcdef") }, "WorkspaceSid", ""},
		{"SID one digit short", func(f url.Values) { f.Set("ReservationSid", "WR0123456789abcdef0123456789abcde") }, "ReservationSid", ""},
		{"SID with non-hex", func(f url.Values) { f.Set("TaskSid", "WT0123456789abcdef0123456789abcdeg") }, "TaskSid", ""},
		{"optional SID present but bad", func(f url.Values) { f.Set("TaskQueueSid", "WQ1") }, "TaskQueueSid", ""},
		{"negative priority", func(f url.Values) { f.Set("TaskPriority", "-1") }, "TaskPriority", ""},
		{"worker attributes array", func(f url.Values) { f.Set("WorkerAttributes", "[]") }, "", "WorkerAttributes"},
		{"task attributes too deep", func(f url.Values) { f.Set("TaskAttributes", deep(20000)) }, "", "TaskAttributes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := base()
			tt.edit(f)
			r, err := handlers.ParseReservation(f, time.Now())
			var pe *handlers.ParamError
			var ae *handlers.AttributeError
			switch {
			case tt.param != "":
				if !errors.As(err, &pe) || pe.Param != tt.param {
					t.Fatalf("err = %v, want a ParamError for %s", err, tt.param)
				}
			case tt.attr != "":
				if !errors.As(err, &ae) || ae.Param != tt.attr {
					t.Fatalf("err = %v, want an AttributeError for %s", err, tt.attr)
				}
				if r.ReservationSid == "" || r.TaskAttributes == nil || r.WorkerAttributes == nil {
					t.Fatalf("an attribute error must still return the reservation: %+v", r)
				}
			}
		})
	}
}

func deep(n int) string {
	b := make([]byte, 0, 2*n+2)
	b = append(b, `{"a":`...)
	for range n {
		b = append(b, '[')
	}
	for range n {
		b = append(b, ']')
	}
	return string(append(b, '}'))
}

// FuzzParseReservation: any form either parses into a reservation whose SIDs
// are valid, or fails with one of the two documented error types; it never
// panics, and a successful parse survives an encode/parse round trip.
func FuzzParseReservation(f *testing.F) {
	good, _ := handlers.EncodeForm(ptr(reservation(map[string]any{"selected_language": "es"}, map[string]any{"skills": []any{"a"}})))
	f.Add(good.Encode())
	f.Add("TaskAttributes=%7B%7D&ReservationSid=WR0123456789abcdef0123456789abcdef")
	f.Add("TaskSid=WT..%2F..%2F&TaskSid=x&TaskAge=-1")
	f.Add("WorkerAttributes=%5B%5B%5B%5B&TaskPriority=99999999999999999999")
	f.Add("a=%ff%fe&TaskAttributes=%7B%22k%22%3A%22%ff%22%7D")
	f.Fuzz(func(t *testing.T, body string) {
		form, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		r, err := handlers.ParseReservation(form, time.Unix(0, 0))
		var pe *handlers.ParamError
		var ae *handlers.AttributeError
		if err != nil && !errors.As(err, &pe) && !errors.As(err, &ae) {
			t.Fatalf("undocumented error type %T: %v", err, err)
		}
		if pe != nil {
			return
		}
		for _, s := range []struct{ p, v string }{{"AC", r.AccountSid}, {"WS", r.WorkspaceSid}, {"WK", r.WorkerSid}, {"WT", r.TaskSid}, {"WR", r.ReservationSid}} {
			if !taskrouter.ValidSid(s.p, s.v) {
				t.Fatalf("accepted invalid SID %q", s.v)
			}
		}
		if ae != nil {
			return
		}
		again, err := handlers.EncodeForm(&r)
		if err != nil {
			t.Fatalf("encode parsed reservation: %v", err)
		}
		r2, err := handlers.ParseReservation(again, time.Unix(0, 0))
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if r2.ReservationSid != r.ReservationSid || r2.TaskAge != r.TaskAge || len(r2.TaskAttributes) != len(r.TaskAttributes) {
			t.Fatalf("round trip changed the reservation: %+v vs %+v", r, r2)
		}
		for k, v := range r.Params {
			if utf8.ValidString(k) && r2.Params[k] != v {
				t.Fatalf("param %q lost in round trip", k)
			}
		}
	})
}

// Parsing and encoding are derived from taskrouter's parameter table: every
// parameter it lists is parsed into the reservation (not left in Params) and
// encoded back as sent, and every required one is refused when missing.
func TestWireFollowsParamTable(t *testing.T) {
	t.Parallel()
	form := url.Values{}
	for _, p := range taskrouter.CallbackParams() {
		switch p.Type {
		case taskrouter.TypeSid:
			form.Set(p.Name, p.Prefix+"0123456789abcdef0123456789abcdef")
		case taskrouter.TypeCount:
			form.Set(p.Name, "7")
		case taskrouter.TypeJSON:
			form.Set(p.Name, `{"k":"`+p.Name+`"}`)
		default:
			form.Set(p.Name, "text "+p.Name)
		}
	}
	r, err := handlers.ParseReservation(form, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Params) != 0 {
		t.Errorf("documented parameters left as extras: %v", r.Params)
	}
	back, err := handlers.EncodeForm(&r)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, form) {
		t.Errorf("EncodeForm(ParseReservation(form)):\n got %v\nwant %v", back, form)
	}
	for _, p := range taskrouter.CallbackParams() {
		if !p.Required {
			continue
		}
		f := maps.Clone(form)
		f.Del(p.Name)
		var pe *handlers.ParamError
		if _, err := handlers.ParseReservation(f, time.Now()); !errors.As(err, &pe) || pe.Param != p.Name {
			t.Errorf("without %s: err = %v, want a ParamError for it", p.Name, err)
		}
	}
}
