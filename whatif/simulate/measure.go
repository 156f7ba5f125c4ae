package simulate

import (
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/assignd/assignd/whatif/report"
)

// measure is one run's figures, flat (by the keys of Figures.CI95), for
// the means and intervals over runs. A ratio whose denominator is 0 in the
// run (no task answered: no asa_s) is absent from its map, undefined
// rather than 0; see isCount.
type measure struct {
	center  map[string]float64
	streams map[string]map[string]float64
	queues  map[string]map[string]float64
	groups  map[string]float64 // occupancy by group name; absent when not staffed
	series  report.Series
	stats   map[string]any
	drawn   []Drawn // RunFigures.Tasks
}

// pop gathers one population's tasks.
type pop struct {
	offered, answered, abandoned, rejected, timedOut float64
	waits                                            []float64
	// waitingAt are the waits so far of the tasks still waiting when the
	// day ended.
	waitingAt           []float64
	busy                float64 // seconds within the measured window
	rules, instructions map[string]float64
}

func newPop() *pop { return &pop{rules: map[string]float64{}, instructions: map[string]float64{}} }

// overlap is how long [a, b) and [lo, hi) share, in seconds.
func overlap(a, b, lo, hi time.Duration) float64 {
	return max(0, min(b, hi)-max(a, lo)).Seconds()
}

func (r *run) measure(first bool) *measure {
	end, warm := r.s.Duration, r.s.WarmUp
	center := newPop()
	streams, queues := map[string]*pop{}, map[string]*pop{}
	for _, a := range r.s.Arrivals {
		streams[a.Name] = newPop()
	}
	get := func(m map[string]*pop, k string) *pop {
		if m[k] == nil {
			m[k] = newPop()
		}
		return m[k]
	}
	groupBusy := make([]float64, len(r.s.Workers))
	leave := r.leaving()
	taskPops := map[string][]*pop{}
	var drawn []Drawn
	if r.o.RunDone != nil {
		drawn = make([]Drawn, 0, len(r.order))
	}
	for _, t := range r.order {
		if drawn != nil {
			drawn = append(drawn, Drawn{Created: t.created, Handle: t.handle})
		}
		pops := []*pop{center, streams[r.s.Arrivals[t.stream].Name]}
		if t.queue != "" {
			pops = append(pops, get(queues, t.queue))
		}
		taskPops[t.sid] = pops
		if t.answered >= 0 {
			stop := t.ended
			if stop < 0 {
				stop = end
			}
			b := overlap(t.answered, stop, warm, end)
			for _, p := range pops {
				p.busy += b
			}
			if ag := r.workers[t.worker]; ag != nil {
				groupBusy[ag.group] += b
			}
		}
		if t.created < warm {
			continue
		}
		for _, p := range pops {
			p.offered++
			p.rejected += float64(t.rejected)
			p.timedOut += float64(t.timedOut)
			switch {
			case t.answered >= 0:
				p.answered++
				p.waits = append(p.waits, (t.answered - t.created).Seconds())
			case t.abandoned:
				p.abandoned++
			case !t.closed:
				p.waitingAt = append(p.waitingAt, (end - t.created).Seconds())
			}
		}
	}
	r.mu.Lock()
	rsids := make([]string, 0, len(r.decisions))
	for rsid := range r.decisions {
		rsids = append(rsids, rsid)
	}
	slices.Sort(rsids)
	for _, rsid := range rsids {
		d := r.decisions[rsid]
		t := r.tasks[r.resTask[rsid]]
		if t == nil || t.created < warm {
			continue
		}
		for _, p := range taskPops[t.sid] {
			p.rules[d.Rule]++
			p.instructions[d.Instruction]++
		}
	}
	r.mu.Unlock()

	staffed, groupStaffed := 0.0, make([]float64, len(r.s.Workers))
	for _, a := range leave {
		groupStaffed[a.group] += overlap(a.start, a.leave, warm, end)
	}
	for _, v := range groupStaffed {
		staffed += v
	}
	m := &measure{center: r.figures(center, staffed), streams: map[string]map[string]float64{},
		queues: map[string]map[string]float64{}, groups: map[string]float64{}, drawn: drawn}
	for k, p := range streams {
		m.streams[k] = r.figures(p, staffed)
	}
	for k, p := range queues {
		m.queues[k] = r.figures(p, staffed)
	}
	for gi, g := range r.s.Workers {
		setRatio(m.groups, g.Name, groupBusy[gi], groupStaffed[gi])
	}
	if first {
		m.series = r.series()
		m.stats = r.cumulative()
	}
	return m
}

// stay is one agent's staffed time: from the shift's start until the
// agent left, which is the shift's end or, for an agent who stayed to
// finish the task in hand, the end of that task's work.
type stay struct {
	group        int
	start, leave time.Duration
}

// leaving is every agent's stay, in SID order (sums in a fixed order).
// Busy time falls within it, so occupancy, busy over staffed, is at most 1.
func (r *run) leaving() []stay {
	sids := make([]string, 0, len(r.workers))
	for sid := range r.workers {
		sids = append(sids, sid)
	}
	slices.Sort(sids)
	at := make(map[string]int, len(sids))
	out := make([]stay, len(sids))
	for i, sid := range sids {
		g := r.workers[sid].group
		at[sid] = i
		out[i] = stay{group: g, start: r.s.Workers[g].Start, leave: r.s.Workers[g].End}
	}
	for _, t := range r.order {
		i, ok := at[t.worker]
		if t.answered < 0 || !ok {
			continue
		}
		stop := t.ended
		if stop < 0 {
			stop = r.s.Duration
		}
		out[i].start = min(out[i].start, t.answered)
		out[i].leave = max(out[i].leave, stop)
	}
	return out
}

