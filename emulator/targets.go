package emulator

import (
	"fmt"
	"sort"
	"strings"

	"github.com/assignd/assignd/emulator/expr"
)

// This file is what a workflow target adds to "this queue, these workers":
// order_by, skip_if and known-worker routing (known_worker_sid,
// known_worker_friendly_name), parsed when the workflow is created or
// updated, and the workflow events a task's way through its targets posts.
// Every function that routes runs with e.mu held.

// orderKey is one clause of a target's order_by: a worker attribute (path
// under "worker.") and its direction.
type orderKey struct {
	path []string
	desc bool
}

// parseTargetFeatures reads tj's order_by, skip_if and known-worker keys
// into tg, refusing what Twilio documents as invalid.
func parseTargetFeatures(tg *target, tj targetJSON) error {
	var err error
	if tg.orderBy, err = parseOrderBy(tj.OrderBy); err != nil {
		return err
	}
	if tj.SkipIf != "" {
		if tg.skipIf, err = expr.Parse(tj.SkipIf); err != nil {
			return fmt.Errorf("invalid skip_if %q: %w", tj.SkipIf, err)
		}
	}
	if tj.KnownWorkerSid != "" && tj.KnownWorkerFriendlyName != "" {
		return fmt.Errorf("known_worker_sid and known_worker_friendly_name are exclusive: use one")
	}
	if tg.knownSid, err = parseTaskPath("known_worker_sid", tj.KnownWorkerSid); err != nil {
		return err
	}
	tg.knownName, err = parseTaskPath("known_worker_friendly_name", tj.KnownWorkerFriendlyName)
	return err
}

// parseOrderBy reads an order_by expression: comma-separated clauses
// "worker.<attribute> ASC|DESC" (Twilio's "Ordering Workers"), the first
// clause deciding, the next breaking its ties.
func parseOrderBy(src string) ([]orderKey, error) {
	if strings.TrimSpace(src) == "" {
		return nil, nil
	}
	var keys []orderKey
	for _, clause := range strings.Split(src, ",") {
		f := strings.Fields(clause)
		if len(f) != 2 || !strings.HasPrefix(f[0], "worker.") || len(f[0]) == len("worker.") {
			return nil, fmt.Errorf("invalid order_by %q: each clause is worker.<attribute> ASC or DESC", src)
		}
		dir := strings.ToUpper(f[1])
		if dir != "ASC" && dir != "DESC" {
			return nil, fmt.Errorf("invalid order_by %q: direction %q is not ASC or DESC", src, f[1])
		}
		keys = append(keys, orderKey{path: strings.Split(strings.TrimPrefix(f[0], "worker."), "."), desc: dir == "DESC"})
	}
	return keys, nil
}

// parseTaskPath reads a known-worker key's value: the task attribute
// holding the worker's SID or friendly name, as "task.<attribute>".
func parseTaskPath(key, src string) ([]string, error) {
	if src == "" {
		return nil, nil
	}
	rest, ok := strings.CutPrefix(strings.TrimSpace(src), "task.")
	if !ok || rest == "" || strings.ContainsAny(rest, " \t\"'=<>!()[]") {
		return nil, fmt.Errorf("invalid %s %q: want a task attribute, task.<attribute>", key, src)
	}
	return strings.Split(rest, "."), nil
}

// lookup is the value at path in attrs, if there is one.
func lookup(attrs map[string]any, path []string) (any, bool) {
	var cur any = attrs
	for _, k := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[k]; !ok {
			return nil, false
		}
	}
	return cur, cur != nil
}

// candidates are the free workers target tg may offer task t, in the order
// it offers them: free (longest idle first) when the target names neither a
// known worker nor an order_by, so the usual dispatch allocates nothing.
func candidates(tg *target, t *task, free []*worker) []*worker {
	if tg.knownSid == nil && tg.knownName == nil && tg.orderBy == nil {
		return free
	}
	out := knownWorkers(tg, t, free)
	if tg.orderBy != nil {
		out = orderCandidates(tg, out)
	}
	return out
}

// knownWorkers keeps the one worker a known-worker target names through the
// task's attribute (none when the task lacks it), or all of free.
func knownWorkers(tg *target, t *task, free []*worker) []*worker {
	path, bySid := tg.knownSid, true
	if path == nil {
		path, bySid = tg.knownName, false
	}
	if path == nil {
		return free
	}
	v, ok := lookup(t.attrs, path)
	want, isStr := v.(string)
	if !ok || !isStr {
		return nil
	}
	for _, w := range free {
		if (bySid && w.sid == want) || (!bySid && w.name == want) {
			return []*worker{w}
		}
	}
	return nil
}

