package handlers

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/twilio/twilio-go/client"
)

// Why a request is refused before anything in it is acted on. The callback
// and /events log the reason; only ErrHostNotAllowed and ErrForwarding say
// something about the deployment rather than about the request's signature.
var (
	ErrNoSignature    = errors.New("no X-Twilio-Signature header")
	ErrBadSignature   = errors.New("signature does not match")
	ErrHostNotAllowed = errors.New("host is not one of PUBLIC_HOSTS")
	ErrForwarding     = errors.New("malformed forwarding header")
)

// ProxyHeaders names the forwarding headers the nearest proxy writes
// (TRUST_PROXY). Exactly one family is read: a proxy passes the other family
// through as the client wrote it, so reading both would let a client choose
// the URL the signature is checked against.
type ProxyHeaders string

// The header families a trusted proxy may set.
const (
	// ProxyNone trusts no forwarding header (TRUST_PROXY=false).
	ProxyNone ProxyHeaders = ""
	// ProxyXForwarded reads X-Forwarded-Proto and X-Forwarded-Host
	// (TRUST_PROXY=x-forwarded, or true): ngrok, nginx, most load balancers.
	ProxyXForwarded ProxyHeaders = "x-forwarded"
	// ProxyForwarded reads the standard Forwarded header (RFC 7239)
	// (TRUST_PROXY=forwarded).
	ProxyForwarded ProxyHeaders = "forwarded"
)

// ParseProxyHeaders reads a TRUST_PROXY value: false or empty (none),
// x-forwarded (true is kept as its old spelling) or forwarded.
func ParseProxyHeaders(s string) (ProxyHeaders, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "false":
		return ProxyNone, nil
	case "true", string(ProxyXForwarded):
		return ProxyXForwarded, nil
	case string(ProxyForwarded):
		return ProxyForwarded, nil
	}
	return ProxyNone, fmt.Errorf("want false, x-forwarded (or true) or forwarded, got %q", s)
}

