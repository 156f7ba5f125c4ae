package policy_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/assignd/assignd/policy"
)

func TestSecretFieldsComeFromTheFieldDefinitions(t *testing.T) {
	t.Parallel()
	var want []string
	for _, name := range policy.InstructionNames() {
		for _, f := range policy.Fields(name) {
			if f.Secret && !slices.Contains(want, f.JSON) {
				want = append(want, f.JSON)
			}
		}
	}
	slices.Sort(want)
	if got := policy.SecretFields(); !slices.Equal(got, want) || !slices.Contains(got, "sip_auth_password") {
		t.Fatalf("SecretFields() = %v, want %v (sip_auth_password among them)", got, want)
	}
}

func TestRedaction(t *testing.T) {
	t.Parallel()
	in := `{"instruction":"conference","from":"+15005550006","to":"client:alice","sip_auth_password":"pw"}`
	got := string(policy.RedactInstructionJSON([]byte(in), []string{"to"}))
	for _, want := range []string{`"to":"(redacted)"`, `"sip_auth_password":"(redacted)"`, `"from":"+15005550006"`, `"instruction":"conference"`} {
		if !strings.Contains(got, want) {
			t.Errorf("RedactInstructionJSON: %s lacks %s", got, want)
		}
	}
	if plain := `{"instruction":"accept"}`; string(policy.RedactInstructionJSON([]byte(plain), nil)) != plain {
		t.Error("an instruction with nothing to redact changed")
	}
	if got := policy.RedactMissing(`worker.skills["billing"]`); got != "worker.skills[…]" {
		t.Errorf("RedactMissing: %s", got)
	}
	err := fmt.Errorf("policy failed: %w", &policy.RuleError{Rule: "vip", Part: "then.to", Err: errors.New(`got "Ada"`)})
	if got := policy.RedactError(err); got != `policy failed: rule "vip": then.to: failed (redacted)` {
		t.Errorf("RedactError: %s", got)
	}
	if plain := errors.New("store: connection refused"); policy.RedactError(plain) != plain.Error() {
		t.Error("an error without attribute values changed")
	}
}
