package emulator

import (
	"container/heap"
	"sort"
	"time"

	"github.com/assignd/assignd/taskrouter"
)

// This file is the lifecycle: tasks through workflows into queues, workers
// reserved, reservations ending, tasks ending. Every function here runs
// with e.mu held.

// after runs f on the clock after d, with e.mu held, if the emulator is open
// and the workspace still exists; then routes again.
func (e *Emulator) after(ws *workspace, d time.Duration, f func(ws *workspace)) Timer {
	return e.clock.AfterFunc(d, func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.closed || e.workspaces.get(ws.sid) != ws {
			return
		}
		f(ws)
		e.dispatchLocked(ws)
	})
}

func (e *Emulator) setTaskStatus(ws *workspace, t *task, status string) {
	t.status = status
	t.updated = e.clock.Now()
	if status == taskPending || status == taskReserved {
		ws.open[t.sid] = t
	} else {
		delete(ws.open, t.sid)
	}
}

// routeLocked puts a task through its workflow: the first filter whose
// expression matches the task's attributes, else the default_filter.
func (e *Emulator) routeLocked(ws *workspace, t *task) {
	wf := ws.workflows.get(t.workflow)
	if wf == nil {
		e.cancelTaskLocked(ws, t, "Workflow not found")
		return
	}
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
	e.cancelTaskLocked(ws, t, "No matching filter and no default_filter in workflow "+wf.sid)
}

func (wf *workflow) targetOf(t *task) *target {
	if t.filter < 0 {
		return wf.cfg.def
	}
	if t.filter >= len(wf.cfg.filters) || t.target >= len(wf.cfg.filters[t.filter].targets) {
		return nil
	}
	return &wf.cfg.filters[t.filter].targets[t.target]
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
	if prev != "" && prev != t.queue {
		e.emit(ws, taskrouter.EventTaskQueueMoved, "Task "+t.sid+" moved to another queue", t, map[string]string{"TaskQueueSidPrevious": prev})
	}
	e.emit(ws, taskrouter.EventTaskQueueEntered, "Task "+t.sid+" entered queue", t, nil)
	if tg.timeout <= 0 {
		return
	}
	t.tgtTimer = e.after(ws, time.Duration(tg.timeout)*time.Second, func(ws *workspace) {
		if t.status != taskPending || t.filter != fi || t.target != ti {
			return // reserved or assigned meanwhile: it stays where it is
		}
		e.emit(ws, taskrouter.EventTaskQueueTimeout, "Task "+t.sid+" timed out of its target", t, nil)
		switch {
		case fi >= 0 && ti+1 < len(wf.cfg.filters[fi].targets):
			e.enterTargetLocked(ws, wf, t, fi, ti+1)
		case fi >= 0 && wf.cfg.def != nil:
			e.enterTargetLocked(ws, wf, t, -1, 0)
		}
	})
}

// eligible reports whether worker w may be offered task t from queue q
// under target tg: available, free, and matching both expressions.
func (e *Emulator) eligible(ws *workspace, w *worker, t *task, q *queue, tg *target) bool {
	if w.active > 0 || !ws.available(w) {
		return false
	}
	if !q.target.Eval(workerVars(w, nil)) {
		return false
	}
	return tg.match == nil || tg.match.Eval(workerVars(w, t))
}

// dispatchLocked reserves available eligible workers for waiting tasks:
// higher priority first, then by age in the queue (FIFO or, for a LIFO
// queue, newest first); each task gets up to its queue's
// max_reserved_workers pending reservations, each worker one, the one idle
// longest first.
func (e *Emulator) dispatchLocked(ws *workspace) {
	if e.closed || len(ws.open) == 0 {
		return
	}
	var free []*worker
	for _, w := range ws.workers.all() {
		if w.active == 0 && ws.available(w) {
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
		h = append(h, waitingTask{t: t, lifo: q != nil && q.order == "LIFO"})
	}
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
		for _, w := range free {
			if want <= 0 {
				break
			}
			if e.eligible(ws, w, t, q, tg) {
				e.reserveLocked(ws, wf, q, t, w)
				want--
				unreserved--
			}
		}
	}
}

// waitingTask is a task waiting for a worker, with its queue's order.
type waitingTask struct {
	t    *task
	lifo bool
}

// waiting orders tasks for routing: higher priority first, then by the
// time they entered the queue (oldest first, newest first in a LIFO
// queue), then by SID. It is a container/heap.
type waiting []waitingTask

