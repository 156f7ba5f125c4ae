package emulator

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// This file serves the statistics endpoints. Cumulative figures count the
// records of the statistics log (stats_log.go) in a window; real-time
// figures read the current state. The definitions follow the OpenAPI
// description's field texts and Twilio's statistics pages; where they leave
// a choice open, the comment at the figure says which one is made.

// The statistics operations, by their operationId.
const (
	FetchWorkspaceStatistics              Endpoint = "FetchWorkspaceStatistics"
	FetchWorkspaceCumulativeStatistics    Endpoint = "FetchWorkspaceCumulativeStatistics"
	FetchWorkspaceRealTimeStatistics      Endpoint = "FetchWorkspaceRealTimeStatistics"
	FetchTaskQueueStatistics              Endpoint = "FetchTaskQueueStatistics"
	FetchTaskQueueCumulativeStatistics    Endpoint = "FetchTaskQueueCumulativeStatistics"
	FetchTaskQueueRealTimeStatistics      Endpoint = "FetchTaskQueueRealTimeStatistics"
	ListTaskQueuesStatistics              Endpoint = "ListTaskQueuesStatistics"
	CreateTaskQueueBulkRealTimeStatistics Endpoint = "CreateTaskQueueBulkRealTimeStatistics"
	FetchWorkerInstanceStatistics         Endpoint = "FetchWorkerInstanceStatistics"
	FetchWorkerStatistics                 Endpoint = "FetchWorkerStatistics"
	FetchWorkersCumulativeStatistics      Endpoint = "FetchWorkersCumulativeStatistics"
	FetchWorkersRealTimeStatistics        Endpoint = "FetchWorkersRealTimeStatistics"
	FetchWorkflowStatistics               Endpoint = "FetchWorkflowStatistics"
	FetchWorkflowCumulativeStatistics     Endpoint = "FetchWorkflowCumulativeStatistics"
	FetchWorkflowRealTimeStatistics       Endpoint = "FetchWorkflowRealTimeStatistics"
)

// defaultStatsWindow is the window when neither Minutes nor StartDate is
// given: "The default is 15 minutes" (the Minutes parameter).
const defaultStatsWindow = 15 * time.Minute

// maxBulkQueues is how many queues one bulk real-time request may name
// ("support upto 50 in a request", the operation's description).
const maxBulkQueues = 50

// statsRoutes registers the statistics operations. The list-level paths
// (…/TaskQueues/Statistics, …/Workers/CumulativeStatistics) share their
// shape with …/TaskQueues/{Sid}, so they get no any-method 405 route, which
// http.ServeMux would find in conflict with the GET and POST of {Sid}; the
// other methods there reach the resource routes, as a SID that is no SID.
func (e *Emulator) statsRoutes(ws string) {
	only := func(ep Endpoint, method, pattern string, h handler) {
		e.mux.HandleFunc(method+" "+pattern, func(w http.ResponseWriter, r *http.Request) { e.serve(w, r, ep, h) })
	}
	e.handle(FetchWorkspaceStatistics, "GET", ws+"/Statistics", e.workspaceStatistics)
	e.handle(FetchWorkspaceCumulativeStatistics, "GET", ws+"/CumulativeStatistics", e.workspaceCumulative)
	e.handle(FetchWorkspaceRealTimeStatistics, "GET", ws+"/RealTimeStatistics", e.workspaceRealTime)

	only(ListTaskQueuesStatistics, "GET", ws+"/TaskQueues/Statistics", e.listQueuesStatistics)
	only(CreateTaskQueueBulkRealTimeStatistics, "POST", ws+"/TaskQueues/RealTimeStatistics", e.bulkQueueRealTime)
	e.handle(FetchTaskQueueStatistics, "GET", ws+"/TaskQueues/{Sid}/Statistics", e.queueStatistics)
	e.handle(FetchTaskQueueCumulativeStatistics, "GET", ws+"/TaskQueues/{Sid}/CumulativeStatistics", e.queueCumulative)
	e.handle(FetchTaskQueueRealTimeStatistics, "GET", ws+"/TaskQueues/{Sid}/RealTimeStatistics", e.queueRealTime)

	only(FetchWorkerStatistics, "GET", ws+"/Workers/Statistics", e.workersStatistics)
	only(FetchWorkersCumulativeStatistics, "GET", ws+"/Workers/CumulativeStatistics", e.workersCumulative)
	only(FetchWorkersRealTimeStatistics, "GET", ws+"/Workers/RealTimeStatistics", e.workersRealTime)
	e.handle(FetchWorkerInstanceStatistics, "GET", ws+"/Workers/{Sid}/Statistics", e.workerStatistics)

	e.handle(FetchWorkflowStatistics, "GET", ws+"/Workflows/{Sid}/Statistics", e.workflowStatistics)
	e.handle(FetchWorkflowCumulativeStatistics, "GET", ws+"/Workflows/{Sid}/CumulativeStatistics", e.workflowCumulative)
	e.handle(FetchWorkflowRealTimeStatistics, "GET", ws+"/Workflows/{Sid}/RealTimeStatistics", e.workflowRealTime)
}

