package handlers_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/assignd/assignd/handlers"
	"github.com/assignd/assignd/taskrouter"
)

// The wrong-signature hint leads with what the request shows is likelier:
// the token when the request was addressed to the configured public host,
// the URL when it was not (or nothing is configured to compare with). A
// request with no signature at all is not about the token or the URL: it
// did not come from Twilio, or a proxy dropped the header.
func TestSignatureHintFollowsTheRequest(t *testing.T) {
	t.Parallel()
	public, _ := url.Parse("https://abc.ngrok.app")
	const token, urlHint = "check TWILIO_AUTH_TOKEN first", "the URL must be the one Twilio called"
	const noSig = "the request carries no X-Twilio-Signature header: it did not come from Twilio, or a proxy in front of assignd removed the header"
	cases := []struct {
		name     string
		verifier *handlers.Verifier
		host     string // the Host the request shows
		want     string // the hint starts with this
		unsigned bool   // no X-Twilio-Signature header
	}{
		{"PUBLIC_URL, its host", handlers.NewVerifier([]string{testToken}, public, handlers.ProxyNone), "ABC.ngrok.app:443", "the request was addressed to the configured public host, so " + token, false},
		{"PUBLIC_URL, another host", handlers.NewVerifier([]string{testToken}, public, handlers.ProxyNone), "internal:8080", urlHint, false},
		{"TRUST_PROXY with PUBLIC_HOSTS", handlers.NewVerifier([]string{testToken}, nil, handlers.ProxyXForwarded, "abc.ngrok.app"), "abc.ngrok.app", "the request was addressed to the configured public host, so " + token, false},
		{"nothing configured", handlers.NewVerifier([]string{testToken}, nil, handlers.ProxyNone), "abc.ngrok.app", urlHint, false},
		{"no signature, PUBLIC_URL's host", handlers.NewVerifier([]string{testToken}, public, handlers.ProxyNone), "abc.ngrok.app", noSig, true},
		{"no signature, nothing configured", handlers.NewVerifier([]string{testToken}, nil, handlers.ProxyNone), "internal:8080", noSig, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := startServer(t, handlers.Options{Verifier: c.verifier})
			form := signedForm(t, nil)
			req, err := http.NewRequest(http.MethodPost, srv.URL+"/assignment", strings.NewReader(form.Encode()))
			if err != nil {
				t.Fatal(err)
			}
			req.Host = c.host
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if !c.unsigned {
				req.Header.Set("X-Twilio-Signature", taskrouter.Sign("not-the-token", "https://abc.ngrok.app/assignment", form))
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("status %d, want 403", resp.StatusCode)
			}
			var line struct{ Hint string }
			for _, l := range strings.Split(srv.Log.String(), "\n") {
				if strings.Contains(l, `"hint"`) {
					if err := json.Unmarshal([]byte(l), &line); err != nil {
						t.Fatal(err)
					}
				}
			}
			if !strings.HasPrefix(line.Hint, c.want) || (c.unsigned && strings.Contains(line.Hint, "TWILIO_AUTH_TOKEN")) {
				t.Fatalf("hint %q, want it to start with %q", line.Hint, c.want)
			}
		})
	}
}
