package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/assignd/assignd/whatif/simulate"
)

// dayScenario is issue 18's speed target: 50 agents, 8 hours, about 5,000
// tasks (625 an hour, 180 s each: 31 Erlangs).
func dayScenario() string {
	return "workspace: " + tutorialPath() + "\nduration: 8h\nseed: 1\narrivals:\n" +
		"  - name: spanish\n    rate_per_hour: 625\n    attributes: {selected_language: es}\n" +
		"    handle_time: {distribution: exponential, mean: 180s}\n" +
		"workers:\n  - name: agents\n    count: 50\n    attributes: {languages: [es]}\n"
}

// BenchmarkSimulateDay simulates the day with the real service (signature,
// policy, async queue) over loopback HTTP, and as the baseline the same
// day answered by a bare Go handler that accepts everything (the emulator
// and the driver alone). It reports virtual seconds per wall second.
func BenchmarkSimulateDay(b *testing.B) {
	f := write(b, map[string]string{"s.yaml": dayScenario(), "p.yaml": acceptAll})
	sc, err := simulate.LoadFile(f["s.yaml"])
	if err != nil {
		b.Fatal(err)
	}
	accept := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"instruction":"accept"}`))
	}))
	defer accept.Close()
	bare := func(context.Context, string, simulate.Env) (simulate.Service, error) {
		return simulate.Service{CallbackURL: accept.URL, Close: func() error { return nil }}, nil
	}
	for _, c := range []struct {
		name string
		svc  func(context.Context, string, simulate.Env) (simulate.Service, error)
	}{{"service", simService(zerolog.Nop())}, {"baseline", bare}} {
		b.Run(c.name, func(b *testing.B) {
			var wall time.Duration
			var tasks float64
			for b.Loop() {
				start := time.Now()
				reps, err := simulate.Run(context.Background(), simulate.Options{Scenario: sc, Policies: []string{f["p.yaml"]},
					NewService: c.svc})
				if err != nil {
					b.Fatal(err)
				}
				wall += time.Since(start)
				tasks += reps[0].Offered
			}
			n := float64(b.N)
			b.ReportMetric(sc.Duration.Seconds()*n/wall.Seconds(), "virtual-s/s")
			b.ReportMetric(tasks/n, "tasks/day")
			b.ReportMetric(wall.Seconds()/n, "s/day")
		})
	}
}