// statsQuery is a statistics request's parameters, checked.
type statsQuery struct {
	start, end time.Time
	splits     []int  // SplitByWaitTime thresholds, seconds, in the order given
	channel    string // task channel SID; "" for every channel
}

// parseStatsQuery reads the window (Minutes, or StartDate and EndDate: "Minutes
// cannot be used in combination with StartDate and EndDate", the TaskQueue
// statistics page), SplitByWaitTime and TaskChannel.
func (e *Emulator) parseStatsQuery(c *call) (statsQuery, *apiError) {
	now := e.clock.Now()
	q := statsQuery{end: now}
	start, err := dateParam(c, "StartDate")
	if err != nil {
		return q, err
	}
	end, err := dateParam(c, "EndDate")
	if err != nil {
		return q, err
	}
	window := defaultStatsWindow
	if s := c.query("Minutes"); s != "" {
		n, convErr := strconv.Atoi(s)
		if convErr != nil || n < 1 {
			return q, errParam("Invalid Minutes %q: want a positive number of minutes", s)
		}
		if !start.IsZero() || !end.IsZero() {
			return q, errParam("Minutes cannot be used in combination with StartDate and EndDate")
		}
		window = time.Duration(n) * time.Minute
	}
	if !end.IsZero() {
		q.end = end
	}
	q.start = q.end.Add(-window)
	if !start.IsZero() {
		q.start = start
	}
	if q.start.After(q.end) {
		return q, errParam("Invalid StartDate %s: after EndDate %s", twilioTime(q.start), twilioTime(q.end))
	}
	if q.splits, err = splitParam(c); err != nil {
		return q, err
	}
	q.channel, err = channelParam(c)
	return q, err
}

// dateParam is the ISO 8601 date-time query parameter k (zero when absent).
func dateParam(c *call, k string) (time.Time, *apiError) {
	s := c.query(k)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, errParam("Invalid %s %q: want an ISO 8601 date-time", k, s)
	}
	return t, nil
}

// splitParam is SplitByWaitTime: comma-separated thresholds in seconds.
func splitParam(c *call) ([]int, *apiError) {
	s := c.query("SplitByWaitTime")
	if s == "" {
		return nil, nil
	}
	var out []int
	for _, part := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || n < 0 {
			return nil, errParam("Invalid SplitByWaitTime %q: want comma-separated seconds", s)
		}
		out = append(out, n)
	}
	return out, nil
}

// channelParam is TaskChannel as a task channel SID ("" when absent): the
// channel's SID or its unique name, as the parameter's description allows.
func channelParam(c *call) (string, *apiError) {
	s := c.query("TaskChannel")
	if s == "" {
		return "", nil
	}
	if ch := c.ws.channel(s); ch != nil {
		return ch.sid, nil
	}
	return "", errParam("Invalid TaskChannel %q: no such task channel in workspace %s", s, c.ws.sid)
}

// tally is the cumulative figures of the records a filter keeps.
type tally struct {
	n                          [statWorkerGone + 1]int
	accepted, inQueue, aborted []time.Duration // waits: until accepted, in queue until accepted, until canceled
}

// tallyOf counts the window's records that keep accepts and, when q names
// a channel, that are about a task on that channel.
func tallyOf(recs span, q statsQuery, keep func(*statRec) bool) *tally {
	t := &tally{}
	recs.each(func(r *statRec) {
		if (q.channel != "" && r.channel != q.channel) || !keep(r) {
			return
		}
		t.n[r.kind]++
		switch r.kind {
		case statResAccepted:
			t.accepted = append(t.accepted, r.wait)
			t.inQueue = append(t.inQueue, r.inQueue)
		case statTaskCanceled:
			t.aborted = append(t.aborted, r.wait)
		}
	})
	return t
}

// seconds is d in whole seconds, as TaskRouter reports a task's age.
func seconds(d time.Duration) int { return int(d / time.Second) }