func (h waiting) Len() int { return len(h) }
func (h waiting) Less(i, j int) bool {
	a, b := h[i].t, h[j].t
	if a.priority != b.priority {
		return a.priority > b.priority
	}
	if !a.queueEntered.Equal(b.queueEntered) {
		lifo := a.queue == b.queue && h[i].lifo
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

// reserveLocked creates a pending reservation of w for t and posts the
// assignment callback.
func (e *Emulator) reserveLocked(ws *workspace, wf *workflow, q *queue, t *task, w *worker) {
	now := e.clock.Now()
	r := &reservation{sid: newSid(prefixReservation), task: t.sid, worker: w.sid, workerName: w.name,
		queue: q.sid, workflow: wf.sid, created: now, updated: now}
	ws.reservations.put(r.sid, r)
	t.reservations = append(t.reservations, r.sid)
	e.setResStatus(ws, r, resPending)
	t.attempts++
	if t.status == taskPending {
		e.setTaskStatus(ws, t, taskReserved)
	}
	if q.reservationAct != "" {
		e.setActivityLocked(ws, w, q.reservationAct)
	}
	e.emit(ws, taskrouter.EventReservationCreated, "Reservation "+r.sid+" created for worker "+w.name, r, nil)
	r.timer = e.after(ws, time.Duration(wf.reservationTimeout)*time.Second, func(ws *workspace) {
		if r.status == resPending {
			e.timeoutLocked(ws, r)
		}
	})
	if wf.callbackURL != "" {
		urls := []string{wf.callbackURL}
		if wf.fallbackURL != "" {
			urls = append(urls, wf.fallbackURL)
		}
		form := e.callbackForm(ws, wf, q, t, w, r)
		e.wg.Add(1)
		go e.deliverCallback(ws, r, urls, form)
	}
}

// endReservationLocked ends a pending reservation with status (rejected,
// timeout, canceled, rescinded); a task with no pending reservation left
// goes back to pending.
func (e *Emulator) endReservationLocked(ws *workspace, r *reservation, status, desc string) {
	r.stopTimer()
	e.setResStatus(ws, r, status)
	e.emit(ws, taskrouter.ReservationEvent(status), desc, r, nil)
	t := ws.tasks.get(r.task)
	if t != nil && t.status == taskReserved && t.pending == 0 {
		e.setTaskStatus(ws, t, taskPending)
	}
}

// giveUpIfExhausted cancels a task that has had its share of reservations.
func (e *Emulator) giveUpIfExhausted(ws *workspace, t *task) {
	if t != nil && t.status == taskPending && t.attempts >= e.opt.MaxReservationAttempts {
		e.cancelTaskLocked(ws, t, "Task canceled: maximum reservation attempts reached")
	}
}

func (e *Emulator) rejectLocked(ws *workspace, r *reservation, activity string) {
	e.endReservationLocked(ws, r, resRejected, "Reservation "+r.sid+" rejected by worker "+r.workerName)
	if w := ws.workers.get(r.worker); w != nil && activity != "" {
		e.setActivityLocked(ws, w, activity)
	}
	e.giveUpIfExhausted(ws, ws.tasks.get(r.task))
}

func (e *Emulator) timeoutLocked(ws *workspace, r *reservation) {
	e.endReservationLocked(ws, r, resTimeout, "Reservation "+r.sid+" timed out")
	if w := ws.workers.get(r.worker); w != nil {
		e.setActivityLocked(ws, w, ws.timeoutAct)
	}
	e.giveUpIfExhausted(ws, ws.tasks.get(r.task))
}

// acceptLocked accepts r: the task is assigned to its worker and every
// other pending reservation of the task is rescinded.
func (e *Emulator) acceptLocked(ws *workspace, r *reservation) {
	r.stopTimer()
	e.setResStatus(ws, r, resAccepted)
	t := ws.tasks.get(r.task)
	if t != nil {
		t.stopTimers()
		e.setTaskStatus(ws, t, taskAssigned)
	}
	if q := ws.queues.get(r.queue); q != nil && q.assignmentAct != "" {
		if w := ws.workers.get(r.worker); w != nil {
			e.setActivityLocked(ws, w, q.assignmentAct)
		}
	}
	e.emit(ws, taskrouter.EventReservationAccepted, "Reservation "+r.sid+" accepted by worker "+r.workerName, r, nil)
	if t == nil {
		return
	}
	for _, sid := range t.reservations {
		if o := ws.reservations.get(sid); o != nil && o != r && o.status == resPending {
			e.endReservationLocked(ws, o, resRescinded, "Reservation "+o.sid+" rescinded: task accepted by another worker")
		}
	}
}

func (e *Emulator) cancelTaskLocked(ws *workspace, t *task, reason string) {
	t.stopTimers()
	if reason == "" {
		reason = "Task canceled"
	}
	t.reason = reason
	e.setTaskStatus(ws, t, taskCanceled)
	for _, sid := range t.reservations {
		if r := ws.reservations.get(sid); r != nil && r.status == resPending {
			e.endReservationLocked(ws, r, resCanceled, "Reservation "+r.sid+" canceled: "+reason)
		}
	}
	e.emit(ws, taskrouter.EventTaskCanceled, "Task "+t.sid+" canceled: "+reason, t, nil)
}

func (e *Emulator) wrapTaskLocked(ws *workspace, t *task, reason string) {
	if reason != "" {
		t.reason = reason
	}
	e.setTaskStatus(ws, t, taskWrapping)
	for _, sid := range t.reservations {
		if r := ws.reservations.get(sid); r != nil && r.status == resAccepted {
			e.setResStatus(ws, r, resWrapping)
			e.emit(ws, taskrouter.EventReservationWrapup, "Reservation "+r.sid+" wrapping up", r, nil)
		}
	}
	e.emit(ws, taskrouter.EventTaskWrapup, "Task "+t.sid+" wrapping up", t, nil)
}

func (e *Emulator) completeTaskLocked(ws *workspace, t *task, reason string) {
	if reason != "" {
		t.reason = reason
	}
	e.setTaskStatus(ws, t, taskCompleted)
	for _, sid := range t.reservations {
		if r := ws.reservations.get(sid); r != nil && (r.status == resAccepted || r.status == resWrapping) {
			e.setResStatus(ws, r, resCompleted)
			e.emit(ws, taskrouter.EventReservationCompleted, "Reservation "+r.sid+" completed", r, nil)
		}
	}
	e.emit(ws, taskrouter.EventTaskCompleted, "Task "+t.sid+" completed", t, nil)
}
