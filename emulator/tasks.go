package emulator

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/assignd/assignd/emulator/expr"

	"github.com/assignd/assignd/taskrouter"
)

type task struct {
	sid, workflow, queue string
	channel              string // task channel SID
	status, reason       string
	attrsRaw             string
	attrs                map[string]any
	priority, timeout    int
	created, updated     time.Time
	queueEntered         time.Time
	virtualStart         time.Time // the routing order among equal priorities; created unless set
	tgtDue               time.Time // when its target's timeout passes (zero: none armed)
	filter, target       int       // position in the workflow: filter index (-1: default_filter), target index
	ttlTimer, tgtTimer   Timer
	revision             int // counts changes: the ETag (etag.go)
	attempts             int // reservations made
	pending              int // reservations pending now
	reservations         []string
	routingTarget        string  // the RoutingTarget it was created with
	direct               *target // routed straight to a queue (routing_target.go)
}

// Task assignment statuses.
const (
	taskPending   = taskrouter.TaskPending
	taskReserved  = taskrouter.TaskReserved
	taskAssigned  = taskrouter.TaskAssigned
	taskWrapping  = taskrouter.TaskWrapping
	taskCompleted = taskrouter.TaskCompleted
	taskCanceled  = taskrouter.TaskCanceled
)

func (t *task) final() bool { return t.status == taskCompleted || t.status == taskCanceled }

func (t *task) stopTimers() {
	for _, tm := range []Timer{t.ttlTimer, t.tgtTimer} {
		if tm != nil {
			tm.Stop()
		}
	}
	t.ttlTimer, t.tgtTimer = nil, nil
}

func taskVars(t *task) expr.Vars {
	return expr.Vars{Bare: t.attrs, Roots: map[string]map[string]any{"task": t.attrs}}
}

func (e *Emulator) taskResource() resource[task] {
	return resource[task]{key: "tasks", rows: func(c *call) *table[task] { return &c.ws.tasks }, render: e.renderTask}
}

func (e *Emulator) renderTask(c *call, t *task) map[string]any {
	ws := c.ws
	wsURL := c.workspaceURL(ws.sid)
	u := wsURL + "/Tasks/" + t.sid
	var qName, wfName any
	if q := ws.queues.get(t.queue); q != nil {
		qName = q.name
	}
	if wf := ws.workflows.get(t.workflow); wf != nil {
		wfName = wf.name
	}
	var entered any
	if t.queue != "" {
		entered = twilioTime(t.queueEntered)
	}
	return map[string]any{
		"account_sid": e.opt.AccountSid, "workspace_sid": ws.sid, "sid": t.sid,
		"age": int(e.clock.Now().Sub(t.created) / time.Second), "assignment_status": t.status,
		"attributes": t.attrsRaw, "addons": "{}", "priority": t.priority, "reason": nullable(t.reason),
		"date_created": twilioTime(t.created), "date_updated": twilioTime(t.updated),
		"task_queue_entered_date": entered, "task_queue_sid": nullable(t.queue), "task_queue_friendly_name": qName,
		"task_channel_sid": t.channel, "task_channel_unique_name": ws.channelName(t.channel), "timeout": t.timeout,
		"workflow_sid": nullable(t.workflow), "workflow_friendly_name": wfName,
		"virtual_start_time": twilioTime(t.virtualStart), "ignore_capacity": false, "routing_target": nullable(t.routingTarget),
		"url": u,
		"links": map[string]any{
			"task_queue": nullable(linkIf(wsURL+"/TaskQueues/", t.queue)), "workflow": nullable(linkIf(wsURL+"/Workflows/", t.workflow)),
			"workspace": wsURL, "reservations": u + "/Reservations",
		},
	}
}

