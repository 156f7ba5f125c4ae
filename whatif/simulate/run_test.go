package simulate

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
)

// acceptService answers every callback with accept (no signature check:
// the real service is cmd/assignd's to compose; its tests run it).
func acceptService(t *testing.T) func(context.Context, string, Env) (Service, error) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"instruction":"accept"}`))
	}))
	t.Cleanup(srv.Close)
	return func(context.Context, string, Env) (Service, error) {
		return Service{CallbackURL: srv.URL, Close: func() error { return nil }}, nil
	}
}

// Runs in parallel give the numbers runs one at a time give: each has its
// own emulator and virtual clock.
func TestParallelRunsSameNumbers(t *testing.T) {
	s, err := Parse("s.yaml", []byte("workspace: "+tutorial(t)+"\n"+strings.Replace(minimal, "8h", "2h", 1)))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, parallel := range []int{1, 3} {
		reps, err := Run(context.Background(), Options{Scenario: s, Policies: []string{"accept"}, Runs: 3,
			Parallel: parallel, NewService: acceptService(t)})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(reps)
		got = append(got, string(b))
		if r := reps[0]; r.Offered == 0 || r.Answered == 0 || r.CI95["offered"] == 0 || r.Runs != 3 {
			t.Fatalf("report %+v", r.Figures)
		}
	}
	if got[0] != got[1] {
		t.Error("parallel runs gave other numbers than runs one at a time")
	}
}

// RunDone is told every run of every policy once, with the figures the
// reports average and the day's draws: the same draws for each policy
// (they are fixed before routing), the tasks after warm_up being those
// offered.
func TestRunDoneTellsEachRun(t *testing.T) {
	s, err := Parse("s.yaml", []byte("workspace: "+tutorial(t)+"\nwarm_up: 10m\n"+strings.Replace(minimal, "8h", "1h", 1)))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[[2]int]RunFigures{}
	reps, err := Run(context.Background(), Options{Scenario: s, Policies: []string{"a", "b"}, Runs: 3,
		NewService: acceptService(t), RunDone: func(r RunFigures) {
			mu.Lock()
			defer mu.Unlock()
			if _, dup := seen[[2]int{r.Policy, r.Run}]; dup {
				t.Errorf("policy %d run %d told twice", r.Policy, r.Run)
			}
			seen[[2]int{r.Policy, r.Run}] = r
		}})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 6 {
		t.Fatalf("told %d runs, want 2 policies × 3", len(seen))
	}
	for p := range 2 {
		offered := 0.0
		for r := range 3 {
			f := seen[[2]int{p, r}]
			offered += f.Center["offered"]
			after := 0
			for _, d := range f.Tasks {
				if d.Created >= s.WarmUp {
					after++
				}
				if d.Handle <= 0 || d.Created >= s.Duration {
					t.Errorf("policy %d run %d: a task drawn %+v", p, r, d)
				}
			}
			if float64(after) != f.Center["offered"] || len(f.Tasks) <= after {
				t.Errorf("policy %d run %d: %d tasks drawn, %d after warm_up, %v offered", p, r, len(f.Tasks), after, f.Center["offered"])
			}
			if p == 1 && !slices.Equal(f.Tasks, seen[[2]int{0, r}].Tasks) {
				t.Errorf("run %d: policy b drew other tasks than policy a", r)
			}
		}
		if math.Abs(offered/3-reps[p].Offered) > 1e-9 {
			t.Errorf("policy %d: runs offered %v on average, the report %v", p, offered/3, reps[p].Offered)
		}
	}
}
