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
// the URL when it was not (or nothing is configured to compare with).
func TestSignatureHintFollowsTheRequest(t *testing.T) {
	public, _ := url.Parse("https://abc.ngrok.app")
	const token, urlHint = "check TWILIO_AUTH_TOKEN first", "the URL must be the one Twilio called"
	cases := []struct {
		name     string
		verifier *handlers.Verifier
		host     string // the Host the request shows
		want     string // the hint starts with this
	}{
		{"PUBLIC_URL, its host", handlers.NewVerifier([]string{testToken}, public, handlers.ProxyNone), "ABC.ngrok.app:443", "the request was addressed to the configured public host, so " + token},
		{"PUBLIC_URL, another host", handlers.NewVerifier([]string{testToken}, public, handlers.ProxyNone), "internal:8080", urlHint},
		{"TRUST_PROXY with PUBLIC_HOSTS", handlers.NewVerifier([]string{testToken}, nil, handlers.ProxyXForwarded, "abc.ngrok.app"), "abc.ngrok.app", "the request was addressed to the configured public host, so " + token},
		{"nothing configured", handlers.NewVerifier([]string{testToken}, nil, handlers.ProxyNone), "abc.ngrok.app", urlHint},
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
			req.Header.Set("X-Twilio-Signature", taskrouter.Sign("not-the-token", "https://abc.ngrok.app/assignment", form))
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
			if !strings.HasPrefix(line.Hint, c.want) {
				t.Fatalf("hint %q, want it to start with %q", line.Hint, c.want)
			}
		})
	}
}