// durations is {avg, min, max, total} in seconds of the waits: each wait
// in whole seconds, the average rounded to the nearest second; all 0 when
// there is none.
func durations(ds []time.Duration) map[string]any {
	total, lo, hi := 0, 0, 0
	for i, d := range ds {
		s := seconds(d)
		total += s
		if i == 0 || s < lo {
			lo = s
		}
		hi = max(hi, s)
	}
	return map[string]any{"avg": average(total, len(ds)), "min": lo, "max": hi, "total": total}
}

func average(total, n int) int {
	if n == 0 {
		return 0
	}
	return int(math.Round(float64(total) / float64(n)))
}

// splitByWait is split_by_wait_time: per threshold, the tasks canceled and
// reservations accepted at most that many seconds after the task was
// created ("below": within the threshold, as an SLA reads it) and later
// ("above"); null when SplitByWaitTime was not asked for.
func (t *tally) splitByWait(thresholds []int) any {
	if thresholds == nil {
		return nil
	}
	out := map[string]any{}
	for _, th := range thresholds {
		var below, above [2]int // canceled, accepted
		for k, ds := range [][]time.Duration{t.aborted, t.accepted} {
			for _, d := range ds {
				if seconds(d) <= th {
					below[k]++
				} else {
					above[k]++
				}
			}
		}
		out[strconv.Itoa(th)] = map[string]any{
			"below": map[string]any{"tasks_canceled": below[0], "reservations_accepted": below[1]},
			"above": map[string]any{"tasks_canceled": above[0], "reservations_accepted": above[1]},
		}
	}
	return out
}

// reservationFigures puts the six reservation counts in m: reservations
// created, and ended by each outcome, within the window.
func (t *tally) reservationFigures(m map[string]any) {
	m["reservations_created"] = t.n[statResCreated]
	m["reservations_accepted"] = t.n[statResAccepted]
	m["reservations_rejected"] = t.n[statResRejected]
	m["reservations_timed_out"] = t.n[statResTimedOut]
	m["reservations_canceled"] = t.n[statResCanceled]
	m["reservations_rescinded"] = t.n[statResRescinded]
}

// taskFigures are what the workspace, queue and workflow cumulative
// statistics share: the reservation counts, the task outcomes, the waits
// (from the task's creation: "For transfers, the wait duration is counted
// from the moment the Task was created") and avg_task_acceptance_time,
// "the average time in seconds between Task creation and acceptance",
// which is wait_duration_until_accepted's avg.
func (t *tally) taskFigures(q statsQuery) map[string]any {
	m := map[string]any{
		"start_time": twilioTime(q.start), "end_time": twilioTime(q.end),
		"tasks_canceled": t.n[statTaskCanceled], "tasks_completed": t.n[statTaskCompleted],
		"tasks_deleted": t.n[statTaskDeleted], "tasks_moved": t.n[statTaskMoved],
		"wait_duration_until_accepted": durations(t.accepted),
		"wait_duration_until_canceled": durations(t.aborted),
		"avg_task_acceptance_time":     durations(t.accepted)["avg"],
		"split_by_wait_time":           t.splitByWait(q.splits),
	}
	t.reservationFigures(m)
	return m
}

// withIDs adds the account, workspace and url fields of a statistics
// resource to m.
func (e *Emulator) withIDs(c *call, m map[string]any, path string) map[string]any {
	m["account_sid"] = e.opt.AccountSid
	m["workspace_sid"] = c.ws.sid
	m["url"] = c.workspaceURL(c.ws.sid) + path
	return m
}

// cumulativeAnswer answers a CumulativeStatistics request: figures over the
// request's window, with the IDs and the url at path.
func (e *Emulator) cumulativeAnswer(c *call, path string, figures func(statsQuery, span) map[string]any) (int, any, *apiError) {
	q, recs, err := e.windowOf(c)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, e.withIDs(c, figures(q, recs), path), nil
}

// realTimeAnswer answers a RealTimeStatistics request: figures for the
// request's TaskChannel, with the IDs and the url at path.
func (e *Emulator) realTimeAnswer(c *call, path string, figures func(statsQuery) map[string]any) (int, any, *apiError) {
	q, err := realTimeQuery(c)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, e.withIDs(c, figures(q), path), nil
}

func (e *Emulator) windowOf(c *call) (statsQuery, span, *apiError) {
	q, err := e.parseStatsQuery(c)
	if err != nil {
		return q, span{}, err
	}
	return q, c.ws.stats.window(q.start, q.end, e.clock.Now()), nil
}

// ---- workspace ----

