package async

import (
	"fmt"
	"maps"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"

	openapi "github.com/twilio/twilio-go/rest/taskrouter/v1"
)

// twilioParams puts a Reservations update form onto twilio-go's parameters:
// each form parameter lands on the field whose json tag is its name (twilio-go
// tags its fields with the REST names), so no parameter is listed here by
// hand. A parameter twilio-go has no field for is an error, never silently
// dropped.
func twilioParams(form url.Values) (*openapi.UpdateTaskReservationParams, error) {
	p := &openapi.UpdateTaskReservationParams{}
	v := reflect.ValueOf(p).Elem()
	set := 0
	for i := range v.NumField() {
		name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
		vals, ok := form[name]
		if !ok || len(vals) == 0 {
			continue
		}
		fv := v.Field(i)
		switch fv.Type() {
		case reflect.TypeFor[*string]():
			fv.Set(reflect.ValueOf(&vals[0]))
		case reflect.TypeFor[*[]string]():
			list := slices.Clone(vals)
			fv.Set(reflect.ValueOf(&list))
		case reflect.TypeFor[*bool]():
			b, err := strconv.ParseBool(vals[0])
			if err != nil {
				return nil, fmt.Errorf("update parameter %s: %w", name, err)
			}
			fv.Set(reflect.ValueOf(&b))
		case reflect.TypeFor[*int]():
			n, err := strconv.Atoi(vals[0])
			if err != nil {
				return nil, fmt.Errorf("update parameter %s: %w", name, err)
			}
			fv.Set(reflect.ValueOf(&n))
		default:
			return nil, fmt.Errorf("update parameter %s: twilio-go field of type %s", name, fv.Type())
		}
		set++
	}
	if set != len(form) {
		return nil, fmt.Errorf("twilio-go has no field for some of %v", slices.Sorted(maps.Keys(form)))
	}
	return p, nil
}
