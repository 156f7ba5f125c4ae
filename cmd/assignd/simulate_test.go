package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/assignd/assignd/emulator"
	whatif "github.com/assignd/assignd/whatif/report"
	"github.com/assignd/assignd/whatif/simulate"
)

// The policies the simulations run, written where a scenario can name them.
// tail is every policy's default and on_error.
const tail = "default: {instruction: accept}\non_error: {instruction: accept}\n"

const (
	acceptAll = tail + "rules:\n  - {name: take-it, when: \"true\", then: {instruction: accept}}\n"
	asyncAll  = tail + "rules:\n  - {name: later, when: \"true\", then: {instruction: accept, async: true}}\n"
	// languageAware accepts only a worker speaking the task's language:
	// against acceptAll it changes who answers what, not what is offered.
	vipFirst = tail + "rules:\n  - {name: vip, when: \"task.vip == true\", then: {instruction: accept}}\n" +
		"  - {name: others, when: \"true\", then: {instruction: accept}}\n"
)

// The Erlang scenarios' day: its length and the warm-up before the window
// measured.
const (
	erlangDay    = 8 * time.Hour
	erlangWarmUp = 30 * time.Minute
	erlangAgents = 7
	erlangHandle = 180 * time.Second
)

// erlangScenario is the minimal scenario: one queue, FIFO, 7 agents,
// Poisson arrivals at rate per hour, exponential 180 s handle times.
func erlangScenario(rate float64, patience string) string {
	s := "workspace: " + tutorialPath() + "\nduration: " + erlangDay.String() + "\nseed: 7\nwarm_up: " + erlangWarmUp.String() + "\narrivals:\n" +
		"  - name: spanish\n    rate_per_hour: " + strconv.FormatFloat(rate, 'f', -1, 64) + "\n" +
		"    attributes: {selected_language: es}\n    handle_time: {distribution: exponential, mean: " + erlangHandle.String() + "}\n"
	if patience != "" {
		s += "    patience: {distribution: exponential, mean: " + patience + "}\n"
	}
	return s + "workers:\n  - name: agents\n    count: " + strconv.Itoa(erlangAgents) + "\n    attributes: {languages: [es]}\n"
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
	return runReportsWith(t, simulateFlags{}, args...)
}

