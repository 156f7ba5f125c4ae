package simulate

import (
	"math"
	"strconv"
	"strings"

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
			xs := make([]float64, len(runs))
			for i, m := range runs {
				xs[i] = m.groups[g.Name]
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

// combine is the Figures of one population over runs; with paired, also
// the differences from base run by run.
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
		xs := make([]float64, len(runs))
		for i, m := range runs {
			xs[i] = m[k] // absent: 0 (a rule that never fired in that run)
		}
		mu, h := meanCI(xs)
		mean[k] = mu
		if ci != nil {
			ci[k] = h
		}
		if paired {
			ds := make([]float64, len(runs))
			for i := range runs {
				var b float64
				if i < len(base) {
					b = base[i][k]
				}
				ds[i] = xs[i] - b
			}
			d, dh := meanCI(ds)
			diff[k] = d
			if ciDiff != nil {
				ciDiff[k] = dh
			}
		}
	}
	f := report.Figures{Offered: mean["offered"], Answered: mean["answered"], Abandoned: mean["abandoned"],
		ProbWait: mean["prob_wait"], ASA: mean["asa_s"], WaitP50: mean["wait_p50_s"], WaitP90: mean["wait_p90_s"],
		WaitP99: mean["wait_p99_s"], Occupancy: mean["occupancy"], ReservationsRejected: mean["reservations_rejected"],
		ReservationsTimedOut: mean["reservations_timed_out"], ServiceLevel: map[string]float64{},
		Rules: map[string]float64{}, Instructions: map[string]float64{}, CI95: ci, Diff: diff, CI95Diff: ciDiff}
	for _, th := range o.ServiceLevels {
		f.ServiceLevel[strconv.Itoa(th)] = mean["service_level."+strconv.Itoa(th)]
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
	n := float64(len(xs))
	if n == 0 {
		return 0, 0
	}
	for _, x := range xs {
		mean += x
	}
	mean /= n
	if n < 2 {
		return mean, 0
	}
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	sd := math.Sqrt(ss / (n - 1))
	return mean, TQuantile(0.975, n-1) * sd / math.Sqrt(n)
}

// TQuantile is Student's t distribution's p-quantile with df degrees of
// freedom, by bisection on its distribution function (the regularized
// incomplete beta function), so any df is exact rather than a table's.
func TQuantile(p, df float64) float64 {
	if p == 0.5 {
		return 0
	}
	if p < 0.5 {
		return -TQuantile(1-p, df)
	}
	lo, hi := 0.0, 1.0
	for tCDF(hi, df) < p {
		hi *= 2
	}
	for range 200 {
		mid := (lo + hi) / 2
		if tCDF(mid, df) < p {
			lo = mid
		} else {
			hi = mid
		}
		if hi-lo < 1e-12 {
			break
		}
	}
	return (lo + hi) / 2
}

// tCDF is P(T <= t) for t >= 0.
func tCDF(t, df float64) float64 {
	x := df / (df + t*t)
	return 1 - 0.5*regIncBeta(df/2, 0.5, x)
}

// regIncBeta is I_x(a, b) by its continued fraction (Lentz's method).
func regIncBeta(a, b, x float64) float64 {
	if x <= 0 {
		return 0
	}
	if x >= 1 {
		return 1
	}
	la, _ := math.Lgamma(a)
	lb, _ := math.Lgamma(b)
	lab, _ := math.Lgamma(a + b)
	front := math.Exp(lab - la - lb + a*math.Log(x) + b*math.Log(1-x))
	if x > (a+1)/(a+b+2) {
		return 1 - regIncBeta(b, a, 1-x)
	}
	const tiny = 1e-300
	c, d := 1.0, 1-(a+b)*x/(a+1)
	if math.Abs(d) < tiny {
		d = tiny
	}
	d = 1 / d
	f := d
	for m := 1; m <= 300; m++ {
		fm := float64(m)
		num := fm * (b - fm) * x / ((a + 2*fm - 1) * (a + 2*fm))
		d = 1 + num*d
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = 1 + num/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		f *= d * c
		num = -(a + fm) * (a + b + fm) * x / ((a + 2*fm) * (a + 2*fm + 1))
		d = 1 + num*d
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = 1 + num/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		delta := d * c
		f *= delta
		if math.Abs(delta-1) < 1e-14 {
			break
		}
	}
	return front * f / a
}
