package emulator

import (
	"container/heap"
	"sort"
	"time"

	"github.com/assignd/assignd/taskrouter"
)

// This file is routing: tasks through workflows into queues, and waiting
// tasks offered to free workers. The status changes that follow are rows of
// the lifecycle table (lifecycle.go). Every function here runs with e.mu
// held.

// routeLocked puts a task through its workflow: the first filter whose
// expression matches the task's attributes, else the default_filter.
func (e *Emulator) routeLocked(ws *workspace, t *task) {
	wf := ws.workflows.get(t.workflow)
	if wf == nil {
		e.taskTo(ws, t, onCancel, "Workflow not found")
		return
	}
	if t.direct != nil {
		e.enterTargetLocked(ws, wf, t, directStep, 0)
		return
	}
	e.emit(ws, taskrouter.EventWorkflowEntered, "Task "+t.sid+" entered workflow "+wf.name, t, nil)
	for i, f := range wf.cfg.filters {
		if f.match.Eval(taskVars(t)) {
			e.enterTargetLocked(ws, wf, t, i, 0)
			return
		}
	}
	if wf.cfg.def != nil {
		e.enterTargetLocked(ws, wf, t, -1, 0)
		return
	}
	e.taskTo(ws, t, onCancel, "No matching filter and no default_filter in workflow "+wf.sid)
}

func (wf *workflow) targetOf(t *task) *target {
	if t.direct != nil {
		return t.direct
	}
	return wf.targetAt(t.filter, t.target)
}

// enterTargetLocked moves the task into target ti of filter fi (fi -1: the
// default_filter) and arms the target's timeout, which moves it on to the
// next target, then to the default_filter.
func (e *Emulator) enterTargetLocked(ws *workspace, wf *workflow, t *task, fi, ti int) {
	if t.tgtTimer != nil {
		t.tgtTimer.Stop()
		t.tgtTimer = nil
	}
	t.filter, t.target = fi, ti
	tg := wf.targetOf(t)
	if tg == nil {
		return
	}
	prev := t.queue
	t.queue = tg.queue
	if tg.priority != nil {
		t.priority = *tg.priority
	}
	t.queueEntered = e.clock.Now()
	t.touch()
	if prev != "" && prev != t.queue {
		e.emit(ws, taskrouter.EventTaskQueueMoved, "Task "+t.sid+" moved to another queue", t, map[string]string{"TaskQueueSidPrevious": prev})
	}
	e.emit(ws, taskrouter.EventTaskQueueEntered, "Task "+t.sid+" entered queue", t, nil)
	e.emitWorkflow(ws, wf, taskrouter.EventWorkflowTargetMatched, "Task "+t.sid+" matched a workflow target", t, fi, ti)
	if e.skipsLocked(ws, t, tg) {
		e.emitWorkflow(ws, wf, taskrouter.EventWorkflowSkipped, "Task "+t.sid+" skipped a workflow target", t, fi, ti)
		if nfi, nti, ok := wf.nextStep(t, fi, ti, true); ok {
			e.enterTargetLocked(ws, wf, t, nfi, nti)
		}
		return
	}
	if tg.timeout <= 0 {
		return
	}
	t.tgtTimer = e.after(ws, time.Duration(tg.timeout)*time.Second, func(ws *workspace) {
		if t.status != taskPending || t.filter != fi || t.target != ti {
			return // reserved or assigned meanwhile: it stays where it is
		}
		e.emit(ws, taskrouter.EventTaskQueueTimeout, "Task "+t.sid+" timed out of its target", t, nil)
		nfi, nti, ok := wf.nextStep(t, fi, ti, false)
		if !ok {
			// No step left: it waits on in this queue, out of the workflow's steps.
			e.emitWorkflow(ws, wf, taskrouter.EventWorkflowTimeout, "Task "+t.sid+" timed out of workflow "+wf.name, t, fi, ti)
			return
		}
		e.enterTargetLocked(ws, wf, t, nfi, nti)
	})
}

// eligible reports whether worker w may be offered task t from queue q
// under target tg: available, with room on the task's channel, not already
// offered it, and matching both expressions.
func (e *Emulator) eligible(ws *workspace, w *worker, t *task, q *queue, tg *target) bool {
	if !ws.roomFor(w, t.channel) || !ws.available(w) || offered(ws, w, t) {
		return false
	}
	if !q.serves(w) {
		return false
	}
	return tg.match == nil || tg.match.Eval(workerVars(w, t))
}

// roomFor reports whether w can take one more task of channel ch: its
// worker channel available and below its capacity, and, in a workspace
// without multitasking, no task at all (Twilio's single-tasking: a new
// reservation only once the previous task is completed).
func (ws *workspace) roomFor(w *worker, ch string) bool {
	if !ws.multiTask && w.busy > 0 {
		return false
	}
	wc := w.chans[ch]
	return wc != nil && wc.spare()
}