// workspaceCumulativeFigures: tasks_created counts task.created;
// tasks_timed_out_in_workflow counts workflow.timeout.
func workspaceCumulativeFigures(q statsQuery, recs span) map[string]any {
	t := tallyOf(recs, q, func(*statRec) bool { return true })
	m := t.taskFigures(q)
	m["tasks_created"] = t.n[statTaskCreated]
	m["tasks_timed_out_in_workflow"] = t.n[statTaskTimedOutInWorkflow]
	return m
}

// workspaceRealTimeFigures: with TaskChannel, the task figures count that
// channel's tasks and the worker figures that channel's workers
// (onChannel), as the workers' real-time statistics do.
func (e *Emulator) workspaceRealTimeFigures(c *call, q statsQuery) map[string]any {
	m := e.taskRealTime(c.ws, q, func(*task) bool { return true })
	workers := onChannel(c.ws.workers.all(), q.channel)
	m["total_workers"] = len(workers)
	m["activity_statistics"] = activityStatistics(c.ws, workers)
	return m
}

func (e *Emulator) workspaceCumulative(c *call) (int, any, *apiError) {
	return e.cumulativeAnswer(c, "/CumulativeStatistics", workspaceCumulativeFigures)
}

func (e *Emulator) workspaceRealTime(c *call) (int, any, *apiError) {
	return e.realTimeAnswer(c, "/RealTimeStatistics", func(q statsQuery) map[string]any { return e.workspaceRealTimeFigures(c, q) })
}

func (e *Emulator) workspaceStatistics(c *call) (int, any, *apiError) {
	q, recs, err := e.windowOf(c)
	if err != nil {
		return 0, nil, err
	}
	m := map[string]any{"cumulative": workspaceCumulativeFigures(q, recs), "realtime": e.workspaceRealTimeFigures(c, q)}
	return http.StatusOK, e.withIDs(c, m, "/Statistics"), nil
}

// realTimeQuery is a real-time request's one parameter, TaskChannel.
func realTimeQuery(c *call) (statsQuery, *apiError) {
	ch, err := channelParam(c)
	return statsQuery{channel: ch}, err
}

// ---- real time ----

// liveStatuses are the keys of tasks_by_status, as Twilio's examples show
// them: the statuses of a task not yet completed or canceled.
func liveStatuses() []string { return []string{taskPending, taskReserved, taskAssigned, taskWrapping} }

// taskRealTime is the real-time figures about tasks that keep accepts,
// counting only those neither completed nor canceled: tasks_by_status,
// tasks_by_priority, total_tasks, and the longest waiting (pending or
// reserved, that is not yet accepted) task by age since creation.
func (e *Emulator) taskRealTime(ws *workspace, q statsQuery, keep func(*task) bool) map[string]any {
	now := e.clock.Now()
	byStatus := map[string]any{}
	for _, s := range liveStatuses() {
		byStatus[s] = 0
	}
	byPriority := map[string]any{}
	total := 0
	var oldest *task
	for _, t := range ws.tasks.all() {
		if t.final() || (q.channel != "" && t.channel != q.channel) || !keep(t) {
			continue
		}
		total++
		byStatus[t.status] = byStatus[t.status].(int) + 1
		p := strconv.Itoa(t.priority)
		n, _ := byPriority[p].(int)
		byPriority[p] = n + 1
		if notYetAccepted(t) && (oldest == nil || t.created.Before(oldest.created)) {
			oldest = t
		}
	}
	m := map[string]any{"tasks_by_status": byStatus, "tasks_by_priority": byPriority, "total_tasks": total,
		"longest_task_waiting_age": 0, "longest_task_waiting_sid": nil}
	if oldest != nil {
		m["longest_task_waiting_age"] = seconds(now.Sub(oldest.created))
		m["longest_task_waiting_sid"] = oldest.sid
	}
	return m
}

func notYetAccepted(t *task) bool { return t.status == taskPending || t.status == taskReserved }

// activityStatistics is activity_statistics: per activity of the
// workspace, in its order, how many of workers are in it now.
func activityStatistics(ws *workspace, workers []*worker) []map[string]any {
	n := map[string]int{}
	for _, w := range workers {
		n[w.activity]++
	}
	out := []map[string]any{}
	for _, a := range ws.activities.all() {
		out = append(out, map[string]any{"sid": a.sid, "friendly_name": a.name, "workers": n[a.sid]})
	}
	return out
}

// ---- task queues ----

// eligibleWorkers are the workers the queue's target_workers matches,
// "independent of their Activity state" (total_eligible_workers).
func eligibleWorkers(ws *workspace, q *queue) []*worker {
	var out []*worker
	for _, w := range ws.workers.all() {
		if q.serves(w) {
			out = append(out, w)
		}
	}
	return out
}

