package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	whatif "github.com/assignd/assignd/whatif/report"
	"github.com/assignd/assignd/whatif/simulate"
)

// The policies the simulations run, written where a scenario can name them.
// tail is every policy's default and on_error.
const tail = "default: {instruction: accept}\non_error: {instruction: accept}\n"

const (
	acceptAll = tail + "rules:\n  - {name: take-it, when: \"true\", then: {instruction: accept}}\n"
	asyncAll  = tail + "rules:\n  - {name: later, when: \"true\", then: {instruction: accept, async: true}}\n"
	rejectAll = tail + "rules:\n  - {name: no, when: \"true\", then: {instruction: reject}}\n"
	// languageAware accepts only a worker speaking the task's language:
	// against acceptAll it changes who answers what, not what is offered.
	vipFirst = tail + "rules:\n  - {name: vip, when: \"task.vip == true\", then: {instruction: accept}}\n" +
		"  - {name: others, when: \"true\", then: {instruction: accept}}\n"
)

// erlangScenario is the minimal scenario: one queue, FIFO, 7 agents,
// Poisson arrivals at rate per hour, exponential 180 s handle times.
func erlangScenario(rate float64, patience string) string {
	s := "workspace: " + tutorialPath() + "\nduration: 8h\nseed: 7\nwarm_up: 30m\narrivals:\n" +
		"  - name: spanish\n    rate_per_hour: " + strconv.FormatFloat(rate, 'f', -1, 64) + "\n" +
		"    attributes: {selected_language: es}\n    handle_time: {distribution: exponential, mean: 180s}\n"
	if patience != "" {
		s += "    patience: {distribution: exponential, mean: " + patience + "}\n"
	}
	return s + "workers:\n  - name: agents\n    count: 7\n    attributes: {languages: [es]}\n"
}

func tutorialPath() string {
	p, _ := filepath.Abs("../../emulator/tutorial.yaml")
	return p
}

// write puts files in a fresh directory and returns their paths by name.
func write(t testing.TB, files map[string]string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	out := map[string]string{}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		out[name] = p
	}
	return out
}

// simulateRuns is SIMULATE_RUNS, or def: CI sets a count large enough for
// the 3%; the default keeps `go test ./...` to seconds.
func simulateRuns(t testing.TB, def int) int {
	if s := os.Getenv("SIMULATE_RUNS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 2 {
			t.Fatalf("SIMULATE_RUNS=%q: want a whole number of at least 2", s)
		}
		return n
	}
	return def
}

