package emulator

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/assignd/assignd/taskrouter"
)

// This file is the task and reservation lifecycle: lifecycleRows lists
// every status change allowed, what it does and the event it emits. Every
// status change goes through transition, which looks its row up; a change
// with no row panics (a bug in the emulator), and REST updates look the row
// up first (taskUpdate, reservationUpdate) so a client gets Twilio's 400
// 20001 instead.

// trigger is what moves a task or a reservation on.
type trigger string

const (
	onCreate   trigger = "create"
	onReserve  trigger = "reserve" // a worker is offered the task
	onRelease  trigger = "release" // the task's last pending reservation ended
	onAccept   trigger = "accept"
	onReject   trigger = "reject"
	onTimeout  trigger = "timeout" // task_reservation_timeout passed
	onRescind  trigger = "rescind" // another reservation of the task was accepted
	onCancel   trigger = "cancel"
	onWrap     trigger = "wrap"
	onComplete trigger = "complete"
	onDelete   trigger = "delete" // the task, or the reservation's worker, deleted
)

// row is one allowed transition: from one of from, on trigger, to status.
// The status changes first, then do runs, then the event (if any) is
// emitted with desc ({sid}, {worker}, {why} filled in), then after runs.
type row struct {
	machine string // "task" or "reservation"
	from    []string
	on      trigger
	to      string
	do      []effect
	event   string
	desc    string
	after   []effect
}

// lifecycleRows is the whole lifecycle. It is built per Emulator, not a
// package variable, because its effects call transition, which reads it.
// Each row: machine, from, trigger, to, effects; then the event, its
// description and the effects after it.
func lifecycleRows() []row {
	const T, R = "task", "reservation"
	rev := taskrouter.ReservationEvent // reservation.rejected, .timeout, .rescinded, .canceled
	return []row{
		{T, is(""), onCreate, taskPending, nil,
			taskrouter.EventTaskCreated, "Task {sid} created", fx(armTaskTimeout, route)},
		{T, is(taskPending), onReserve, taskReserved, nil, "", "", nil},
		// max_reserved_workers > 1: a further worker offered it; status and date_updated stay.
		{T, is(taskReserved), onReserve, taskReserved, nil, "", "", nil},
		// Pending again: a target timeout that passed meanwhile moves it on now.
		{T, is(taskReserved), onRelease, taskPending, fx(moveOnIfDue), "", "", nil},
		{T, is(taskReserved), onAccept, taskAssigned, fx(stopTaskTimers), "", "", nil},
		{T, is(taskPending, taskReserved), onCancel, taskCanceled, fx(stopTaskTimers, reason("Task canceled"), cancelPending),
			taskrouter.EventTaskCanceled, "Task {sid} canceled: {why}", nil},
		{T, is(taskAssigned), onWrap, taskWrapping, fx(reason(""), wrapAccepted),
			taskrouter.EventTaskWrapup, "Task {sid} wrapping up", nil},
		{T, is(taskAssigned, taskWrapping), onComplete, taskCompleted, fx(reason(""), completeAccepted),
			taskrouter.EventTaskCompleted, "Task {sid} completed", nil},
		// Never from reserved: deleting its reservations first releases it.
		{T, is(taskPending, taskAssigned, taskWrapping, taskCompleted, taskCanceled), onDelete, taskCanceled, fx(stopTaskTimers),
			taskrouter.EventTaskDeleted, "Task {sid} deleted", nil},

		// An offer counts toward MaxReservationAttempts; the worker moves to reservation_activity first.
		{R, is(""), onCreate, resPending, fx(countAttempt, reserveTask, workerTo(reservationActivity)),
			taskrouter.EventReservationCreated, "Reservation {sid} created for worker {worker}", fx(armReservationTimeout, postAssignmentCallback)},
		// The first accept wins: the task's other pending reservations are rescinded after it.
		{R, is(resPending), onAccept, resAccepted, fx(stopResTimer, assignTask, workerTo(assignmentActivity)),
			taskrouter.EventReservationAccepted, "Reservation {sid} accepted by worker {worker}", fx(rescindOthers)},
		// A declined or unanswered offer frees the task for the next worker, or cancels it once exhausted;
		// the worker moves first, so a task moving on when pending again (moveOnIfDue) sees it there.
		{R, is(resPending), onReject, resRejected, fx(stopResTimer),
			rev(resRejected), "Reservation {sid} rejected by worker {worker}", fx(workerTo(requestedActivity), releaseTask, giveUpIfExhausted)},
		{R, is(resPending), onTimeout, resTimeout, fx(stopResTimer),
			rev(resTimeout), "Reservation {sid} timed out", fx(workerTo(timeoutActivity), releaseTask, giveUpIfExhausted)},
		{R, is(resPending), onRescind, resRescinded, fx(stopResTimer),
			rev(resRescinded), "Reservation {sid} rescinded: task accepted by another worker", fx(releaseTask)},
		{R, is(resPending), onCancel, resCanceled, fx(stopResTimer),
			rev(resCanceled), "Reservation {sid} canceled: {why}", fx(releaseTask)},
		{R, is(resPending), onDelete, resCanceled, fx(stopResTimer),
			rev(resCanceled), "Reservation canceled: {why}", fx(releaseTask)},
		// Its task deleted under it: freed without an event; task.deleted says it.
		{R, is(resAccepted, resWrapping), onDelete, resCanceled, nil, "", "", nil},
		{R, is(resAccepted), onWrap, resWrapping, nil,
			taskrouter.EventReservationWrapup, "Reservation {sid} wrapping up", nil},
		{R, is(resAccepted, resWrapping), onComplete, resCompleted, nil,
			taskrouter.EventReservationCompleted, "Reservation {sid} completed", nil},
	}
}

