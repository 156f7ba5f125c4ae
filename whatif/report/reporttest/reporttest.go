// Package reporttest builds realistic simulation reports for the tests of
// what shows them (the table, the HTML page, the inspector): the shape
// `assignd simulate` writes, without running it. Tests only.
package reporttest

import (
	"math"
	"math/rand/v2"

	"github.com/assignd/assignd/whatif/report"
)

// Intervals is the series' length: an 8-hour day in 15-minute intervals.
const Intervals = 32

// The populations every report has: streams, queues, worker groups.
func streams() []string { return []string{"spanish", "english", "support"} }
func queues() []string  { return []string{"Spanish", "English", "Everyone"} }
func groups() []string  { return []string{"es-agents", "en-agents", "bilingual"} }

// TwoPolicies is a day under old.yaml and under new.yaml, runs
// replications each (with confidence intervals when runs > 1); the second
// carries its differences, new.yaml answering faster (significantly, when
// runs > 1) and rejecting more.
func TwoPolicies(runs int) []report.Report {
	a := Day("policies/old.yaml", runs, 0)
	b := Day("policies/new.yaml", runs, 1)
	b.Figures.Diff, b.Figures.CI95Diff = diff(&a.Figures, &b.Figures, runs)
	for _, s := range streams() {
		f := b.Streams[s]
		fa := a.Streams[s]
		f.Diff, f.CI95Diff = diff(&fa, &f, runs)
		b.Streams[s] = f
	}
	return []report.Report{a, b}
}

// Day is one policy's report. variant 0 is the old policy, 1 the new:
// shorter waits, more rejections.
func Day(policy string, runs, variant int) report.Report {
	rng := rand.New(rand.NewPCG(7, uint64(variant)))
	speed := 1 - 0.3*float64(variant) // the new policy's waits are 30% shorter
	r := report.Report{Policy: policy, Scenario: "whatif/center.yaml", Seed: 7, Runs: runs, DurationS: 8 * 3600,
		Streams: map[string]report.Figures{}, Queues: map[string]report.Figures{}, Groups: map[string]report.Group{}}
	r.Figures = figures(1800, speed, variant, runs)
	for i, s := range streams() {
		r.Streams[s] = figures(900/float64(i+1), speed, variant, runs)
	}
	for i, q := range queues() {
		r.Queues[q] = figures(1000/float64(i+1), speed, variant, runs)
	}
	for i, g := range groups() {
		grp := report.Group{Workers: 7 + 4*i, Occupancy: 0.71 + 0.05*float64(i) + 0.02*float64(variant)}
		if runs > 1 {
			grp.CI95 = 0.012
		}
		r.Groups[g] = grp
	}
	// The day: a morning peak, waits that follow it, occupancy near 80%.
	s := report.Series{IntervalS: 900}
	for i := range Intervals {
		load := 40 + 30*math.Sin(math.Pi*float64(i)/Intervals) + rng.Float64()*6
		abandoned := math.Round(load * 0.04 * speed)
		s.Offered = append(s.Offered, math.Round(load))
		s.Answered = append(s.Answered, math.Round(load)-abandoned)
		s.Abandoned = append(s.Abandoned, abandoned)
		p50 := (4 + load/6) * speed
		s.WaitP50 = append(s.WaitP50, p50)
		s.WaitP90 = append(s.WaitP90, p50*3)
		s.WaitP99 = append(s.WaitP99, p50*6)
		s.Occupancy = append(s.Occupancy, 0.6+0.3*load/70)
	}
	r.Series = s
	r.CumulativeStatistics = map[string]any{"workspace": map[string]any{"tasks_created": 1800}}
	return r
}

// figures are a population's figures with offered tasks.
func figures(offered, speed float64, variant, runs int) report.Figures {
	abandoned := math.Round(offered * 0.05 * speed)
	f := report.Figures{
		Offered: offered, Answered: offered - abandoned, Abandoned: abandoned,
		ProbWait: 0.42 * speed, ASA: 21.5 * speed, WaitP50: 8 * speed, WaitP90: 55 * speed, WaitP99: 140 * speed,
		ServiceLevel:         map[string]float64{"20": 0.8 + 0.1*float64(variant), "60": 0.93 + 0.03*float64(variant)},
		Occupancy:            0.78,
		Rules:                map[string]float64{"spanish": offered * 0.4, "english-overflow": offered * 0.35, "default": offered * 0.25},
		Instructions:         map[string]float64{"accept": offered - 12 - 20*float64(variant), "reject": 12 + 20*float64(variant)},
		ReservationsRejected: 12 + 20*float64(variant), ReservationsTimedOut: 3,
	}
	if runs > 1 {
		f.CI95 = map[string]float64{"offered": offered * 0.02, "answered": offered * 0.02, "abandoned": 4.1,
			"asa_s": 1.9, "wait_p50_s": 0.8, "wait_p90_s": 4.2, "wait_p99_s": 11, "prob_wait": 0.021,
			"service_level.20": 0.011, "service_level.60": 0.006, "occupancy": 0.009,
			"reservations_rejected": 2.5, "reservations_timed_out": 1.1,
			"rules.spanish": 6, "rules.english-overflow": 5, "rules.default": 4, "instructions.accept": 9, "instructions.reject": 2.5}
	}
	return f
}

// diff is b minus a for every figure, as the simulator pairs runs, with
// intervals when runs > 1: narrow for the waits (the change's effect),
// wide for the counts (the same arrivals, so no real difference).
func diff(a, b *report.Figures, runs int) (d, ci map[string]float64) {
	d = map[string]float64{
		"offered": b.Offered - a.Offered, "answered": b.Answered - a.Answered, "abandoned": b.Abandoned - a.Abandoned,
		"asa_s": b.ASA - a.ASA, "wait_p50_s": b.WaitP50 - a.WaitP50, "wait_p90_s": b.WaitP90 - a.WaitP90,
		"wait_p99_s": b.WaitP99 - a.WaitP99, "prob_wait": b.ProbWait - a.ProbWait, "occupancy": b.Occupancy - a.Occupancy,
		"reservations_rejected":  b.ReservationsRejected - a.ReservationsRejected,
		"reservations_timed_out": b.ReservationsTimedOut - a.ReservationsTimedOut,
	}
	for k, v := range b.ServiceLevel {
		d["service_level."+k] = v - a.ServiceLevel[k]
	}
	for k, v := range b.Rules {
		d["rules."+k] = v - a.Rules[k]
	}
	for k, v := range b.Instructions {
		d["instructions."+k] = v - a.Instructions[k]
	}
	if runs <= 1 {
		return d, nil
	}
	ci = map[string]float64{}
	for k, v := range d {
		ci[k] = math.Abs(v)/3 + 0.5 // excludes 0 where the figure moved by more than 0.75
	}
	ci["service_level.20"] = 0.02
	ci["service_level.60"] = 0.04 // 3 pp moved, ± 4 pp: not significant
	ci["occupancy"] = 0.01
	ci["prob_wait"] = 0.02
	return d, ci
}