// free reports whether w has room for a task on any channel: the workers
// a dispatch considers.
func (ws *workspace) free(w *worker) bool {
	if !ws.multiTask && w.busy > 0 {
		return false
	}
	for _, wc := range w.chanList {
		if wc.spare() {
			return true
		}
	}
	return false
}

// offered reports whether w holds a pending reservation of t already: with
// capacity above 1 a worker could otherwise be offered one task twice.
func offered(ws *workspace, w *worker, t *task) bool {
	if t.pending == 0 || w.busy == 0 {
		return false
	}
	for _, sid := range t.reservations {
		if r := ws.reservations.get(sid); r != nil && r.worker == w.sid && r.status == resPending {
			return true
		}
	}
	return false
}

// dispatchLocked reserves available eligible workers for waiting tasks:
// higher priority first, then by age in the queue (FIFO or, for a LIFO
// queue, newest first); each task gets up to its queue's
// max_reserved_workers pending reservations, each worker as many as its
// channel's capacity allows, the one idle longest first.
func (e *Emulator) dispatchLocked(ws *workspace) {
	if e.closed || len(ws.open) == 0 {
		return
	}
	var free []*worker
	for _, w := range ws.workers.all() {
		if ws.available(w) && ws.free(w) {
			free = append(free, w)
		}
	}
	if len(free) == 0 {
		return // the usual case under load: every worker busy, tasks waiting
	}
	sort.SliceStable(free, func(i, j int) bool { return free[i].statusSince.Before(free[j].statusSince) })
	// The waiting tasks in routing order, as a heap popped only until every
	// free worker is reserved: with a long queue and few free workers a
	// dispatch costs O(waiting), not a full sort.
	h := make(waiting, 0, len(ws.open))
	for _, t := range ws.open {
		q := ws.queues.get(t.queue)
		lifo := q != nil && q.order == "LIFO"
		h = append(h, waitingTask{t: t, lifo: lifo, preferred: lifo == (ws.queueOrder == "LIFO")})
	}
	heap.Init(&h)
	// Stop once no free worker has room left; a worker with room on another
	// channel than the waiting tasks' keeps the loop going to the last task.
	unreserved := len(free)
	for h.Len() > 0 && unreserved > 0 {
		t := heap.Pop(&h).(waitingTask).t
		wf := ws.workflows.get(t.workflow)
		q := ws.queues.get(t.queue)
		if wf == nil || q == nil {
			continue
		}
		tg := wf.targetOf(t)
		if tg == nil {
			continue
		}
		want := q.maxReserved - t.pending
		for _, w := range candidates(tg, t, free) {
			if want <= 0 {
				break
			}
			if e.eligible(ws, w, t, q, tg) {
				e.reserveLocked(ws, wf, q, t, w)
				want--
				if !ws.available(w) || !ws.free(w) {
					unreserved--
				}
			}
		}
	}
}

// waitingTask is a task waiting for a worker, with its queue's order and
// whether that order is the workspace's PrioritizeQueueOrder.
type waitingTask struct {
	t         *task
	lifo      bool
	preferred bool
}

// waiting orders tasks for routing: higher priority first; among equal
// priorities from a FIFO and a LIFO queue, the one whose queue's order is
// the workspace's PrioritizeQueueOrder (Twilio: which type of queue to
// prioritize when workers receive tasks from both); then by age —
// virtual_start_time, which Twilio documents as "the ordering for routing"
// (date_created unless set), then the time they entered the queue — oldest
// first, newest first in a LIFO queue; then by SID. It is a container/heap.
type waiting []waitingTask

func (h waiting) Len() int { return len(h) }
func (h waiting) Less(i, j int) bool {
	a, b := h[i].t, h[j].t
	if a.priority != b.priority {
		return a.priority > b.priority
	}
	if h[i].preferred != h[j].preferred {
		return h[i].preferred
	}
	lifo := a.queue == b.queue && h[i].lifo
	if !a.virtualStart.Equal(b.virtualStart) {
		return a.virtualStart.Before(b.virtualStart) != lifo
	}
	if !a.queueEntered.Equal(b.queueEntered) {
		return a.queueEntered.Before(b.queueEntered) != lifo
	}
	return a.sid < b.sid
}
func (h waiting) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *waiting) Push(x any)   { *h = append(*h, x.(waitingTask)) }
func (h *waiting) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// reserveLocked creates a pending reservation of w for t; its row
// (lifecycle.go) posts the assignment callback.
func (e *Emulator) reserveLocked(ws *workspace, wf *workflow, q *queue, t *task, w *worker) {
	now := e.clock.Now()
	r := &reservation{sid: newSid(prefixReservation), task: t.sid, worker: w.sid, workerName: w.name,
		queue: q.sid, workflow: wf.sid, channel: t.channel, created: now, updated: now}
	ws.reservations.put(r.sid, r)
	t.reservations = append(t.reservations, r.sid)
	e.resTo(ws, r, onCreate, "")
}
