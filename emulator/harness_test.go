package emulator_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/taskrouter/v1"

	"github.com/assignd/assignd/emulator"
	"github.com/assignd/assignd/internal/needs"
)

const (
	accountSid = "AC0123456789abcdef0123456789abcdef"
	authToken  = "0123456789abcdef0123456789abcdef"
)

// harness is an emulator served over loopback HTTP behind a wrapper that
// validates every exchange against Twilio's OpenAPI description.
type harness struct {
	t   *testing.T
	emu *emulator.Emulator
	srv *httptest.Server
	api *openapi.ApiService
}

func newHarness(t *testing.T, o emulator.Options) *harness {
	t.Helper()
	t.Setenv("TWILIO_EDGE", "")
	t.Setenv("TWILIO_REGION", "")
	if o.AccountSid == "" {
		o.AccountSid, o.AuthToken = accountSid, authToken
	}
	emu, err := emulator.New(o)
	if err != nil {
		t.Fatalf("emulator.New: %v", err)
	}
	h := &harness{t: t, emu: emu}
	h.srv = httptest.NewUnstartedServer(nil)
	h.srv.Config.Handler = validating(t, "http://"+h.srv.Listener.Addr().String(), emu)
	h.srv.Start()
	t.Cleanup(func() {
		h.srv.Close()
		emu.Close()
	})
	h.api = twilioAPI(h.srv.URL, o.AccountSid, o.AuthToken)
	return h
}

// twilioAPI is twilio-go's TaskrouterV1 with its fixed base URL redirected
// to base, the way async/rest.go does it.
func twilioAPI(base, user, pass string) *openapi.ApiService {
	u, _ := url.Parse(base)
	c := &client.Client{
		Credentials: client.NewCredentials(user, pass),
		HTTPClient:  &http.Client{Transport: rewrite{u}, Timeout: 30 * time.Second},
	}
	c.SetAccountSid(accountSid)
	return openapi.NewApiServiceWithClient(c)
}

type rewrite struct{ base *url.URL }

func (rw rewrite) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.URL.Scheme, req.URL.Host, req.Host = rw.base.Scheme, rw.base.Host, ""
	return http.DefaultTransport.RoundTrip(req)
}

// validating wraps the emulator: every request it accepts (2xx) must
// validate against the operation's request schema and every answer it
// gives for a known operation against the response schema. A mismatch fails
// the test (t.Errorf is safe from the server's goroutines); a test of the
// validator itself passes a t that records instead (fidelity_test.go).
func validating(t testing.TB, serverURL string, h http.Handler) http.Handler {
	t.Helper()
	router := specRouter(t, serverURL)
	if router == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r) // a Drop fault panics through here and aborts the connection, as it should
		if r.Context().Err() != nil {
			return // the client gave up (a Delay fault): no answer was given
		}

		vr := r.Clone(context.Background())
		vr.Body = io.NopCloser(bytes.NewReader(body))
		vr.URL.Scheme, vr.URL.Host = "http", r.Host
		route, pathParams, err := router.FindRoute(vr)
		ok := rec.Code >= 200 && rec.Code < 300
		switch {
		case err != nil && ok:
			t.Errorf("fidelity: %s %s answered %d but is not an operation in Twilio's spec: %v", r.Method, r.URL, rec.Code, err)
		case err == nil:
			in := &openapi3filter.RequestValidationInput{Request: vr, PathParams: pathParams, Route: route,
				Options: &openapi3filter.Options{MultiError: true, AuthenticationFunc: basicAuthPresent}}
			if ok {
				if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
					t.Errorf("fidelity: request %s %s (form %s) does not match Twilio's spec: %v", r.Method, r.URL, body, err)
				}
			}
			out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: rec.Code,
				Header: rec.Header(), Options: &openapi3filter.Options{MultiError: true}}
			out.SetBodyBytes(rec.Body.Bytes())
			if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
				t.Errorf("fidelity: answer %d to %s %s does not match Twilio's spec: %v\n%s", rec.Code, r.Method, r.URL, err, rec.Body)
			}
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})
}

func basicAuthPresent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	if _, _, ok := in.RequestValidationInput.Request.BasicAuth(); !ok {
		return errors.New("no Basic credentials")
	}
	return nil
}

// specRouter loads Twilio's description with its server URL rewritten to
// the test server. Without the file the fidelity checks are skipped, but
// never in CI.
func specRouter(t testing.TB, serverURL string) routers.Router {
	t.Helper()
	specPath := needs.TaskRouterSpecIfPresent(t)
	if specPath == "" {
		return nil
	}
	doc, err := openapi3.NewLoader().LoadFromFile(specPath)
	if err != nil {
		t.Fatalf("loading %s: %v", specPath, err)
	}
	// Twilio's description names its server on the document and on every
	// path: point them all at the emulator under test.
	doc.Servers = openapi3.Servers{{URL: serverURL}}
	for _, item := range doc.Paths.Map() {
		if len(item.Servers) > 0 {
			item.Servers = openapi3.Servers{{URL: serverURL}}
		}
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatalf("router from %s: %v", specPath, err)
	}
	return router
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func ptr[T any](v T) *T { return &v }

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// restErr returns err as twilio-go's REST error, failing the test otherwise.
func restErr(t *testing.T, err error) *client.TwilioRestError {
	t.Helper()
	var re *client.TwilioRestError
	if !errors.As(err, &re) {
		t.Fatalf("want a Twilio REST error, got %v", err)
	}
	return re
}
