package taskrouter_test

import (
	"net/url"
	"testing"

	"github.com/twilio/twilio-go/client"

	"github.com/assignd/assignd/taskrouter"
)

// Twilio's published example (also twilio-go's own test vector).
const (
	vectorToken = "12345"
	vectorURL   = "https://mycompany.com/myapp.php?foo=1&bar=2"
	vectorSig   = "vOEb5UThFn24KEfnOFLQY2AE5FY="
)

var vectorForm = url.Values{
	"Digits": {"1234"}, "CallSid": {"CA1234567890ABCDE"}, "To": {"+18005551212"},
	"Caller": {"+14158675309"}, "From": {"+14158675309"},
	"ReasonConferenceEnded": {"test"}, "Reason": {"Participant"},
}

func TestSignMatchesTwilioVector(t *testing.T) {
	t.Parallel()
	if got := taskrouter.Sign(vectorToken, vectorURL, vectorForm); got != vectorSig {
		t.Fatalf("Sign = %q, want Twilio's %q", got, vectorSig)
	}
	// And twilio-go's validator agrees with what Sign produces for other input.
	v := client.NewRequestValidator("another-token")
	form := url.Values{"A": {"1"}, "B": {"x y&z"}, "TaskAttributes": {`{"k":"é"}`}}
	u := "https://example.com/assignment?x=1"
	if !v.ValidateBody(u, []byte(form.Encode()), taskrouter.Sign("another-token", u, form)) {
		t.Fatal("twilio-go rejects a signature made by Sign")
	}
}
