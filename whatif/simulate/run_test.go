package simulate

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
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