func (e *Emulator) listTasks(c *call) (int, any, *apiError) {
	statuses := map[string]bool{}
	for _, s := range queryAll(c.r, "AssignmentStatus") {
		for _, one := range strings.Split(s, ",") {
			statuses[strings.TrimSpace(one)] = true
		}
	}
	var match *expr.Expr
	if src := c.query("EvaluateTaskAttributes"); src != "" {
		x, err := expr.Parse(src)
		if err != nil {
			return 0, nil, errParam("Invalid EvaluateTaskAttributes expression %q: %v", src, err)
		}
		match = x
	}
	wfSid, wfName, qSid, qName, priority := c.query("WorkflowSid"), c.query("WorkflowName"),
		c.query("TaskQueueSid"), c.query("TaskQueueName"), c.query("Priority")
	routedTo := c.query("RoutingTarget") // the tasks created with this RoutingTarget
	order, apiErr := taskOrdering(c.query("Ordering"))
	if apiErr != nil {
		return 0, nil, apiErr
	}
	withAddons, apiErr := hasAddonsFilter(c.query("HasAddons"))
	if apiErr != nil {
		return 0, nil, apiErr
	}
	return e.taskResource().listSorted(c, func(t *task) bool {
		var tqName, twfName string
		if tq := c.ws.queues.get(t.queue); tq != nil {
			tqName = tq.name
		}
		if wf := c.ws.workflows.get(t.workflow); wf != nil {
			twfName = wf.name
		}
		switch {
		case len(statuses) > 0 && !statuses[t.status],
			wfSid != "" && t.workflow != wfSid,
			wfName != "" && twfName != wfName,
			qSid != "" && t.queue != qSid,
			qName != "" && tqName != qName,
			priority != "" && priority != strconv.Itoa(t.priority),
			routedTo != "" && t.routingTarget != routedTo,
			match != nil && !match.Eval(taskVars(t)),
			withAddons: // the emulator's tasks have no add-ons ("addons": "{}")
			return false
		}
		return true
	}, order)
}

// hasAddonsFilter reads HasAddons: true keeps only tasks with add-ons,
// which the emulator's never have; false or absent keeps them all.
func hasAddonsFilter(v string) (bool, *apiError) {
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, errParam("Invalid HasAddons %q: must be true or false", v)
	}
	return b, nil
}

// taskOrderKeys are the attributes a task list's Ordering may sort by, as
// Twilio's OpenAPI description of GET /Tasks lists them.
func taskOrderKeys() map[string]listKey[task] {
	return map[string]listKey[task]{
		"DateCreated":      byTime(func(t *task) time.Time { return t.created }),
		"Priority":         byInt(func(t *task) int { return t.priority }),
		"VirtualStartTime": byTime(func(t *task) time.Time { return t.virtualStart }),
	}
}

// taskOrdering parses a task list's Ordering (ordering.go). Twilio
// documents every attribute it takes, so any other is invalid, and so is
// DateCreated with VirtualStartTime. Absent, the list is ascending by
// DateCreated (table order).
func taskOrdering(v string) (func(a, b *task) int, *apiError) {
	order, named, unknown, err := parseOrdering(v, taskOrderKeys())
	switch {
	case err != nil:
		return nil, err
	case unknown != "":
		return nil, errParam("Invalid Ordering %q: %s is not one of DateCreated, Priority, VirtualStartTime", v, unknown)
	case named["DateCreated"] && named["VirtualStartTime"]:
		return nil, errParam("Invalid Ordering %q: DateCreated and VirtualStartTime cannot be used together", v)
	}
	return order, nil
}

func (e *Emulator) createTask(c *call) (int, any, *apiError) {
	p, apiErr := formParams(c.r)
	if apiErr != nil {
		return 0, nil, apiErr
	}
	raw, attrs := p.jsonObject("Attributes")
	priority := p.integer("Priority", 0)
	timeout := p.integer("Timeout", 86400)
	now := e.clock.Now()
	vst := e.virtualStartParam(p, now)
	if p.err != nil {
		return 0, nil, p.err
	}
	if timeout < 1 || timeout > 2592000 {
		return 0, nil, errParam("Invalid Timeout %d: must be 1 to 2592000 seconds", timeout)
	}
	ch := taskChannelParam(c.ws, p.str("TaskChannel"))
	if ch == nil {
		return 0, nil, errParam("Invalid TaskChannel %q: no task channel with that SID or unique name in workspace %s", p.str("TaskChannel"), c.ws.sid)
	}
	rtWorkflow, direct, apiErr := routingTarget(c.ws, p.str("RoutingTarget"))
	if apiErr != nil {
		return 0, nil, apiErr
	}
	wfSid := p.str("WorkflowSid")
	if rtWorkflow != "" && wfSid != "" && wfSid != rtWorkflow {
		return 0, nil, errParam("Invalid RoutingTarget %s: it names another workflow than WorkflowSid %s", rtWorkflow, wfSid)
	}
	if rtWorkflow != "" {
		wfSid = rtWorkflow
	}
	if wfSid == "" && c.ws.workflows.len() == 1 {
		wfSid = c.ws.workflows.all()[0].sid // Twilio uses the only workflow
	}
	if wfSid == "" {
		return 0, nil, errMissing("WorkflowSid")
	}
	wf := c.ws.workflows.get(wfSid)
	if wf == nil {
		return 0, nil, errParam("Invalid WorkflowSid: workflow %s not found in workspace %s", wfSid, c.ws.sid)
	}
	t := &task{sid: newSid(prefixTask), workflow: wf.sid, channel: ch.sid, attrsRaw: raw, attrs: attrs, priority: priority,
		timeout: timeout, created: now, updated: now, virtualStart: vst, routingTarget: p.str("RoutingTarget"), direct: direct}
	c.ws.tasks.put(t.sid, t)
	e.taskTo(c.ws, t, onCreate, "")
	e.dispatchLocked(c.ws)
	return e.taskAnswer(c, http.StatusCreated, t)
}

