package handlers

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/twilio/twilio-go/client"
)

// Verifier checks X-Twilio-Signature against the URL Twilio called.
//
// Behind ngrok, Fly.io or Cloud Run the process sees http:// and an internal
// host, while Twilio signed the public https:// URL. The public URL comes
// from PUBLIC_URL when set, else from X-Forwarded-Proto/X-Forwarded-Host when
// the proxy is trusted, else from the request as received.
type Verifier struct {
	validators []client.RequestValidator
	public     *url.URL
	trustProxy bool
}

// NewVerifier returns a Verifier that accepts a signature made with any of
// tokens (the primary Auth Token and, during a rotation, the secondary).
// Empty tokens are ignored. public may be nil.
func NewVerifier(tokens []string, public *url.URL, trustProxy bool) *Verifier {
	v := &Verifier{public: public, trustProxy: trustProxy}
	for _, t := range tokens {
		if t != "" {
			v.validators = append(v.validators, client.NewRequestValidator(t))
		}
	}
	return v
}

// PublicURL reconstructs the URL Twilio called for r.
func (v *Verifier) PublicURL(r *http.Request) string {
	target := requestTarget(r)
	if v.public != nil {
		return v.public.Scheme + "://" + v.public.Host + v.public.EscapedPath() + target
	}
	scheme, host := "http", r.Host
	if r.TLS != nil {
		scheme = "https"
	}
	if v.trustProxy {
		if p := firstValue(r.Header.Get("X-Forwarded-Proto")); p == "http" || p == "https" {
			scheme = p
		}
		if h := firstValue(r.Header.Get("X-Forwarded-Host")); h != "" {
			host = h
		}
	}
	return scheme + "://" + host + target
}

// Valid reports whether sig signs body for publicURL under any token.
// twilio-go's ValidateBody tries the URL with and without the default port
// and compares in constant time.
func (v *Verifier) Valid(publicURL string, body []byte, sig string) bool {
	if sig == "" {
		return false
	}
	for i := range v.validators {
		if v.validators[i].ValidateBody(publicURL, body, sig) {
			return true
		}
	}
	return false
}

// VerifyForm checks a signed form request: it reconstructs the public URL,
// parses the body once and verifies the signature over it. It returns the
// parsed form, the URL it checked (for the log), and whether the signature
// holds; an unparseable body cannot carry a valid signature.
func (v *Verifier) VerifyForm(r *http.Request, body []byte) (form url.Values, checked string, ok bool) {
	checked = v.PublicURL(r)
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, checked, false
	}
	return form, checked, v.ValidForm(checked, body, form, r.Header.Get("X-Twilio-Signature"))
}

// ValidForm is Valid for a form body the caller has already parsed, so the
// hot path parses it once. For a form body twilio-go's ValidateBody does
// exactly this: parse, keep each parameter's first value, Validate. A URL
// carrying bodySHA256 (a JSON body) still goes through ValidateBody.
func (v *Verifier) ValidForm(publicURL string, body []byte, form url.Values, sig string) bool {
	if sig == "" {
		return false
	}
	if strings.Contains(publicURL, "bodySHA256") {
		return v.Valid(publicURL, body, sig)
	}
	params := make(map[string]string, len(form))
	for k, vals := range form {
		params[k] = vals[0]
	}
	for i := range v.validators {
		if v.validators[i].Validate(publicURL, params, sig) {
			return true
		}
	}
	return false
}

// requestTarget is the path and query exactly as the client sent them, so
// that percent-encoding Twilio signed is not normalised away.
func requestTarget(r *http.Request) string {
	if strings.HasPrefix(r.RequestURI, "/") {
		return r.RequestURI
	}
	u := *r.URL // absolute-form or a request built in a test
	u.Scheme, u.Host, u.User = "", "", nil
	return u.RequestURI()
}

// firstValue returns the first of a comma-separated header list: the value
// the outermost proxy set.
func firstValue(h string) string {
	first, _, _ := strings.Cut(h, ",")
	return strings.TrimSpace(first)
}
