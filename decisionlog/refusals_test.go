package decisionlog_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/assignd/assignd/decisionlog"
	"github.com/assignd/assignd/handlers"
	"github.com/assignd/assignd/internal/servicetest"
)

// clock is a settable clock for the log's Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestRefusalFloodWritesATrickle sends a flood of forged callbacks over
// loopback, ten "seconds" of it on the log's clock, with genuine callbacks
// before, during and after it: the log keeps one refusal of each kind a
// second, each saying how many it stands for, and its row caps keep every
// genuine decision however many refusals came.
func TestRefusalFloodWritesATrickle(t *testing.T) {
	t.Parallel()
	for _, store := range servicetest.Stores {
		t.Run(store, func(t *testing.T) {
			const seconds, perSecond, maxRefusals, genuine = 10, 100, 3, 4
			clk := &clock{t: time.Now()}
			reg := prometheus.NewRegistry()
			env := servicetest.New(t, store, decisionlog.ModeFull, decisionlog.Options{
				Now: clk.Now, MaxRows: genuine, MaxRefusalRows: maxRefusals, PruneEvery: time.Hour, Registerer: reg})

			post := func(n int, token string, want int) {
				t.Helper()
				r := servicetest.Reservation(n, map[string]any{"selected_language": "es"}, nil)
				if status, body := env.Post(t, r, token); status != want {
					t.Fatalf("reservation %d: status %d %s, want %d", n, status, body, want)
				}
			}
			post(1, servicetest.Token, 200)
			post(2, servicetest.Token, 200)
			forged := 0
			for s := range seconds {
				for range perSecond {
					forged++
					post(1000+forged, "not-the-token", 403)
				}
				if s == seconds/2 {
					post(3, servicetest.Token, 200)
					// Signed but malformed: a refusal of another kind, sampled apart.
					malformed := servicetest.Reservation(4000, nil, nil)
					malformed.WorkerSid = "not-a-worker"
					if status, _ := env.Post(t, malformed, servicetest.Token); status != 400 {
						t.Fatalf("malformed: status %d", status)
					}
				}
				clk.advance(time.Second)
			}
			post(4, servicetest.Token, 200)
			forged++
			post(1000+forged, "not-the-token", 403) // carries the last second's skipped ones
			env.Flush(t)

			ctx := context.Background()
			kept, err := env.Log.Query(ctx, decisionlog.Filter{Result: handlers.ResultBadSignature, Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			if len(kept) != seconds+1 {
				t.Fatalf("%d forged callbacks over %d s left %d rows, want %d (one a second)", forged, seconds, len(kept), seconds+1)
			}
			total := 0
			for i, e := range kept { // newest first
				want := int64(perSecond - 1)
				if i == len(kept)-1 {
					want = 0 // the first of the flood
				}
				if e.Skipped != want {
					t.Errorf("refusal %d (id %d): skipped %d, want %d", i, e.ID, e.Skipped, want)
				}
				total += 1 + int(e.Skipped)
			}
			if total != forged {
				t.Errorf("kept refusals stand for %d callbacks, %d were sent", total, forged)
			}
			if got := sum(t, reg, "assignd_decision_log_refusals_skipped_total"); got != float64(forged-len(kept)) {
				t.Errorf("refusals_skipped_total = %v, want %d", got, forged-len(kept))
			}
			if got, err := env.Log.Query(ctx, decisionlog.Filter{Result: handlers.ResultBadRequest}); err != nil || len(got) != 1 || got[0].Skipped != 0 {
				t.Errorf("bad_request rows: %+v (%v), want the one malformed callback", got, err)
			}

			if _, err := env.Log.Prune(ctx); err != nil {
				t.Fatal(err)
			}
			ok, err := env.Log.Query(ctx, decisionlog.Filter{Result: handlers.ResultOK})
			if err != nil {
				t.Fatal(err)
			}
			if len(ok) != genuine {
				t.Fatalf("after pruning, %d genuine decisions of %d are left", len(ok), genuine)
			}
			for i, e := range ok {
				if want := servicetest.Reservation(genuine-i, nil, nil).ReservationSid; e.ReservationSid != want {
					t.Errorf("genuine decision %d: %s, want %s", i, e.ReservationSid, want)
				}
			}
			refused, err := env.Log.Query(ctx, decisionlog.Filter{Result: handlers.ResultBadSignature})
			if err != nil {
				t.Fatal(err)
			}
			if len(refused) != maxRefusals || refused[0].ID != kept[0].ID {
				t.Errorf("after pruning, %d refusals are left (newest %d), want the newest %d", len(refused), refused[0].ID, maxRefusals)
			}
		})
	}
}

// sum is the value of the named counter or gauge, summed over its labels.
func sum(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		total := 0.0
	metrics:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() != labels[i+1] {
						continue metrics
					}
				}
			}
			total += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
		return total
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

// TestRefusalOfAnyKindIsSampled: a refusal result the log was not written
// for (a kind handlers may add) is sampled too: it is not an answered
// callback, so it is a refusal, and it goes under the refusals' cap.
func TestRefusalOfAnyKindIsSampled(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Now()}
	env := servicetest.New(t, "sqlite", decisionlog.ModeSummary, decisionlog.Options{Now: clk.Now})
	for range 50 {
		env.Log.Record(handlers.CallbackRecord{Received: clk.Now(), Result: "too_many_parameters"})
	}
	clk.advance(time.Second)
	env.Log.Record(handlers.CallbackRecord{Received: clk.Now(), Result: "too_many_parameters"})
	env.Flush(t)
	got, err := env.Log.Query(context.Background(), decisionlog.Filter{Result: "too_many_parameters"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Skipped != 49 || got[1].Skipped != 0 {
		t.Fatalf("51 refusals of a new kind over 1 s: %d rows %+v, want 2, the newest counting 49 skipped", len(got), got)
	}
	if !decisionlog.Refused("too_many_parameters") || decisionlog.Refused(handlers.ResultOK) || decisionlog.Refused(handlers.ResultFallback) {
		t.Error("Refused: answered results are ok and fallback, every other result is a refusal")
	}
}

// TestRefusalSamplingSurvivesAClockSteppingBack: sampling measures time
// elapsed since the log started, so a clock set back (an NTP step, here
// the injected clock going back an hour) does not turn every refusal away
// until the clock catches up: the next one after the step is kept, and
// the counts of skipped ones stay exact.
func TestRefusalSamplingSurvivesAClockSteppingBack(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Now()}
	env := servicetest.New(t, "sqlite", decisionlog.ModeSummary, decisionlog.Options{Now: clk.Now})
	refuse := func(n int) {
		for range n {
			env.Log.Record(handlers.CallbackRecord{Received: clk.Now(), Result: handlers.ResultBadSignature})
		}
	}
	refuse(4) // kept, 3 skipped
	clk.advance(-time.Hour)
	refuse(3) // kept (carrying the 3), 2 skipped
	clk.advance(time.Second)
	refuse(1) // kept, carrying the 2
	env.Flush(t)
	got, err := env.Log.Query(context.Background(), decisionlog.Filter{Result: handlers.ResultBadSignature})
	if err != nil {
		t.Fatal(err)
	}
	var skipped []int64
	for _, e := range got {
		skipped = append(skipped, e.Skipped)
	}
	if len(got) != 3 || skipped[0] != 2 || skipped[1] != 3 || skipped[2] != 0 {
		t.Fatalf("refusals kept across a clock stepped back an hour: skipped counts %v (newest first), want [2 3 0]", skipped)
	}
}
