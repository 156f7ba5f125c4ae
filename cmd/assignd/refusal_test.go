package main

import (
	"strings"
	"testing"
)

// A production refusal says first why the process is in production: the
// first line names every variable that made it so, then one line per
// problem.
func TestProductionRefusalSaysWhy(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	for _, tt := range []struct {
		env   []string
		first string
	}{
		{[]string{"TWILIO_AUTH_TOKEN=" + testToken, "PUBLIC_URL=https://abc.ngrok.app"},
			"assignd: production mode because PUBLIC_URL and TWILIO_AUTH_TOKEN are set; refusing to start:"},
		{[]string{"DATABASE_URL=postgres://db/x"},
			"assignd: production mode because DATABASE_URL is set; refusing to start:"},
		{[]string{"ASSIGND_MODE=production"},
			"assignd: production mode because ASSIGND_MODE=production; refusing to start:"},
	} {
		r := runBinary(t, bin, dir, tt.env)
		lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
		if r.code != 1 || lines[0] != tt.first || !strings.Contains(r.stderr, "\nassignd: POLICY_FILE: required in production") {
			t.Errorf("%v: exit %d, want first line %q, stderr:\n%s", tt.env, r.code, tt.first, r.stderr)
		}
	}
	// Development's problems are only the values' own.
	r := runBinary(t, bin, dir, []string{"DECISION_DEADLINE=abc"})
	if r.code != 1 || strings.Contains(r.stderr, "production") || !strings.HasPrefix(r.stderr, "assignd: DECISION_DEADLINE: ") {
		t.Errorf("development refusal: exit %d\n%s", r.code, r.stderr)
	}
}
