package config_test

import (
	"strings"
	"testing"

	"github.com/assignd/assignd/config"
)

// The mode's reason names every variable that switched to production, so a
// refusal can say why.
func TestModeReasonNamesEveryMarker(t *testing.T) {
	t.Parallel()
	for env, want := range map[string]string{
		"K_SERVICE=assignd": "K_SERVICE is set",
		"TWILIO_AUTH_TOKEN=" + token + " PUBLIC_URL=https://abc.ngrok.app":                               "PUBLIC_URL and TWILIO_AUTH_TOKEN are set",
		"TWILIO_AUTH_TOKEN=" + token + " PUBLIC_URL=https://abc.ngrok.app TWILIO_ACCOUNT_SID=" + account: "PUBLIC_URL, TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are set",
	} {
		c, _ := config.Parse(strings.Fields(env))
		if c.Mode != config.Production || c.ModeReason != want {
			t.Errorf("%s: %v, %q; want production, %q", env, c.Mode, c.ModeReason, want)
		}
	}
}
