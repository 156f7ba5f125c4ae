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
		e.enterTargetLocked(ws, wf, t, directStep, 0, entry{})
		return
	}
	e.emit(ws, taskrouter.EventWorkflowEntered, "Task "+t.sid+" entered workflow "+wf.name, t, nil)
	for i, f := range wf.cfg.filters {
		if f.match.Eval(taskVars(t)) {
			e.enterTargetLocked(ws, wf, t, i, 0, entry{})
			return
		}
	}
	if wf.cfg.def != nil {
		e.enterTargetLocked(ws, wf, t, -1, 0, entry{})
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

// entry is how a task comes into a target: routed afresh (through its
// workflow, or again on ReEvaluateTasks), or moved on from its previous
// step; and from when the target's timeout counts.
type entry struct {
	moving bool
	start  time.Time // zero: now
}

// enterTargetLocked moves the task into target ti of filter fi (fi -1: the
// default_filter) and arms the target's timeout, which moves it on to the
// next target, then to the default_filter. Moving on within one queue
// ("preferred agents, then anyone in the same queue") is a new target but
// not a new queue entry: no task-queue.entered, task_queue_entered_date
// kept.
func (e *Emulator) enterTargetLocked(ws *workspace, wf *workflow, t *task, fi, ti int, in entry) {
	if t.tgtTimer != nil {
		t.tgtTimer.Stop()
		t.tgtTimer = nil
	}
	t.tgtDue = time.Time{}
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
	now := e.clock.Now()
	t.touch()
	if !in.moving || prev != t.queue {
		t.queueEntered = now
		if prev != "" && prev != t.queue {
			e.emit(ws, taskrouter.EventTaskQueueMoved, "Task "+t.sid+" moved to another queue", t, map[string]string{"TaskQueueSidPrevious": prev})
		}
		e.emit(ws, taskrouter.EventTaskQueueEntered, "Task "+t.sid+" entered queue", t, nil)
	}
	e.emitWorkflow(ws, wf, taskrouter.EventWorkflowTargetMatched, "Task "+t.sid+" matched a workflow target", t, fi, ti)
	if e.skipsLocked(ws, t, tg) {
		// With no step left there is nothing to skip to: the task waits
		// here, and this step's timeout still applies.
		if nfi, nti, ok := wf.nextStep(t, fi, ti, true); ok {
			e.emitWorkflow(ws, wf, taskrouter.EventWorkflowSkipped, "Task "+t.sid+" skipped a workflow target", t, fi, ti)
			e.enterTargetLocked(ws, wf, t, nfi, nti, entry{moving: true})
			return
		}
	}
	start := in.start
	if start.IsZero() {
		start = now
	}
	e.armTargetTimeoutLocked(ws, wf, t, tg, start)
}

// armTargetTimeoutLocked arms tg's timeout, counted from start. Twilio's
// Timeout Evaluation bases a target timeout on the task's age, unlike the
// reservation timeout: a timeout passing while the task is reserved is
// kept in tgtDue and acted on when the task is pending again (moveOnIfDue,
// lifecycle.go), and the next step's time counts from this one's end.
func (e *Emulator) armTargetTimeoutLocked(ws *workspace, wf *workflow, t *task, tg *target, start time.Time) {
	if tg.timeout <= 0 {
		return
	}
	t.tgtDue = start.Add(time.Duration(tg.timeout) * time.Second)
	d := t.tgtDue.Sub(e.clock.Now())
	if d <= 0 {
		if t.status == taskPending {
			e.targetTimeoutLocked(ws, wf, t)
		}
		return
	}
	fi, ti := t.filter, t.target
	t.tgtTimer = e.after(ws, d, func(ws *workspace) {
		if t.status != taskPending || t.filter != fi || t.target != ti {
			return // reserved (tgtDue stays for its release), assigned, or moved meanwhile
		}
		e.targetTimeoutLocked(ws, wf, t)
	})
}

// WorkflowTimeoutReason is the reason of a task canceled when its
// workflow's last step timed out.
const WorkflowTimeoutReason = "Task timed out of its workflow"

// targetTimeoutLocked moves a pending task whose target timed out on to
// its next step, or, with none left, posts workflow.timeout and cancels it:
// a workflow traces a task's path "until either a Reservation is accepted or
// the Task is canceled" (Twilio, Lifecycle of a Task: Workflows and
// Assignment).
func (e *Emulator) targetTimeoutLocked(ws *workspace, wf *workflow, t *task) {
	due, fi, ti := t.tgtDue, t.filter, t.target
	t.tgtDue, t.tgtTimer = time.Time{}, nil
	e.emit(ws, taskrouter.EventTaskQueueTimeout, "Task "+t.sid+" timed out of its target", t, nil)
	nfi, nti, ok := wf.nextStep(t, fi, ti, false)
	if !ok {
		e.emitWorkflow(ws, wf, taskrouter.EventWorkflowTimeout, "Task "+t.sid+" timed out of workflow "+wf.name, t, fi, ti)
		e.taskTo(ws, t, onCancel, WorkflowTimeoutReason)
		return
	}
	e.enterTargetLocked(ws, wf, t, nfi, nti, entry{moving: true, start: due})
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
	h, channels := ws.wanting()
	if len(h) == 0 {
		return // every open task has its reservations out: nothing to offer
	}
	free := ws.freeFor(channels)
	if len(free) == 0 {
		return // the usual case under load: every worker busy, tasks waiting
	}
	sort.SliceStable(free, func(i, j int) bool { return waitedLonger(free[i], free[j]) })
	// The waiting tasks in routing order, as a heap popped only until every
	// free worker is reserved: with a long queue and few free workers a
	// dispatch costs O(waiting), not a full sort.
	heap.Init(&h)
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
				if !ws.available(w) || !ws.roomForAny(w, channels) {
					unreserved--
				}
			}
		}
	}
}

