package async

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
)

// maxErrorBody bounds what is read of an error answer: Twilio's error JSON
// is a few hundred bytes; a proxy's page past this is cut.
const maxErrorBody = 64 << 10

// closeErrorBodies hands twilio-go error answers it may leave unclosed.
//
// twilio-go v1.31.0 decodes an error answer's JSON and never closes the
// body (client.Client.doWithErr), so a body not read to its end keeps its
// connection busy until the call's deadline. For every status twilio-go
// treats as an error this reads the body (bounded), closes it, which frees
// or reuses the connection, and passes on an in-memory copy.
type closeErrorBodies struct{ next http.RoundTripper }

func (t closeErrorBodies) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil || !twilioError(resp.StatusCode) {
		return resp, err
	}
	b, rerr := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if cerr := resp.Body.Close(); rerr == nil && cerr != nil {
		rerr = cerr
	}
	if rerr != nil {
		// twilio-go then fails to decode the copy; the status it also
		// carries still classifies the answer.
		b = fmt.Appendf(b, "\n(body unreadable: %v)", rerr)
	}
	resp.Body, resp.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
	return resp, nil
}

// twilioError is twilio-go's test for an error answer (doWithErr): 3xx
// answers are returned to the caller, which closes them.
func twilioError(status int) bool { return status < 200 || status >= 400 }