func is(statuses ...string) []string { return statuses }
func fx(effects ...effect) []effect  { return effects }

// taskUpdate is the trigger a REST task update to status asks for ("" when
// the API cannot set it).
func taskUpdate(status string) trigger {
	switch status {
	case taskCanceled:
		return onCancel
	case taskWrapping:
		return onWrap
	case taskCompleted:
		return onComplete
	}
	return ""
}

// reservationUpdate is the trigger a REST reservation update to status asks
// for ("" when the API cannot set it).
func reservationUpdate(status string) trigger {
	switch status {
	case resAccepted:
		return onAccept
	case resRejected:
		return onReject
	case resWrapping:
		return onWrap
	case resCompleted:
		return onComplete
	}
	return ""
}

func (rw *row) String() string {
	from := strings.Join(rw.from, "|")
	if from == "" {
		from = "(new)"
	}
	return fmt.Sprintf("%s %s --%s--> %s", rw.machine, from, rw.on, rw.to)
}

// change is one transition being carried out: a task's (r nil), or a
// reservation's and its task's.
type change struct {
	ws       *workspace
	t        *task
	r        *reservation
	why      string // the reason, or the end of the event's description
	activity string // the worker's next activity when the request names one (reject)
}

// effect is one side effect of a row.
type effect func(e *Emulator, c *change)

// lookup returns the row for a subject of machine in status on trigger.
func (e *Emulator) lookup(machine, status string, on trigger) *row {
	for i := range e.rows {
		rw := &e.rows[i]
		if rw.machine == machine && rw.on == on && slices.Contains(rw.from, status) {
			return rw
		}
	}
	return nil
}

// expectedFrom lists the statuses a subject of machine can leave on
// trigger, for Twilio's "not in expected state" error.
func (e *Emulator) expectedFrom(machine string, on trigger) []string {
	var from []string
	for _, rw := range e.rows {
		if rw.machine == machine && rw.on == on {
			from = append(from, rw.from...)
		}
	}
	return from
}

func (e *Emulator) taskTo(ws *workspace, t *task, on trigger, why string) {
	e.transition(&change{ws: ws, t: t, why: why}, on)
}