// queueCumulativeFigures counts what happened in the queue: tasks_entered
// counts task-queue.entered; tasks_moved counts the tasks moved out of it
// (task-queue.moved, by the queue left); a task's outcome (canceled,
// completed, deleted) counts for the queue it was in; and
// wait_duration_in_queue_until_accepted measures from when the task
// entered the queue.
func queueCumulativeFigures(qs *queue, q statsQuery, recs span) map[string]any {
	t := tallyOf(recs, q, func(r *statRec) bool { return r.queue == qs.sid })
	m := t.taskFigures(q)
	m["tasks_entered"] = t.n[statTaskEntered]
	m["wait_duration_in_queue_until_accepted"] = durations(t.inQueue)
	m["task_queue_sid"] = qs.sid
	return m
}

// queueRealTimeFigures: total_available_workers counts the eligible
// workers in an available activity ("may already have active
// interactions"); the longest relative wait measures from when the task
// entered the queue.
func (e *Emulator) queueRealTimeFigures(ws *workspace, qs *queue, q statsQuery) map[string]any {
	m := e.taskRealTime(ws, q, func(t *task) bool { return t.queue == qs.sid })
	eligible := eligibleWorkers(ws, qs)
	avail := 0
	for _, w := range eligible {
		if ws.available(w) && availableOn(w, q.channel) {
			avail++
		}
	}
	m["total_eligible_workers"] = len(eligible)
	m["total_available_workers"] = avail
	m["activity_statistics"] = activityStatistics(ws, eligible)
	m["task_queue_sid"] = qs.sid
	m["longest_relative_task_age_in_queue"], m["longest_relative_task_sid_in_queue"] = 0, nil
	if t := longestInQueue(ws, qs, q); t != nil {
		m["longest_relative_task_age_in_queue"] = seconds(e.clock.Now().Sub(t.queueEntered))
		m["longest_relative_task_sid_in_queue"] = t.sid
	}
	return m
}

// availableOn reports whether w takes tasks of channel ch (any channel
// when ch is ""): its worker channel there is available, with capacity.
func availableOn(w *worker, ch string) bool {
	if ch == "" {
		return true
	}
	wc := w.chans[ch]
	return wc != nil && wc.available && wc.capacity > 0
}

// onChannel is the workers who take tasks of channel ch (all when ch is
// ""). "Only calculate real-time statistics on this TaskChannel" (the
// parameter's one description) leaves the worker figures' reading open;
// the emulator reads it as the workers the channel can route to now, their
// worker channel for it available with capacity above 0, whatever their
// activity (activity_statistics then splits them by activity).
func onChannel(workers []*worker, ch string) []*worker {
	if ch == "" {
		return workers
	}
	var out []*worker
	for _, w := range workers {
		if availableOn(w, ch) {
			out = append(out, w)
		}
	}
	return out
}

func longestInQueue(ws *workspace, qs *queue, q statsQuery) *task {
	var oldest *task
	for _, t := range ws.open {
		if t.queue == qs.sid && (q.channel == "" || t.channel == q.channel) &&
			(oldest == nil || t.queueEntered.Before(oldest.queueEntered) ||
				(t.queueEntered.Equal(oldest.queueEntered) && t.sid < oldest.sid)) {
			oldest = t
		}
	}
	return oldest
}

func (e *Emulator) queueOf(c *call) (*queue, *apiError) { return e.queueResource().bySid(c) }

func (e *Emulator) queueCumulative(c *call) (int, any, *apiError) {
	qs, err := e.queueOf(c)
	if err != nil {
		return 0, nil, err
	}
	return e.cumulativeAnswer(c, "/TaskQueues/"+qs.sid+"/CumulativeStatistics",
		func(q statsQuery, recs span) map[string]any { return queueCumulativeFigures(qs, q, recs) })
}

func (e *Emulator) queueRealTime(c *call) (int, any, *apiError) {
	qs, err := e.queueOf(c)
	if err != nil {
		return 0, nil, err
	}
	return e.realTimeAnswer(c, "/TaskQueues/"+qs.sid+"/RealTimeStatistics",
		func(q statsQuery) map[string]any { return e.queueRealTimeFigures(c.ws, qs, q) })
}

// queueBoth is a queue's Statistics: both figures under cumulative and
// realtime.
func (e *Emulator) queueBoth(c *call, qs *queue, q statsQuery, recs span) map[string]any {
	return map[string]any{
		"account_sid": e.opt.AccountSid, "workspace_sid": c.ws.sid, "task_queue_sid": qs.sid,
		"cumulative": queueCumulativeFigures(qs, q, recs), "realtime": e.queueRealTimeFigures(c.ws, qs, q),
	}
}

