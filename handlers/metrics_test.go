package handlers_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/assignd/assignd/handlers"
	"github.com/assignd/assignd/policy"
	"github.com/assignd/assignd/taskrouter"
)

func scrape(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestMetricsMoveWithCallbacks(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	fails := policy.Func(func(ctx context.Context, r *policy.Reservation) (policy.Decision, error) {
		if r.TaskAttributes["boom"] == true {
			return policy.Decision{}, errors.New("boom")
		}
		return examplePolicy(t).Decide(ctx, r)
	})
	srv := startServer(t, handlers.Options{Metrics: handlers.NewMetrics(reg), Gatherer: reg,
		Decider: guard(t, fails, time.Second)})

	postSigned(t, srv.URL, reservation(map[string]any{"selected_language": "es"}, map[string]any{"languages": []any{"es"}}))
	postSigned(t, srv.URL, reservation(map[string]any{"selected_language": "es"}, map[string]any{"languages": []any{"es"}}))
	postSigned(t, srv.URL, reservation(map[string]any{"type": "voice"}, map[string]any{"contact_uri": "client:a"}))
	postSigned(t, srv.URL, reservation(map[string]any{"boom": true}, nil))
	post(t, srv.URL+"/assignment", "a=1", "forged")
	form, _ := handlers.EncodeForm(ptr(reservation(nil, nil)))
	form.Set("TaskSid", "nope")
	post(t, srv.URL+"/assignment", form.Encode(), taskrouter.Sign(testToken, srv.URL+"/assignment", form))

	m := scrape(t, srv.OpsURL)
	for _, want := range []string{
		`assignd_callbacks_total{result="ok"} 3`,
		`assignd_callbacks_total{result="fallback"} 1`,
		`assignd_callbacks_total{result="bad_signature"} 1`,
		`assignd_callbacks_total{result="bad_request"} 1`,
		`assignd_decisions_total{instruction="accept",mode="sync",rule="spanish-speaker"} 2`,
		`assignd_decisions_total{instruction="dequeue",mode="sync",rule="voice-call"} 1`,
		`assignd_decisions_total{instruction="accept",mode="sync",rule="go-fallback"} 1`,
		`assignd_callback_duration_seconds_count 6`,
		`assignd_decision_duration_seconds_count 4`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if t.Failed() {
		t.Log(m)
	}
}

func TestEventsCountReservationOutcomes(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	srv := startServer(t, handlers.Options{Metrics: handlers.NewMetrics(reg), Gatherer: reg})
	u := srv.URL + "/events"
	for _, typ := range []string{"reservation.accepted", "reservation.accepted", "reservation.timeout", "task.created"} {
		form := url.Values{"EventType": {typ}, "ResourceSid": {"WR0123456789abcdef0123456789abcdef"}}
		if status, _, _ := post(t, u, form.Encode(), taskrouter.Sign(testToken, u, form)); status != http.StatusNoContent {
			t.Fatalf("%s: status %d", typ, status)
		}
	}
	if status, _, _ := post(t, u, "EventType=reservation.accepted", "forged"); status != http.StatusForbidden {
		t.Fatalf("forged event: status %d", status)
	}
	m := scrape(t, srv.OpsURL)
	for _, want := range []string{`assignd_reservation_events_total{event="reservation.accepted"} 2`,
		`assignd_reservation_events_total{event="reservation.timeout"} 1`} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(m, `event="task.created"`) {
		t.Error("non-reservation events must not be counted")
	}
}

// The README's metrics list names every metric the handlers export, so an
// operator reading it finds each one (assignd_events_total among them).
func TestREADMEListsHandlerMetrics(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	handlers.NewMetrics(reg)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if !strings.Contains(string(readme), "`"+f.GetName()) {
			t.Errorf("README.md's metrics list lacks %s", f.GetName())
		}
	}
}

// Every callback result is counted, each from zero; the decision log
// records them all but malformed (refused for its shape: counted and
// logged, never recorded), so what it records, and what the inspector
// filters by, is the counted list less exactly that one.
func TestCountedResultsAreRecordedPlusMalformed(t *testing.T) {
	t.Parallel()
	recorded, counted := handlers.Results(), handlers.CountedResults()
	if slices.Contains(recorded, handlers.ResultMalformed) {
		t.Errorf("Results() %v lists %q, which is never recorded", recorded, handlers.ResultMalformed)
	}
	if want := append(slices.Clone(recorded), handlers.ResultMalformed); !sameSet(counted, want) {
		t.Errorf("CountedResults() = %v, want Results() plus %q: %v", counted, handlers.ResultMalformed, want)
	}
	reg := prometheus.NewRegistry()
	srv := startServer(t, handlers.Options{Metrics: handlers.NewMetrics(reg), Gatherer: reg})
	m := scrape(t, srv.OpsURL)
	for _, r := range counted {
		if !strings.Contains(m, `assignd_callbacks_total{result="`+r+`"} 0`) {
			t.Errorf("assignd_callbacks_total does not start %q at 0:\n%s", r, m)
		}
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
