package emulator

import (
	"net/http"
	"strconv"
	"time"

	"github.com/assignd/assignd/emulator/expr"

	"github.com/assignd/assignd/taskrouter"
)

type worker struct {
	sid, name, activity           string
	attrsRaw                      string
	attrs                         map[string]any
	created, updated, statusSince time.Time
	idleSince                     time.Time                 // since when it has waited without a task (waitingSince)
	busy                          int                       // reservations pending, accepted or wrapping, on every channel
	chans                         map[string]*workerChannel // by task channel SID (channels.go)
	chanList                      []*workerChannel          // the same, for routing's scan of every worker
	revision                      int                       // counts changes: the ETag (etag.go)
}

func (ws *workspace) available(w *worker) bool {
	a := ws.activities.get(w.activity)
	return a != nil && a.available
}

// workerVars are the variables a worker expression sees: the worker's
// attributes bare and under "worker", and the task's under "task" when
// there is one (target expressions).
func workerVars(w *worker, t *task) expr.Vars {
	v := expr.Vars{Bare: w.attrs, Roots: map[string]map[string]any{"worker": w.attrs}}
	if t != nil {
		v.Roots["task"] = t.attrs
	}
	return v
}

func (e *Emulator) workerResource() resource[worker] {
	return resource[worker]{key: "workers", rows: func(c *call) *table[worker] { return &c.ws.workers }, render: e.renderWorker}
}

func (e *Emulator) renderWorker(c *call, w *worker) map[string]any {
	ws := c.ws
	wsURL := c.workspaceURL(ws.sid)
	u := wsURL + "/Workers/" + w.sid
	return map[string]any{
		"account_sid": e.opt.AccountSid, "workspace_sid": ws.sid, "sid": w.sid, "friendly_name": w.name,
		"activity_sid": w.activity, "activity_name": ws.activityName(w.activity), "available": ws.available(w),
		"attributes": w.attrsRaw, "date_created": twilioTime(w.created), "date_updated": twilioTime(w.updated),
		"date_status_changed": twilioTime(w.statusSince), "url": u,
		"links": map[string]any{
			"channels": u + "/Channels", "reservations": u + "/Reservations", "statistics": u + "/Statistics",
			"activity": wsURL + "/Activities/" + w.activity, "workspace": wsURL,
			"worker_statistics": u + "/Statistics", "worker_channels": u + "/Channels",
		},
	}
}

// renderListedWorker is a worker in a list page: Twilio's description of
// attributes says they are shown only in answers about the one worker, and
// null in lists.
func (e *Emulator) renderListedWorker(c *call, w *worker) map[string]any {
	m := e.renderWorker(c, w)
	m["attributes"] = nil
	return m
}

// queueFilter is the queue a workers' list or statistics request names by
// TaskQueueSid or TaskQueueName (TaskQueueName wins), nil when neither.
func queueFilter(c *call) (*queue, *apiError) {
	var q *queue
	if s := c.query("TaskQueueSid"); s != "" {
		if q = c.ws.queues.get(s); q == nil {
			return nil, errParam("Invalid TaskQueueSid: %s not found", s)
		}
	}
	if n := c.query("TaskQueueName"); n != "" {
		if q = c.ws.queueByName(n); q == nil {
			return nil, errParam("Invalid TaskQueueName: %q not found", n)
		}
	}
	return q, nil
}

func (e *Emulator) listWorkers(c *call) (int, any, *apiError) {
	var target *expr.Expr
	if src := c.query("TargetWorkersExpression"); src != "" {
		x, err := expr.Parse(src)
		if err != nil {
			return 0, nil, errParam("Invalid TargetWorkersExpression %q: %v", src, err)
		}
		target = x
	}
	queue, apiErr := queueFilter(c)
	if apiErr != nil {
		return 0, nil, apiErr
	}
	name, actSid, actName, avail := c.query("FriendlyName"), c.query("ActivitySid"), c.query("ActivityName"), c.query("Available")
	order, apiErr := listOrdering(c, ListWorker, workerOrderKeys())
	if apiErr != nil {
		return 0, nil, apiErr
	}
	listed := e.workerResource()
	listed.render = e.renderListedWorker
	return listed.listSorted(c, func(w *worker) bool {
		a := c.ws.activities.get(w.activity)
		switch {
		case name != "" && w.name != name,
			actSid != "" && w.activity != actSid,
			actName != "" && (a == nil || a.name != actName),
			avail != "" && boolParam(avail) != c.ws.available(w),
			target != nil && !target.Eval(workerVars(w, nil)),
			queue != nil && !queue.serves(w):
			return false
		}
		return true
	}, order)
}

