package main

import (
	"bytes"
	"context"
	"math"
	"strings"
	"testing"
	"time"
)

// A ratio undefined in a run (a rare stream offered no task, so no service
// level) is no 0 in the mean: the figure is over the runs that define it,
// and a figure no run defines is absent, shown "-".
func TestSimulateRatioUndefinedInARunIsNotZero(t *testing.T) {
	s := "workspace: " + tutorialPath() + "\nduration: 1h\nseed: 3\narrivals:\n" +
		"  - name: spanish\n    rate_per_hour: 20\n    attributes: {selected_language: es}\n" +
		"    handle_time: {distribution: exponential, mean: 180s}\n" +
		"  - name: rare\n    rate_per_hour: 0.5\n    attributes: {selected_language: es}\n" +
		"    handle_time: {distribution: exponential, mean: 180s}\n" +
		"  - name: never\n    rate_per_hour: 0.00001\n    attributes: {selected_language: es}\n" +
		"    handle_time: {distribution: exponential, mean: 180s}\n" +
		"workers:\n  - name: agents\n    count: 12\n    attributes: {languages: [es]}\n"
	f := write(t, map[string]string{"s.yaml": s, "a.yaml": acceptAll, "b.yaml": vipFirst})
	const runs = 8
	reps := runReports(t, f["s.yaml"], "-policy", f["a.yaml"], "-policy", f["b.yaml"], "-runs", "8")
	for i, rep := range reps {
		rare := rep.Streams["rare"]
		if rare.Offered == 0 || rare.Offered >= 1 {
			t.Fatalf("policy %d: rare stream offered %v on average: the test wants runs with and runs without a rare task", i, rare.Offered)
		}
		// 12 agents for 1 Erlang: every task answered at once, whichever run.
		if rare.ProbWait != 0 || rare.Answered != rare.Offered {
			t.Fatalf("policy %d: rare stream waited (prob_wait %v, answered %v of %v); the test wants none", i, rare.ProbWait, rare.Answered, rare.Offered)
		}
		if sl := rare.ServiceLevel["20"]; sl != 1 || rare.CI95["service_level.20"] != 0 {
			t.Errorf("policy %d: rare service level %v ± %v, want 1 ± 0 (every task answered at once)", i, sl, rare.CI95["service_level.20"])
		}
		if rare.Occupancy <= 0 || rare.Occupancy >= 1 {
			t.Errorf("policy %d: rare occupancy %v", i, rare.Occupancy)
		}
		if i == 1 {
			if d, ok := rare.Diff["service_level.20"]; !ok || d != 0 {
				t.Errorf("B − A of rare service level %v (present %v), want 0", d, ok)
			}
		}
		never := rep.Streams["never"]
		if never.Offered != 0 {
			t.Fatalf("policy %d: the never stream offered %v", i, never.Offered)
		}
		if v, ok := never.ServiceLevel["20"]; ok {
			t.Errorf("policy %d: never stream has a service level %v, want none", i, v)
		}
		if _, ok := never.CI95["service_level.20"]; ok {
			t.Errorf("policy %d: never stream has a service level interval", i)
		}
		if _, ok := never.Diff["service_level.20"]; ok {
			t.Errorf("policy %d: never stream has a service level difference", i)
		}
	}
	var stdout, stderr bytes.Buffer
	if err := simulateWith(context.Background(), []string{f["s.yaml"], "-policy", f["a.yaml"], "-runs", "2"}, &stdout, &stderr,
		simulateFlags{progressAfter: time.Hour}); err != nil {
		t.Fatal(err, stderr.String())
	}
	sec := section(stdout.String(), "STREAM never")
	if !strings.Contains(sec, "service level 20 s") || line(sec, "service level 20 s") != "-" {
		t.Errorf("never stream's service level line %q, want -:\n%s", line(sec, "service level 20 s"), sec)
	}
}

// section is the text of one table section, from its heading to the next
// blank line.
func section(out, heading string) string {
	i := strings.Index(out, heading)
	if i < 0 {
		return ""
	}
	s := out[i:]
	if j := strings.Index(s, "\n\n"); j >= 0 {
		s = s[:j]
	}
	return s
}

// line is the value after a row's label in a one-column section.
func line(sec, label string) string {
	for _, l := range strings.Split(sec, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), label); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// Agents who stay past their shift's end to finish the task in hand are