// setRatio sets f[k] to a/b when b is not 0; otherwise the ratio is
// undefined in this run and k stays absent.
func setRatio(f map[string]float64, k string, a, b float64) {
	if b != 0 {
		f[k] = a / b
	}
}

// ratio is a/b, 0 for b 0 (the series' intervals, which show a gap as 0).
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// isCount tells a figure that counts (0 where a run had none: offered,
// rules.…) from a ratio, undefined where its denominator is 0 (prob_wait,
// asa_s, wait percentiles, occupancy, service levels): a run where a ratio
// is undefined adds nothing to its mean and interval.
func isCount(k string) bool {
	switch k {
	case "prob_wait", "asa_s", "wait_p50_s", "wait_p90_s", "wait_p99_s", "occupancy":
		return false
	}
	return !strings.HasPrefix(k, "service_level.")
}

// figures flattens a population into the keys of Figures.CI95.
func (r *run) figures(p *pop, staffed float64) map[string]float64 {
	f := map[string]float64{
		"offered": p.offered, "answered": p.answered, "abandoned": p.abandoned,
		"waiting_at_end":        float64(len(p.waitingAt)),
		"reservations_rejected": p.rejected, "reservations_timed_out": p.timedOut,
	}
	setRatio(f, "occupancy", p.busy, staffed)
	waited, sum := 0.0, 0.0
	for _, w := range p.waits {
		sum += w
		if w > 0 {
			waited++
		}
	}
	setRatio(f, "prob_wait", waited, p.answered)
	setRatio(f, "asa_s", sum, p.answered)
	if len(p.waits) > 0 {
		slices.Sort(p.waits)
		f["wait_p50_s"], f["wait_p90_s"], f["wait_p99_s"] = quantile(p.waits, .5), quantile(p.waits, .9), quantile(p.waits, .99)
	}
	for _, th := range r.o.ServiceLevels {
		// Answered within th, of the answered, the abandoned and those
		// still waiting at day end that had already waited past th (a
		// miss whatever comes next; one waiting less is not known yet).
		within, late := 0.0, 0.0
		for _, w := range p.waits {
			if w <= float64(th) {
				within++
			}
		}
		for _, w := range p.waitingAt {
			if w > float64(th) {
				late++
			}
		}
		setRatio(f, "service_level."+strconv.Itoa(th), within, p.answered+p.abandoned+late)
	}
	for k, v := range p.rules {
		f["rules."+k] = v
	}
	for k, v := range p.instructions {
		f["instructions."+k] = v
	}
	return f
}

// quantile is the nearest-rank q-quantile of sorted xs (0 for none).
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(xs)))) - 1
	return xs[max(0, min(i, len(xs)-1))]
}

// series draws run 1's day in intervals.
func (r *run) series() report.Series {
	iv, end := r.s.Interval, r.s.Duration
	n := int((end + iv - 1) / iv)
	s := report.Series{IntervalS: iv.Seconds(), Offered: make([]float64, n), Answered: make([]float64, n),
		Abandoned: make([]float64, n), WaitP50: make([]float64, n), WaitP90: make([]float64, n),
		WaitP99: make([]float64, n), Occupancy: make([]float64, n)}
	slot := func(d time.Duration) int { return min(int(d/iv), n-1) }
	waits := make([][]float64, n)
	busy := make([]float64, n)
	leave := r.leaving()
	for _, t := range r.order {
		s.Offered[slot(t.created)]++
		if t.answered >= 0 {
			i := slot(t.answered)
			s.Answered[i]++
			waits[i] = append(waits[i], (t.answered - t.created).Seconds())
			stop := t.ended
			if stop < 0 {
				stop = end
			}
			for j := i; j < n && time.Duration(j)*iv < stop; j++ {
				busy[j] += overlap(t.answered, stop, time.Duration(j)*iv, time.Duration(j+1)*iv)
			}
		}
		if t.abandoned {
			s.Abandoned[slot(t.ended)]++
		}
	}
	for i := range n {
		lo, hi := time.Duration(i)*iv, min(time.Duration(i+1)*iv, end)
		staffed := 0.0
		for _, a := range leave {
			staffed += overlap(a.start, a.leave, lo, hi)
		}
		s.Occupancy[i] = ratio(busy[i], staffed)
		slices.Sort(waits[i])
		s.WaitP50[i], s.WaitP90[i], s.WaitP99[i] = quantile(waits[i], .5), quantile(waits[i], .9), quantile(waits[i], .99)
	}
	return s
}

// cumulative asks the emulator's statistics API for the whole day: the
// workspace's CumulativeStatistics and each queue's, as Twilio shapes them.
func (r *run) cumulative() map[string]any {
	q := url.Values{"StartDate": {epoch.Format(time.RFC3339)}, "EndDate": {epoch.Add(r.s.Duration).Format(time.RFC3339)}}
	var split []string
	for _, th := range r.o.ServiceLevels {
		split = append(split, strconv.Itoa(th))
	}
	q.Set("SplitByWaitTime", strings.Join(split, ","))
	get := func(path string) any {
		status, body := r.rest(http.MethodGet, path, q)
		var v map[string]any
		if status != http.StatusOK || json.Unmarshal(body, &v) != nil {
			return map[string]any{"error": strings.TrimSpace(string(body)), "status": status}
		}
		return v
	}
	queues := map[string]any{}
	names := make([]string, 0, len(r.sids.TaskQueues))
	for name := range r.sids.TaskQueues {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		queues[name] = get("/TaskQueues/" + r.sids.TaskQueues[name] + "/CumulativeStatistics")
	}
	return map[string]any{"workspace": get("/CumulativeStatistics"), "task_queues": queues}
}