// runReportsWith is runReports with the test-only flags f.
func runReportsWith(t testing.TB, f simulateFlags, args ...string) []whatif.Report {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out.json")
	var stdout, stderr bytes.Buffer
	f.progressAfter = time.Hour
	err := simulateWith(context.Background(), append(args, "-json", out), &stdout, &stderr, f)
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
// Erlang C, computed here, within 3%.
//
// The plain means over runs resolve 3% for prob_wait and occupancy at
// SIMULATE_RUNS=100, but not for ASA: one eight-hour day's ASA has a
// standard deviation of about half its mean (a busy hour's queue lasts),
// so a ±3% interval needs some 1,500 days. The test therefore also uses
// a control variate that is exact rather than approximate: each run's
// own draws (arrival times and handle times, fixed by the seed before any
// routing) are fed to a textbook FIFO c-server queue written here
// (reference), and the simulated figure is estimated as
//
//	E[simulated] = E[reference] + E[simulated − reference]
//
// where E[reference] is the mean over many independent reference days
// (microseconds each) and E[simulated − reference] the mean over the
// runs. A faithful emulator makes each run's difference nearly 0, so the
// estimate is as tight as the reference days make it, at any run count;
// an emulator that adds wait (a routing delay, a lost wake-up) or loses
// a task shows as a difference, run by run. The reference days carry the
// same finite-day bias as the runs, so the comparison with Erlang C is like
// for like with the plain means: on ASA about -1.3%, measured with the
// reference (-0.5% as the tasks still waiting at the day's end are not
// counted, -0.7% as a mean of daily ratios weighs a busy day like a quiet
// one; it is gone on 80-hour days). The plain means are still held to 3%
// or their own 99% interval.
func TestSimulateErlangC(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates days")
	}
	runs := simulateRuns(t, 16)
	f := write(t, map[string]string{"s.yaml": erlangScenario(100, ""), "p.yaml": acceptAll})
	var mu sync.Mutex
	perRun := make([]simulate.RunFigures, runs)
	rep := runReportsWith(t, simulateFlags{runDone: func(r simulate.RunFigures) {
		mu.Lock()
		defer mu.Unlock()
		perRun[r.Run] = r
	}}, f["s.yaml"], "-policy", f["p.yaml"], "-runs", strconv.Itoa(runs))[0]
	c, a, mu180 := erlangAgents, 100*erlangHandle.Seconds()/3600, erlangHandle.Seconds()
	pw := erlangC(c, a)
	theory := map[string]float64{"prob_wait": pw, "asa_s": pw * mu180 / (float64(c) - a), "occupancy": a / float64(c)}
	got := map[string]float64{"prob_wait": rep.ProbWait, "asa_s": rep.ASA, "occupancy": rep.Occupancy}
	for _, k := range []string{"prob_wait", "asa_s", "occupancy"} {
		within(t, k, got[k], theory[k], rep.CI95[k], runs, 0.03)
	}
	if rep.Abandoned != 0 || rep.ReservationsRejected != 0 {
		t.Errorf("abandoned %v, rejected %v: want none", rep.Abandoned, rep.ReservationsRejected)
	}

	// The control variate: each run against the reference fed its draws.
	diffs := map[string][]float64{}
	for i, r := range perRun {
		if r.Center == nil {
			t.Fatalf("run %d: no figures", i+1)
		}
		ref := reference(r.Tasks, c, erlangWarmUp, erlangDay)
		for k, v := range ref {
			diffs[k] = append(diffs[k], r.Center[k]-v)
		}
	}
	// The reference's own expectation, from independent days of the same
	// arrivals (Poisson, 100/h) and handle times (exponential, 180 s).
	const refDays = 20000
	refs := map[string][]float64{}
	for d := range refDays {
		rng := rand.New(rand.NewPCG(2026, uint64(d)))
		var tasks []simulate.Drawn
		for at := 0.0; ; {
			at += rng.ExpFloat64() * 3600 / 100
			if at >= erlangDay.Seconds() {
				break
			}
			tasks = append(tasks, simulate.Drawn{Created: time.Duration(at * float64(time.Second)),
				Handle: time.Duration(rng.ExpFloat64() * mu180 * float64(time.Second))})
		}
		for k, v := range reference(tasks, c, erlangWarmUp, erlangDay) {
			refs[k] = append(refs[k], v)
		}
	}
	for _, k := range []string{"prob_wait", "asa_s", "occupancy"} {
		d, dHalf, dMax := meanHalf(diffs[k])
		ref, refHalf, _ := meanHalf(refs[k])
		est, half := ref+d, math.Hypot(dHalf, refHalf)
		rel := math.Abs(est-theory[k]) / theory[k]
		t.Logf("%s with the control variate: %.4f ± %.4f (95%%: reference %.4f ± %.4f over %d days, simulated − reference %+.2g ± %.2g over %d runs, largest %.2g), theory %.4f, relative error %.2f%% ± %.2f%%",
			k, est, half, ref, refHalf, refDays, d, dHalf, runs, dMax, theory[k], 100*rel, 100*half/theory[k])
		if rel > 0.03 {
			t.Errorf("%s = %.4f ± %.4f with the control variate, theory %.4f: off by %.2f%%, beyond 3%%", k, est, half, theory[k], 100*rel)
		}
		// Each run's own figure is the reference's on its draws, but for
		// rounding: the emulator adds no wait and loses no task.
		if dMax > 1e-6*max(1, theory[k]) {
			t.Errorf("%s: a run differs from the FIFO queue fed its own draws by %.3g", k, dMax)
		}
	}
}

