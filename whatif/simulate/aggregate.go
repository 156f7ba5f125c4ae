package simulate

import (
	"math"
	"strconv"
	"strings"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"

	"github.com/assignd/assignd/whatif/report"
)

// reports turns each policy's runs into its Report: means, 95% intervals
// over runs and, after the first policy, paired differences.
func reports(o Options, results [][]*measure) []report.Report {
	out := make([]report.Report, len(results))
	for pi, runs := range results {
		rep := report.Report{Policy: o.Policies[pi], Scenario: o.ScenarioName, Seed: o.Seed, Runs: len(runs),
			DurationS: o.Scenario.Duration.Seconds(), Streams: map[string]report.Figures{},
			Queues: map[string]report.Figures{}, Groups: map[string]report.Group{},
			Series: runs[0].series, CumulativeStatistics: runs[0].stats}
		base := results[0]
		rep.Figures = combine(column(runs, centerOf), column(base, centerOf), o, pi > 0)
		for _, name := range keysOf(runs, func(m *measure) map[string]map[string]float64 { return m.streams }) {
			rep.Streams[name] = combine(column(runs, streamOf(name)), column(base, streamOf(name)), o, pi > 0)
		}
		for _, name := range keysOf(runs, func(m *measure) map[string]map[string]float64 { return m.queues }) {
			rep.Queues[name] = combine(column(runs, queueOf(name)), column(base, queueOf(name)), o, pi > 0)
		}
		for _, g := range o.Scenario.Workers {
			// Over the runs where the group was staffed in the window.
			var xs []float64
			for _, m := range runs {
				if v, ok := m.groups[g.Name]; ok {
					xs = append(xs, v)
				}
			}
			mean, ci := meanCI(xs)
			rep.Groups[g.Name] = report.Group{Workers: g.Count, Occupancy: mean, CI95: ci}
		}
		out[pi] = rep
	}
	return out
}

func centerOf(m *measure) map[string]float64 { return m.center }
func streamOf(n string) func(*measure) map[string]float64 {
	return func(m *measure) map[string]float64 { return m.streams[n] }
}
func queueOf(n string) func(*measure) map[string]float64 {
	return func(m *measure) map[string]float64 { return m.queues[n] }
}

// column is one population's flat figures in each run (nil where a run
// lacked it).
func column(runs []*measure, of func(*measure) map[string]float64) []map[string]float64 {
	out := make([]map[string]float64, len(runs))
	for i, m := range runs {
		out[i] = of(m)
	}
	return out
}

func keysOf(runs []*measure, of func(*measure) map[string]map[string]float64) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range runs {
		for k := range of(m) {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	return out
}

// value is figure k of one run's population m: a count absent from m is 0
// (a rule that never fired, a stream with no task in that run); a ratio
// absent from m is undefined there (ok false).
func value(m map[string]float64, k string) (float64, bool) {
	v, ok := m[k]
	if !ok && isCount(k) {
		return 0, true
	}
	return v, ok
}

// combine is the Figures of one population over runs; with paired, also
// the differences from base run by run. A ratio's mean and interval are
// over the runs that define it, its difference over the pairs of runs
// that both define it; a ratio no run defines is absent from the maps
// (its Figures field 0, which the table shows as "-" for want of answered
// tasks).
func combine(runs, base []map[string]float64, o Options, paired bool) report.Figures {
	keys := map[string]bool{}
	for _, m := range runs {
		for k := range m {
			keys[k] = true
		}
	}
	if paired {
		for _, m := range base {
			for k := range m {
				keys[k] = true
			}
		}
	}
	mean := map[string]float64{}
	var ci, diff, ciDiff map[string]float64
	if len(runs) > 1 {
		ci = map[string]float64{}
	}
	if paired {
		diff = map[string]float64{}
		if len(runs) > 1 {
			ciDiff = map[string]float64{}
		}
	}
	for k := range keys {
		var xs, ds []float64
		for i, m := range runs {
			x, ok := value(m, k)
			if !ok {
				continue
			}
			xs = append(xs, x)
			if paired && i < len(base) {
				if b, ok := value(base[i], k); ok {
					ds = append(ds, x-b)
				}
			}
		}
		if len(xs) > 0 {
			mu, h := meanCI(xs)
			mean[k] = mu
			if ci != nil && len(xs) > 1 {
				ci[k] = h
			}
		}
		if paired && len(ds) > 0 {
			d, dh := meanCI(ds)
			diff[k] = d
			if ciDiff != nil && len(ds) > 1 {
				ciDiff[k] = dh
			}
		}
	}
	f := report.Figures{Offered: mean["offered"], Answered: mean["answered"], Abandoned: mean["abandoned"],
		WaitingAtEnd: mean["waiting_at_end"],
		ProbWait:     mean["prob_wait"], ASA: mean["asa_s"], WaitP50: mean["wait_p50_s"], WaitP90: mean["wait_p90_s"],
		WaitP99: mean["wait_p99_s"], Occupancy: mean["occupancy"], ReservationsRejected: mean["reservations_rejected"],
		ReservationsTimedOut: mean["reservations_timed_out"], ServiceLevel: map[string]float64{},
		Rules: map[string]float64{}, Instructions: map[string]float64{}, CI95: ci, Diff: diff, CI95Diff: ciDiff}
	for _, th := range o.ServiceLevels {
		if v, ok := mean["service_level."+strconv.Itoa(th)]; ok {
			f.ServiceLevel[strconv.Itoa(th)] = v
		}
	}
	for k, v := range mean {
		if r, ok := strings.CutPrefix(k, "rules."); ok {
			f.Rules[r] = v
		}
		if r, ok := strings.CutPrefix(k, "instructions."); ok {
			f.Instructions[r] = v
		}
	}
	return f
}

// meanCI is the mean of xs and the half-width of its 95% confidence
// interval (Student's t with n-1 degrees of freedom; 0 for one value).
func meanCI(xs []float64) (mean, half float64) {
	switch len(xs) {
	case 0:
		return 0, 0
	case 1:
		return xs[0], 0
	}
	mean, sd := stat.MeanStdDev(xs, nil)
	n := float64(len(xs))
	return mean, TQuantile(0.975, n-1) * sd / math.Sqrt(n)
}

// TQuantile is Student's t distribution's p-quantile with df degrees of
// freedom, exact for any df rather than a table's.
func TQuantile(p, df float64) float64 {
	return distuv.StudentsT{Mu: 0, Sigma: 1, Nu: df}.Quantile(p)
}