// UnmarshalText lets configuration parsers read a ProxyHeaders.
func (p *ProxyHeaders) UnmarshalText(b []byte) error {
	v, err := ParseProxyHeaders(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// Verifier checks X-Twilio-Signature against the URL Twilio called.
//
// Behind ngrok, Fly.io or Cloud Run the process sees http:// and an internal
// host, while Twilio signed the public https:// URL. The public URL comes
// from PUBLIC_URL when set, else from the forwarding headers (of the one
// trusted family) the nearest proxy set, else from the request as received.
// An optional allow-list of public hosts refuses any other derived host.
type Verifier struct {
	validators []client.RequestValidator
	public     *url.URL
	proxy      ProxyHeaders
	hosts      map[string]bool // canonical allowed hosts; empty allows any
	checks     atomic.Int64    // signatures computed, see Checks
}

// Checks is how many times a signature has been computed: what a request
// refused before its signature check does not add to.
func (v *Verifier) Checks() int64 { return v.checks.Load() }

// NewVerifier returns a Verifier that accepts a signature made with any of
// tokens (the primary Auth Token and, during a rotation, the secondary).
// Empty tokens are ignored. public may be nil. proxy names the forwarding
// headers the nearest proxy sets (ProxyNone: none is trusted). publicHosts
// (PUBLIC_HOSTS), when given, are the only hosts a request may have been
// addressed to, such as "app.fly.dev" or "example.com:8443"; a host without
// a port also matches the scheme's default port. Without them any host is
// checked, so a proxy that does not overwrite the host header lets a client
// choose the host: set PUBLIC_HOSTS (or use PUBLIC_URL) behind one. With
// public set the host is known and publicHosts are not consulted.
func NewVerifier(tokens []string, public *url.URL, proxy ProxyHeaders, publicHosts ...string) *Verifier {
	v := &Verifier{public: public, proxy: proxy}
	for _, t := range tokens {
		if t != "" {
			v.validators = append(v.validators, client.NewRequestValidator(t))
		}
	}
	for _, h := range publicHosts {
		if h = strings.ToLower(strings.TrimSpace(h)); h != "" {
			if v.hosts == nil {
				v.hosts = make(map[string]bool)
			}
			v.hosts[h] = true
		}
	}
	return v
}

// PublicURL reconstructs the URL Twilio called for r. It fails when the
// trusted forwarding headers are malformed (ErrForwarding) or the derived
// host is not allowed (ErrHostNotAllowed; the URL is returned for the log).
func (v *Verifier) PublicURL(r *http.Request) (string, error) {
	target := requestTarget(r)
	if v.public != nil {
		// PUBLIC_URL names the host itself; the allow-list is only for
		// hosts derived from the request (config refuses both together).
		return v.public.Scheme + "://" + v.public.Host + v.public.EscapedPath() + target, nil
	}
	scheme, host := "http", r.Host
	if r.TLS != nil {
		scheme = "https"
	}
	if v.proxy != ProxyNone {
		var err error
		if scheme, host, err = forwarded(r.Header, v.proxy, scheme, host); err != nil {
			return "", err
		}
	}
	u := scheme + "://" + host + target
	return u, v.checkHost(scheme, host)
}

// checkHost applies the allow-list. The comparison is case-insensitive and
// ignores the scheme's default port, as a browser (and Twilio) would.
func (v *Verifier) checkHost(scheme, host string) error {
	if len(v.hosts) == 0 {
		return nil
	}
	h := strings.ToLower(host)
	if v.hosts[h] {
		return nil
	}
	if (scheme == "https" && strings.HasSuffix(h, ":443")) || (scheme == "http" && strings.HasSuffix(h, ":80")) {
		if v.hosts[h[:strings.LastIndexByte(h, ':')]] {
			return nil
		}
	}
	return fmt.Errorf("%w: %q", ErrHostNotAllowed, host)
}

// forwarded applies the proxy's view of the request from the one header
// family the proxy is trusted to write: the standard Forwarded header
// (RFC 7239) or X-Forwarded-Proto/X-Forwarded-Host. The other family is
// never read: the proxy passes it through untouched, so its rightmost entry
// is whatever the client wrote. Proxies append to these lists, so only the
// rightmost entry, the one the nearest (trusted) proxy wrote, counts:
// anything to its left came from further away, possibly from the client
// itself. A missing entry keeps the value the request arrived with.
func forwarded(h http.Header, family ProxyHeaders, scheme, host string) (string, string, error) {
	var proto, fhost string
	if family == ProxyForwarded {
		if vals := h.Values("Forwarded"); len(vals) > 0 {
			el, err := lastForwardedElement(vals)
			if err != nil {
				return "", "", fmt.Errorf("%w: Forwarded: %w", ErrForwarding, err)
			}
			proto, fhost = el["proto"], el["host"]
		}
	} else {
		proto = lastValue(h.Values("X-Forwarded-Proto"))
		fhost = lastValue(h.Values("X-Forwarded-Host"))
	}
	if proto != "" {
		switch p := strings.ToLower(proto); p {
		case "http", "https":
			scheme = p
		default:
			return "", "", fmt.Errorf("%w: proto %q is not http or https", ErrForwarding, proto)
		}
	}
	if fhost != "" {
		if !validHost(fhost) {
			return "", "", fmt.Errorf("%w: host %q is not a host[:port]", ErrForwarding, fhost)
		}
		host = fhost
	}
	return scheme, host, nil
}

// validHost accepts what may stand between "//" and the path: a name or IP
// literal and an optional port, nothing that would move the path, query or
// credentials of the URL being rebuilt.
func validHost(h string) bool {
	if strings.ContainsAny(h, "/?#@\\ \t\"") || strings.HasSuffix(h, ":") { // "host:" has an empty port
		return false
	}
	u, err := url.Parse("http://" + h)
	if err != nil || u.Host != h || u.Hostname() == "" {
		return false
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return false
		}
	}
	return true
}

// lastValue returns the rightmost entry of a comma-separated header list
// (several header lines form one list, in order).
func lastValue(vals []string) string {
	if len(vals) == 0 {
		return ""
	}
	last := vals[len(vals)-1]
	if i := strings.LastIndexByte(last, ','); i >= 0 {
		last = last[i+1:]
	}
	return strings.TrimSpace(last)
}

// lastForwardedElement parses the rightmost element of the Forwarded header
// (RFC 7239 section 4): pairs separated by ";", values a token or a quoted
// string, parameter names case-insensitive and not repeated. Commas and
// semicolons inside quoted strings do not separate anything.
func lastForwardedElement(vals []string) (map[string]string, error) {
	elems, err := splitUnquoted(strings.Join(vals, ","), ',')
	if err != nil {
		return nil, err
	}
	last := strings.TrimSpace(elems[len(elems)-1])
	el := map[string]string{}
	if last == "" {
		return el, nil // the nearest proxy said nothing: keep the request's own values
	}
	pairs, _ := splitUnquoted(last, ';') // quotes already balanced
	for _, pair := range pairs {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		name, value, ok := strings.Cut(pair, "=")
		name = strings.ToLower(strings.TrimSpace(name))
		if !ok || !isToken(name) {
			return nil, fmt.Errorf("want name=value, got %q", pair)
		}
		if _, dup := el[name]; dup {
			return nil, fmt.Errorf("%s given twice in one element", name)
		}
		if value, err = unquote(strings.TrimSpace(value)); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		el[name] = value
	}
	return el, nil
}

// splitUnquoted splits s at sep outside quoted strings.
func splitUnquoted(s string, sep byte) ([]string, error) {
	var parts []string
	start, quoted := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++ // the escaped character, whatever it is
		case c == '"':
			quoted = !quoted
		case !quoted && c == sep:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	if quoted {
		return nil, errors.New("unterminated quoted string")
	}
	return append(parts, s[start:]), nil
}

// unquote returns a token as is and a quoted-string's content.
func unquote(v string) (string, error) {
	if !strings.HasPrefix(v, `"`) {
		if v == "" || strings.ContainsAny(v, "\" \t") {
			return "", fmt.Errorf("bad value %q", v)
		}
		return v, nil // lenient: host=example.com:8443 is common unquoted
	}
	if len(v) < 2 || !strings.HasSuffix(v, `"`) {
		return "", fmt.Errorf("bad quoted string %s", v)
	}
	var b strings.Builder
	for i := 1; i < len(v)-1; i++ {
		c := v[i]
		if c == '\\' {
			if i+1 >= len(v)-1 {
				return "", fmt.Errorf("bad quoted string %s", v)
			}
			i++
			c = v[i]
		} else if c == '"' {
			return "", fmt.Errorf("bad quoted string %s", v)
		}
		b.WriteByte(c)
	}
	return b.String(), nil
}

// isToken reports whether s is an RFC 7230 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// Hint says what to check for a request refused with err, the likelier
// cause first. A missing signature says nothing of the token or the URL:
// Twilio signs every request. Otherwise, when the host the request was addressed to is the one
// configured (PUBLIC_URL's, or one of PUBLIC_HOSTS, which the derived host
// has passed) the URL is probably right and the token comes first.
func (v *Verifier) Hint(r *http.Request, err error) string {
	const (
		urlFirst   = "the URL must be the one Twilio called: set PUBLIC_URL to your public base URL (e.g. the ngrok URL), or TRUST_PROXY=x-forwarded (or forwarded) with PUBLIC_HOSTS behind a proxy that sets those headers; and check TWILIO_AUTH_TOKEN"
		tokenFirst = "the request was addressed to the configured public host, so check TWILIO_AUTH_TOKEN first: it must be the auth token of the account (or subaccount) that owns the Workspace (TWILIO_AUTH_TOKEN_SECONDARY during a rotation); then that the path and query Twilio calls are the ones checked"
	)
	switch {
	case errors.Is(err, ErrNoSignature):
		return "the request carries no X-Twilio-Signature header: it did not come from Twilio, or a proxy in front of assignd removed the header (make it pass X-Twilio-Signature through)"
	case errors.Is(err, ErrHostNotAllowed):
		return "the host the request was addressed to is not in PUBLIC_HOSTS: add it if it is yours; otherwise the request did not come to your public address"
	case errors.Is(err, ErrForwarding):
		return "TRUST_PROXY is on but the nearest proxy's value in the trusted header (Forwarded, or X-Forwarded-Proto/Host) is unusable: check that TRUST_PROXY names the header family your proxy sets, or set PUBLIC_URL instead"
	case v.public != nil && sameHost(v.public.Scheme, r.Host, v.public.Host):
		return tokenFirst
	case v.public == nil && len(v.hosts) > 0:
		return tokenFirst
	default:
		return urlFirst
	}
}

// sameHost compares two host[:port] values as a browser would: case aside,
// and with the scheme's default port written or not.
func sameHost(scheme, a, b string) bool {
	canon := func(h string) string {
		h = strings.ToLower(h)
		if scheme == "https" {
			return strings.TrimSuffix(h, ":443")
		}
		return strings.TrimSuffix(h, ":80")
	}
	return canon(a) == canon(b)
}

// Valid reports whether sig signs body for publicURL under any token.
// twilio-go's ValidateBody tries the URL with and without the default port
// and compares in constant time.
func (v *Verifier) Valid(publicURL string, body []byte, sig string) bool {
	if sig == "" {
		return false
	}
	v.checks.Add(1)
	for i := range v.validators {
		if v.validators[i].ValidateBody(publicURL, body, sig) {
			return true
		}
	}
	return false
}

// VerifyForm checks a signed form request: it reconstructs the public URL,
// parses the body once and verifies the signature over it. It returns the
// parsed form and the URL it checked (for the log), and an error saying why
// the request must be refused: ErrForwarding, ErrHostNotAllowed,
// ErrNoSignature or ErrBadSignature (an unparseable body cannot carry a
// valid signature either). With ErrBadSignature the form is returned too,
// untrusted, so the refusal can be recorded with what it claimed.
func (v *Verifier) VerifyForm(r *http.Request, body []byte) (form url.Values, checked string, err error) {
	checked, err = v.PublicURL(r)
	if err != nil {
		return nil, checked, err
	}
	sig := r.Header.Get("X-Twilio-Signature")
	if sig == "" {
		return nil, checked, ErrNoSignature
	}
	form, err = url.ParseQuery(string(body))
	if err != nil {
		return nil, checked, ErrBadSignature
	}
	if !v.ValidForm(checked, body, form, sig) {
		// The form comes back for the decision log's record of the refusal
		// ("what did the forged request claim?"); nothing may act on it.
		return form, checked, ErrBadSignature
	}
	return form, checked, nil
}

// ValidForm is Valid for a form body the caller has already parsed, so the
// hot path parses it once. For a form body twilio-go's ValidateBody does
// exactly this: parse, keep each parameter's first value, Validate. A URL
// whose bodySHA256 parameter is set (a JSON body) still goes through
// ValidateBody, which then signs the URL alone and hashes the body: no
// parameters, so no cost that grows with the form.
func (v *Verifier) ValidForm(publicURL string, body []byte, form url.Values, sig string) bool {
	if sig == "" {
		return false
	}
	hashed, ok := bodyHashed(publicURL)
	if !ok {
		return false // ValidateBody refuses a URL it cannot parse
	}
	if hashed {
		return v.Valid(publicURL, body, sig)
	}
	v.checks.Add(1)
	// Validate appends each name+value to the URL in turn, which is
	// quadratic in the number of parameters; it signs URL+joined either
	// way, so it gets the joined string as one parameter named "".
	params := map[string]string{"": signedParams(form)}
	for i := range v.validators {
		if v.validators[i].Validate(publicURL, params, sig) {
			return true
		}
	}
	return false
}

// bodyHashed decides as twilio-go's ValidateBody does whether publicURL
// signs a JSON body by its hash: its query's first bodySHA256 value (the
// name as decoded) is not empty. ok is false when the URL does not parse.
func bodyHashed(publicURL string) (hashed, ok bool) {
	u, err := url.Parse(publicURL)
	if err != nil {
		return false, false
	}
	return u.Query().Get("bodySHA256") != "", true
}

// signedParams is what Twilio signs after the URL: every parameter's name
// and first value, sorted by name in byte order, nothing between them.
func signedParams(form url.Values) string {
	names := slices.Sorted(maps.Keys(form))
	n := 0
	for _, k := range names {
		n += len(k) + len(form[k][0])
	}
	var b strings.Builder
	b.Grow(n)
	for _, k := range names {
		b.WriteString(k)
		b.WriteString(form[k][0])
	}
	return b.String()
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