// staffed until they leave: occupancy, the busy share of staffed time, is
// never above 1 — per group, per population and in every interval.
func TestSimulateOccupancyPastShiftEnd(t *testing.T) {
	s := "workspace: " + tutorialPath() + "\nduration: 2h\nseed: 3\narrivals:\n" +
		"  - name: spanish\n    rate_per_hour: 200\n    attributes: {selected_language: es}\n" +
		"    handle_time: {distribution: fixed, mean: 3000s}\n" +
		"workers:\n  - name: early\n    count: 5\n    attributes: {languages: [es]}\n    shift: {start: 0h, end: 10m}\n"
	f := write(t, map[string]string{"s.yaml": s, "p.yaml": acceptAll})
	rep := runReports(t, f["s.yaml"], "-policy", f["p.yaml"], "-runs", "2")[0]
	check := func(what string, occ float64) {
		if occ < 0 || occ > 1 {
			t.Errorf("%s occupancy %v, want within [0, 1]", what, occ)
		}
	}
	if rep.Answered < 5 {
		t.Fatalf("answered %v: the test wants each agent working past the shift", rep.Answered)
	}
	g := rep.Groups["early"]
	check("group early", g.Occupancy)
	// Each agent takes one 50-minute task within the first minutes and
	// leaves when it is done: busy nearly all the time staffed.
	if g.Occupancy < 0.9 {
		t.Errorf("group early occupancy %v: the agents were busy nearly all their staffed time", g.Occupancy)
	}
	check("center", rep.Occupancy)
	for n, s := range rep.Streams {
		check("stream "+n, s.Occupancy)
	}
	for n, q := range rep.Queues {
		check("queue "+n, q.Occupancy)
	}
	for i, o := range rep.Series.Occupancy {
		check("interval "+time.Duration(float64(i)*rep.Series.IntervalS*float64(time.Second)).String(), o)
	}
}

// Tasks still waiting when the day ends are counted (waiting_at_end) and,
// once they have waited past a threshold, are misses of its service level.
func TestSimulateWaitingAtDayEnd(t *testing.T) {
	// French calls go to the English queue, which no agent serves: they
	// wait all day. Spanish calls are answered at once by 12 agents.
	s := "workspace: " + tutorialPath() + "\nduration: 1h\nseed: 3\narrivals:\n" +
		"  - name: spanish\n    rate_per_hour: 20\n    attributes: {selected_language: es}\n" +
		"    handle_time: {distribution: exponential, mean: 180s}\n" +
		"  - name: french\n    rate_per_hour: 20\n    attributes: {selected_language: fr}\n" +
		"    handle_time: {distribution: exponential, mean: 180s}\n" +
		"workers:\n  - name: agents\n    count: 12\n    attributes: {languages: [es]}\n"
	f := write(t, map[string]string{"s.yaml": s, "p.yaml": acceptAll})
	rep := runReports(t, f["s.yaml"], "-policy", f["p.yaml"])[0]
	fr, es := rep.Streams["french"], rep.Streams["spanish"]
	if fr.Offered < 5 || fr.Answered != 0 || fr.WaitingAtEnd != fr.Offered {
		t.Fatalf("french: offered %v answered %v waiting at end %v: want all waiting", fr.Offered, fr.Answered, fr.WaitingAtEnd)
	}
	if es.WaitingAtEnd != 0 || es.ProbWait != 0 {
		t.Fatalf("spanish: waiting at end %v, prob_wait %v: want all answered at once", es.WaitingAtEnd, es.ProbWait)
	}
	if rep.WaitingAtEnd != fr.Offered || rep.Offered != rep.Answered+rep.Abandoned+rep.WaitingAtEnd {
		t.Errorf("center offered %v = answered %v + abandoned %v + waiting %v?", rep.Offered, rep.Answered, rep.Abandoned, rep.WaitingAtEnd)
	}
	if sl, ok := fr.ServiceLevel["20"]; !ok || sl != 0 {
		t.Errorf("french service level %v (present %v), want 0: every call waited past 20 s", sl, ok)
	}
	// The center's: the Spanish calls within 20 s, of them and the French
	// calls waiting past 20 s (all but those of the day's last 20 s).
	want := es.Answered / (es.Answered + fr.Offered)
	if got := rep.ServiceLevel["20"]; got > es.Answered/(es.Answered+fr.Offered-1) || got < want-1e-9 || math.IsNaN(got) {
		t.Errorf("center service level %v, want about %v", got, want)
	}
	var stdout, stderr bytes.Buffer
	if err := simulateWith(context.Background(), []string{f["s.yaml"], "-policy", f["p.yaml"]}, &stdout, &stderr,
		simulateFlags{progressAfter: time.Hour}); err != nil {
		t.Fatal(err, stderr.String())
	}
	if got := line(section(stdout.String(), "STREAM french"), "waiting at day end"); got == "" || got == "-" || got == "0" {
		t.Errorf("french stream's waiting at day end line %q:\n%s", got, stdout.String())
	}
}
