package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/assignd/assignd/policy/rules"
	whatif "github.com/assignd/assignd/whatif/report"
	"github.com/assignd/assignd/whatif/simulate"
)

const simulateUsage = `usage: assignd simulate SCENARIO.yaml -policy A.yaml [-policy B.yaml] [flags]

Simulates the scenario's day on the TaskRouter emulator in virtual time,
with the real service deciding every reservation over signed HTTP (sync
and async answers), once per -policy, and prints the figures per stream,
per queue and overall; with two policies, side by side with the
differences. The same -seed gives the same numbers; -runs N replications
give each figure a 95% confidence interval. Runs go in parallel; the
numbers do not depend on it.

The scenario is the emulator's workspace plus demand and agents:

  workspace: tutorial.yaml        # a workspace file (relative to the scenario), or inline
  duration: 8h
  seed: 7
  arrivals:                       # Poisson per stream; rate_per_hour may be a list by hour
    - name: spanish
      rate_per_hour: 100
      attributes: {selected_language: es}
      handle_time: {distribution: exponential, mean: 180s}   # also lognormal (sd), fixed
      patience: {distribution: exponential, mean: 120s}      # optional: abandonment
      wrap_up: 0s
  workers:                        # replace the workspace's workers
    - count: 7
      attributes: {languages: [es]}
      shift: {start: 0h, end: 8h}

(warm_up, interval, answer_time, after_reject, task_channel, priority,
workflow, names and activities too: see package whatif/simulate.)

A scenario is refused if a run could not hold it: duration over 31 days,
interval under 1s or more than 10,000 intervals in the day, more than
2,000,000 tasks expected, more than 10,000 agents over all workers entries.
`

// policyFlags is the repeatable -policy.
type policyFlags []string

func (p *policyFlags) String() string     { return strings.Join(*p, ",") }
func (p *policyFlags) Set(v string) error { *p = append(*p, v); return nil }

// simulateFlags are simulate's flags, parsed.
type simulateFlags struct {
	policies      policyFlags
	seed          int64
	runs          int
	jsonOut, html string
	sl            string
	progressAfter time.Duration             // a progress line once a run takes longer than this
	forceProgress bool                      // tests: as if stderr were a terminal
	runDone       func(simulate.RunFigures) // tests: each run's own figures
}

func simulateCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return simulateWith(ctx, args, stdout, stderr, simulateFlags{progressAfter: time.Second})
}

func simulateWith(ctx context.Context, args []string, stdout, stderr io.Writer, f simulateFlags) error {
	fs := newFlagSet("simulate", simulateUsage)
	fs.Var(&f.policies, "policy", "a policy (rules file) to simulate; repeat for A vs B (the first is the baseline)")
	fs.Int64Var(&f.seed, "seed", 0, "random seed (default: the scenario's seed)")
	fs.IntVar(&f.runs, "runs", 1, "replications per policy, for 95% confidence intervals")
	fs.StringVar(&f.jsonOut, "json", "", "write the reports as JSON to this file (several policies: a list)")
	fs.StringVar(&f.html, "html", "", "write the day drawn as an HTML page to this file")
	fs.StringVar(&f.sl, "sl", "20", "service level thresholds in seconds, comma-separated")
	if ok, err := parseFlags(fs, args, stdout, stderr); !ok {
		return err
	}
	if fs.NArg() != 1 {
		return usageError(fs, stderr, fmt.Sprintf("takes one SCENARIO file, got %q", fs.Args()))
	}
	if len(f.policies) == 0 {
		return usageError(fs, stderr, "needs at least one -policy FILE")
	}
	if f.runs < 1 || f.runs > simulate.MaxRuns {
		return usageError(fs, stderr, fmt.Sprintf("-runs %d: want 1 to %d", f.runs, simulate.MaxRuns))
	}
	sl, err := parseThresholds(f.sl)
	if err != nil {
		return usageError(fs, stderr, "-sl: "+err.Error())
	}
	// Everything is checked before the first run: the scenario, then
	// every policy (one line each, with its location).
	scenario, err := simulate.LoadFile(fs.Arg(0))
	if err != nil {
		fmt.Fprintln(stderr, "assignd simulate:", err)
		return exitCode(2)
	}
	for _, p := range f.policies {
		if _, err := rules.LoadFile(p); err != nil {
			fmt.Fprintln(stderr, "assignd simulate:", policyErrorLine(err))
			return exitCode(2)
		}
	}
	// The output files are opened now, so a path that cannot be written
	// is refused before the day is simulated, not after.
	outs := map[string]*os.File{}
	defer func() {
		for _, out := range outs {
			out.Close() // written and closed below; this only covers an early return
		}
	}()
	for _, o := range []struct{ flag, path string }{{"-json", f.jsonOut}, {"-html", f.html}} {
		if o.path == "" {
			continue
		}
		out, err := os.Create(o.path)
		if err != nil {
			fmt.Fprintf(stderr, "assignd simulate: %s: %v\n", o.flag, err)
			return exitCode(2)
		}
		outs[o.flag] = out
	}
	seedSet := false
	fs.Visit(func(fl *flag.Flag) {
		if fl.Name == "seed" {
			seedSet = true
		}
	})
	o := simulate.Options{Scenario: scenario, ScenarioName: fs.Arg(0), Policies: f.policies, Runs: f.runs,
		Seed: f.seed, SeedSet: seedSet, ServiceLevels: sl, NewService: simService(zerolog.Nop()),
		Warn: func(s string) { fmt.Fprintln(stderr, "assignd simulate: warning:", s) }, RunDone: f.runDone}
	if f.forceProgress || isTerminal(stderr) {
		o.Progress = progressLine(stderr, time.Now(), f.progressAfter)
	}
	reps, err := simulate.Run(ctx, o)
	if o.Progress != nil {
		o.Progress(-1) // end the line
	}
	if err != nil {
		return err
	}
	if err := whatif.WriteTable(stdout, reps); err != nil {
		return err
	}
	if out := outs["-json"]; out != nil {
		delete(outs, "-json")
		if err := writeAndClose(out, func(w io.Writer) error { return writeJSON(w, reps) }); err != nil {
			return err
		}
	}
	if out := outs["-html"]; out != nil {
		delete(outs, "-html")
		if err := writeAndClose(out, func(w io.Writer) error { return whatif.WriteHTML(w, reps) }); err != nil {
			return err
		}
	}
	return nil
}

func parseThresholds(s string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || n < 0 || n > 86400 {
			return nil, fmt.Errorf("%q is not a number of seconds from 0 to 86400", part)
		}
		out = append(out, n)
	}
	return out, nil
}

// writeJSON writes one document for one report, a list for several.
func writeJSON(w io.Writer, reps []whatif.Report) error {
	var v any = reps
	if len(reps) == 1 {
		v = reps[0]
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeAndClose writes f, opened before the run, and closes it.
func writeAndClose(f *os.File, write func(io.Writer) error) error {
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", f.Name(), err)
	}
	return nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progressLine rewrites one line on w with the share done, once the run
// has taken longer than after; done < 0 ends the line.
func progressLine(w io.Writer, start time.Time, after time.Duration) func(float64) {
	shown, last := false, -1
	return func(done float64) {
		if done < 0 {
			if shown {
				fmt.Fprintln(w)
			}
			return
		}
		pct := int(done * 100)
		if pct == last || time.Since(start) < after {
			return
		}
		last, shown = pct, true
		fmt.Fprintf(w, "\rsimulating: %3d%%  (%s)", pct, time.Since(start).Round(100*time.Millisecond))
	}
}
