package emulator

import (
	"net/http"
	"time"

	"github.com/assignd/assignd/emulator/expr"
)

type queue struct {
	sid, name        string
	targetSrc        string
	target           *expr.Expr
	maxReserved      int
	order            string // FIFO or LIFO
	reservationAct   string
	assignmentAct    string
	created, updated time.Time
}

// defaultTargetWorkers is what Twilio puts in a queue created without one.
const defaultTargetWorkers = "1==1"

func (ws *workspace) queueByName(name string) *queue {
	for _, q := range ws.queues.all() {
		if q.name == name {
			return q
		}
	}
	return nil
}

func (e *Emulator) queueResource() resource[queue] {
	return resource[queue]{key: "task_queues", rows: func(c *call) *table[queue] { return &c.ws.queues }, render: e.renderQueue}
}

func (e *Emulator) renderQueue(c *call, q *queue) map[string]any {
	ws := c.ws
	wsURL := c.workspaceURL(ws.sid)
	u := wsURL + "/TaskQueues/" + q.sid
	return map[string]any{
		"account_sid": e.opt.AccountSid, "workspace_sid": ws.sid, "sid": q.sid, "friendly_name": q.name,
		"target_workers": q.targetSrc, "max_reserved_workers": q.maxReserved, "task_order": q.order,
		"reservation_activity_sid": nullable(q.reservationAct), "reservation_activity_name": ws.activityName(q.reservationAct),
		"assignment_activity_sid": nullable(q.assignmentAct), "assignment_activity_name": ws.activityName(q.assignmentAct),
		"date_created": twilioTime(q.created), "date_updated": twilioTime(q.updated), "url": u,
		"links": map[string]any{
			"assignment_activity":  nullable(linkIf(wsURL+"/Activities/", q.assignmentAct)),
			"reservation_activity": nullable(linkIf(wsURL+"/Activities/", q.reservationAct)),
			"workspace":            wsURL, "statistics": u + "/Statistics",
			"real_time_statistics": u + "/RealTimeStatistics", "cumulative_statistics": u + "/CumulativeStatistics",
			"list_statistics":           wsURL + "/TaskQueues/Statistics",
			"bulk_real_time_statistics": wsURL + "/TaskQueues/RealTimeStatistics",
		},
	}
}

func linkIf(prefix, sid string) string {
	if sid == "" {
		return ""
	}
	return prefix + sid
}

func (e *Emulator) listQueues(c *call) (int, any, *apiError) {
	var wk *worker
	if s := c.query("WorkerSid"); s != "" {
		if wk = c.ws.workers.get(s); wk == nil {
			return 0, nil, errParam("Invalid WorkerSid: %s not found", s)
		}
	}
	var attrs map[string]any
	if s := c.query("EvaluateWorkerAttributes"); s != "" {
		p := &params{v: c.r.URL.Query()}
		_, attrs = p.jsonObject("EvaluateWorkerAttributes")
		if p.err != nil {
			return 0, nil, p.err
		}
	}
	name := c.query("FriendlyName")
	order, apiErr := listOrdering(c, ListTaskQueue, queueOrderKeys())
	if apiErr != nil {
		return 0, nil, apiErr
	}
	return e.queueResource().listSorted(c, func(tq *queue) bool {
		return (name == "" || tq.name == name) &&
			(wk == nil || tq.serves(wk)) &&
			(attrs == nil || tq.serves(&worker{attrs: attrs}))
	}, order)
}

// serves reports whether w is one of q's workers: q's TargetWorkers
// matches w's attributes, whatever w's activity or load. Routing, the
// target counts, the statistics and the lists all ask this one question.
func (q *queue) serves(w *worker) bool { return q.target.Eval(workerVars(w, nil)) }

