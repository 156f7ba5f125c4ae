package emulator

import (
	"net/http"
	"strings"
	"time"
)

type workspace struct {
	sid, name              string
	eventURL, eventsFilter string
	defaultAct, timeoutAct string
	queueOrder             string
	multiTask              bool
	created, updated       time.Time
	activities             table[activity]
	workers                table[worker]
	queues                 table[queue]
	workflows              table[workflow]
	tasks                  table[task]
	reservations           table[reservation]
	events                 table[event]
	channels               table[taskChannel]
	stats                  statsLog
	open                   map[string]*task // tasks pending or reserved: the ones routing looks at
}

func newWorkspace(sid, name string, now time.Time) *workspace {
	ws := &workspace{
		sid: sid, name: name, queueOrder: "FIFO", multiTask: true, created: now, updated: now,
		activities: newTable[activity](), workers: newTable[worker](), queues: newTable[queue](),
		workflows: newTable[workflow](), tasks: newTable[task](), reservations: newTable[reservation](),
		events: newTable[event](), channels: newTable[taskChannel](), open: map[string]*task{},
	}
	ws.addDefaultChannels(now)
	return ws
}

// routes registers Twilio's paths: one line a route, so the table is long.
func (e *Emulator) routes() {
	const ws = "/v1/Workspaces/{WorkspaceSid}"
	e.handle(ListWorkspace, "GET", "/v1/Workspaces", e.listWorkspaces)
	e.handle(CreateWorkspace, "POST", "/v1/Workspaces", e.createWorkspace)
	e.handle(FetchWorkspace, "GET", "/v1/Workspaces/{Sid}", e.workspaceResource().fetch)
	e.handle(UpdateWorkspace, "POST", "/v1/Workspaces/{Sid}", e.updateWorkspace)
	e.handle(DeleteWorkspace, "DELETE", "/v1/Workspaces/{Sid}", e.deleteWorkspace)

	e.handle(ListActivity, "GET", ws+"/Activities", e.listActivities)
	e.handle(CreateActivity, "POST", ws+"/Activities", e.createActivity)
	e.handle(FetchActivity, "GET", ws+"/Activities/{Sid}", e.activityResource().fetch)
	e.handle(UpdateActivity, "POST", ws+"/Activities/{Sid}", e.updateActivity)
	e.handle(DeleteActivity, "DELETE", ws+"/Activities/{Sid}", e.deleteActivity)

	e.handle(ListWorker, "GET", ws+"/Workers", e.listWorkers)
	e.handle(CreateWorker, "POST", ws+"/Workers", e.createWorker)
	e.handle(FetchWorker, "GET", ws+"/Workers/{Sid}", e.fetchWorker)
	e.handle(UpdateWorker, "POST", ws+"/Workers/{Sid}", e.updateWorker)
	e.handle(DeleteWorker, "DELETE", ws+"/Workers/{Sid}", e.deleteWorker)

	e.handle(ListTaskQueue, "GET", ws+"/TaskQueues", e.listQueues)
	e.handle(CreateTaskQueue, "POST", ws+"/TaskQueues", e.createQueue)
	e.handle(FetchTaskQueue, "GET", ws+"/TaskQueues/{Sid}", e.queueResource().fetch)
	e.handle(UpdateTaskQueue, "POST", ws+"/TaskQueues/{Sid}", e.updateQueue)
	e.handle(DeleteTaskQueue, "DELETE", ws+"/TaskQueues/{Sid}", e.deleteQueue)

	e.handle(ListWorkflow, "GET", ws+"/Workflows", e.listWorkflows)
	e.handle(CreateWorkflow, "POST", ws+"/Workflows", e.createWorkflow)
	e.handle(FetchWorkflow, "GET", ws+"/Workflows/{Sid}", e.workflowResource().fetch)
	e.handle(UpdateWorkflow, "POST", ws+"/Workflows/{Sid}", e.updateWorkflow)
	e.handle(DeleteWorkflow, "DELETE", ws+"/Workflows/{Sid}", e.deleteWorkflow)

	e.handle(ListTask, "GET", ws+"/Tasks", e.listTasks)
	e.handle(CreateTask, "POST", ws+"/Tasks", e.createTask)
	e.handle(FetchTask, "GET", ws+"/Tasks/{Sid}", e.fetchTask)
	e.handle(UpdateTask, "POST", ws+"/Tasks/{Sid}", e.updateTask)
	e.handle(DeleteTask, "DELETE", ws+"/Tasks/{Sid}", e.deleteTask)

	e.handle(ListTaskReservation, "GET", ws+"/Tasks/{TaskSid}/Reservations", e.listReservations)
	e.handle(FetchTaskReservation, "GET", ws+"/Tasks/{TaskSid}/Reservations/{Sid}", e.fetchReservation)
	e.handle(UpdateTaskReservation, "POST", ws+"/Tasks/{TaskSid}/Reservations/{Sid}", e.updateReservation)
	e.handle(ListWorkerReservation, "GET", ws+"/Workers/{WorkerSid}/Reservations", e.listReservations)
	e.handle(FetchWorkerReservation, "GET", ws+"/Workers/{WorkerSid}/Reservations/{Sid}", e.fetchReservation)
	e.handle(UpdateWorkerReservation, "POST", ws+"/Workers/{WorkerSid}/Reservations/{Sid}", e.updateReservation)

	e.handle(ListEvent, "GET", ws+"/Events", e.listEvents)
	e.handle(FetchEvent, "GET", ws+"/Events/{Sid}", e.eventResource().fetch)
	e.statsRoutes(ws) // statistics.go

	e.handle(ListTaskChannel, "GET", ws+"/TaskChannels", e.listChannels)
	e.handle(CreateTaskChannel, "POST", ws+"/TaskChannels", e.createChannel)
	e.handle(FetchTaskChannel, "GET", ws+"/TaskChannels/{Sid}", e.fetchChannel)
	e.handle(UpdateTaskChannel, "POST", ws+"/TaskChannels/{Sid}", e.updateChannel)
	e.handle(DeleteTaskChannel, "DELETE", ws+"/TaskChannels/{Sid}", e.deleteChannel)
	e.handle(ListWorkerChannel, "GET", ws+"/Workers/{WorkerSid}/Channels", e.listWorkerChannels)
	e.handle(FetchWorkerChannel, "GET", ws+"/Workers/{WorkerSid}/Channels/{Sid}", e.fetchWorkerChannel)
	e.handle(UpdateWorkerChannel, "POST", ws+"/Workers/{WorkerSid}/Channels/{Sid}", e.updateWorkerChannel)

	// Not Twilio's: the reservations' counts, for load and soak scripts
	// checking exactly-once from outside (bench/run.sh, bench/soak.sh).
	e.mux.HandleFunc("GET /__emulator/stats", func(w http.ResponseWriter, r *http.Request) {
		if !e.authorized(r) {
			writeError(w, &apiError{http.StatusUnauthorized, 20003, "Authenticate"})
			return
		}
		writeJSON(w, http.StatusOK, e.Stats())
	})
	e.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if e.refuse(w, r) {
			return
		}
		writeError(w, errNotFound(r.URL.Path))
	})
}

