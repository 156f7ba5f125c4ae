package emulator_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/assignd/assignd/internal/needs"
)

// recorder collects what the validator reports instead of failing.
type recorder struct {
	*testing.T
	mu   sync.Mutex
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recorder) reported() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.errs...)
}

// The fidelity wrapper every test runs behind must catch an answer or a
// request that Twilio's description does not allow, and pass ones it does.
func TestFidelityCheckCatchesMismatches(t *testing.T) {
	needs.TaskRouterSpec(t) // without it the wrapper checks nothing
	const ws = "/v1/Workspaces/WS0123456789abcdef0123456789abcdef"
	answers := map[string]struct {
		status int
		body   string
	}{
		"GET " + ws + "/Activities/WA0123456789abcdef0123456789abcdef": {200, `{"sid":"WA0123456789abcdef0123456789abcdef","available":true}`},
		"GET " + ws + "/Tasks/WT0123456789abcdef0123456789abcdef":      {200, `{"sid":"WT0123456789abcdef0123456789abcdef","assignment_status":"lost"}`},
		"GET " + ws + "/Workers/WK0123456789abcdef0123456789abcdef":    {200, `{"available":"yes"}`},
		"GET " + ws + "/Nonsense":                                      {200, `{}`},
		"POST " + ws + "/Workers":                                      {201, `{"sid":"WK0123456789abcdef0123456789abcdef"}`},
		"GET " + ws + "/Workflows/WW0123456789abcdef0123456789abcdef":  {404, `{"code":20404,"message":"not found","more_info":"x","status":404}`},
	}
	fake := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := answers[r.Method+" "+r.URL.Path]
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		_, _ = w.Write([]byte(a.body))
	})
	rec := &recorder{T: t}
	srv := httptest.NewUnstartedServer(nil)
	srv.Config.Handler = validating(rec, "http://"+srv.Listener.Addr().String(), fake)
	srv.Start()
	defer srv.Close()

	do := func(method, path, form string) []string {
		before := len(rec.reported())
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(accountSid, authToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return rec.reported()[before:]
	}
	for _, c := range []struct {
		method, path, form string
		bad                bool
	}{
		{"GET", ws + "/Activities/WA0123456789abcdef0123456789abcdef", "", false},
		{"GET", ws + "/Tasks/WT0123456789abcdef0123456789abcdef", "", true},   // status not in the enum
		{"GET", ws + "/Workers/WK0123456789abcdef0123456789abcdef", "", true}, // available not a boolean
		{"GET", ws + "/Nonsense", "", true},                                   // 200 for no operation
		{"POST", ws + "/Workers", "FriendlyName=Zoe", false},
		{"POST", ws + "/Workers", "Attributes=%7B%7D", true},                     // FriendlyName is required
		{"GET", ws + "/Workflows/WW0123456789abcdef0123456789abcdef", "", false}, // errors are not described
	} {
		errs := do(c.method, c.path, c.form)
		if got := len(errs) > 0; got != c.bad {
			t.Errorf("%s %s %s: reported %v, want a mismatch: %v", c.method, c.path, c.form, errs, c.bad)
		}
	}
}
