package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/assignd/assignd/handlers"
	"github.com/assignd/assignd/taskrouter"
)

// Behind proxies that append to the forwarding headers, a client's own value
// is the leftmost one. Over real HTTP: a request signed for the forged,
// leftmost URL is refused; the one signed for the URL the nearest proxy
// reports is answered, on the callback and on /events alike.
func TestTrustProxyUsesNearestProxy(t *testing.T) {
	t.Parallel()
	const real, forged = "https://app.example", "http://evil.example"
	es := reservation(map[string]any{"selected_language": "es"}, map[string]any{"languages": []any{"es"}})
	form, _ := handlers.EncodeForm(&es)
	event := url.Values{"EventType": {"reservation.accepted"}, "ResourceSid": {es.ReservationSid}}

	for _, proxies := range []struct {
		name    string
		family  handlers.ProxyHeaders
		headers http.Header
	}{
		{"X-Forwarded-*", handlers.ProxyXForwarded, http.Header{
			"X-Forwarded-Proto": {"http, https"},
			"X-Forwarded-Host":  {"evil.example", "app.example"}, // two lines form one list
			// The client's own header of the other family, passed through
			// untouched by a proxy that only appends X-Forwarded-*.
			"Forwarded": {"proto=http;host=evil.example"},
		}},
		{"Forwarded", handlers.ProxyForwarded, http.Header{
			"Forwarded":        {`for=198.51.100.7;proto=http;host=evil.example, for="[2001:db8::7]";Proto=HTTPS;HOST="app.example"`},
			"X-Forwarded-Host": {"evil.example"},
		}},
	} {
		t.Run(proxies.name, func(t *testing.T) {
			srv := startServer(t, handlers.Options{Verifier: handlers.NewVerifier([]string{testToken}, nil, proxies.family)})
			for _, c := range []struct {
				path, base string
				form       url.Values
				status     int
			}{
				{"/assignment", forged, form, http.StatusForbidden},
				{"/assignment", real, form, http.StatusOK},
				{"/events", forged, event, http.StatusForbidden},
				{"/events", real, event, http.StatusNoContent},
			} {
				sig := taskrouter.Sign(testToken, c.base+c.path, c.form)
				status, body, _ := postHeaders(t, srv.URL+c.path, c.form.Encode(), sig, proxies.headers)
				if status != c.status {
					t.Errorf("%s signed for %s: got %d %q, want %d", c.path, c.base, status, body, c.status)
				}
				if c.path == "/assignment" && c.status == http.StatusOK && body != `{"instruction":"accept"}` {
					t.Errorf("got %q, want the policy's accept", body)
				}
			}
			if !strings.Contains(srv.Log.String(), `"checked_url":"https://app.example/assignment"`) {
				t.Errorf("the refusal log does not name the URL checked:\n%s", srv.Log.String())
			}
		})
	}
}

// PUBLIC_HOSTS: a request addressed to any other host is refused, even when
// it is correctly signed for the URL it claims, and the log says why.
func TestPublicHostsAllowList(t *testing.T) {
	t.Parallel()
	srv := startServer(t, handlers.Options{Verifier: handlers.NewVerifier([]string{testToken}, nil, handlers.ProxyXForwarded, "app.example", "app2.example:8443")})
	r := reservation(map[string]any{"selected_language": "es"}, map[string]any{"languages": []any{"es"}})
	form, _ := handlers.EncodeForm(&r)
	for _, c := range []struct {
		host   string
		status int
	}{
		{"app.example", http.StatusOK},
		{"APP.example:443", http.StatusOK},
		{"app2.example:8443", http.StatusOK},
		{"app2.example", http.StatusForbidden},
		{"other.example", http.StatusForbidden},
		{"app.example.evil.example", http.StatusForbidden},
	} {
		u := "https://" + c.host + "/assignment"
		hdr := http.Header{"X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {c.host}}
		if status, body, _ := postHeaders(t, srv.URL+"/assignment", form.Encode(), taskrouter.Sign(testToken, u, form), hdr); status != c.status {
			t.Errorf("host %s: got %d %q, want %d", c.host, status, body, c.status)
		}
	}
	logs := srv.Log.String()
	for _, want := range []string{`host is not one of PUBLIC_HOSTS: \"other.example\"`, `"checked_url":"https://other.example/assignment"`, "add it if it is yours"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
}
