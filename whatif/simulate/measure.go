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
// the means and intervals over runs.
type measure struct {
	center  map[string]float64
	streams map[string]map[string]float64
	queues  map[string]map[string]float64
	groups  map[string]float64 // occupancy by group name
	series  report.Series
	stats   map[string]any
	drawn   []Drawn // RunFigures.Tasks
}

// pop gathers one population's tasks.
type pop struct {
	offered, answered, abandoned, rejected, timedOut float64
	waits                                            []float64
	busy                                             float64 // seconds within the measured window
	rules, instructions                              map[string]float64
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
	for gi, g := range r.s.Workers {
		groupStaffed[gi] = float64(g.Count) * overlap(g.Start, g.End, warm, end)
		staffed += groupStaffed[gi]
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
		m.groups[g.Name] = ratio(groupBusy[gi], groupStaffed[gi])
	}
	if first {
		m.series = r.series()
		m.stats = r.cumulative()
	}
	return m
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// figures flattens a population into the keys of Figures.CI95.
func (r *run) figures(p *pop, staffed float64) map[string]float64 {
	f := map[string]float64{
		"offered": p.offered, "answered": p.answered, "abandoned": p.abandoned,
		"reservations_rejected": p.rejected, "reservations_timed_out": p.timedOut,
		"occupancy": ratio(p.busy, staffed),
	}
	waited, sum := 0.0, 0.0
	for _, w := range p.waits {
		sum += w
		if w > 0 {
			waited++
		}
	}
	f["prob_wait"] = ratio(waited, p.answered)
	f["asa_s"] = ratio(sum, p.answered)
	slices.Sort(p.waits)
	f["wait_p50_s"], f["wait_p90_s"], f["wait_p99_s"] = quantile(p.waits, .5), quantile(p.waits, .9), quantile(p.waits, .99)
	for _, th := range r.o.ServiceLevels {
		within := 0.0
		for _, w := range p.waits {
			if w <= float64(th) {
				within++
			}
		}
		f["service_level."+strconv.Itoa(th)] = ratio(within, p.answered+p.abandoned)
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
		for _, g := range r.s.Workers {
			staffed += float64(g.Count) * overlap(g.Start, g.End, lo, hi)
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
