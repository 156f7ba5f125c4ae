package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strconv"
	"time"

	"github.com/assignd/assignd/policy"
	"github.com/assignd/assignd/taskrouter"
)

// ParamError is a callback parameter that is missing or malformed; the
// request cannot be acted on and gets 400.
type ParamError struct {
	Param string
	Msg   string
}

func (e *ParamError) Error() string { return e.Param + ": " + e.Msg }

// AttributeError is TaskAttributes or WorkerAttributes that is not a JSON
// object. The rest of the callback is sound and signed, so the reservation
// gets the policy's fallback decision rather than being left to time out.
type AttributeError struct {
	Param string
	Err   error
}

func (e *AttributeError) Error() string { return e.Param + ": not a JSON object: " + e.Err.Error() }
func (e *AttributeError) Unwrap() error { return e.Err }

// reservationFields maps each callback parameter of the taskrouter table to
// the policy.Reservation field of the same name; derived once, never written.
var reservationFields = mustReservationFields()

type reservationField struct {
	taskrouter.Param
	index int // field index in policy.Reservation
}

// mustReservationFields stops the program at init when a parameter in the
// table has no field of a matching type, so the two cannot drift.
func mustReservationFields() []reservationField {
	want := map[taskrouter.ParamType]reflect.Type{
		taskrouter.TypeSid: reflect.TypeFor[string](), taskrouter.TypeText: reflect.TypeFor[string](),
		taskrouter.TypeCount: reflect.TypeFor[int](), taskrouter.TypeJSON: reflect.TypeFor[map[string]any](),
	}
	var out []reservationField
	for _, p := range taskrouter.CallbackParams() {
		sf, ok := reflect.TypeFor[policy.Reservation]().FieldByName(p.Name)
		if !ok || sf.Type != want[p.Type] || len(sf.Index) != 1 {
			panic(fmt.Sprintf("handlers: callback parameter %s wants a policy.Reservation field %s of type %s", p.Name, p.Name, want[p.Type]))
		}
		out = append(out, reservationField{p, sf.Index[0]})
	}
	return out
}

// ParseReservation turns the callback's form into a Reservation. It returns
// a *ParamError for input that cannot be acted on. When only the attributes
// are malformed it returns the otherwise complete reservation together with
// an *AttributeError, so the caller can still answer a fallback.
func ParseReservation(form url.Values, receivedAt time.Time) (policy.Reservation, error) {
	r := policy.Reservation{ReceivedAt: receivedAt}
	for name, vals := range form {
		known := taskrouter.IsCallbackParam(name)
		if known && len(vals) > 1 {
			return r, &ParamError{name, fmt.Sprintf("sent %d times", len(vals))}
		}
		if !known {
			if r.Params == nil {
				r.Params = make(map[string]string)
			}
			r.Params[name] = vals[0]
		}
	}
	rv := reflect.ValueOf(&r).Elem()
	for _, f := range reservationFields {
		if f.Type == taskrouter.TypeJSON {
			continue // attributes last: everything else is needed to act at all
		}
		if err := parseScalar(rv.Field(f.index), f.Param, form.Get(f.Name)); err != nil {
			return r, err
		}
	}
	var attrErr error
	for _, f := range reservationFields {
		if f.Type != taskrouter.TypeJSON {
			continue
		}
		m, err := attributes(form, f.Name)
		rv.Field(f.index).Set(reflect.ValueOf(m))
		if err != nil && attrErr == nil {
			attrErr = err
		}
	}
	return r, attrErr
}

// parseScalar checks one SID, count or text parameter and stores it in field.
func parseScalar(field reflect.Value, p taskrouter.Param, v string) error {
	switch p.Type {
	case taskrouter.TypeSid:
		if v == "" && p.Required {
			return &ParamError{p.Name, "missing"}
		}
		if v != "" && !taskrouter.ValidSid(p.Prefix, v) {
			return &ParamError{p.Name, taskrouter.WantSid(p.Prefix)}
		}
		field.SetString(v)
	case taskrouter.TypeCount:
		n, err := count(p.Name, v)
		if err != nil {
			return err
		}
		field.SetInt(int64(n))
	default:
		field.SetString(v)
	}
	return nil
}

func count(name, v string) (int, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, &ParamError{name, "want a non-negative integer"}
	}
	return n, nil
}

func attributes(form url.Values, name string) (map[string]any, error) {
	v := form.Get(name)
	if v == "" {
		return map[string]any{}, nil
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(v), &m); err != nil {
		return map[string]any{}, &AttributeError{name, err}
	}
	if m == nil { // the JSON literal null
		return map[string]any{}, &AttributeError{name, errors.New("got null")}
	}
	return m, nil
}

// EncodeForm is ParseReservation's inverse: the form TaskRouter would POST
// for r. Used by `assignd send`, tests and benchmarks.
func EncodeForm(r *policy.Reservation) (url.Values, error) {
	f := url.Values{}
	for k, v := range r.Params {
		f.Set(k, v)
	}
	rv := reflect.ValueOf(r).Elem()
	for _, p := range reservationFields {
		field := rv.Field(p.index)
		switch p.Type {
		case taskrouter.TypeCount: // sent even when 0, as TaskRouter does
			f.Set(p.Name, strconv.FormatInt(field.Int(), 10))
		case taskrouter.TypeJSON:
			b, err := json.Marshal(orEmpty(field.Interface().(map[string]any)))
			if err != nil {
				return nil, fmt.Errorf("encode %s: %w", p.Name, err)
			}
			f.Set(p.Name, string(b))
		default:
			if v := field.String(); v != "" {
				f.Set(p.Name, v)
			}
		}
	}
	return f, nil
}

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}