// reference is a textbook FIFO queue with c servers fed tasks (in
// creation order): each starts on the first server free, once it and
// every task before it have one (Kiefer–Wolfowitz). It measures what the
// simulator does: the tasks created in [warm, end) and started by end,
// their share that waited, their mean wait, and the servers' busy share
// of [warm, end).
func reference(tasks []simulate.Drawn, c int, warm, end time.Duration) map[string]float64 {
	free := make([]time.Duration, c) // when each server is next free
	var answered, waited, waits, busy float64
	for _, t := range tasks {
		i := 0
		for j := range free {
			if free[j] < free[i] {
				i = j
			}
		}
		start := max(t.Created, free[i])
		if start > end {
			free[i] = start // never started: it holds the queue to the end
			continue
		}
		free[i] = start + t.Handle
		busy += max(0, min(free[i], end)-max(start, warm)).Seconds()
		if t.Created < warm {
			continue
		}
		answered++
		if w := start - t.Created; w > 0 {
			waited++
			waits += w.Seconds()
		}
	}
	return map[string]float64{"prob_wait": waited / answered, "asa_s": waits / answered,
		"occupancy": busy / (float64(c) * (end - warm).Seconds())}
}

// meanHalf is the mean of xs, the half-width of its 95% interval and the
// largest |x|.
func meanHalf(xs []float64) (mean, half, largest float64) {
	for _, x := range xs {
		mean += x
		largest = max(largest, math.Abs(x))
	}
	n := float64(len(xs))
	mean /= n
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	return mean, simulate.TQuantile(0.975, n-1) * math.Sqrt(ss/(n-1)/n), largest
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

// smallScenario is a short day for the behaviour tests.
func smallScenario(extra string) string {
	return "workspace: " + tutorialPath() + "\nduration: 1h\nseed: 3\narrivals:\n" +
		"  - name: spanish\n    rate_per_hour: 60\n    attributes: {selected_language: es}\n" +
		"    handle_time: {distribution: lognormal, mean: 300s, sd: 120s}\n" + extra +
		"workers:\n  - name: agents\n    count: 5\n    attributes: {languages: [es]}\n"
}

// The same seed gives the same numbers; two policies give two documents in
// order, the second with its differences from the first.
func TestSimulateSameSeedTwoPolicies(t *testing.T) {
	f := write(t, map[string]string{"s.yaml": smallScenario(""), "a.yaml": acceptAll, "b.yaml": vipFirst})
	args := []string{f["s.yaml"], "-policy", f["a.yaml"], "-policy", f["b.yaml"], "-seed", "11", "-runs", "2"}
	first, second := runReports(t, args...), runReports(t, args...)
	if len(first) != 2 || first[0].Policy != f["a.yaml"] || first[1].Policy != f["b.yaml"] {
		t.Fatalf("want two documents, A then B; got %d", len(first))
	}
	a, _ := json.Marshal(first)
	b, _ := json.Marshal(second)
	if !bytes.Equal(a, b) {
		t.Errorf("the same seed gave different reports (%d and %d bytes of JSON)", len(a), len(b))
	}
	if first[0].Seed != 11 || first[0].Runs != 2 || first[0].Offered == 0 {
		t.Errorf("seed %d runs %d offered %v", first[0].Seed, first[0].Runs, first[0].Offered)
	}
	if first[0].Rules["take-it"] == 0 || first[1].Rules["others"] == 0 || first[1].Rules["take-it"] != 0 {
		t.Errorf("rules A %v, B %v", first[0].Rules, first[1].Rules)
	}
	if first[0].Diff != nil || first[1].Diff == nil || first[1].Diff["offered"] != 0 {
		t.Errorf("diff A %v, B %v: want B's only, offered unchanged (same arrivals)", first[0].Diff, first[1].Diff)
	}
	if first[1].Diff["rules.take-it"] >= 0 || first[1].CI95Diff == nil {
		t.Errorf("B's diff of rule take-it %v, ci %v", first[1].Diff["rules.take-it"], first[1].CI95Diff)
	}
	if ws, _ := first[0].CumulativeStatistics["workspace"].(map[string]any); ws["tasks_created"] == nil {
		t.Errorf("cumulative_statistics.workspace lacks Twilio's tasks_created: %v", first[0].CumulativeStatistics)
	}
	if g := first[0].Groups["agents"]; g.Workers != 5 || g.Occupancy <= 0 {
		t.Errorf("group agents: %+v", g)
	}
	if n := len(first[0].Series.Offered); n != 4 {
		t.Errorf("series: %d intervals of 15m in 1h, want 4", n)
	}
	other := runReports(t, f["s.yaml"], "-policy", f["a.yaml"], "-seed", "12")
	if other[0].Offered == first[0].Offered && other[0].ASA == first[0].ASA {
		t.Error("another seed gave the same day")
	}
}

// An async accept goes through the real REST path: the service answers {}
// and River applies the accept over the emulator's REST API.
func TestSimulateAsyncPolicy(t *testing.T) {
	f := write(t, map[string]string{"s.yaml": strings.Replace(smallScenario(""), "duration: 1h", "duration: 20m", 1),
		"p.yaml": asyncAll})
	rep := runReports(t, f["s.yaml"], "-policy", f["p.yaml"])[0]
	if rep.Offered == 0 || rep.Answered == 0 || rep.Instructions["accept"] == 0 || rep.Rules["later"] == 0 {
		t.Fatalf("offered %v answered %v instructions %v rules %v", rep.Offered, rep.Answered, rep.Instructions, rep.Rules)
	}
	if rep.ReservationsTimedOut != 0 {
		t.Errorf("%v reservations timed out: the async accepts did not arrive", rep.ReservationsTimedOut)
	}
}

// Shifts, wrap-up and abandonment: a group starting late is idle before its
// shift, wrap-up keeps agents occupied, impatient callers abandon when the
// center is understaffed.
func TestSimulateShiftWrapUpAbandonment(t *testing.T) {
	s := "workspace: " + tutorialPath() + "\nduration: 2h\nseed: 5\ninterval: 30m\narrivals:\n" +
		"  - name: spanish\n    rate_per_hour: 60\n    attributes: {selected_language: es}\n" +
		"    handle_time: {distribution: fixed, mean: 240s}\n    wrap_up: 60s\n" +
		"    patience: {distribution: fixed, mean: 30s}\n" +
		"workers:\n  - name: early\n    count: 2\n    attributes: {languages: [es]}\n    shift: {start: 0h, end: 1h}\n" +
		"  - name: late\n    count: 6\n    attributes: {languages: [es]}\n    shift: {start: 1h, end: 2h}\n"
	f := write(t, map[string]string{"s.yaml": s, "p.yaml": acceptAll})
	rep := runReports(t, f["s.yaml"], "-policy", f["p.yaml"])[0]
	if rep.Abandoned == 0 {
		t.Error("nobody abandoned with 2 agents for 5 Erlangs")
	}
	ab := rep.Series.Abandoned
	if ab[0]+ab[1] == 0 || ab[2]+ab[3] >= ab[0]+ab[1] {
		t.Errorf("abandoned by half hour %v: want most before the late shift", ab)
	}
	if occ := rep.Groups["early"].Occupancy; occ < 0.75 {
		t.Errorf("early group occupancy %.2f: handling plus wrap-up should keep two agents busy", occ)
	}
	if late := rep.Groups["late"]; late.Workers != 6 || late.Occupancy <= 0 || late.Occupancy > 0.9 {
		t.Errorf("late group %+v", late)
	}
	for _, w := range rep.ServiceLevel {
		if w <= 0 || w >= 1 {
			t.Errorf("service level %v: want some within 20 s and some abandoned", rep.ServiceLevel)
		}
	}
}

// A policy rejecting everything makes the emulator offer the task again at
// once without the clock moving: the run stops, naming the loop. (The
// guard is lowered from its 10,000 to keep the test short.)
func TestSimulateRejectLoopStops(t *testing.T) {
	rejectAll := tail + "rules:\n  - {name: no, when: \"true\", then: {instruction: reject, activity_sid: " +
		tutorialActivity(t, "Idle") + "}}\n"
	f := write(t, map[string]string{"s.yaml": smallScenario(""), "p.yaml": rejectAll})
	sc, err := simulate.LoadFile(f["s.yaml"])
	if err != nil {
		t.Fatal(err)
	}
	_, err = simulate.Run(context.Background(), simulate.Options{Scenario: sc, Policies: []string{f["p.yaml"]},
		NewService: simService(zerolog.Nop()), MaxCallbacksPerInstant: 300})
	if err == nil || !strings.Contains(err.Error(), "reject loop") || !strings.Contains(err.Error(), "300 assignment callbacks") {
		t.Fatalf("err = %v", err)
	}
}

// A service that does not answer stops the run after MaxFailedCallbacks.
func TestSimulateFailingCallbacksStop(t *testing.T) {
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "down", http.StatusInternalServerError)
	}))
	defer broken.Close()
	sc, err := simulate.Parse("s.yaml", []byte(smallScenario("")))
	if err != nil {
		t.Fatal(err)
	}
	_, err = simulate.Run(context.Background(), simulate.Options{Scenario: sc, Policies: []string{"broken"},
		NewService: func(context.Context, string, simulate.Env) (simulate.Service, error) {
			return simulate.Service{CallbackURL: broken.URL, Close: func() error { return nil }}, nil
		}})
	if err == nil || !strings.Contains(err.Error(), "20 assignment callbacks failed") || !strings.Contains(err.Error(), "HTTP 500") {
		t.Fatalf("err = %v", err)
	}
}