func (e *Emulator) queueStatistics(c *call) (int, any, *apiError) {
	qs, err := e.queueOf(c)
	if err != nil {
		return 0, nil, err
	}
	q, recs, err := e.windowOf(c)
	if err != nil {
		return 0, nil, err
	}
	m := e.queueBoth(c, qs, q, recs)
	m["url"] = c.workspaceURL(c.ws.sid) + "/TaskQueues/" + qs.sid + "/Statistics"
	return http.StatusOK, m, nil
}

// listQueuesStatistics is every queue's Statistics (FriendlyName: one
// queue's), as a list page.
func (e *Emulator) listQueuesStatistics(c *call) (int, any, *apiError) {
	q, recs, err := e.windowOf(c)
	if err != nil {
		return 0, nil, err
	}
	name := c.query("FriendlyName")
	var queues []*queue
	for _, qs := range c.ws.queues.all() {
		if name == "" || qs.name == name {
			queues = append(queues, qs)
		}
	}
	body, err := page(c.r, c.base, "task_queues_statistics", queues, func(qs *queue) map[string]any { return e.queueBoth(c, qs, q, recs) })
	return http.StatusOK, body, err
}

// bulkQueueRealTime is the real-time statistics of up to 50 queues. The
// OpenAPI description leaves the JSON body's schema open; the queues are
// read from its "TaskQueueSids" array, and all the workspace's (at most
// 50) are answered when the body names none.
func (e *Emulator) bulkQueueRealTime(c *call) (int, any, *apiError) {
	sids, err := bulkQueueSids(c)
	if err != nil {
		return 0, nil, err
	}
	var queues []*queue
	for _, sid := range sids {
		qs := c.ws.queues.get(sid)
		if qs == nil {
			return 0, nil, errParam("Invalid TaskQueueSids: task queue %s not found in workspace %s", sid, c.ws.sid)
		}
		queues = append(queues, qs)
	}
	if sids == nil {
		queues = c.ws.queues.all()
	}
	if len(queues) > maxBulkQueues {
		return 0, nil, errParam("Invalid TaskQueueSids: at most %d task queues in one request, got %d", maxBulkQueues, len(queues))
	}
	data := []map[string]any{}
	for _, qs := range queues {
		m := e.queueRealTimeFigures(c.ws, qs, statsQuery{})
		delete(m, "longest_relative_task_age_in_queue") // not among task_queue_data's attributes
		delete(m, "longest_relative_task_sid_in_queue")
		data = append(data, m)
	}
	m := map[string]any{"task_queue_data": data, "task_queue_response_count": len(data)}
	return http.StatusOK, e.withIDs(c, m, "/TaskQueues/RealTimeStatistics"), nil
}