func (e *Emulator) workspaceResource() resource[workspace] {
	return resource[workspace]{key: "workspaces", rows: func(*call) *table[workspace] { return &e.workspaces }, render: e.renderWorkspace}
}

func (e *Emulator) renderWorkspace(c *call, w *workspace) map[string]any {
	u := c.workspaceURL(w.sid)
	return map[string]any{
		"account_sid": e.opt.AccountSid, "sid": w.sid, "friendly_name": w.name,
		"date_created": twilioTime(w.created), "date_updated": twilioTime(w.updated),
		"default_activity_sid": nullable(w.defaultAct), "default_activity_name": w.activityName(w.defaultAct),
		"timeout_activity_sid": nullable(w.timeoutAct), "timeout_activity_name": w.activityName(w.timeoutAct),
		"event_callback_url": nullable(w.eventURL), "events_filter": nullable(w.eventsFilter),
		"multi_task_enabled": w.multiTask, "prioritize_queue_order": w.queueOrder,
		"url": u,
		"links": map[string]any{
			"activities": u + "/Activities", "workers": u + "/Workers", "task_queues": u + "/TaskQueues",
			"workflows": u + "/Workflows", "tasks": u + "/Tasks", "events": u + "/Events",
			"task_channels": u + "/TaskChannels", "statistics": u + "/Statistics",
			"real_time_statistics": u + "/RealTimeStatistics", "cumulative_statistics": u + "/CumulativeStatistics",
		},
	}
}

