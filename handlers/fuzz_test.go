package handlers_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/assignd/assignd/handlers"
	"github.com/assignd/assignd/taskrouter"
)

// FuzzPublicURL: whatever path, query and proxy headers arrive, the
// reconstructed URL is an absolute http(s) URL that keeps the request's
// path and query, it ignores forwarded headers unless the proxy is trusted,
// a trusted header it cannot use is refused as ErrForwarding (never turned
// into a URL with another path), and a request signed for it verifies.
func FuzzPublicURL(f *testing.F) {
	f.Add("/assignment", "a=1", "https", "abc.ngrok.app", "", true)
	f.Add("/assignment/", "", "http, https", "x.example, y", "", false)
	f.Add("/a%2Fb", "q=%ff&x", "ftp", "", "", true)
	f.Add("/..//assignment", "bodySHA256=00", "https", "host:8443", "", true)
	f.Add("/assignment", "x=bodySHA256&bodySHA256=", "", "", "", false)
	f.Add("/assignment", "", "http", "evil", `for=1.2.3.4;host="evil/x", for=5.6.7.8;proto=https;host="a.example:8443"`, true)
	f.Add("/assignment", "", "", "", `proto=https;host="a,b;c"`, true)
	f.Fuzz(func(t *testing.T, path, query, proto, host, fwd string, trust bool) {
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		target := "http://internal:8080" + path
		if query != "" {
			target += "?" + query
		}
		u, err := url.ParseRequestURI(target)
		// Not a request Twilio (or any client) sends: whitespace, or a '#',
		// which RFC 9112's request-target cannot hold (a fragment never
		// leaves the client), and which url.Parse would read back as one.
		if err != nil || strings.ContainsAny(target, " \r\n\t#") {
			return
		}
		req := httptest.NewRequest(http.MethodPost, u.String(), strings.NewReader("A=1"))
		req.Header.Set("X-Forwarded-Proto", proto)
		req.Header.Set("X-Forwarded-Host", host)
		if fwd != "" {
			req.Header.Set("Forwarded", fwd)
		}
		proxy := handlers.ProxyNone
		if trust { // the fuzzer's Forwarded input decides which family is trusted
			proxy = handlers.ProxyXForwarded
			if fwd != "" {
				proxy = handlers.ProxyForwarded
			}
		}
		v := handlers.NewVerifier([]string{testToken}, nil, proxy)
		got, err := v.PublicURL(req)
		if err != nil {
			if !trust || !errors.Is(err, handlers.ErrForwarding) {
				t.Fatalf("PublicURL failed with trust=%v: %v", trust, err)
			}
			return
		}
		wantTarget := u.RequestURI() // path and query as sent
		if pu, err := url.Parse(got); err != nil || pu.RequestURI() != wantTarget || pu.User != nil || pu.Fragment != "" {
			t.Fatalf("PublicURL = %q does not parse back to the request target %q (%v)", got, wantTarget, err)
		}
		if !strings.HasPrefix(got, "http://") && !strings.HasPrefix(got, "https://") {
			t.Fatalf("PublicURL = %q: not absolute http(s)", got)
		}
		if !strings.HasSuffix(got, wantTarget) {
			t.Fatalf("PublicURL = %q lost the request target %q", got, wantTarget)
		}
		if !trust && got != "http://internal:8080"+wantTarget {
			t.Fatalf("untrusted proxy headers changed the URL: %q", got)
		}
		form := url.Values{"A": {"1"}}
		if pu, _ := url.Parse(got); pu.Query().Get("bodySHA256") != "" {
			return // a JSON-body URL, as twilio-go reads it: the form signature does not apply
		}
		if !v.ValidForm(got, []byte("A=1"), form, taskrouter.Sign(testToken, got, form)) {
			t.Fatalf("a signature made for %q does not verify", got)
		}
	})
}