// Bad input is refused before any run, in one line naming the file and line.
func TestSimulateRefusesBadInput(t *testing.T) {
	good := smallScenario("")
	f := write(t, map[string]string{
		"unknown.yaml":  strings.Replace(good, "seed: 3", "seed: 3\nsede: 4", 1),
		"negative.yaml": strings.Replace(good, "rate_per_hour: 60", "rate_per_hour: -5", 1),
		"noload.yaml":   strings.Replace(good, "workspace: "+tutorialPath(), "workspace: broken-ws.yaml", 1),
		"broken-ws.yaml": "friendly_name: W\nactivities: [{name: Idle, available: true}]\n" +
			"task_queues: [{name: Q, target_workers: 'languages HAS'}]\nworkflows: [{name: F, default_queue: Q}]\n",
		"wrongdist.yaml": strings.Replace(good, "lognormal", "gamma", 1),
		"good.yaml":      good,
		"bad-policy.yaml": tail + "rules:\n  - name: x\n    when: 'task.a =='\n" +
			"    then: {instruction: accept}\n",
		"p.yaml": acceptAll,
	})
	cases := []struct {
		scenario, policy, want string
	}{
		{"unknown.yaml", "p.yaml", f["unknown.yaml"] + `:4: unknown key "sede"`},
		{"negative.yaml", "p.yaml", f["negative.yaml"] + `:6: arrivals "spanish": rate_per_hour: -5 must not be negative`},
		{"noload.yaml", "p.yaml", f["noload.yaml"] + ":1: workspace does not load: "},
		{"wrongdist.yaml", "p.yaml", f["wrongdist.yaml"] + `:8: arrivals "spanish": handle_time: unknown distribution "gamma"`},
		{"good.yaml", "bad-policy.yaml", f["bad-policy.yaml"] + `:5: rule "x": when: `},
	}
	for _, c := range cases {
		var stdout, stderr bytes.Buffer
		err := simulateWith(context.Background(), []string{f[c.scenario], "-policy", f[c.policy]}, &stdout, &stderr, simulateFlags{})
		var code exitCode
		if !errors.As(err, &code) || code != 2 {
			t.Errorf("%s with %s: err %v, want exit 2", c.scenario, c.policy, err)
		}
		lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
		if len(lines) != 1 || !strings.HasPrefix(lines[0], "assignd simulate: "+c.want) {
			t.Errorf("%s with %s: stderr %q, want one line starting %q", c.scenario, c.policy, stderr.String(), c.want)
		}
		if stdout.Len() != 0 {
			t.Errorf("%s: stdout %q before a refused run", c.scenario, stdout.String())
		}
	}
}