func (e *Emulator) listWorkspaces(c *call) (int, any, *apiError) {
	name := c.query("FriendlyName")
	return e.workspaceResource().list(c, func(w *workspace) bool { return name == "" || w.name == name })
}

// createWorkspace makes a workspace with the activities Twilio creates for
// a new one: Offline (default and timeout activity), Available, Unavailable.
func (e *Emulator) createWorkspace(c *call) (int, any, *apiError) {
	p, apiErr := formParams(c.r)
	if apiErr != nil {
		return 0, nil, apiErr
	}
	name := p.required("FriendlyName")
	multi := p.boolean("MultiTaskEnabled", true)
	template := p.oneOf("Template", "FIFO", "NONE")
	order := queueOrderParam(p, "FIFO")
	if p.err != nil {
		return 0, nil, p.err
	}
	// NONE is what the emulator does; FIFO's sample queue and workflow are not
	// made.
	if template == "FIFO" {
		if err := c.unsupported(CreateWorkspace, "Template=FIFO"); err != nil {
			return 0, nil, err
		}
	}
	if err := checkEventsFilter(p.str("EventsFilter")); err != nil {
		return 0, nil, err
	}
	now := e.clock.Now()
	w := newWorkspace(newSid(prefixWorkspace), name, now)
	w.eventURL, w.eventsFilter, w.multiTask, w.queueOrder = p.str("EventCallbackUrl"), p.str("EventsFilter"), multi, order
	for _, a := range []struct {
		name  string
		avail bool
	}{{"Offline", false}, {"Available", true}, {"Unavailable", false}} {
		act := &activity{sid: newSid(prefixActivity), name: a.name, available: a.avail, created: now, updated: now}
		w.activities.put(act.sid, act)
		if a.name == "Offline" {
			w.defaultAct, w.timeoutAct = act.sid, act.sid
		}
	}
	e.workspaces.put(w.sid, w)
	return http.StatusCreated, e.renderWorkspace(c, w), nil
}

// queueOrderParam is PrioritizeQueueOrder (FIFO or LIFO), def when absent:
// which queues' tasks routing offers first among equal priorities
// (waiting.Less).
func queueOrderParam(p *params, def string) string {
	if v := p.oneOf("PrioritizeQueueOrder", "FIFO", "LIFO"); v != "" {
		return v
	}
	return def
}

func checkEventsFilter(f string) *apiError {
	for _, t := range strings.Split(f, ",") {
		if t = strings.TrimSpace(t); t != "" && !strings.Contains(t, ".") {
			return errParam("Invalid EventsFilter: %q is not an event type", t)
		}
	}
	return nil
}

func (e *Emulator) updateWorkspace(c *call) (int, any, *apiError) {
	w, p, apiErr := e.workspaceResource().forUpdate(c)
	if apiErr != nil {
		return 0, nil, apiErr
	}
	multi := p.boolean("MultiTaskEnabled", w.multiTask)
	order := queueOrderParam(p, w.queueOrder)
	if p.err != nil {
		return 0, nil, p.err
	}
	for _, k := range []string{"DefaultActivitySid", "TimeoutActivitySid"} {
		if s := p.str(k); s != "" && w.activities.get(s) == nil {
			return 0, nil, errParam("Invalid %s: activity %s not found in workspace %s", k, s, w.sid)
		}
	}
	if err := checkEventsFilter(p.str("EventsFilter")); err != nil {
		return 0, nil, err
	}
	p.assign("FriendlyName", &w.name)
	p.assign("EventCallbackUrl", &w.eventURL)
	p.assign("EventsFilter", &w.eventsFilter)
	if s := p.str("DefaultActivitySid"); s != "" {
		w.defaultAct = s
	}
	if s := p.str("TimeoutActivitySid"); s != "" {
		w.timeoutAct = s
	}
	w.multiTask, w.queueOrder = multi, order
	w.updated = e.clock.Now()
	return http.StatusOK, e.renderWorkspace(c, w), nil
}

