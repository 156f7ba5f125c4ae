package taskrouter_test

import (
	"net/url"
	"testing"

	"github.com/twilio/twilio-go/client"

	"github.com/assignd/assignd/taskrouter"
	"github.com/assignd/assignd/taskrouter/taskroutertest"
)

// Twilio's published signing example, defined once in taskroutertest.
const (
	vectorToken = taskroutertest.VectorToken
	vectorURL   = taskroutertest.VectorURL
	vectorSig   = taskroutertest.VectorSig
)

var vectorForm = taskroutertest.VectorForm()

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