func (e *Emulator) resTo(ws *workspace, r *reservation, on trigger, why string) {
	e.transition(&change{ws: ws, t: ws.tasks.get(r.task), r: r, why: why}, on)
}

// transition carries out trigger on for c's subject by its row.
func (e *Emulator) transition(c *change, on trigger) {
	var machine, status string
	if c.r != nil {
		machine, status = "reservation", c.r.status
	} else {
		machine, status = "task", c.t.status
	}
	rw := e.lookup(machine, status, on)
	if rw == nil {
		panic(fmt.Sprintf("emulator: no lifecycle row moves a %s from %q on %s", machine, status, on))
	}
	e.fired[rw]++
	switch {
	case c.r != nil:
		e.setResStatus(c.ws, c.r, rw.to)
	case c.t.status != rw.to:
		e.setTaskStatus(c.ws, c.t, rw.to)
	}
	for _, f := range rw.do {
		f(e, c)
	}
	if rw.event != "" {
		var subject any
		var sid, worker string
		if c.r != nil {
			subject, sid, worker = c.r, c.r.sid, c.r.workerName
		} else {
			subject, sid = c.t, c.t.sid
		}
		desc := strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(rw.desc, "{sid}", sid), "{worker}", worker), "{why}", c.why)
		e.emit(c.ws, rw.event, desc, subject, nil)
	}
	for _, f := range rw.after {
		f(e, c)
	}
}

func (e *Emulator) setTaskStatus(ws *workspace, t *task, status string) {
	t.status = status
	t.updated = e.clock.Now()
	t.touch()
	if status == taskPending || status == taskReserved {
		ws.open[t.sid] = t
	} else {
		delete(ws.open, t.sid)
	}
}

// setResStatus changes r's status, keeping the worker's (per channel) and
// the task's counts of reservations in step.
func (e *Emulator) setResStatus(ws *workspace, r *reservation, status string) {
	wasActive, wasAssigned, wasPending := r.active(), r.assigned(), r.status == resPending
	r.status = status
	r.updated = e.clock.Now()
	r.revision++
	ws.countReservation(r, wasActive, wasAssigned)
	if w := ws.workers.get(r.worker); w != nil && wasActive && !r.active() && w.busy == 0 {
		w.idleSince = r.updated // its last task ended: it waits without one from now
	}
	if t := ws.tasks.get(r.task); t != nil && wasPending != (status == resPending) {
		if status == resPending {
			t.pending++
		} else {
			t.pending--
		}
	}
}

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

// The effects, in the order the rows name them.

func armTaskTimeout(e *Emulator, c *change) {
	t := c.t
	t.ttlTimer = e.after(c.ws, time.Duration(t.timeout)*time.Second, func(ws *workspace) {
		if t.status == taskPending || t.status == taskReserved {
			e.taskTo(ws, t, onCancel, "Task TTL Exceeded")
		}
	})
}

func route(e *Emulator, c *change) { e.routeLocked(c.ws, c.t) }

func stopTaskTimers(_ *Emulator, c *change) { c.t.stopTimers() }

// reason records why as the task's reason, or def when why is empty.
func reason(def string) effect {
	return func(_ *Emulator, c *change) {
		if c.why == "" {
			c.why = def
		}
		if c.why != "" {
			c.t.reason = c.why
		}
	}
}

// eachReservation moves the task's reservations in one of statuses on
// trigger on, in the order they were made.
func eachReservation(on trigger, statuses ...string) effect {
	return func(e *Emulator, c *change) {
		for _, sid := range c.t.reservations {
			if r := c.ws.reservations.get(sid); r != nil && r != c.r && slices.Contains(statuses, r.status) {
				e.resTo(c.ws, r, on, c.why)
			}
		}
	}
}

// A task's reservations follow it: canceled, wrapping up, completed.
func cancelPending(e *Emulator, c *change) { eachReservation(onCancel, resPending)(e, c) }

func wrapAccepted(e *Emulator, c *change) { eachReservation(onWrap, resAccepted)(e, c) }

func completeAccepted(e *Emulator, c *change) {
	eachReservation(onComplete, resAccepted, resWrapping)(e, c)
}

