// Package taskroutertest holds Twilio's published request-signing example,
// for tests that check a signer or a validator against it.
package taskroutertest

import "net/url"

// Twilio's published example (also twilio-go's own test vector): VectorSig
// is what Twilio sends for VectorForm posted to VectorURL under VectorToken.
const (
	VectorToken = "12345"
	VectorURL   = "https://mycompany.com/myapp.php?foo=1&bar=2"
	VectorSig   = "vOEb5UThFn24KEfnOFLQY2AE5FY="
)

// VectorForm is the example's form, new for each caller (url.Values is a map).
func VectorForm() url.Values {
	return url.Values{
		"Digits": {"1234"}, "CallSid": {"CA1234567890ABCDE"}, "To": {"+18005551212"},
		"Caller": {"+14158675309"}, "From": {"+14158675309"},
		"ReasonConferenceEnded": {"test"}, "Reason": {"Participant"},
	}
}
