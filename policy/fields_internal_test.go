package policy

import (
	"reflect"
	"strings"
	"testing"
)

// TestFieldWithoutRESTMappingIsRefused: a field added without its REST
// parameter (or with a check the table does not know) stops the build of
// the table, naming the field; mustBuildInstructions panics at init with it.
func TestFieldWithoutRESTMappingIsRefused(t *testing.T) {
	t.Parallel()
	type noREST struct {
		From   string `json:"from,omitempty" rest:"DequeueFrom"`
		Forgot string `json:"forgot,omitempty"`
	}
	type badCheck struct {
		From string `json:"from,omitempty" rest:"From" check:"phone"`
	}
	type badEnum struct {
		From string `json:"from,omitempty" rest:"From" check:"enum=colours"`
	}
	type noRange struct {
		Timeout *int `json:"timeout,omitempty" rest:"Timeout"`
	}
	for typ, want := range map[reflect.Type]string{
		reflect.TypeFor[noREST]():   "field Forgot (forgot) has no REST mapping",
		reflect.TypeFor[badCheck](): `unknown check "phone"`,
		reflect.TypeFor[badEnum]():  `no value set named "colours"`,
		reflect.TypeFor[noRange]():  "int fields need one",
	} {
		if _, err := fieldsOf(typ); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", typ, err, want)
		}
	}
	if len(instructions) != 6 {
		t.Fatalf("table has %d instructions", len(instructions))
	}
}