// On a terminal a run longer than a second shows a progress line.
func TestSimulateProgressLine(t *testing.T) {
	f := write(t, map[string]string{"s.yaml": smallScenario(""), "p.yaml": acceptAll})
	var stdout, stderr bytes.Buffer
	err := simulateWith(context.Background(), []string{f["s.yaml"], "-policy", f["p.yaml"]}, &stdout, &stderr,
		simulateFlags{forceProgress: true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr.String(), "\rsimulating: 100%") || !strings.HasSuffix(stderr.String(), "\n") {
		t.Errorf("stderr %q: want a progress line ending at 100%%", stderr.String())
	}
}

// tutorialActivity is the SID of the tutorial workspace's activity of that
// name: its SIDs are stable, so a scratch load names the one every run has.
func tutorialActivity(t *testing.T, name string) string {
	emu, err := emulator.New(emulator.Options{AccountSid: emulator.StableSid("AC", "t"), AuthToken: "t"})
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	ld, err := emu.Load(emulator.Tutorial())
	if err != nil {
		t.Fatal(err)
	}
	return ld.Activities[name]
}

// after_reject.back_after brings an agent the policy's reject sent
// Offline back to work: juniors reject every task; without it each
// rejects once and stays Offline, with it they come back and reject again.
func TestSimulateAfterReject(t *testing.T) {
	policy := tail + "rules:\n  - {name: junior, when: \"worker.level == 1\", then: {instruction: reject, activity_sid: " +
		tutorialActivity(t, "Offline") + "}}\n  - {name: senior, when: \"true\", then: {instruction: accept}}\n"
	scenario := func(after string) string {
		return "workspace: " + tutorialPath() + "\nduration: 2h\nseed: 2\n" + after + "arrivals:\n" +
			"  - name: spanish\n    rate_per_hour: 60\n    attributes: {selected_language: es}\n" +
			"    handle_time: {distribution: exponential, mean: 180s}\n" +
			"workers:\n  - name: seniors\n    count: 5\n    attributes: {languages: [es], level: 2}\n" +
			"  - name: juniors\n    count: 2\n    attributes: {languages: [es], level: 1}\n"
	}
	f := write(t, map[string]string{"stay.yaml": scenario(""), "back.yaml": scenario("after_reject: {back_after: 10m}\n"),
		"p.yaml": policy})
	stay := runReports(t, f["stay.yaml"], "-policy", f["p.yaml"])[0]
	back := runReports(t, f["back.yaml"], "-policy", f["p.yaml"])[0]
	if stay.ReservationsRejected == 0 || stay.ReservationsRejected > 2 || stay.Groups["juniors"].Occupancy != 0 {
		t.Fatalf("without back_after: rejected %v (want 1 or 2), juniors %+v", stay.ReservationsRejected, stay.Groups["juniors"])
	}
	if back.ReservationsRejected <= stay.ReservationsRejected || back.Rules["junior"] != back.ReservationsRejected {
		t.Errorf("rejected %v with back_after, %v without; rules %v", back.ReservationsRejected, stay.ReservationsRejected, back.Rules)
	}
}

// A -json or -html path that cannot be opened is refused before the run
// (not after a whole day's simulation), exit 2, one line naming the flag.
func TestSimulateRefusesUnopenableOutput(t *testing.T) {
	f := write(t, map[string]string{"s.yaml": smallScenario(""), "p.yaml": acceptAll})
	nowhere := filepath.Join(t.TempDir(), "missing", "out")
	for _, flagName := range []string{"-json", "-html"} {
		var stdout, stderr bytes.Buffer
		err := simulateWith(context.Background(), []string{f["s.yaml"], "-policy", f["p.yaml"], flagName, nowhere}, &stdout, &stderr, simulateFlags{})
		var code exitCode
		if !errors.As(err, &code) || code != 2 {
			t.Errorf("%s %s: err %v, want exit 2", flagName, nowhere, err)
		}
		want := "assignd simulate: " + flagName + ": open " + nowhere + ": "
		if lines := strings.Split(strings.TrimSpace(stderr.String()), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], want) {
			t.Errorf("%s: stderr %q, want one line starting %q", flagName, stderr.String(), want)
		}
		if stdout.Len() != 0 {
			t.Errorf("%s: the run went ahead: stdout %q", flagName, stdout.String())
		}
	}
}

// simulate -h states the scenario bounds Parse enforces, from the constants.
func TestSimulateUsageStatesTheBounds(t *testing.T) {
	text := strings.Join(strings.Fields(simulateUsage), " ")
	want := fmt.Sprintf("duration over %g days, interval under %v or more than %s intervals in the day, more than %s tasks expected, more than %s agents over all workers entries.",
		simulate.MaxDuration.Hours()/24, simulate.MinInterval, thousands(simulate.MaxIntervals), thousands(simulate.MaxExpectedTasks), thousands(simulate.MaxWorkers))
	if !strings.Contains(text, want) {
		t.Errorf("simulate -h does not say %q", want)
	}
}
