package simulate

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func tutorial(t *testing.T) string {
	p, err := filepath.Abs("../../emulator/tutorial.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

const minimal = `duration: 8h
seed: 7
arrivals:
  - name: spanish
    rate_per_hour: 100
    attributes: {selected_language: es}
    handle_time: {distribution: exponential, mean: 180s}
workers:
  - count: 7
    attributes: {languages: [es]}
`

// The minimal scenario parses, with the defaults filled in.
func TestParseMinimal(t *testing.T) {
	s, err := Parse("s.yaml", []byte("workspace: "+tutorial(t)+"\n"+minimal))
	if err != nil {
		t.Fatal(err)
	}
	if s.Duration != 8*time.Hour || s.Seed != 7 || s.Interval != DefaultInterval || len(s.Arrivals) != 1 || len(s.Workers) != 1 {
		t.Fatalf("%+v", s)
	}
	a, w := s.Arrivals[0], s.Workers[0]
	if a.RatePerHour[0] != 100 || a.HandleTime != (Dist{Kind: "exponential", Mean: 180 * time.Second}) || a.Patience != nil {
		t.Errorf("arrival %+v", a)
	}
	if w.Name != "workers" || w.Count != 7 || w.Start != 0 || w.End != 8*time.Hour || w.Activity != "Idle" {
		t.Errorf("workers %+v", w)
	}
}

// A workspace path is relative to the scenario file; inline works too.
func TestParseWorkspaceForms(t *testing.T) {
	dir := t.TempDir()
	b, err := os.ReadFile(tutorial(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ws.yaml"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(filepath.Join(dir, "s.yaml"), []byte("workspace: ws.yaml\n"+minimal)); err != nil {
		t.Errorf("relative path: %v", err)
	}
	inline := "workspace:\n  " + strings.ReplaceAll(strings.TrimSpace(string(b)), "\n", "\n  ") + "\n"
	if _, err := Parse("s.yaml", []byte(inline+minimal)); err != nil {
		t.Errorf("inline: %v", err)
	}
}

// Every refusal is one line: FILE:LINE: problem.
func TestParseRefusals(t *testing.T) {
	ws := "workspace: " + tutorial(t) + "\n"
	for _, c := range []struct{ src, want string }{
		{ws + minimal + "bogus: 1\n", `s.yaml:12: unknown key "bogus"`},
		{ws + strings.Replace(minimal, "    handle_time", "    handel_time: 1\n    handle_time", 1), `s.yaml:8: unknown key "handel_time"`},
		{ws + strings.Replace(minimal, "rate_per_hour: 100", "rate_per_hour: -1", 1), `s.yaml:6: arrivals "spanish": rate_per_hour: -1 must not be negative`},
		{ws + strings.Replace(minimal, "rate_per_hour: 100", "rate_per_hour: [10, -2]", 1), `s.yaml:6: arrivals "spanish": rate_per_hour: -2 must not be negative`},
		{ws + strings.Replace(minimal, "duration: 8h", "duration: 0h", 1), `s.yaml:2: duration: 0s must be positive`},
		{ws + strings.Replace(minimal, "duration: 8h", "duration: soon", 1), `s.yaml:2: duration: "soon" is not a duration`},
		{ws + strings.Replace(minimal, "mean: 180s", "mean: -3s", 1), `s.yaml:8: arrivals "spanish": handle_time: mean: -3s must be positive`},
		{ws + strings.Replace(minimal, "exponential", "weibull", 1), `s.yaml:8: arrivals "spanish": handle_time: unknown distribution "weibull"`},
		{ws + strings.Replace(minimal, "count: 7", "count: 0", 1), `s.yaml:10: workers "workers": count "0": want a whole number`},
		{"workspace: nowhere.yaml\n" + minimal, `s.yaml:1: workspace: reading workspace file`},
		{"workspace: {friendly_name: W, activities: [{name: Idle, available: true}], workflows: [{name: F, default_queue: Nope}]}\n" + minimal, `s.yaml:1: workspace does not load: `},
		{minimal, `s.yaml: workspace: required`},
		// Bounds on what a run holds in memory.
		{ws + "interval: 1ns\n" + minimal, `s.yaml:2: interval: 1ns is under 1s`},
		{ws + "interval: 1s\n" + minimal, `s.yaml:2: interval: 1s cuts duration 8h0m0s into 28800 intervals; at most 10000`},
		{ws + strings.Replace(minimal, "duration: 8h", "duration: 100000h", 1), `s.yaml:2: duration: 100000h0m0s is over 744h0m0s (31 days)`},
		{ws + strings.Replace(minimal, "rate_per_hour: 100", "rate_per_hour: 1e9", 1),
			`s.yaml:6: arrivals "spanish": rate_per_hour: the streams to here are expected to create 8000000000 tasks in 8h0m0s; at most 2000000`},
		{ws + minimal + "  - name: more\n    count: 9999\n",
			`s.yaml:13: workers "more": count 9999 makes 10006 agents over all workers entries; at most 10000`},
		{ws + strings.Replace(minimal, "    attributes: {selected_language: es}", "    attributes: {selected_language: es}\n    task_channel: fax", 1),
			`s.yaml:5: arrivals "spanish": task_channel "fax" is not a task channel of the workspace (its unique names: chat, default, sms, video, voice)`},
	} {
		_, err := Parse("s.yaml", []byte(c.src))
		if err == nil || !strings.HasPrefix(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("got %v\nwant one line starting %q", err, c.want)
		}
	}
}

// A scenario right at every bound is accepted: 10,000 intervals,
// 2,000,000 tasks expected, 10,000 agents over two entries.
func TestParseAtTheBounds(t *testing.T) {
	src := "workspace: " + tutorial(t) + "\ninterval: 36s\n" +
		strings.NewReplacer("duration: 8h", "duration: 100h", "rate_per_hour: 100", "rate_per_hour: [10000, 30000, 20000]").Replace(minimal) +
		"  - name: more\n    count: 9993\n"
	if _, err := Parse("s.yaml", []byte(src)); err != nil {
		t.Fatal(err)
	}
	if _, err := Parse("s.yaml", []byte(strings.Replace(src, "duration: 100h", "duration: 744h", 1))); err == nil || !strings.Contains(err.Error(), "intervals") {
		t.Errorf("31 days in 36 s intervals: got %v", err)
	}
}

// TQuantile is Student's t: the values every table prints.
func TestTQuantile(t *testing.T) {
	for _, c := range []struct{ p, df, want float64 }{
		{0.975, 1, 12.706}, {0.975, 10, 2.228}, {0.975, 30, 2.042}, {0.995, 15, 2.947}, {0.975, 1e6, 1.960},
	} {
		if got := TQuantile(c.p, c.df); math.Abs(got-c.want) > 0.001 {
			t.Errorf("TQuantile(%v, %v) = %.4f, want %.3f", c.p, c.df, got, c.want)
		}
	}
}

// Arrivals follow the hour's rate: a day of [60, 0, 240] per hour has
// about that many in each hour, none in the idle one.
func TestArrivalsFollowHourlyRates(t *testing.T) {
	st := &stream{a: Arrival{RatePerHour: []float64{60, 0, 240}}, arrive: rand.New(rand.NewPCG(1, 2))}
	counts := make([]int, 4)
	for at, ok := st.next(0, 4*time.Hour); ok; at, ok = st.next(at, 4*time.Hour) {
		counts[int(at.Hours())]++
	}
	if counts[1] != 0 || math.Abs(float64(counts[0])-60) > 30 || math.Abs(float64(counts[2])-240) > 60 || math.Abs(float64(counts[3])-240) > 60 {
		t.Errorf("arrivals per hour %v, want about [60 0 240 240]", counts)
	}
}

// A lognormal draw has the mean and spread asked for.
func TestLognormalMoments(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	d := Dist{Kind: "lognormal", Mean: 300 * time.Second, SD: 120 * time.Second}
	const n = 200000
	var sum, sq float64
	for range n {
		x := sample(rng, d).Seconds()
		sum += x
		sq += x * x
	}
	mean := sum / n
	sd := math.Sqrt(sq/n - mean*mean)
	if math.Abs(mean-300) > 3 || math.Abs(sd-120) > 3 {
		t.Errorf("lognormal mean %.1f sd %.1f, want 300 and 120", mean, sd)
	}
}
