package taskrouter_test

import (
	"net/url"
	"testing"

	"github.com/twilio/twilio-go/client"

	"github.com/assignd/assignd/taskrouter"
	"github.com/assignd/assignd/taskrouter/taskroutertest"
)

func TestSignMatchesTwilioVector(t *testing.T) {
	t.Parallel()
	if got := taskrouter.Sign(taskroutertest.VectorToken, taskroutertest.VectorURL, taskroutertest.VectorForm()); got != taskroutertest.VectorSig {
		t.Fatalf("Sign = %q, want Twilio's %q", got, taskroutertest.VectorSig)
	}
	// And twilio-go's validator agrees with what Sign produces for other input.
	v := client.NewRequestValidator("another-token")
	form := url.Values{"A": {"1"}, "B": {"x y&z"}, "TaskAttributes": {`{"k":"é"}`}}
	u := "https://example.com/assignment?x=1"
	if !v.ValidateBody(u, []byte(form.Encode()), taskrouter.Sign("another-token", u, form)) {
		t.Fatal("twilio-go rejects a signature made by Sign")
	}
}