func countAttempt(_ *Emulator, c *change) { c.t.attempts++ }

func reserveTask(e *Emulator, c *change) { e.taskTo(c.ws, c.t, onReserve, "") }

func assignTask(e *Emulator, c *change) {
	if c.t != nil {
		e.taskTo(c.ws, c.t, onAccept, "")
	}
}

// rescindOthers: the first accept wins; the task's other pending
// reservations are rescinded.
func rescindOthers(e *Emulator, c *change) {
	if c.t != nil {
		eachReservation(onRescind, resPending)(e, c)
	}
}

// releaseTask offers the task again once no reservation of it is pending.
func releaseTask(e *Emulator, c *change) {
	if c.t != nil && c.t.status == taskReserved && c.t.pending == 0 {
		e.taskTo(c.ws, c.t, onRelease, "")
	}
}

// moveOnIfDue acts on a target timeout that passed while the task was
// reserved (the timer found it not pending): Twilio's target timeout runs
// on the task's age, so the task moves on as soon as it is pending again.
func moveOnIfDue(e *Emulator, c *change) {
	t := c.t
	if t.tgtDue.IsZero() || e.clock.Now().Before(t.tgtDue) {
		return
	}
	if wf := c.ws.workflows.get(t.workflow); wf != nil {
		e.targetTimeoutLocked(c.ws, wf, t)
	}
}

// giveUpIfExhausted cancels a task that has had its share of reservations.
func giveUpIfExhausted(e *Emulator, c *change) {
	if t := c.ws.tasks.get(c.r.task); t != nil && t.status == taskPending && t.attempts >= e.opt.MaxReservationAttempts {
		e.taskTo(c.ws, t, onCancel, "Task canceled: maximum reservation attempts reached")
	}
}

func stopResTimer(_ *Emulator, c *change) { c.r.stopTimer() }

func armReservationTimeout(e *Emulator, c *change) {
	wf := c.ws.workflows.get(c.r.workflow)
	if wf == nil {
		return
	}
	r := c.r
	r.timer = e.after(c.ws, time.Duration(wf.reservationTimeout)*time.Second, func(ws *workspace) {
		if r.status == resPending {
			e.resTo(ws, r, onTimeout, "")
		}
	})
}

func postAssignmentCallback(e *Emulator, c *change) {
	ws, r := c.ws, c.r
	wf, q, w := ws.workflows.get(r.workflow), ws.queues.get(r.queue), ws.workers.get(r.worker)
	if wf == nil || q == nil || w == nil || wf.callbackURL == "" {
		return
	}
	urls := []string{wf.callbackURL}
	if wf.fallbackURL != "" {
		urls = append(urls, wf.fallbackURL)
	}
	form := e.callbackForm(ws, wf, q, c.t, w, r)
	e.callbackStartedLocked()
	go e.deliverCallback(ws, r, urls, form)
}

// workerTo moves the reservation's worker to the activity next names, if
// it names one.
func workerTo(next func(c *change) string) effect {
	return func(e *Emulator, c *change) {
		if w := c.ws.workers.get(c.r.worker); w != nil {
			if act := next(c); act != "" {
				e.setActivityLocked(c.ws, w, act)
			}
		}
	}
}

// reservationActivity and assignmentActivity are the queue's activities for
// a worker offered or assigned one of its tasks; none in a multitasking
// workspace, where a worker's activity does not follow their tasks
// (Twilio's Multitasking page: the worker stays in an available activity).
func reservationActivity(c *change) string {
	if q := c.ws.queues.get(c.r.queue); q != nil && !c.ws.multiTask {
		return q.reservationAct
	}
	return ""
}

func assignmentActivity(c *change) string {
	if q := c.ws.queues.get(c.r.queue); q != nil && !c.ws.multiTask {
		return q.assignmentAct
	}
	return ""
}

func requestedActivity(c *change) string { return c.activity }
func timeoutActivity(c *change) string   { return c.ws.timeoutAct }
