package inspect_test

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/assignd/assignd/decisionlog"
	"github.com/assignd/assignd/inspect"
	"github.com/assignd/assignd/internal/servicetest"
	"github.com/assignd/assignd/internal/testwait"
	"github.com/assignd/assignd/policy/rules"
)

// TestSummaryDetailRedactsTheJob: in summary mode the detail view shows the
// async job's instruction as the log kept it, without the value the rules
// computed from an attribute, and never the SIP password.
func TestSummaryDetailRedactsTheJob(t *testing.T) {
	t.Parallel()
	const contact = "client:alice-Private-7731"
	env := servicetest.New(t, "sqlite", decisionlog.ModeSummary, decisionlog.Options{})
	p, err := rules.Parse("attrs.yaml", []byte(`
rules:
  - name: conf
    when: 'true'
    then: {instruction: conference, from: "+15005550006", to: '=worker.contact_uri', sip_auth_password: Job-Sip-Pass, async: true}
default: {instruction: accept}
on_error: {instruction: accept}
`))
	if err != nil {
		t.Fatal(err)
	}
	env.Current.Store(p)
	handler, err := inspect.New(inspect.Options{Log: env.Log, Policy: inspect.NewPolicyStatus(env.Current), Jobs: env.Queue, DecisionDeadline: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	r := servicetest.Reservation(1, nil, map[string]any{"contact_uri": contact})
	if s, b := env.Post(t, r, servicetest.Token); s != 200 || b != "{}" {
		t.Fatalf("%d %s", s, b)
	}
	env.Flush(t)
	id := env.One(t, r.ReservationSid).ID
	var body string
	if !testwait.Until(30*time.Second, func() bool {
		_, body = get(t, srv.URL+"/admin/api/decisions/"+itoa(id))
		return strings.Contains(body, `"jobs": [`) && strings.Contains(body, `"instruction": {`)
	}) {
		t.Fatalf("no job in the detail: %s", body)
	}
	_, page := get(t, srv.URL+"/admin/decisions/"+itoa(id))
	for what, text := range map[string]string{"API": body, "page": page} {
		if strings.Contains(text, contact) || strings.Contains(text, "Job-Sip-Pass") {
			t.Errorf("%s shows an attribute value or the password:\n%s", what, text)
		}
	}
	if !strings.Contains(body, `"to": "(redacted)"`) {
		t.Errorf("API detail lacks the redacted field:\n%s", body)
	}
}
