package config

import (
	"reflect"
	"testing"
)

// Checking reports and changes nothing: normalisation (trimming, lower-case
// hosts, derived values, warnings) is done before the rules run, so running
// them again over the same config gives the same problems and leaves it
// equal.
func TestChecksDoNotChangeTheConfig(t *testing.T) {
	t.Parallel()
	c, err := Parse([]string{
		"TWILIO_AUTH_TOKEN= 0123456789abcdef0123456789ABCDEF\n", "TRUST_PROXY=x-forwarded",
		"PUBLIC_HOSTS= App.Example ,bad host", "TWILIO_API_BASE_URL=https://fake.example", "PORT=0",
	})
	if err == nil {
		t.Fatal("want problems")
	}
	before := c
	before.PublicHosts = append([]string(nil), c.PublicHosts...)
	before.Warnings = append([]string(nil), c.Warnings...)
	again := c.check()
	if again.Error() != err.Error() {
		t.Errorf("checked again:\n%s\nwant:\n%s", again, err)
	}
	if !reflect.DeepEqual(c, before) {
		t.Errorf("check changed the config:\n%+v\nwas:\n%+v", c, before)
	}
	if c.AuthToken != "0123456789abcdef0123456789ABCDEF" || c.PublicHosts[0] != "app.example" || len(c.Warnings) != 2 {
		t.Errorf("normalised: token %q, hosts %q, warnings %q", c.AuthToken, c.PublicHosts, c.Warnings)
	}
}