// queueParams applies the create/update parameters to q.
func (e *Emulator) queueParams(ws *workspace, q *queue, p *params) *apiError {
	if p.has("TargetWorkers") {
		src := p.str("TargetWorkers")
		if src == "" {
			src = defaultTargetWorkers
		}
		x, err := expr.Parse(src)
		if err != nil {
			return errParam("Invalid TargetWorkers expression %q: %v", src, err)
		}
		q.targetSrc, q.target = src, x
	}
	q.maxReserved = p.integer("MaxReservedWorkers", q.maxReserved)
	if order := p.oneOf("TaskOrder", "FIFO", "LIFO"); order != "" {
		q.order = order
	}
	if p.err != nil {
		return p.err
	}
	if q.maxReserved < 1 || q.maxReserved > 50 {
		return errParam("Invalid MaxReservedWorkers %d: must be 1 to 50", q.maxReserved)
	}
	for _, k := range []string{"ReservationActivitySid", "AssignmentActivitySid"} {
		if s := p.str(k); s != "" && ws.activities.get(s) == nil {
			return errParam("Invalid %s: activity %s not found", k, s)
		}
	}
	p.assign("ReservationActivitySid", &q.reservationAct)
	p.assign("AssignmentActivitySid", &q.assignmentAct)
	e.warnQueueActivities(ws, q, p)
	if n := p.str("FriendlyName"); n != "" {
		q.name = n
	}
	return nil
}

// warnQueueActivities warns when a queue's reservation or assignment
// activity is set in a multitasking workspace: Twilio accepts it (it
// applies once MultiTaskEnabled is false) but it changes nothing meanwhile,
// as a multitasking worker's activity does not follow their tasks.
func (e *Emulator) warnQueueActivities(ws *workspace, q *queue, p *params) {
	if !ws.multiTask {
		return
	}
	for _, k := range []string{"ReservationActivitySid", "AssignmentActivitySid"} {
		if p.str(k) != "" {
			e.opt.Log.Warn().Str("workspace", ws.sid).Str("task_queue", q.sid).Str("parameter", k).
				Msg("has no effect in a multitasking workspace: a worker's activity does not change as they take tasks")
		}
	}
}

func (e *Emulator) createQueue(c *call) (int, any, *apiError) {
	p, apiErr := formParams(c.r)
	if apiErr != nil {
		return 0, nil, apiErr
	}
	name := p.required("FriendlyName")
	if p.err != nil {
		return 0, nil, p.err
	}
	if c.ws.queueByName(name) != nil {
		return 0, nil, errParam("TaskQueue with FriendlyName %q already exists", name)
	}
	now := e.clock.Now()
	q := &queue{sid: newSid(prefixQueue), maxReserved: 1, order: "FIFO", created: now, updated: now}
	if !p.has("TargetWorkers") {
		p.v.Set("TargetWorkers", defaultTargetWorkers)
	}
	if err := e.queueParams(c.ws, q, p); err != nil {
		return 0, nil, err
	}
	c.ws.queues.put(q.sid, q)
	return http.StatusCreated, e.renderQueue(c, q), nil
}

func (e *Emulator) updateQueue(c *call) (int, any, *apiError) {
	q, p, apiErr := e.queueResource().forUpdate(c)
	if apiErr != nil {
		return 0, nil, apiErr
	}
	updated := *q // validate on a copy: a refused update changes nothing
	if err := e.queueParams(c.ws, &updated, p); err != nil {
		return 0, nil, err
	}
	updated.updated = e.clock.Now()
	*q = updated
	e.dispatchLocked(c.ws)
	return http.StatusOK, e.renderQueue(c, q), nil
}

func (e *Emulator) deleteQueue(c *call) (int, any, *apiError) {
	q, err := e.queueResource().bySid(c)
	if err != nil {
		return 0, nil, err
	}
	for _, t := range c.ws.tasks.all() {
		if t.queue == q.sid && !t.final() {
			return 0, nil, errParam("TaskQueue %s has tasks and cannot be deleted", q.sid)
		}
	}
	for _, wf := range c.ws.workflows.all() {
		if wf.cfg.uses(q.sid) {
			return 0, nil, errParam("TaskQueue %s is used by workflow %s and cannot be deleted", q.sid, wf.sid)
		}
	}
	c.ws.queues.del(q.sid)
	return http.StatusNoContent, nil, nil
}
