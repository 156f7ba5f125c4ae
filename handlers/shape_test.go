package handlers_test

import (
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twilio/twilio-go/client"

	"github.com/assignd/assignd/handlers"
	"github.com/assignd/assignd/taskrouter"
)

// signedForm is a genuine callback's form with extra parameters added.
func signedForm(t *testing.T, extra url.Values) url.Values {
	t.Helper()
	form, err := handlers.EncodeForm(ptr(reservation(map[string]any{"selected_language": "es"}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range extra {
		form[k] = v
	}
	return form
}

// Bodies no TaskRouter request looks like are refused with 400 before any
// signature is computed, even when correctly signed (with the token, so
// that only the shape check can refuse them), on the callback and /events,
// and counted as malformed.
func TestShapeRefusedBeforeSignature(t *testing.T) {
	t.Parallel()
	many := url.Values{}
	for i := range 10000 {
		many.Set(strconv.FormatInt(int64(i), 36), "") // ~40 KB, under the body limit
	}
	cases := []struct {
		name  string
		form  url.Values
		wants string
	}{
		{"many parameters", many, fmt.Sprintf("parameters, at most %d", handlers.MaxFormParams)},
		{"repeated name", url.Values{"TaskSid": {"WT0123456789abcdef0123456789abcdef", "WT0123456789abcdef0123456789abcdee"}}, `parameter "TaskSid" given twice`},
		{"long name", url.Values{strings.Repeat("N", handlers.MaxParamName+1): {"x"}}, fmt.Sprintf("a parameter name of %d bytes", handlers.MaxParamName+1)},
		{"long value", url.Values{"WorkerName": {strings.Repeat("v", handlers.MaxParamValue+1)}}, `parameter "WorkerName" has`},
	}
	for _, path := range []string{"/assignment", "/events"} {
		t.Run(strings.TrimPrefix(path, "/"), func(t *testing.T) {
			reg := prometheus.NewRegistry()
			v := handlers.NewVerifier([]string{testToken}, nil, handlers.ProxyNone)
			srv := startServer(t, handlers.Options{Verifier: v, Metrics: handlers.NewMetrics(reg), Gatherer: reg})
			u := srv.URL + path
			for _, c := range cases {
				form := signedForm(t, c.form)
				status, body, _ := post(t, u, form.Encode(), taskrouter.Sign(testToken, u, form))
				if status != http.StatusBadRequest || !strings.Contains(body, "request does not look like a TaskRouter callback") || !strings.Contains(body, c.wants) {
					t.Errorf("%s: got %d %q, want 400 naming %q", c.name, status, body, c.wants)
				}
			}
			if n := v.Checks(); n != 0 {
				t.Errorf("%d signatures computed for requests refused by their shape", n)
			}
			metric := map[string]string{"/assignment": "assignd_callbacks_total", "/events": "assignd_events_total"}[path]
			if m := scrape(t, srv.OpsURL); !strings.Contains(m, fmt.Sprintf(`%s{result="malformed"} %d`, metric, len(cases))) {
				t.Errorf("%s must count every shape refusal as malformed:\n%s", metric, m)
			}
			if !strings.Contains(srv.Log.String(), "refused: not a TaskRouter form") {
				t.Errorf("no refusal line logged:\n%s", srv.Log.String())
			}
		})
	}
}

// A genuine callback at every bound at once (the most parameters, the
// longest name and value) is still answered; so is the same request sent
// unsigned refused only by its signature.
func TestShapeAtTheBoundsIsServed(t *testing.T) {
	t.Parallel()
	extra := url.Values{"WorkerName": {strings.Repeat("v", handlers.MaxParamValue)}}
	extra.Set(strings.Repeat("N", handlers.MaxParamName), "x")
	for i := 0; len(extra)+12 < handlers.MaxFormParams; i++ {
		extra.Set(fmt.Sprintf("Extra%d", i), "x")
	}
	form := signedForm(t, extra)
	if len(form) != handlers.MaxFormParams {
		t.Fatalf("built %d parameters, want %d", len(form), handlers.MaxFormParams)
	}
	v := handlers.NewVerifier([]string{testToken}, nil, handlers.ProxyNone)
	srv := startServer(t, handlers.Options{Verifier: v})
	u := srv.URL + "/assignment"
	if status, body, _ := post(t, u, form.Encode(), taskrouter.Sign(testToken, u, form)); status != http.StatusOK {
		t.Fatalf("signed callback at the bounds: %d %q", status, body)
	}
	if status, body, _ := post(t, u, form.Encode(), taskrouter.Sign("not-the-token", u, form)); status != http.StatusForbidden {
		t.Fatalf("forged callback at the bounds: %d %q, want 403", status, body)
	}
	if v.Checks() != 2 {
		t.Fatalf("%d signatures computed, want 2", v.Checks())
	}
}

// ValidForm hands twilio-go the parameters joined into one: it must agree
// with twilio-go's own ValidateBody on any form, signed or not, with every
// token, with the URL's port written or left out, and whatever the query
// says of bodySHA256: a JSON body's hash (under any spelling twilio-go
// decodes), an empty one, or the name as a mere value.
func TestValidFormAgreesWithTwilio(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	word := func() string {
		const alphabet = "aAzZ09_-é&=% +"
		var b strings.Builder
		for range rng.IntN(6) {
			b.WriteString(string([]rune(alphabet)[rng.IntN(len([]rune(alphabet)))]))
		}
		return b.String()
	}
	queries := []struct {
		query    string // %x is the body's SHA-256
		bodyHash bool   // twilio-go reads the body as JSON signed by its hash
	}{
		{"x=1", false},
		{"bodySHA256=", false},
		{"x=bodySHA256", false},
		{"bodySHA256=&x=1", false},
		{"bodySHA256=%x", true},
		{"x=1&body%%53HA256=%x", true},
	}
	tokens := []string{testToken, "second-token-0123"}
	v := handlers.NewVerifier(tokens, nil, handlers.ProxyNone)
	for i := range 600 {
		form := url.Values{}
		for range rng.IntN(8) {
			form.Add(word(), word())
		}
		body := []byte(form.Encode())
		q := queries[i%len(queries)]
		query := q.query
		if q.bodyHash {
			query = fmt.Sprintf(q.query, sha256.Sum256(body))
		}
		signedURL, checkedURL := "https://a.example/assignment?"+query, "https://a.example:443/assignment?"+query
		if i%2 == 0 {
			signedURL, checkedURL = checkedURL, signedURL
		}
		signedForm := form
		if q.bodyHash {
			signedForm = nil // the URL alone is signed; the hash vouches for the body
		}
		sig := taskrouter.Sign(tokens[i%2], signedURL, signedForm)
		if i%3 == 0 {
			sig = taskrouter.Sign("not-the-token", signedURL, signedForm)
		}
		parsed, _ := url.ParseQuery(string(body))
		want := false
		for _, tok := range tokens {
			rv := client.NewRequestValidator(tok)
			want = want || rv.ValidateBody(checkedURL, body, sig)
		}
		if got := v.ValidForm(checkedURL, body, parsed, sig); got != want {
			t.Fatalf("URL %q, form %q: ValidForm = %v, twilio-go's ValidateBody = %v", checkedURL, body, got, want)
		}
		if want != (i%3 != 0) {
			t.Fatalf("URL %q, form %q: twilio-go says %v", checkedURL, body, want)
		}
	}
}

// A form at the shape bounds costs a few allocations to check whatever the
// query names: bodySHA256 as a value or empty must not reach twilio-go's
// form path, which allocates per parameter (and copies the growing string
// each time), and a real hash leaves the body unparsed.
func TestValidFormCostDoesNotFollowTheQuery(t *testing.T) {
	form := url.Values{}
	for i := range handlers.MaxFormParams {
		form.Set(fmt.Sprintf("%0*d", handlers.MaxParamName, i), strings.Repeat("v", 400))
	}
	body := []byte(form.Encode())
	v := handlers.NewVerifier([]string{testToken}, nil, handlers.ProxyNone)
	for _, query := range []string{"", "?x=bodySHA256", "?bodySHA256=", "?bodySHA256=&x=1", fmt.Sprintf("?bodySHA256=%x", sha256.Sum256(body))} {
		u := "https://a.example/assignment" + query
		sig := taskrouter.Sign("not-the-token", u, form)
		allocs := testing.AllocsPerRun(5, func() {
			if v.ValidForm(u, body, form, sig) {
				t.Fatal("a forged signature verified")
			}
		})
		if allocs >= handlers.MaxFormParams/2 {
			t.Errorf("%q: %.0f allocations for %d parameters: the check grows with the form", u, allocs, len(form))
		}
	}
}