// runReports runs the CLI in process and decodes its -json.
func runReports(t testing.TB, args ...string) []whatif.Report {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out.json")
	var stdout, stderr bytes.Buffer
	err := simulateWith(context.Background(), append(args, "-json", out), &stdout, &stderr, simulateFlags{progressAfter: time.Hour})
	if err != nil {
		t.Fatalf("simulate %q: %v\n%s", args, err, stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var reps []whatif.Report
	if bytes.HasPrefix(bytes.TrimSpace(b), []byte("[")) {
		err = json.Unmarshal(b, &reps)
	} else {
		var one whatif.Report
		err = json.Unmarshal(b, &one)
		reps = []whatif.Report{one}
	}
	if err != nil {
		t.Fatalf("decode %s: %v", out, err)
	}
	return reps
}

// erlangC is the probability of waiting in M/M/c with offered load a
// (Erlangs) on c agents.
func erlangC(c int, a float64) float64 {
	sum, term := 0.0, 1.0
	for k := 0; k < c; k++ {
		if k > 0 {
			term *= a / float64(k)
		}
		sum += term
	}
	top := term * a / float64(c) * float64(c) / (float64(c) - a)
	return top / (sum + top)
}

// within checks got against want: within rel relative or, where the runs
// are too few to resolve that, within the 99% interval of the mean that
// the runs' own spread gives (halfwidth95 scaled from t's 97.5% to 99.5%).
func within(t *testing.T, name string, got, want, half95 float64, runs int, rel float64) {
	t.Helper()
	half99 := half95 * simulate.TQuantile(0.995, float64(runs-1)) / simulate.TQuantile(0.975, float64(runs-1))
	err := math.Abs(got-want) / want
	t.Logf("%s: simulated %.4f ± %.4f (95%%, %d runs), theory %.4f, relative error %.2f%%", name, got, half95, runs, want, 100*err)
	if err > rel && math.Abs(got-want) > half99 {
		t.Errorf("%s = %.4f, theory %.4f: off by %.2f%%, beyond %.0f%% and beyond the 99%% interval ±%.4f",
			name, got, want, 100*err, 100*rel, half99)
	}
}

// TestSimulateErlangC: M/M/7 at 5 Erlangs (100/h, 180 s), FIFO, no
// abandonment. Probability of waiting, ASA and occupancy agree with
// Erlang C, computed here, within 3% (SIMULATE_RUNS in CI resolves that;
// fewer runs are held to their own 99% interval).
func TestSimulateErlangC(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates days")
	}
	runs := simulateRuns(t, 16)
	f := write(t, map[string]string{"s.yaml": erlangScenario(100, ""), "p.yaml": acceptAll})
	rep := runReports(t, f["s.yaml"], "-policy", f["p.yaml"], "-runs", strconv.Itoa(runs))[0]
	c, a, mu := 7, 100*180/3600.0, 180.0
	pw := erlangC(c, a)
	within(t, "prob_wait", rep.ProbWait, pw, rep.CI95["prob_wait"], runs, 0.03)
	within(t, "asa_s", rep.ASA, pw*mu/(float64(c)-a), rep.CI95["asa_s"], runs, 0.03)
	within(t, "occupancy", rep.Occupancy, a/float64(c), rep.CI95["occupancy"], runs, 0.03)
	if rep.Abandoned != 0 || rep.ReservationsRejected != 0 {
		t.Errorf("abandoned %v, rejected %v: want none", rep.Abandoned, rep.ReservationsRejected)
	}
}

// erlangA is M/M/c+M (Erlang A, Palm's model): arrival rate lambda,
// service rate mu, abandonment rate theta per waiting caller; it returns
// the probability of waiting, the share abandoning and the mean wait of
// answered callers, from the birth-death chain's stationary distribution
// (computed, not tabulated).
func erlangA(c int, lambda, mu, theta float64) (probWait, abandon, asaAnswered float64) {
	const states = 2000
	p := make([]float64, states)
	p[0] = 1
	for n := 1; n < states; n++ {
		death := float64(min(n, c))*mu + float64(max(n-c, 0))*theta
		p[n] = p[n-1] * lambda / death
	}
	total := 0.0
	for _, x := range p {
		total += x
	}
	for n := range p {
		p[n] /= total
	}
	// An arrival finding n >= c waits behind k = n-c callers. With j ahead
	// it moves up at rate c*mu + j*theta (a call ends, or one ahead
	// abandons) and abandons itself at rate theta: it is answered with
	// probability prod_{j=0..k} (c*mu+j*theta)/(c*mu+(j+1)*theta), and its
	// wait is the sum of the stages' exponential times.
	wait, answered, sumWait := 0.0, 0.0, 0.0
	for n := 0; n < states; n++ {
		if n < c {
			answered += p[n]
			continue
		}
		wait += p[n]
		k := n - c
		survive, meanWait := 1.0, 0.0
		for j := 0; j <= k; j++ {
			rate := float64(c)*mu + float64(j+1)*theta
			meanWait += 1 / rate
			survive *= (float64(c)*mu + float64(j)*theta) / rate
		}
		answered += p[n] * survive
		sumWait += p[n] * survive * meanWait
	}
	// Of those that waited and were answered: the waited share of answered.
	waitedAnswered := answered - (1 - wait)
	return waitedAnswered / answered, 1 - answered, sumWait / answered
}

// TestSimulateErlangA: the same center with callers abandoning after an
// exponential patience (mean 120 s) at 6 Erlangs: the share abandoning,
// the probability of waiting (among the answered) and ASA follow Erlang
// A, and move the way it says against Erlang C (fewer wait, shorter ASA).
func TestSimulateErlangA(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates days")
	}
	runs := simulateRuns(t, 16)
	f := write(t, map[string]string{"s.yaml": erlangScenario(120, "120s"), "p.yaml": acceptAll})
	rep := runReports(t, f["s.yaml"], "-policy", f["p.yaml"], "-runs", strconv.Itoa(runs))[0]
	pw, ab, asa := erlangA(7, 120/3600.0, 1/180.0, 1/120.0)
	within(t, "abandoned share", rep.Abandoned/rep.Offered, ab, rep.CI95["abandoned"]/rep.Offered, runs, 0.05)
	within(t, "prob_wait", rep.ProbWait, pw, rep.CI95["prob_wait"], runs, 0.05)
	within(t, "asa_s", rep.ASA, asa, rep.CI95["asa_s"], runs, 0.05)
	if rep.Abandoned == 0 {
		t.Error("no caller abandoned")
	}
	if c := erlangC(7, 6); rep.ProbWait >= c {
		t.Errorf("prob_wait %.3f with abandonment, not below Erlang C's %.3f without", rep.ProbWait, c)
	}
}
