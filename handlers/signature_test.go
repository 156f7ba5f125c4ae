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
	"github.com/assignd/assignd/taskrouter/taskroutertest"
)

func TestVerifier(t *testing.T) {
	t.Parallel()
	const token, secondary = "primarytoken0000", "secondarytoken00"
	form := url.Values{"ReservationSid": {"WR0123456789abcdef0123456789abcdef"}, "TaskAttributes": {`{"a":1}`}}
	body := form.Encode()
	signed := func(tok, u string) string { return taskrouter.Sign(tok, u, form) }
	public, _ := url.Parse("https://abc.ngrok.app")
	publicWithPrefix, _ := url.Parse("https://example.com/twilio")

	tests := []struct {
		name    string
		tokens  []string
		public  *url.URL
		proxy   handlers.ProxyHeaders
		hosts   []string
		target  string // URL the request arrives at, as the process sees it
		headers map[string]string
		body    string
		sig     string
		want    bool
		wantURL string
		wantErr error // PublicURL fails with it (and the request is refused)
	}{
		{name: "twilio vector over form body", tokens: []string{taskroutertest.VectorToken}, target: taskroutertest.VectorURL,
			body: taskroutertest.VectorForm().Encode(), sig: taskroutertest.VectorSig, want: true, wantURL: taskroutertest.VectorURL},
		{name: "direct http", tokens: []string{token}, target: "http://localhost:8080/assignment",
			sig: signed(token, "http://localhost:8080/assignment"), want: true},
		{name: "behind proxy without PUBLIC_URL or TRUST_PROXY fails", tokens: []string{token},
			target: "http://internal:8080/assignment", headers: map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "abc.ngrok.app"},
			sig: signed(token, "https://abc.ngrok.app/assignment"), want: false, wantURL: "http://internal:8080/assignment"},
		{name: "behind proxy with PUBLIC_URL", tokens: []string{token}, public: public,
			target: "http://internal:8080/assignment", sig: signed(token, "https://abc.ngrok.app/assignment"),
			want: true, wantURL: "https://abc.ngrok.app/assignment"},
		{name: "behind proxy with TRUST_PROXY", tokens: []string{token}, proxy: handlers.ProxyXForwarded,
			target: "http://internal:8080/assignment", headers: map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "abc.ngrok.app"},
			sig: signed(token, "https://abc.ngrok.app/assignment"), want: true, wantURL: "https://abc.ngrok.app/assignment"},
		{name: "TRUST_PROXY takes the nearest proxy's value (rightmost)", tokens: []string{token}, proxy: handlers.ProxyXForwarded,
			target: "http://internal:8080/assignment", headers: map[string]string{"X-Forwarded-Proto": "http, https", "X-Forwarded-Host": "evil.example, app.fly.dev"},
			sig: signed(token, "https://app.fly.dev/assignment"), want: true, wantURL: "https://app.fly.dev/assignment"},
		{name: "TRUST_PROXY: signed for the forged leftmost value fails", tokens: []string{token}, proxy: handlers.ProxyXForwarded,
			target: "http://internal:8080/assignment", headers: map[string]string{"X-Forwarded-Proto": "http, https", "X-Forwarded-Host": "evil.example, app.fly.dev"},
			sig: signed(token, "http://evil.example/assignment"), want: false, wantURL: "https://app.fly.dev/assignment"},
		{name: "TRUST_PROXY: an empty rightmost entry keeps the request's own value, not the one to its left", tokens: []string{token}, proxy: handlers.ProxyXForwarded,
			target: "http://internal:8080/assignment", headers: map[string]string{"X-Forwarded-Host": "evil.example, "},
			sig: signed(token, "http://internal:8080/assignment"), want: true, wantURL: "http://internal:8080/assignment"},
		{name: "Forwarded: rightmost element's proto and host", tokens: []string{token}, proxy: handlers.ProxyForwarded,
			target: "http://internal:8080/assignment", headers: map[string]string{"Forwarded": `for=1.2.3.4;proto=http;host=evil.example, for=10.0.0.1;proto=https;host=app.example`},
			sig: signed(token, "https://app.example/assignment"), want: true, wantURL: "https://app.example/assignment"},
		{name: "Forwarded: quoted values, case-insensitive names, a comma and semicolon inside quotes", tokens: []string{token}, proxy: handlers.ProxyForwarded,
			target: "http://internal:8080/assignment", headers: map[string]string{"Forwarded": `for="[2001:db8::1]:4711";host="evil.example", For="x,y;z"; PROTO="HTTPS"; Host="App.Example:8443"`},
			sig: signed(token, "https://App.Example:8443/assignment"), want: true, wantURL: "https://App.Example:8443/assignment"},
		{name: "Forwarded: rightmost element without host keeps the Host header", tokens: []string{token}, proxy: handlers.ProxyForwarded,
			target: "http://svc.a.run.app/assignment", headers: map[string]string{"Forwarded": `host=evil.example;proto=http, for=10.0.0.1;proto=https`},
			sig: signed(token, "https://svc.a.run.app/assignment"), want: true, wantURL: "https://svc.a.run.app/assignment"},
		// Exactly one header family is read: a proxy passes the other one
		// through as the client wrote it.
		{name: "TRUST_PROXY=x-forwarded: a client's Forwarded header is ignored", tokens: []string{token}, proxy: handlers.ProxyXForwarded,
			target: "http://internal/assignment", headers: map[string]string{"X-Forwarded-Proto": "http, https", "X-Forwarded-Host": "evil.example, app.example", "Forwarded": `proto=https;host=evil.example`},
			sig: signed(token, "https://evil.example/assignment"), want: false, wantURL: "https://app.example/assignment"},
		{name: "TRUST_PROXY=forwarded: a client's X-Forwarded-* headers are ignored", tokens: []string{token}, proxy: handlers.ProxyForwarded,
			target: "http://internal/assignment", headers: map[string]string{"Forwarded": `proto=https;host=app.example`, "X-Forwarded-Proto": "http", "X-Forwarded-Host": "evil.example"},
			sig: signed(token, "http://evil.example/assignment"), want: false, wantURL: "https://app.example/assignment"},
		{name: "TRUST_PROXY=forwarded with no Forwarded header keeps the request's own values", tokens: []string{token}, proxy: handlers.ProxyForwarded,
			target: "http://internal/assignment", headers: map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"},
			sig: signed(token, "https://evil.example/assignment"), want: false, wantURL: "http://internal/assignment"},
		// A proxy that sets only X-Forwarded-Proto (Fly.io, Cloud Run) passes
		// a client's X-Forwarded-Host through: PUBLIC_HOSTS refuses it.
		{name: "proxy sets only X-Forwarded-Proto, client adds X-Forwarded-Host: refused by PUBLIC_HOSTS", tokens: []string{token}, proxy: handlers.ProxyXForwarded, hosts: []string{"svc.a.run.app"},
			target: "http://svc.a.run.app/assignment", headers: map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"},
			sig: signed(token, "https://evil.example/assignment"), wantErr: handlers.ErrHostNotAllowed, wantURL: "https://evil.example/assignment"},
		{name: "Forwarded is ignored without TRUST_PROXY", tokens: []string{token},
			target: "http://internal/assignment", headers: map[string]string{"Forwarded": `proto=https;host=app.example`},
			sig: signed(token, "https://app.example/assignment"), want: false, wantURL: "http://internal/assignment"},
		{name: "allow-list admits the host, default port ignored", tokens: []string{token}, proxy: handlers.ProxyXForwarded, hosts: []string{"App.Example"},
			target: "http://internal/assignment", headers: map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "app.example:443"},
			sig: signed(token, "https://app.example/assignment"), want: true, wantURL: "https://app.example:443/assignment"},
		{name: "allow-list refuses another host even when correctly signed for it", tokens: []string{token}, proxy: handlers.ProxyXForwarded, hosts: []string{"app.example"},
			target: "http://internal/assignment", headers: map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "other.example"},
			sig: signed(token, "https://other.example/assignment"), wantErr: handlers.ErrHostNotAllowed, wantURL: "https://other.example/assignment"},
		{name: "allow-list: a non-default port must be listed", tokens: []string{token}, proxy: handlers.ProxyXForwarded, hosts: []string{"app.example"},
			target: "http://internal/assignment", headers: map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "app.example:8443"},
			sig: signed(token, "https://app.example:8443/assignment"), wantErr: handlers.ErrHostNotAllowed},
		{name: "allow-list applies to the Host header without a proxy", tokens: []string{token}, hosts: []string{"app.example:8080"},
			target: "http://localhost:8080/assignment", sig: signed(token, "http://localhost:8080/assignment"), wantErr: handlers.ErrHostNotAllowed},
		{name: "malformed Forwarded is refused", tokens: []string{token}, proxy: handlers.ProxyForwarded,
			target: "http://internal/assignment", headers: map[string]string{"Forwarded": `proto=https;host="unterminated`},
			sig: signed(token, "http://internal/assignment"), wantErr: handlers.ErrForwarding},
		{name: "Forwarded parameter given twice is refused", tokens: []string{token}, proxy: handlers.ProxyForwarded,
			target: "http://internal/assignment", headers: map[string]string{"Forwarded": `host=a.example;host=b.example`},
			sig: signed(token, "http://a.example/assignment"), wantErr: handlers.ErrForwarding},
		{name: "forwarded host that would move the path is refused", tokens: []string{token}, proxy: handlers.ProxyXForwarded,
			target: "http://internal/assignment", headers: map[string]string{"X-Forwarded-Host": "app.example/evil?"},
			sig: signed(token, "http://app.example/evil?/assignment"), wantErr: handlers.ErrForwarding},
		{name: "forwarded host with an empty port is refused", tokens: []string{token}, proxy: handlers.ProxyXForwarded,
			target: "http://internal/assignment", headers: map[string]string{"X-Forwarded-Host": "app.example:"},
			sig: signed(token, "http://app.example:/assignment"), wantErr: handlers.ErrForwarding},
		{name: "forwarded proto other than http(s) is refused", tokens: []string{token}, proxy: handlers.ProxyXForwarded,
			target: "http://internal/assignment", headers: map[string]string{"X-Forwarded-Proto": "gopher"},
			sig: signed(token, "http://internal/assignment"), wantErr: handlers.ErrForwarding},
		{name: "TRUST_PROXY with only proto keeps the Host header (Cloud Run)", tokens: []string{token}, proxy: handlers.ProxyXForwarded,
			target: "http://svc-xyz.a.run.app/assignment", headers: map[string]string{"X-Forwarded-Proto": "https"},
			sig: signed(token, "https://svc-xyz.a.run.app/assignment"), want: true},
		{name: "PUBLIC_URL with a path prefix the proxy strips", tokens: []string{token}, public: publicWithPrefix,
			target: "http://internal/assignment", sig: signed(token, "https://example.com/twilio/assignment"), want: true},
		{name: "query string is part of the signed URL", tokens: []string{token}, public: public,
			target: "http://internal/assignment?tenant=acme", sig: signed(token, "https://abc.ngrok.app/assignment?tenant=acme"), want: true},
		{name: "query string changed", tokens: []string{token}, public: public,
			target: "http://internal/assignment?tenant=evil", sig: signed(token, "https://abc.ngrok.app/assignment?tenant=acme"), want: false},
		{name: "signed with :443, received without port", tokens: []string{token}, public: public,
			target: "http://internal/assignment", sig: signed(token, "https://abc.ngrok.app:443/assignment"), want: true},
		{name: "signed without port, PUBLIC_URL has :443", tokens: []string{token}, public: mustURL("https://abc.ngrok.app:443"),
			target: "http://internal/assignment", sig: signed(token, "https://abc.ngrok.app/assignment"), want: true},
		{name: "non-default port must match", tokens: []string{token}, public: mustURL("https://abc.ngrok.app:8443"),
			target: "http://internal/assignment", sig: signed(token, "https://abc.ngrok.app:9443/assignment"), want: false},
		{name: "secondary token during rotation", tokens: []string{token, secondary}, target: "http://h/assignment",
			sig: signed(secondary, "http://h/assignment"), want: true},
		{name: "secondary token not configured", tokens: []string{token}, target: "http://h/assignment",
			sig: signed(secondary, "http://h/assignment"), want: false},
		{name: "tampered body", tokens: []string{token}, target: "http://h/assignment",
			body: strings.Replace(body, "WR0123", "WR9123", 1), sig: signed(token, "http://h/assignment"), want: false},
		{name: "extra parameter added", tokens: []string{token}, target: "http://h/assignment",
			body: body + "&WorkerName=mallory", sig: signed(token, "http://h/assignment"), want: false},
		{name: "missing header", tokens: []string{token}, target: "http://h/assignment", sig: "", want: false},
		{name: "garbage header", tokens: []string{token}, target: "http://h/assignment", sig: "not-base64!!", want: false},
		{name: "trailing slash is a different URL", tokens: []string{token}, target: "http://h/assignment/",
			sig: signed(token, "http://h/assignment"), want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.body
			if b == "" {
				b = body
			}
			req := httptest.NewRequest(http.MethodPost, tt.target, strings.NewReader(b))
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			if tt.sig != "" {
				req.Header.Set("X-Twilio-Signature", tt.sig)
			}
			v := handlers.NewVerifier(tt.tokens, tt.public, tt.proxy, tt.hosts...)
			checked, err := v.PublicURL(req)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("PublicURL error = %v, want %v", err, tt.wantErr)
			}
			if tt.wantURL != "" && checked != tt.wantURL {
				t.Errorf("PublicURL = %q, want %q", checked, tt.wantURL)
			}
			// VerifyForm, which the handlers use, agrees.
			_, _, verr := v.VerifyForm(req, []byte(b))
			if tt.wantErr != nil {
				if !errors.Is(verr, tt.wantErr) {
					t.Errorf("VerifyForm error = %v, want %v", verr, tt.wantErr)
				}
				return
			}
			if got := v.Valid(checked, []byte(b), tt.sig); got != tt.want {
				t.Errorf("Valid(%q) = %v, want %v", checked, got, tt.want)
			}
			if (verr == nil) != tt.want {
				t.Errorf("VerifyForm error = %v, want valid=%v", verr, tt.want)
			}
		})
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func TestParseProxyHeaders(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]handlers.ProxyHeaders{
		"": handlers.ProxyNone, "false": handlers.ProxyNone, "FALSE": handlers.ProxyNone,
		"true": handlers.ProxyXForwarded, "x-forwarded": handlers.ProxyXForwarded, " X-Forwarded ": handlers.ProxyXForwarded,
		"forwarded": handlers.ProxyForwarded, "Forwarded": handlers.ProxyForwarded,
	} {
		if got, err := handlers.ParseProxyHeaders(in); err != nil || got != want {
			t.Errorf("ParseProxyHeaders(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"yes", "1", "x-forwarded-for", "both"} {
		if _, err := handlers.ParseProxyHeaders(bad); err == nil || !strings.Contains(err.Error(), "x-forwarded") {
			t.Errorf("ParseProxyHeaders(%q) error = %v, want one naming the accepted values", bad, err)
		}
	}
}