func (e *Emulator) updateTask(c *call) (int, any, *apiError) {
	t, p, apiErr := e.taskResource().forUpdate(c)
	if apiErr != nil {
		return 0, nil, apiErr
	}
	status := p.oneOf("AssignmentStatus", taskPending, taskReserved, taskAssigned, taskCanceled, taskCompleted, taskWrapping)
	priority := p.integer("Priority", t.priority)
	reason := p.str("Reason") // recorded with the status change it explains
	var raw string
	var attrs map[string]any
	if p.has("Attributes") {
		raw, attrs = p.jsonObject("Attributes")
	}
	vst := e.virtualStartParam(p, t.virtualStart)
	if p.err != nil {
		return 0, nil, p.err
	}
	if reason != "" && status != taskCanceled && status != taskCompleted {
		// Twilio's Reason is "the reason that the Task was canceled or
		// completed": with no such change it would be accepted and lost.
		if err := c.unsupported(UpdateTask, "Reason without AssignmentStatus canceled or completed"); err != nil {
			return 0, nil, err
		}
		reason = ""
	}
	if err := checkIfMatch(c, "task "+t.sid, t.revision); err != nil {
		return 0, nil, err
	}
	if status != "" {
		if err := e.checkTaskTransition(t, status); err != nil {
			return 0, nil, err
		}
	}
	if attrs != nil || priority != t.priority || !vst.Equal(t.virtualStart) {
		if t.final() {
			return 0, nil, errParam("Task %s is %s and cannot be updated", t.sid, t.status)
		}
		if attrs != nil {
			t.attrsRaw, t.attrs = raw, attrs
		}
		t.priority, t.virtualStart = priority, vst
		t.updated = e.clock.Now()
		t.touch()
		e.emit(c.ws, taskrouter.EventTaskUpdated, "Task "+t.sid+" updated", t, nil)
	}
	if status != "" {
		e.taskTo(c.ws, t, taskUpdate(status), reason)
	}
	e.dispatchLocked(c.ws)
	return e.taskAnswer(c, http.StatusOK, t)
}

// checkTaskTransition allows what the lifecycle table allows through the
// API: cancel a task not yet assigned, wrap up an assigned one, complete an
// assigned or wrapping one.
func (e *Emulator) checkTaskTransition(t *task, to string) *apiError {
	if on := taskUpdate(to); on == "" || e.lookup("task", t.status, on) == nil {
		return errParam("Task %s cannot be updated to %s: it is %s", t.sid, to, t.status)
	}
	return nil
}

func (e *Emulator) deleteTask(c *call) (int, any, *apiError) {
	t, err := e.taskResource().bySid(c)
	if err != nil {
		return 0, nil, err
	}
	if err := checkIfMatch(c, "task "+t.sid, t.revision); err != nil {
		return 0, nil, err
	}
	for _, r := range c.ws.reservations.all() {
		if r.task != t.sid {
			continue
		}
		if r.active() {
			e.resTo(c.ws, r, onDelete, "task deleted")
		}
		c.ws.reservations.del(r.sid)
	}
	e.taskTo(c.ws, t, onDelete, "")
	c.ws.tasks.del(t.sid)
	e.dispatchLocked(c.ws)
	return http.StatusNoContent, nil, nil
}

// virtualStartParam is the VirtualStartTime parameter, def when absent.
// Twilio refuses one in the future or before 1900.
func (e *Emulator) virtualStartParam(p *params, def time.Time) time.Time {
	vst := typed(p, "VirtualStartTime", def, func(s string) (time.Time, error) { return time.Parse(time.RFC3339, s) }, "an ISO 8601 date and time")
	if p.err == nil && (vst.After(e.clock.Now()) || vst.Year() < 1900) {
		p.err = errParam("Invalid VirtualStartTime %s: it cannot be in the future or before 1900", p.str("VirtualStartTime"))
	}
	return vst
}