// orderCandidates sorts a copy of workers by the target's order_by; the
// sort is stable, so ties stay longest idle first. A worker without a
// numeric value for a clause comes after those with one.
func orderCandidates(tg *target, workers []*worker) []*worker {
	out := append([]*worker(nil), workers...)
	sort.SliceStable(out, func(i, j int) bool {
		for _, k := range tg.orderBy {
			a, aok := orderValue(out[i], k.path)
			b, bok := orderValue(out[j], k.path)
			switch {
			case aok != bok:
				return aok
			case !aok || a == b:
				continue
			case k.desc:
				return a > b
			default:
				return a < b
			}
		}
		return false
	})
	return out
}

func orderValue(w *worker, path []string) (float64, bool) {
	v, ok := lookup(w.attrs, path)
	if !ok {
		return 0, false
	}
	f, ok := v.(float64)
	return f, ok
}

// skipsLocked reports whether task t skips target tg on entering it: as
// Twilio documents skip_if, only when no worker can be reserved for it at
// once and the expression holds over the workers.* counts of the target's
// queue.
func (e *Emulator) skipsLocked(ws *workspace, t *task, tg *target) bool {
	if tg.skipIf == nil {
		return false
	}
	q := ws.queues.get(tg.queue)
	if q == nil {
		return false
	}
	var free []*worker
	for _, w := range ws.workers.all() {
		if e.eligible(ws, w, t, q, tg) {
			free = append(free, w)
		}
	}
	if len(candidates(tg, t, free)) > 0 {
		return false
	}
	return tg.skipIf.Eval(workerCounts(ws, q))
}

// workerCounts are skip_if's variables over the queue's workers:
// workers.available, workers.unavailable, and workers.<ActivitySid>.
func workerCounts(ws *workspace, q *queue) expr.Vars {
	counts := map[string]any{"available": 0.0, "unavailable": 0.0}
	for _, a := range ws.activities.all() {
		counts[a.sid] = 0.0
	}
	for _, w := range ws.workers.all() {
		if !q.serves(w) {
			continue
		}
		key := "unavailable"
		if ws.available(w) {
			key = "available"
		}
		counts[key] = counts[key].(float64) + 1
		counts[w.activity] = counts[w.activity].(float64) + 1
	}
	return expr.Vars{Roots: map[string]map[string]any{"workers": counts}}
}

// nextStep is where a task leaving target ti of filter fi goes: the
// filter's next target; after its last, when skipping, the next filter that
// matches (Twilio: a skipped filter counts as not matched), then the
// default_filter. ok is false when there is nowhere left.
func (wf *workflow) nextStep(t *task, fi, ti int, skipping bool) (nfi, nti int, ok bool) {
	if fi < 0 {
		return 0, 0, false
	}
	if ti+1 < len(wf.cfg.filters[fi].targets) {
		return fi, ti + 1, true
	}
	if skipping {
		for j := fi + 1; j < len(wf.cfg.filters); j++ {
			if wf.cfg.filters[j].match.Eval(taskVars(t)) {
				return j, 0, true
			}
		}
	}
	if wf.cfg.def != nil {
		return -1, 0, true
	}
	return 0, 0, false
}

// emitWorkflow posts one of the workflow events about task t in target ti
// of filter fi, with the filter and target it names.
func (e *Emulator) emitWorkflow(ws *workspace, wf *workflow, typ, desc string, t *task, fi, ti int) {
	if fi == directStep {
		return // routed straight to a queue: in no step of the workflow
	}
	extra := map[string]string{}
	if fi >= 0 && fi < len(wf.cfg.filters) {
		f := wf.cfg.filters[fi]
		extra["WorkflowFilterName"] = f.name
		extra["WorkflowFilterExpression"] = f.match.String()
	} else if fi < 0 {
		extra["WorkflowFilterName"] = "Default Filter"
	}
	if tg := wf.targetAt(fi, ti); tg != nil && tg.match != nil {
		extra["WorkflowFilterTargetExpression"] = tg.match.String()
	}
	e.emit(ws, typ, desc, t, extra)
}

// targetAt is target ti of filter fi (fi -1: the default_filter), or nil.
func (wf *workflow) targetAt(fi, ti int) *target {
	if fi < 0 {
		return wf.cfg.def
	}
	if fi >= len(wf.cfg.filters) || ti >= len(wf.cfg.filters[fi].targets) {
		return nil
	}
	return &wf.cfg.filters[fi].targets[ti]
}
