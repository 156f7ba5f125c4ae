package taskrouter

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/url"
	"sort"
)

// SignatureHeader carries a request's signature.
const SignatureHeader = "X-Twilio-Signature"

// Sign computes X-Twilio-Signature the way Twilio does for a form POST: the
// URL followed by each parameter's name and value in name order, HMAC-SHA1
// with the auth token, base64. twilio-go only verifies; this signs for the
// emulator and `assignd send`, and the tests hold it to twilio-go's
// RequestValidator.
func Sign(token, publicURL string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	mac := hmac.New(sha1.New, []byte(token))
	mac.Write([]byte(publicURL))
	for _, k := range keys {
		mac.Write([]byte(k))
		mac.Write([]byte(form.Get(k)))
	}
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
