package handlers_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/assignd/assignd/handlers"
	"github.com/assignd/assignd/taskrouter"
)

// collectRecorder keeps every record it is told about.
type collectRecorder struct {
	mu      sync.Mutex
	records []handlers.CallbackRecord
}

func (r *collectRecorder) Record(c handlers.CallbackRecord) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, c)
}

func (r *collectRecorder) results() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, c := range r.records {
		out = append(out, c.Result)
	}
	return out
}

// logResults lists the "result" field of each JSON log line.
func logResults(t *testing.T, logs string) []string {
	t.Helper()
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if r, ok := m["result"].(string); ok {
			out = append(out, r)
		}
	}
	return out
}

// postForm posts form to the callback, signed with testToken.
func postForm(t *testing.T, base string, form url.Values) int {
	t.Helper()
	u := base + "/assignment"
	status, _, _ := post(t, u, form.Encode(), taskrouter.Sign(testToken, u, form))
	return status
}

// Every callback result reaches every sink: the counter, the log line, the
// decision log (all but malformed, which is never recorded) and the span,
// whichever step of the handler settled it.
func TestEveryResultReachesEverySink(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, result string
		status       int
		send         func(t *testing.T, base string) int
	}{
		{"answered", handlers.ResultOK, http.StatusOK, func(t *testing.T, base string) int {
			status, _, _ := postSigned(t, base, reservation(map[string]any{"type": "voice"}, map[string]any{"contact_uri": "client:a"}))
			return status
		}},
		{"attributes not an object", handlers.ResultFallback, http.StatusOK, func(t *testing.T, base string) int {
			form, _ := handlers.EncodeForm(ptr(reservation(nil, nil)))
			form.Set("TaskAttributes", "[1]")
			return postForm(t, base, form)
		}},
		{"repeated parameter", handlers.ResultMalformed, http.StatusBadRequest, func(t *testing.T, base string) int {
			status, _, _ := post(t, base+"/assignment", "a=1&a=2", "forged")
			return status
		}},
		{"forged", handlers.ResultBadSignature, http.StatusForbidden, func(t *testing.T, base string) int {
			status, _, _ := post(t, base+"/assignment", "a=1", "forged")
			return status
		}},
		{"bad parameter", handlers.ResultBadRequest, http.StatusBadRequest, func(t *testing.T, base string) int {
			form, _ := handlers.EncodeForm(ptr(reservation(nil, nil)))
			form.Set("TaskSid", "nope")
			return postForm(t, base, form)
		}},
		{"body too large", handlers.ResultBadRequest, http.StatusRequestEntityTooLarge, func(t *testing.T, base string) int {
			status, _, _ := post(t, base+"/assignment", "a="+strings.Repeat("x", 5000), "forged")
			return status
		}},
	}
	covered := map[string]bool{}
	for _, c := range cases {
		covered[c.result] = true
	}
	for _, r := range handlers.Results() {
		if !covered[r] {
			t.Errorf("no case sends a callback with result %q", r)
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			reg, rec := prometheus.NewRegistry(), &collectRecorder{}
			exp, tp := newRecorder()
			srv := startServer(t, handlers.Options{Metrics: handlers.NewMetrics(reg), Gatherer: reg, Recorder: rec,
				Tracer: tp.Tracer(handlers.TracerName), BodyLimit: 4096})
			if status := c.send(t, srv.URL); status != c.status {
				t.Fatalf("status %d, want %d", status, c.status)
			}
			if m, want := scrape(t, srv.OpsURL), fmt.Sprintf(`assignd_callbacks_total{result=%q} 1`, c.result); !strings.Contains(m, want) {
				t.Errorf("/metrics lacks %s", want)
			}
			if got := logResults(t, srv.Log.String()); len(got) != 1 || got[0] != c.result {
				t.Errorf("log results %q, want one %q", got, c.result)
			}
			want := []string{c.result}
			if c.result == handlers.ResultMalformed {
				want = nil
			}
			if got := rec.results(); strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("recorded %q, want %q", got, want)
			}
			if got := attrs(mustSpan(t, exp.GetSpans(), handlers.SpanCallback))["assignd.result"].AsString(); got != c.result {
				t.Errorf("span result %q, want %q", got, c.result)
			}
		})
	}
}

// Every /events result is counted, and a refusal is logged with it.
func TestEveryEventResultIsCountedAndLogged(t *testing.T) {
	t.Parallel()
	u := func(base string) string { return base + "/events" }
	accepted := url.Values{"EventType": {"reservation.accepted"}, "ResourceSid": {"WR0123456789abcdef0123456789abcdef"}}
	cases := map[string]struct {
		status int
		send   func(t *testing.T, base string) int
	}{
		handlers.ResultOK: {http.StatusNoContent, func(t *testing.T, base string) int {
			status, _, _ := post(t, u(base), accepted.Encode(), taskrouter.Sign(testToken, u(base), accepted))
			return status
		}},
		handlers.ResultMalformed: {http.StatusBadRequest, func(t *testing.T, base string) int {
			status, _, _ := post(t, u(base), "a=1&a=2", "forged")
			return status
		}},
		handlers.ResultBadSignature: {http.StatusForbidden, func(t *testing.T, base string) int {
			status, _, _ := post(t, u(base), accepted.Encode(), "forged")
			return status
		}},
		handlers.ResultBadRequest: {http.StatusRequestEntityTooLarge, func(t *testing.T, base string) int {
			status, _, _ := post(t, u(base), "a="+strings.Repeat("x", 5000), "forged")
			return status
		}},
	}
	for _, result := range handlers.EventResults() {
		c, ok := cases[result]
		if !ok {
			t.Errorf("no case sends an event request with result %q", result)
			continue
		}
		t.Run(result, func(t *testing.T) {
			t.Parallel()
			reg := prometheus.NewRegistry()
			srv := startServer(t, handlers.Options{Metrics: handlers.NewMetrics(reg), Gatherer: reg, BodyLimit: 4096})
			if status := c.send(t, srv.URL); status != c.status {
				t.Fatalf("status %d, want %d", status, c.status)
			}
			if m, want := scrape(t, srv.OpsURL), fmt.Sprintf(`assignd_events_total{result=%q} 1`, result); !strings.Contains(m, want) {
				t.Errorf("/metrics lacks %s", want)
			}
			logs := srv.Log.String()
			if result == handlers.ResultOK {
				if !strings.Contains(logs, `"event":"reservation.accepted"`) {
					t.Errorf("no reservation event line in %s", logs)
				}
				return
			}
			if got := logResults(t, logs); len(got) != 1 || got[0] != result {
				t.Errorf("log results %q, want one %q", got, result)
			}
		})
	}
}