// bulkQueueSids is the body's "TaskQueueSids" (nil when the body names
// none). The operation documents no body fields, so any other key, a
// TaskChannel as well, is refused by name (or, with AllowUnsupported,
// ignored) rather than dropped unseen. serve has read the body already,
// before taking e.mu.
func bulkQueueSids(c *call) ([]string, *apiError) {
	raw, readErr := io.ReadAll(c.r.Body)
	if readErr != nil || len(bytes.TrimSpace(raw)) == 0 {
		return nil, nil
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(raw, &body); err != nil {
		return nil, errBulkBody()
	}
	keys := make([]string, 0, len(body))
	for k := range body {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "TaskQueueSids" {
			continue
		}
		if err := c.unsupported(CreateTaskQueueBulkRealTimeStatistics, k); err != nil {
			return nil, err
		}
	}
	var sids []string
	if s, ok := body["TaskQueueSids"]; ok {
		if err := json.Unmarshal(s, &sids); err != nil {
			return nil, errBulkBody()
		}
	}
	return sids, nil
}

func errBulkBody() *apiError {
	return errParam("Invalid body: want a JSON object with TaskQueueSids, a list of task queue SIDs")
}

// ---- workflows ----

// workflowCumulativeFigures: tasks_entered counts workflow.entered, so a
// task a RoutingTarget sends straight to a queue, which never enters the
// workflow (no workflow.entered), is not counted; the rest as for the
// workspace, for the workflow's tasks.
func workflowCumulativeFigures(wf *workflow, q statsQuery, recs span) map[string]any {
	t := tallyOf(recs, q, func(r *statRec) bool { return r.workflow == wf.sid })
	m := t.taskFigures(q)
	m["tasks_entered"] = t.n[statTaskEnteredWorkflow]
	m["tasks_timed_out_in_workflow"] = t.n[statTaskTimedOutInWorkflow]
	m["workflow_sid"] = wf.sid
	return m
}

func (e *Emulator) workflowRealTimeFigures(ws *workspace, wf *workflow, q statsQuery) map[string]any {
	m := e.taskRealTime(ws, q, func(t *task) bool { return t.workflow == wf.sid })
	m["workflow_sid"] = wf.sid
	return m
}

func (e *Emulator) workflowCumulative(c *call) (int, any, *apiError) {
	wf, err := e.workflowResource().bySid(c)
	if err != nil {
		return 0, nil, err
	}
	return e.cumulativeAnswer(c, "/Workflows/"+wf.sid+"/CumulativeStatistics",
		func(q statsQuery, recs span) map[string]any { return workflowCumulativeFigures(wf, q, recs) })
}

func (e *Emulator) workflowRealTime(c *call) (int, any, *apiError) {
	wf, err := e.workflowResource().bySid(c)
	if err != nil {
		return 0, nil, err
	}
	return e.realTimeAnswer(c, "/Workflows/"+wf.sid+"/RealTimeStatistics",
		func(q statsQuery) map[string]any { return e.workflowRealTimeFigures(c.ws, wf, q) })
}

func (e *Emulator) workflowStatistics(c *call) (int, any, *apiError) {
	wf, err := e.workflowResource().bySid(c)
	if err != nil {
		return 0, nil, err
	}
	q, recs, err := e.windowOf(c)
	if err != nil {
		return 0, nil, err
	}
	m := map[string]any{"workflow_sid": wf.sid,
		"cumulative": workflowCumulativeFigures(wf, q, recs), "realtime": e.workflowRealTimeFigures(c.ws, wf, q)}
	return http.StatusOK, e.withIDs(c, m, "/Workflows/"+wf.sid+"/Statistics"), nil
}

// ---- workers ----

// workersCumulativeFigures are the reservations of the workers keep
// accepts and activity_durations: per activity, the time those workers
// spent in it within the window, over their stays in it (each stay cut to
// the window): min, max, avg (rounded) and total seconds.
func (e *Emulator) workersCumulativeFigures(ws *workspace, q statsQuery, recs span, keep func(sid string) bool) map[string]any {
	t := tallyOf(recs, q, func(r *statRec) bool { return r.worker != "" && keep(r.worker) })
	m := map[string]any{"start_time": twilioTime(q.start), "end_time": twilioTime(q.end),
		"activity_durations": e.activityDurations(ws, q, keep)}
	t.reservationFigures(m)
	return m
}

// stay is the time workers spent in one activity: how many stays, and
// their total, shortest and longest, in seconds.
type stay struct{ n, total, lo, hi int }

func (s *stay) add(d time.Duration) {
	sec := seconds(d)
	if s.n == 0 || sec < s.lo {
		s.lo = sec
	}
	s.hi = max(s.hi, sec)
	s.n++
	s.total += sec
}

// since is a worker's current activity and when it began.
type since struct {
	act string
	at  time.Time
}

// replay rebuilds the workers' stays in their activities from the log,
// each cut to the window.
type replay struct {
	q     statsQuery
	open  map[string]since // by worker
	stays map[string]*stay // by activity
}

// activityDurations replays the workers' activity records up to now, not
// just to the window's end: a worker's first change after the window is
// what says which activity it spent the window in (closeStay cuts every
// stay to the window). A worker's stay before its first record counts from
// its creation; a worker with no record at all, from its current
// activity's start (date_status_changed); a stay still open ends now.
func (e *Emulator) activityDurations(ws *workspace, q statsQuery, keep func(string) bool) []map[string]any {
	rp := &replay{q: q, open: map[string]since{}, stays: map[string]*stay{}}
	now := e.clock.Now()
	ws.stats.window(time.Time{}, now, now).each(func(r *statRec) {
		if (r.kind == statWorkerActivity || r.kind == statWorkerGone) && keep(r.worker) {
			rp.record(ws, r)
		}
	})
	for _, w := range ws.workers.all() {
		if _, ok := rp.open[w.sid]; !ok && keep(w.sid) && w.statusSince.Before(q.end) {
			rp.open[w.sid] = since{w.activity, w.statusSince}
		}
	}
	end := q.end
	if now := e.clock.Now(); now.Before(end) {
		end = now
	}
	for _, s := range sortedStays(rp.open) {
		rp.closeStay(s, end)
	}
	return rp.figures(ws)
}

// record is one worker record: the stay it ends, and the one it begins.
func (rp *replay) record(ws *workspace, r *statRec) {
	if s, ok := rp.open[r.worker]; ok {
		rp.closeStay(s, r.at)
	} else if w := ws.workers.get(r.worker); w != nil && r.from != "" {
		// The first change seen: the worker was in r.from since it was
		// created (a loaded workspace's workers have no worker.created).
		rp.closeStay(since{r.from, w.created}, r.at)
	}
	delete(rp.open, r.worker)
	if r.kind == statWorkerActivity {
		rp.open[r.worker] = since{r.activity, r.at}
	}
}

// closeStay counts the part of stay s, ended at to, inside the window.
func (rp *replay) closeStay(s since, to time.Time) {
	from := s.at
	if from.Before(rp.q.start) {
		from = rp.q.start
	}
	if to.After(rp.q.end) {
		to = rp.q.end
	}
	if !to.After(from) {
		return
	}
	if rp.stays[s.act] == nil {
		rp.stays[s.act] = &stay{}
	}
	rp.stays[s.act].add(to.Sub(from))
}

// figures is activity_durations: every activity of the workspace, in its
// order, zeros where no stay counted.
func (rp *replay) figures(ws *workspace) []map[string]any {
	out := []map[string]any{}
	for _, a := range ws.activities.all() {
		s := rp.stays[a.sid]
		if s == nil {
			s = &stay{}
		}
		out = append(out, map[string]any{"sid": a.sid, "friendly_name": a.name,
			"min": s.lo, "max": s.hi, "avg": average(s.total, s.n), "total": s.total})
	}
	return out
}

// sortedStays is the open stays in worker order, so the figures do not
// depend on map order.
func sortedStays[T any](m map[string]T) []T {
	out := make([]T, 0, len(m))
	for _, k := range sortedKeys(m) {
		out = append(out, m[k])
	}
	return out
}

func workersRealTimeFigures(ws *workspace, workers []*worker) map[string]any {
	return map[string]any{"total_workers": len(workers), "activity_statistics": activityStatistics(ws, workers)}
}

func everyone(string) bool { return true }

func (e *Emulator) workersCumulative(c *call) (int, any, *apiError) {
	return e.cumulativeAnswer(c, "/Workers/CumulativeStatistics",
		func(q statsQuery, recs span) map[string]any {
			return e.workersCumulativeFigures(c.ws, q, recs, everyone)
		})
}

func (e *Emulator) workersRealTime(c *call) (int, any, *apiError) {
	return e.realTimeAnswer(c, "/Workers/RealTimeStatistics",
		func(q statsQuery) map[string]any {
			return workersRealTimeFigures(c.ws, onChannel(c.ws.workers.all(), q.channel))
		})
}

// workersStatistics is the workers' Statistics, of the workers a queue
// targets (TaskQueueSid, TaskQueueName) or of one name (FriendlyName).
func (e *Emulator) workersStatistics(c *call) (int, any, *apiError) {
	workers, err := e.workersNamed(c)
	if err != nil {
		return 0, nil, err
	}
	q, recs, err := e.windowOf(c)
	if err != nil {
		return 0, nil, err
	}
	in := map[string]bool{}
	for _, w := range workers {
		in[w.sid] = true
	}
	keep := func(sid string) bool { return in[sid] }
	m := map[string]any{"cumulative": e.workersCumulativeFigures(c.ws, q, recs, keep),
		"realtime": workersRealTimeFigures(c.ws, onChannel(workers, q.channel))}
	return http.StatusOK, e.withIDs(c, m, "/Workers/Statistics"), nil
}

// workersNamed is the workers the filters of /Workers/Statistics select.
func (e *Emulator) workersNamed(c *call) ([]*worker, *apiError) {
	qs, err := queueFilter(c)
	if err != nil {
		return nil, err
	}
	workers := c.ws.workers.all()
	if qs != nil {
		workers = eligibleWorkers(c.ws, qs)
	}
	name := c.query("FriendlyName")
	var out []*worker
	for _, w := range workers {
		if name == "" || w.name == name {
			out = append(out, w)
		}
	}
	return out, nil
}

// workerStatistics is one worker's Statistics: its cumulative figures.
func (e *Emulator) workerStatistics(c *call) (int, any, *apiError) {
	w, err := e.workerResource().bySid(c)
	if err != nil {
		return 0, nil, err
	}
	q, recs, err := e.windowOf(c)
	if err != nil {
		return 0, nil, err
	}
	m := map[string]any{"worker_sid": w.sid,
		"cumulative": e.workersCumulativeFigures(c.ws, q, recs, func(sid string) bool { return sid == w.sid })}
	return http.StatusOK, e.withIDs(c, m, "/Workers/"+w.sid+"/Statistics"), nil
}
