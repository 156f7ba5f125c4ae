package decisionlog_test

import (
	"strings"
	"testing"

	"github.com/assignd/assignd/decisionlog"
	"github.com/assignd/assignd/internal/servicetest"
	"github.com/assignd/assignd/policy"
	"github.com/assignd/assignd/policy/rules"
)

// attributePolicy builds instruction fields from attributes, looks a
// computed key up, fails validation on a value taken from an attribute, and
// gives a conference with a SIP password (sync and async).
const attributePolicy = `
rules:
  - name: skills
    when: 'worker.skills[task.required_skill] > 3'
    then: {instruction: accept}
  - name: contact
    when: 'task.type == "contact"'
    then: {instruction: call, from: "+15005550006", url: "https://example.com/twiml", to: '=worker.contact_uri'}
  - name: badvalue
    when: 'task.type == "bad"'
    then: {instruction: call, from: "+15005550006", url: "https://example.com/twiml", to: '=task.customer_phone'}
  - name: sip
    when: 'task.type == "sip"'
    then: {instruction: conference, from: "+15005550006", to: "sip:agent@example.com", sip_auth_username: agent, sip_auth_password: hunter2-Sip-Pass}
  - name: sip-async
    when: 'task.type == "sip-async"'
    then: {instruction: conference, from: "+15005550006", to: "sip:agent@example.com", sip_auth_password: hunter2-Sip-Pass, async: true}
default: {instruction: reject, activity_sid: WA00000000000000000000000000000002}
on_error: {instruction: reject, activity_sid: WA00000000000000000000000000000003}
`

// TestSummaryRedactsComputedValuesAndSecrets reads the raw rows: in summary
// mode no attribute value reaches them, through the instruction, the
// explanation or the error; in both modes the SIP password never does.
func TestSummaryRedactsComputedValuesAndSecrets(t *testing.T) {
	t.Parallel()
	const (
		contactURI = "client:alice-Private-7731"
		badPhone   = "Ada-Lovelace-Not-A-Phone"
		skill      = "billing-Secret-Skill"
		password   = "hunter2-Sip-Pass"
	)
	for _, mode := range []decisionlog.Mode{decisionlog.ModeSummary, decisionlog.ModeFull} {
		for _, store := range servicetest.Stores {
			t.Run(string(mode)+"/"+store, func(t *testing.T) {
				env := servicetest.New(t, store, mode, decisionlog.Options{})
				p, err := rules.Parse("attrs.yaml", []byte(attributePolicy))
				if err != nil {
					t.Fatal(err)
				}
				env.Current.Store(p)
				worker := map[string]any{"contact_uri": contactURI, "skills": map[string]any{"sales": 5}}
				contact := servicetest.Reservation(1, map[string]any{"type": "contact", "required_skill": skill}, worker)
				bad := servicetest.Reservation(2, map[string]any{"type": "bad", "customer_phone": badPhone, "required_skill": skill}, worker)
				sip := servicetest.Reservation(3, map[string]any{"type": "sip", "required_skill": "sales0"}, worker)
				sipAsync := servicetest.Reservation(4, map[string]any{"type": "sip-async", "required_skill": "sales0"}, worker)
				// Sync answers carry the values TaskRouter needs.
				for _, c := range []struct {
					r    policy.Reservation
					want string
				}{{contact, contactURI}, {bad, `"activity_sid":"WA00000000000000000000000000000003"`}, {sip, password}, {sipAsync, "{}"}} {
					status, body := env.Post(t, c.r, servicetest.Token)
					if status != 200 || !strings.Contains(body, c.want) {
						t.Fatalf("%s: status %d %s, want 200 with %s", c.r.ReservationSid, status, body, c.want)
					}
				}
				env.Flush(t)
				rows := rawRows(t, env)
				if len(rows) != 4 {
					t.Fatalf("want 4 rows, got %d", len(rows))
				}
				all := strings.Join(rows, "\n")
				if strings.Contains(all, password) {
					t.Errorf("%s mode stored the SIP password:\n%s", mode, all)
				}
				for _, leak := range []string{contactURI, badPhone, skill} {
					if got := strings.Contains(all, leak); got != (mode == decisionlog.ModeFull) {
						t.Errorf("%s mode: row contains %q: %v:\n%s", mode, leak, got, all)
					}
				}
				// What summary keeps: rule, instruction name, literal fields,
				// the rule and part that failed, the attribute path.
				wants := []string{"rule=contact", `"instruction":"call"`, `"from":"+15005550006"`,
					"worker.skills[", "rule=sip-async", `"sip_auth_username":"agent"`}
				if mode == decisionlog.ModeSummary {
					wants = append(wants, `rule \"badvalue\": instruction: failed (redacted)`, `"to":"(redacted)"`)
				}
				for _, want := range wants {
					if !strings.Contains(all, want) {
						t.Errorf("%s row lacks %q:\n%s", mode, want, all)
					}
				}
				if e := env.One(t, sip.ReservationSid); !strings.Contains(string(e.Answer), `"sip_auth_password":"(redacted)"`) {
					t.Errorf("sip answer as stored: %s", e.Answer)
				}
			})
		}
	}
}
