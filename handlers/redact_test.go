package handlers_test

import (
	"strings"
	"testing"
	"time"

	"github.com/assignd/assignd/handlers"
	"github.com/assignd/assignd/policy/rules"
)

// TestFallbackLogLineKeepsAttributeValuesOut: a fallback caused by a value
// built from an attribute is logged with the rule and the part that failed,
// and the value only with LOG_ATTRIBUTES.
func TestFallbackLogLineKeepsAttributeValuesOut(t *testing.T) {
	t.Parallel()
	const value = "Ada-Lovelace-Not-A-Phone"
	p, err := rules.Parse("attrs.yaml", []byte(`
rules:
  - name: badvalue
    when: 'true'
    then: {instruction: call, from: "+15005550006", url: "https://example.com/twiml", to: '=task.customer_phone'}
default: {instruction: accept}
on_error: {instruction: accept}
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, logAttrs := range []bool{false, true} {
		srv := startServer(t, handlers.Options{Decider: guard(t, p, time.Second), LogAttributes: logAttrs})
		if status, body, _ := postSigned(t, srv.URL, reservation(map[string]any{"customer_phone": value}, nil)); status != 200 {
			t.Fatalf("status %d %s", status, body)
		}
		logs := srv.Log.String()
		if !strings.Contains(logs, `"result":"fallback"`) || !strings.Contains(logs, `rule \"badvalue\"`) {
			t.Errorf("LOG_ATTRIBUTES=%v: no fallback line naming the rule:\n%s", logAttrs, logs)
		}
		if got := strings.Contains(logs, value); got != logAttrs {
			t.Errorf("LOG_ATTRIBUTES=%v: log contains the attribute value: %v:\n%s", logAttrs, got, logs)
		}
	}
}