func (e *Emulator) deleteWorkspace(c *call) (int, any, *apiError) {
	w, err := e.workspaceResource().bySid(c)
	if err != nil {
		return 0, nil, err
	}
	for _, t := range w.tasks.all() {
		t.stopTimers()
	}
	for _, r := range w.reservations.all() {
		r.stopTimer()
	}
	e.workspaces.del(w.sid)
	return http.StatusNoContent, nil, nil
}

// activityName is the name of the workspace's activity sid, nil (JSON null)
// when there is none.
func (ws *workspace) activityName(sid string) any {
	if a := ws.activities.get(sid); a != nil {
		return a.name
	}
	return nil
}

// activity is a worker state; available decides whether tasks are offered.
type activity struct {
	sid, name        string
	available        bool
	created, updated time.Time
}

func (e *Emulator) activityResource() resource[activity] {
	return resource[activity]{key: "activities", rows: func(c *call) *table[activity] { return &c.ws.activities }, render: e.renderActivity}
}

func (e *Emulator) renderActivity(c *call, a *activity) map[string]any {
	ws := c.ws
	u := c.workspaceURL(ws.sid) + "/Activities/" + a.sid
	return map[string]any{
		"account_sid": e.opt.AccountSid, "workspace_sid": ws.sid, "sid": a.sid, "friendly_name": a.name,
		"available": a.available, "date_created": twilioTime(a.created), "date_updated": twilioTime(a.updated),
		"url": u, "links": map[string]any{"workspace": c.workspaceURL(ws.sid)},
	}
}

func (e *Emulator) listActivities(c *call) (int, any, *apiError) {
	name, avail := c.query("FriendlyName"), c.query("Available")
	return e.activityResource().list(c, func(a *activity) bool {
		return (name == "" || a.name == name) && (avail == "" || boolParam(avail) == a.available)
	})
}

// boolParam reads Twilio's query booleans ("true", "1").
func boolParam(s string) bool { return s == "true" || s == "True" || s == "1" }

func (e *Emulator) createActivity(c *call) (int, any, *apiError) {
	p, apiErr := formParams(c.r)
	if apiErr != nil {
		return 0, nil, apiErr
	}
	name := p.required("FriendlyName")
	avail := p.boolean("Available", false)
	if p.err != nil {
		return 0, nil, p.err
	}
	for _, a := range c.ws.activities.all() {
		if a.name == name {
			return 0, nil, errParam("Activity with FriendlyName %q already exists", name)
		}
	}
	now := e.clock.Now()
	a := &activity{sid: newSid(prefixActivity), name: name, available: avail, created: now, updated: now}
	c.ws.activities.put(a.sid, a)
	return http.StatusCreated, e.renderActivity(c, a), nil
}

func (e *Emulator) updateActivity(c *call) (int, any, *apiError) {
	a, p, apiErr := e.activityResource().forUpdate(c)
	if apiErr != nil {
		return 0, nil, apiErr
	}
	if n := p.str("FriendlyName"); n != "" {
		a.name = n
		a.updated = e.clock.Now()
	}
	return http.StatusOK, e.renderActivity(c, a), nil
}

func (e *Emulator) deleteActivity(c *call) (int, any, *apiError) {
	a, err := e.activityResource().bySid(c)
	if err != nil {
		return 0, nil, err
	}
	if a.sid == c.ws.defaultAct || a.sid == c.ws.timeoutAct {
		return 0, nil, errParam("Activity %s is the workspace's default or timeout activity and cannot be deleted", a.sid)
	}
	for _, w := range c.ws.workers.all() {
		if w.activity == a.sid {
			return 0, nil, errParam("Activity %s is in use by worker %s and cannot be deleted", a.sid, w.sid)
		}
	}
	c.ws.activities.del(a.sid)
	return http.StatusNoContent, nil, nil
}