func (e *Emulator) createWorker(c *call) (int, any, *apiError) {
	p, apiErr := formParams(c.r)
	if apiErr != nil {
		return 0, nil, apiErr
	}
	name := p.required("FriendlyName")
	raw, attrs := p.jsonObject("Attributes")
	if p.err != nil {
		return 0, nil, p.err
	}
	for _, w := range c.ws.workers.all() {
		if w.name == name {
			return 0, nil, errParam("Worker with FriendlyName %q already exists", name)
		}
	}
	act := c.ws.defaultAct
	if s := p.str("ActivitySid"); s != "" {
		if c.ws.activities.get(s) == nil {
			return 0, nil, errParam("Invalid ActivitySid: activity %s not found", s)
		}
		act = s
	}
	now := e.clock.Now()
	w := &worker{sid: newSid(prefixWorker), name: name, activity: act, attrsRaw: raw, attrs: attrs,
		created: now, updated: now, statusSince: now}
	c.ws.addChannels(w, now)
	c.ws.workers.put(w.sid, w)
	e.emit(c.ws, taskrouter.EventWorkerCreated, "Worker "+name+" created", w, nil)
	e.dispatchLocked(c.ws)
	return e.workerAnswer(c, http.StatusCreated, w)
}

func (e *Emulator) updateWorker(c *call) (int, any, *apiError) {
	w, p, apiErr := e.workerResource().forUpdate(c)
	if apiErr != nil {
		return 0, nil, apiErr
	}
	rejectPending := p.boolean("RejectPendingReservations", false)
	var raw string
	var attrs map[string]any
	if p.has("Attributes") {
		raw, attrs = p.jsonObject("Attributes")
	}
	if p.err != nil {
		return 0, nil, p.err
	}
	act := p.str("ActivitySid")
	if act != "" && c.ws.activities.get(act) == nil {
		return 0, nil, errParam("Invalid ActivitySid: activity %s not found", act)
	}
	if err := checkIfMatch(c, "worker "+w.sid, w.revision); err != nil {
		return 0, nil, err
	}
	if n := p.str("FriendlyName"); n != "" {
		w.name = n
	}
	if attrs != nil {
		w.attrsRaw, w.attrs = raw, attrs
		e.emit(c.ws, taskrouter.EventWorkerAttributes, "Worker "+w.name+" attributes updated", w, nil)
	}
	w.updated = e.clock.Now()
	w.touch()
	if act != "" {
		if rejectPending && !c.ws.activities.get(act).available {
			for _, r := range c.ws.reservations.all() {
				if r.worker == w.sid && r.status == resPending {
					e.resTo(c.ws, r, onReject, "")
				}
			}
		}
		e.setActivityLocked(c.ws, w, act)
	}
	e.dispatchLocked(c.ws)
	return e.workerAnswer(c, http.StatusOK, w)
}

// setActivityLocked moves the worker to activity act, with the event.
func (e *Emulator) setActivityLocked(ws *workspace, w *worker, act string) {
	if act == "" || act == w.activity || ws.activities.get(act) == nil {
		return
	}
	prev, inPrev := w.activity, e.clock.Now().Sub(w.statusSince)
	wasAvailable := ws.available(w)
	w.idleSince = w.waitingSince()
	w.activity = act
	now := e.clock.Now()
	if !wasAvailable && ws.available(w) {
		w.idleSince = now // waiting for a task starts when it becomes available
	}
	w.statusSince, w.updated = now, now
	w.touch()
	extra := map[string]string{"WorkerPreviousActivitySid": prev,
		"WorkerTimeInPreviousActivity":   strconv.FormatInt(int64(inPrev/time.Second), 10),
		"WorkerTimeInPreviousActivityMs": strconv.FormatInt(inPrev.Milliseconds(), 10)}
	if a := ws.activities.get(prev); a != nil {
		extra["WorkerPreviousActivityName"] = a.name
	}
	e.emit(ws, taskrouter.EventWorkerActivity, "Worker "+w.name+" updated to "+ws.activities.get(act).name+" Activity", w, extra)
}

func (e *Emulator) deleteWorker(c *call) (int, any, *apiError) {
	w, err := e.workerResource().bySid(c)
	if err != nil {
		return 0, nil, err
	}
	if err := checkIfMatch(c, "worker "+w.sid, w.revision); err != nil {
		return 0, nil, err
	}
	for _, r := range c.ws.reservations.all() {
		if r.worker == w.sid && (r.status == "accepted" || r.status == "wrapping") {
			return 0, nil, errParam("Worker %s has an assigned task %s and cannot be deleted", w.sid, r.task)
		}
	}
	for _, r := range c.ws.reservations.all() {
		if r.worker == w.sid && r.status == resPending {
			e.resTo(c.ws, r, onDelete, "worker deleted")
		}
	}
	c.ws.workers.del(w.sid)
	e.emit(c.ws, taskrouter.EventWorkerDeleted, "Worker "+w.name+" deleted", w, nil)
	e.dispatchLocked(c.ws)
	return http.StatusNoContent, nil, nil
}