// wanting is the open tasks that may take another reservation, in a heap
// not yet ordered, and the channels they are on: a dispatch with none has
// nothing to do, and one looks only at workers with room on those
// channels (in a multitasking workspace a busy worker has room on others).
func (ws *workspace) wanting() (waiting, map[string]bool) {
	h := make(waiting, 0, len(ws.open))
	channels := map[string]bool{}
	for _, t := range ws.open {
		q := ws.queues.get(t.queue)
		if q == nil || q.maxReserved-t.pending <= 0 {
			continue
		}
		lifo := q.order == "LIFO"
		h = append(h, waitingTask{t: t, lifo: lifo, preferred: lifo == (ws.queueOrder == "LIFO")})
		channels[t.channel] = true
	}
	return h, channels
}

// freeFor is the available workers with room on one of channels.
func (ws *workspace) freeFor(channels map[string]bool) []*worker {
	var free []*worker
	for _, w := range ws.workers.all() {
		if ws.available(w) && ws.roomForAny(w, channels) {
			free = append(free, w)
		}
	}
	return free
}

// roomForAny reports whether w has room for a task on one of channels.
func (ws *workspace) roomForAny(w *worker, channels map[string]bool) bool {
	for ch := range channels {
		if ws.roomFor(w, ch) {
			return true
		}
	}
	return false
}

// waitedLonger orders free workers for Twilio's default: "the Worker who
// has waited the longest without a Task will be the first reserved". A
// worker holding no task comes before one holding some (with capacity
// above 1 it has room still, but is not without a task); then the one
// whose wait began earliest.
func waitedLonger(a, b *worker) bool {
	if (a.busy == 0) != (b.busy == 0) {
		return a.busy == 0
	}
	return a.waitingSince().Before(b.waitingSince())
}

// waitingSince is when w last began waiting without a task: when its last
// active reservation ended or it became available, whichever is later; a
// worker that has done neither since it was created has waited since its
// activity was set. Not statusSince: in a multitasking workspace the
// activity does not move as tasks come and go.
func (w *worker) waitingSince() time.Time {
	if w.idleSince.IsZero() {
		return w.statusSince
	}
	return w.idleSince
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
