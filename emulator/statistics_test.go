package emulator_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	openapi "github.com/twilio/twilio-go/rest/taskrouter/v1"

	"github.com/assignd/assignd/emulator"
)

// statsDay is a scripted stretch of a contact center on a ManualClock,
// every step at a known second after epoch, in the tutorial's English
// queue (tasks without selected_language) with four English speakers who
// start Offline:
//
//	 0-4  tasks T1…T5 created, one a second
//	10    Alice Idle: reserved for T1;  Bob Idle: reserved for T2
//	15    Alice accepts T1                       (T1 waited 15 s)
//	20    Bob rejects T2, going Offline
//	22    Carol Idle: reserved for T2
//	30    Carol accepts T2                       (T2 waited 29 s)
//	31    T4 canceled while waiting              (T4 waited 28 s)
//	35    Dave Idle: reserved for T3
//	40    Dave accepts T3                        (T3 waited 38 s)
//	45    Alice Offline (so T5 is not offered to her)
//	50    T1 completed; T5 still waits
type statsDay struct {
	h     *harness
	clock *emulator.ManualClock
	l     emulator.Loaded
	ws    string
	tasks [5]string
	queue string // English
	flow  string
	at    time.Duration // where the script's clock is, after epoch
}

func runStatsDay(t *testing.T) *statsDay {
	t.Helper()
	clock := emulator.NewManualClock(epoch)
	h := newHarness(t, emulator.Options{Clock: clock})
	spec := emulator.Tutorial()
	for _, name := range []string{"Carol", "Dave"} {
		spec.Workers = append(spec.Workers, emulator.WorkerSpec{Name: name, Attributes: map[string]any{"languages": []any{"en"}}})
	}
	l, err := h.emu.Load(spec)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	d := &statsDay{h: h, clock: clock, l: l, ws: l.Workspace,
		queue: l.TaskQueues["Customer Care Requests - English"], flow: l.Workflows["Tutorial Workflow"]}
	for i := range d.tasks {
		d.to(time.Duration(i) * time.Second)
		d.tasks[i] = *h.createTask(d.ws, d.flow, `{}`).Sid
	}
	idle, offline := l.Activities["Idle"], l.Activities["Offline"]
	d.to(10 * time.Second)
	h.setActivity(d.ws, l.Workers["Alice"], idle)
	h.setActivity(d.ws, l.Workers["Bob"], idle)
	d.to(15 * time.Second)
	d.answer(0, (&openapi.UpdateTaskReservationParams{}).SetReservationStatus("accepted"))
	d.to(20 * time.Second)
	d.answer(1, (&openapi.UpdateTaskReservationParams{}).SetReservationStatus("rejected").SetWorkerActivitySid(offline))
	d.to(22 * time.Second)
	h.setActivity(d.ws, l.Workers["Carol"], idle)
	d.to(30 * time.Second)
	d.answer(1, (&openapi.UpdateTaskReservationParams{}).SetReservationStatus("accepted"))
	d.to(31 * time.Second)
	d.setTask(3, "canceled")
	d.to(35 * time.Second)
	h.setActivity(d.ws, l.Workers["Dave"], idle)
	d.to(40 * time.Second)
	d.answer(2, (&openapi.UpdateTaskReservationParams{}).SetReservationStatus("accepted"))
	d.to(45 * time.Second)
	h.setActivity(d.ws, l.Workers["Alice"], offline)
	d.to(50 * time.Second)
	d.setTask(0, "completed")
	return d
}

// to advances the clock to at after epoch.
func (d *statsDay) to(at time.Duration) {
	d.clock.Advance(at - d.at)
	d.at = at
}

// answer updates task i's pending reservation.
func (d *statsDay) answer(i int, p *openapi.UpdateTaskReservationParams) {
	d.h.t.Helper()
	for _, r := range d.h.reservations(d.ws, d.tasks[i]) {
		if str(r.ReservationStatus) == "pending" {
			if _, err := d.h.api.UpdateTaskReservation(d.ws, d.tasks[i], *r.Sid, p); err != nil {
				d.h.t.Fatalf("UpdateTaskReservation of T%d: %v", i+1, err)
			}
			return
		}
	}
	d.h.t.Fatalf("T%d has no pending reservation", i+1)
}

func (d *statsDay) setTask(i int, status string) {
	d.h.t.Helper()
	if _, err := d.h.api.UpdateTask(d.ws, d.tasks[i], (&openapi.UpdateTaskParams{}).SetAssignmentStatus(status)); err != nil {
		d.h.t.Fatalf("UpdateTask T%d to %s: %v", i+1, status, err)
	}
}

// figures is a decoded answer as JSON fields: what twilio-go decoded,
// encoded again, so a figure it could not decode is missing here.
func figures(t *testing.T, v any, err error) map[string]any {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(v)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// sub is the object under key k of m.
func sub(m map[string]any, k string) map[string]any {
	s, _ := m[k].(map[string]any)
	return s
}

// expect compares the figures want names with got's; twilio-go leaves out
// integer fields that are 0 (omitempty), so a missing figure reads 0.
func expect(t *testing.T, what string, got, want map[string]any) {
	t.Helper()
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			g = 0.0
		}
		if js(g) != js(w) {
			t.Errorf("%s: %s = %s, want %s", what, k, js(g), js(w))
		}
	}
}

func js(v any) string {
	b, _ := json.Marshal(v)
	var norm any
	_ = json.Unmarshal(b, &norm)
	b, _ = json.Marshal(norm)
	return string(b)
}

// wait is {avg, min, max, total} of waits in seconds, computed here from
// the script, the average rounded to the nearest second.
func wait(secs ...int) map[string]any {
	if len(secs) == 0 {
		return map[string]any{"avg": 0, "min": 0, "max": 0, "total": 0}
	}
	lo, hi, total := secs[0], secs[0], 0
	for _, s := range secs {
		lo, hi, total = min(lo, s), max(hi, s), total+s
	}
	return map[string]any{"avg": (2*total + len(secs)) / (2 * len(secs)), "min": lo, "max": hi, "total": total}
}

// split is one threshold of split_by_wait_time, from the waits of the
// tasks canceled and the reservations accepted: at most th seconds is
// below.
func split(th int, canceled, accepted []int) map[string]any {
	count := func(ws []int, below bool) int {
		n := 0
		for _, w := range ws {
			if (w <= th) == below {
				n++
			}
		}
		return n
	}
	return map[string]any{
		"below": map[string]any{"tasks_canceled": count(canceled, true), "reservations_accepted": count(accepted, true)},
		"above": map[string]any{"tasks_canceled": count(canceled, false), "reservations_accepted": count(accepted, false)},
	}
}

// The script's figures, by hand: T1 accepted at 15 (created 0), T2 at 30
// (created 1), T3 at 40 (created 2); T4 canceled at 31 (created 3). Every
// task entered the English queue when created, so the waits in the queue
// are the same.
var (
	dayAccepted = []int{15 - 0, 30 - 1, 40 - 2}
	dayCanceled = []int{31 - 3}
)

func dayCumulative() map[string]any {
	return map[string]any{
		"reservations_created": 4, "reservations_accepted": 3, "reservations_rejected": 1,
		"reservations_timed_out": 0, "reservations_canceled": 0, "reservations_rescinded": 0,
		"tasks_canceled": 1, "tasks_completed": 1, "tasks_deleted": 0, "tasks_moved": 0,
		"wait_duration_until_accepted": wait(dayAccepted...),
		"wait_duration_until_canceled": wait(dayCanceled...),
		"avg_task_acceptance_time":     wait(dayAccepted...)["avg"],
		"split_by_wait_time": map[string]any{
			"10": split(10, dayCanceled, dayAccepted), "30": split(30, dayCanceled, dayAccepted)},
	}
}

// The example: cumulative statistics after a scripted day equal
// the figures computed by hand, for the workspace, the queue, the workflow
// and the workers.
func TestCumulativeStatisticsOfAScriptedDay(t *testing.T) {
	d := runStatsDay(t)
	api, splits := d.h.api, "10,30"

	ws := dayCumulative()
	ws["tasks_created"], ws["tasks_timed_out_in_workflow"] = 5, 0
	got, err := api.FetchWorkspaceCumulativeStatistics(d.ws, (&openapi.FetchWorkspaceCumulativeStatisticsParams{}).SetSplitByWaitTime(splits))
	expect(t, "workspace", figures(t, got, err), ws)

	q := dayCumulative()
	q["tasks_entered"], q["wait_duration_in_queue_until_accepted"] = 5, wait(dayAccepted...)
	gotQ, err := api.FetchTaskQueueCumulativeStatistics(d.ws, d.queue, (&openapi.FetchTaskQueueCumulativeStatisticsParams{}).SetSplitByWaitTime(splits))
	expect(t, "English queue", figures(t, gotQ, err), q)

	wf := dayCumulative()
	wf["tasks_entered"], wf["tasks_timed_out_in_workflow"] = 5, 0
	gotWf, err := api.FetchWorkflowCumulativeStatistics(d.ws, d.flow, (&openapi.FetchWorkflowCumulativeStatisticsParams{}).SetSplitByWaitTime(splits))
	expect(t, "workflow", figures(t, gotWf, err), wf)

	// The combined Statistics carry the same cumulative figures.
	both, err := api.FetchWorkspaceStatistics(d.ws, (&openapi.FetchWorkspaceStatisticsParams{}).SetSplitByWaitTime(splits))
	expect(t, "workspace Statistics.cumulative", sub(figures(t, both, err), "cumulative"), ws)
	bothQ, err := api.FetchTaskQueueStatistics(d.ws, d.queue, (&openapi.FetchTaskQueueStatisticsParams{}).SetSplitByWaitTime(splits))
	expect(t, "queue Statistics.cumulative", sub(figures(t, bothQ, err), "cumulative"), q)
	bothWf, err := api.FetchWorkflowStatistics(d.ws, d.flow, (&openapi.FetchWorkflowStatisticsParams{}).SetSplitByWaitTime(splits))
	expect(t, "workflow Statistics.cumulative", sub(figures(t, bothWf, err), "cumulative"), wf)

	// The Spanish queue saw none of it.
	gotEs, err := api.FetchTaskQueueCumulativeStatistics(d.ws, d.l.TaskQueues["Customer Care Requests - Spanish"], nil)
	expect(t, "Spanish queue", figures(t, gotEs, err), map[string]any{"tasks_entered": 0, "reservations_created": 0, "wait_duration_until_accepted": wait()})

	workers, err := api.FetchWorkersCumulativeStatistics(d.ws, nil)
	expect(t, "workers", figures(t, workers, err), map[string]any{
		"reservations_created": 4, "reservations_accepted": 3, "reservations_rejected": 1})
}

// One worker's Statistics: its reservations, and activity_durations, the
// time it spent in each activity within the window, over its stays.
func TestWorkerStatisticsOfAScriptedDay(t *testing.T) {
	d := runStatsDay(t)
	act := d.l.Activities
	durations := func(m map[string]any) map[string]any {
		out := map[string]any{}
		for _, a := range m["activity_durations"].([]any) {
			a := a.(map[string]any)
			if a["sid"] != act[a["friendly_name"].(string)] {
				t.Errorf("activity %v: sid %v", a["friendly_name"], a["sid"])
			}
			out[a["friendly_name"].(string)] = map[string]any{"avg": a["avg"], "min": a["min"], "max": a["max"], "total": a["total"]}
		}
		return out
	}
	for _, c := range []struct {
		name        string
		reservation map[string]any
		stays       map[string]any
	}{
		// Offline 0-10 and 20-50, Idle 10-20.
		{"Bob", map[string]any{"reservations_created": 1, "reservations_accepted": 0, "reservations_rejected": 1},
			map[string]any{"Offline": wait(10, 30), "Idle": wait(20 - 10), "Busy": wait()}},
		// Offline 0-10 and 45-50, Idle 10-45.
		{"Alice", map[string]any{"reservations_created": 1, "reservations_accepted": 1, "reservations_rejected": 0},
			map[string]any{"Offline": wait(10, 5), "Idle": wait(45 - 10), "Busy": wait()}},
	} {
		got, err := d.h.api.FetchWorkerInstanceStatistics(d.ws, d.l.Workers[c.name], nil)
		cum := sub(figures(t, got, err), "cumulative")
		expect(t, c.name, cum, c.reservation)
		expect(t, c.name+" activity_durations", durations(cum), c.stays)
	}

	// The workers a queue targets: Spanish is Alice alone.
	es, err := d.h.api.FetchWorkerStatistics(d.ws, (&openapi.FetchWorkerStatisticsParams{}).SetTaskQueueName("Customer Care Requests - Spanish"))
	m := figures(t, es, err)
	expect(t, "Spanish workers realtime", sub(m, "realtime"), map[string]any{"total_workers": 1})
	expect(t, "Spanish workers cumulative", sub(m, "cumulative"), map[string]any{"reservations_created": 1, "reservations_accepted": 1})
}

// Minutes, StartDate and EndDate count the events inside the window, ends
// included, and leave out the others.
func TestStatisticsWindows(t *testing.T) {
	d := runStatsDay(t)
	api := d.h.api
	at := func(s int) time.Time { return epoch.Add(time.Duration(s) * time.Second) }

	// 21-35: Carol reserved (22) and accepting T2 (30, waited 29), T4
	// canceled (31), Dave reserved (35, the end included); not Bob's
	// rejection at 20.
	got, err := api.FetchWorkspaceCumulativeStatistics(d.ws, (&openapi.FetchWorkspaceCumulativeStatisticsParams{}).SetStartDate(at(21)).SetEndDate(at(35)))
	m := figures(t, got, err)
	expect(t, "21-35", m, map[string]any{"reservations_created": 2, "reservations_accepted": 1, "reservations_rejected": 0,
		"tasks_created": 0, "tasks_canceled": 1, "tasks_completed": 0,
		"wait_duration_until_accepted": wait(30 - 1), "start_time": "2026-01-02T03:04:26Z", "end_time": "2026-01-02T03:04:40Z"})

	// At 95, the last minute is 35-95: Dave reserved and accepting, T1
	// completed.
	d.to(95 * time.Second)
	got, err = api.FetchWorkspaceCumulativeStatistics(d.ws, (&openapi.FetchWorkspaceCumulativeStatisticsParams{}).SetMinutes(1))
	expect(t, "last minute at 95", figures(t, got, err), map[string]any{"reservations_created": 1, "reservations_accepted": 1,
		"tasks_completed": 1, "tasks_created": 0, "wait_duration_until_accepted": wait(40 - 2)})

	// By default the last 15 minutes: at 95 all of the day, at 16 minutes
	// past 50 none of it.
	got, err = api.FetchWorkspaceCumulativeStatistics(d.ws, nil)
	expect(t, "default window at 95", figures(t, got, err), map[string]any{"tasks_created": 5, "reservations_created": 4})
	d.to(50*time.Second + 16*time.Minute)
	got, err = api.FetchWorkspaceCumulativeStatistics(d.ws, nil)
	expect(t, "default window 16 minutes later", figures(t, got, err), map[string]any{"tasks_created": 0, "reservations_created": 0,
		"wait_duration_until_accepted": wait()})
	gotQ, err := api.FetchTaskQueueCumulativeStatistics(d.ws, d.queue, (&openapi.FetchTaskQueueCumulativeStatisticsParams{}).SetMinutes(20))
	expect(t, "queue, last 20 minutes", figures(t, gotQ, err), map[string]any{"tasks_entered": 5, "reservations_accepted": 3})
}

// What the statistics endpoints refuse: 400 20001 naming the parameter.
func TestStatisticsRefuseInvalidParameters(t *testing.T) {
	d := runStatsDay(t)
	base := d.h.srv.URL + "/v1/Workspaces/" + d.ws
	for _, c := range []struct{ query, names string }{
		{"Minutes=5&StartDate=2026-01-02T03:04:05Z", "Minutes"},
		{"Minutes=0", "Minutes"},
		{"Minutes=ten", "Minutes"},
		{"StartDate=yesterday", "StartDate"},
		{"StartDate=2026-01-02T04:00:00Z&EndDate=2026-01-02T03:00:00Z", "StartDate"},
		{"SplitByWaitTime=10,soon", "SplitByWaitTime"},
		{"TaskChannel=fax", "TaskChannel"},
	} {
		resp, body := rawGet(t, base+"/CumulativeStatistics?"+c.query)
		if resp.StatusCode != http.StatusBadRequest || !contains(body, `"code":20001`) || !contains(body, c.names) {
			t.Errorf("%s: %d %s, want 400 20001 naming %s", c.query, resp.StatusCode, body, c.names)
		}
	}
	// The default channel, by unique name or SID, is every task here.
	task, err := d.h.api.FetchTask(d.ws, d.tasks[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range []string{"default", str(task.TaskChannelSid)} {
		got, err := d.h.api.FetchWorkspaceCumulativeStatistics(d.ws, (&openapi.FetchWorkspaceCumulativeStatisticsParams{}).SetTaskChannel(ch))
		expect(t, "TaskChannel "+ch, figures(t, got, err), map[string]any{"tasks_created": 5, "reservations_accepted": 3})
		rt, err := d.h.api.FetchWorkspaceRealTimeStatistics(d.ws, (&openapi.FetchWorkspaceRealTimeStatisticsParams{}).SetTaskChannel(ch))
		expect(t, "real time, TaskChannel "+ch, figures(t, rt, err), map[string]any{"total_tasks": 3})
	}
	// Another channel counts none of them.
	got, err := d.h.api.FetchWorkspaceCumulativeStatistics(d.ws, (&openapi.FetchWorkspaceCumulativeStatisticsParams{}).SetTaskChannel("voice"))
	expect(t, "TaskChannel voice", figures(t, got, err), map[string]any{"tasks_created": 0, "reservations_accepted": 0})
	rt, err := d.h.api.FetchTaskQueueRealTimeStatistics(d.ws, d.queue, (&openapi.FetchTaskQueueRealTimeStatisticsParams{}).SetTaskChannel("voice"))
	expect(t, "queue real time, TaskChannel voice", figures(t, rt, err), map[string]any{"total_tasks": 0, "longest_task_waiting_age": 0})
}

// Real-time statistics read the state at the end of the script: T2 and T3
// assigned, T5 waiting since 4 s, T1 completed and T4 canceled (not
// counted); Alice and Bob Offline, Carol and Dave Idle.
func TestRealTimeStatisticsOfAScriptedDay(t *testing.T) {
	d := runStatsDay(t)
	api, act := d.h.api, d.l.Activities
	tasks := map[string]any{
		"tasks_by_status":          map[string]any{"pending": 1, "reserved": 0, "assigned": 2, "wrapping": 0},
		"tasks_by_priority":        map[string]any{"0": 3},
		"total_tasks":              3,
		"longest_task_waiting_age": 50 - 4,
		"longest_task_waiting_sid": d.tasks[4],
	}
	activities := func(off, idle, busy int) []any {
		return []any{
			map[string]any{"sid": act["Offline"], "friendly_name": "Offline", "workers": off},
			map[string]any{"sid": act["Idle"], "friendly_name": "Idle", "workers": idle},
			map[string]any{"sid": act["Busy"], "friendly_name": "Busy", "workers": busy},
		}
	}

	ws := with(tasks, map[string]any{"total_workers": 4, "activity_statistics": activities(2, 2, 0)})
	got, err := api.FetchWorkspaceRealTimeStatistics(d.ws, nil)
	expect(t, "workspace", figures(t, got, err), ws)

	q := with(tasks, map[string]any{"total_eligible_workers": 4, "total_available_workers": 2, "activity_statistics": activities(2, 2, 0),
		"longest_relative_task_age_in_queue": 50 - 4, "longest_relative_task_sid_in_queue": d.tasks[4]})
	gotQ, err := api.FetchTaskQueueRealTimeStatistics(d.ws, d.queue, nil)
	expect(t, "English queue", figures(t, gotQ, err), q)
	gotEs, err := api.FetchTaskQueueRealTimeStatistics(d.ws, d.l.TaskQueues["Customer Care Requests - Spanish"], nil)
	expect(t, "Spanish queue", figures(t, gotEs, err), map[string]any{"total_tasks": 0, "total_eligible_workers": 1,
		"total_available_workers": 0, "activity_statistics": activities(1, 0, 0)})

	gotWf, err := api.FetchWorkflowRealTimeStatistics(d.ws, d.flow, nil)
	expect(t, "workflow", figures(t, gotWf, err), tasks)
	workers, err := api.FetchWorkersRealTimeStatistics(d.ws, nil)
	expect(t, "workers", figures(t, workers, err), map[string]any{"total_workers": 4, "activity_statistics": activities(2, 2, 0)})

	both, err := api.FetchWorkspaceStatistics(d.ws, nil)
	expect(t, "workspace Statistics.realtime", sub(figures(t, both, err), "realtime"), ws)
	bothWf, err := api.FetchWorkflowStatistics(d.ws, d.flow, nil)
	expect(t, "workflow Statistics.realtime", sub(figures(t, bothWf, err), "realtime"), tasks)

	bulk, err := api.CreateTaskQueueBulkRealTimeStatistics(d.ws, (&openapi.CreateTaskQueueBulkRealTimeStatisticsParams{}).
		SetBody(map[string]interface{}{"TaskQueueSids": []string{d.queue}}))
	m := figures(t, bulk, err)
	data, _ := m["task_queue_data"].([]any)
	if len(data) != 1 || m["task_queue_response_count"] != 1.0 {
		t.Fatalf("bulk: %s, want the English queue alone", js(m))
	}
	expect(t, "bulk English queue", data[0].(map[string]any), with(tasks, map[string]any{"task_queue_sid": d.queue, "total_eligible_workers": 4}))

	list, err := api.ListTaskQueuesStatistics(d.ws, &openapi.ListTaskQueuesStatisticsParams{})
	if err != nil || len(list) != 2 {
		t.Fatalf("ListTaskQueuesStatistics: %d queues, %v", len(list), err)
	}
	one, err := api.ListTaskQueuesStatistics(d.ws, (&openapi.ListTaskQueuesStatisticsParams{}).SetFriendlyName("Customer Care Requests - English"))
	if err != nil || len(one) != 1 {
		t.Fatalf("ListTaskQueuesStatistics by FriendlyName: %d queues, %v", len(one), err)
	}
	m = figures(t, one[0], nil)
	expect(t, "listed English queue", sub(m, "realtime"), q)
	expect(t, "listed English queue", sub(m, "cumulative"), map[string]any{"tasks_entered": 5, "reservations_accepted": 3})
}

// with is a copy of base with more figures.
func with(base, more map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range more {
		out[k] = v
	}
	return out
}

// A workspace with nothing in it answers every statistics endpoint, with
// zeros and nulls where the figures have nothing to count.
func TestStatisticsOfAnEmptyWorkspace(t *testing.T) {
	h := newHarness(t, emulator.Options{})
	ws, err := h.api.CreateWorkspace((&openapi.CreateWorkspaceParams{}).SetFriendlyName("empty"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := h.api.FetchWorkspaceRealTimeStatistics(*ws.Sid, nil)
	m := figures(t, got, err)
	if m["longest_task_waiting_sid"] != nil || len(m["activity_statistics"].([]any)) != 3 {
		t.Errorf("empty workspace real time: %s", js(m))
	}
	if _, err := h.api.FetchWorkspaceStatistics(*ws.Sid, nil); err != nil {
		t.Error(err)
	}
	if _, err := h.api.FetchWorkerStatistics(*ws.Sid, nil); err != nil {
		t.Error(err)
	}
	bulk, err := h.api.CreateTaskQueueBulkRealTimeStatistics(*ws.Sid, nil)
	if m := figures(t, bulk, err); fmt.Sprint(m["task_queue_data"]) != "[]" {
		t.Errorf("bulk of no queues: %s", js(m))
	}
}

// Moves between queues, reservation timeouts and deletions count where
// they happen. On a ManualClock, with workers Offline until named: at 0 a
// Spanish task enters the Spanish queue, whose target times out at 10 and
// moves it to English; Bob (Idle at 10) lets its reservation time out at
// 130 (the workflow's 120 s); Alice (Idle at 130) is reserved, and at 135
// the task is deleted, canceling her reservation.
func TestCumulativeStatisticsCountMovesTimeoutsAndDeletions(t *testing.T) {
	clock := emulator.NewManualClock(epoch)
	h := newHarness(t, emulator.Options{Clock: clock})
	spec := emulator.Tutorial()
	spec.Workflows[0].Filters[0].Targets = []emulator.TargetSpec{
		{Queue: "Customer Care Requests - Spanish", Timeout: 10},
		{Queue: "Customer Care Requests - English"},
	}
	l, err := h.emu.Load(spec)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	ws, flow := l.Workspace, l.Workflows["Tutorial Workflow"]
	es, en := l.TaskQueues["Customer Care Requests - Spanish"], l.TaskQueues["Customer Care Requests - English"]
	task := h.createTask(ws, flow, `{"selected_language":"es"}`)
	clock.Advance(10 * time.Second)
	h.setActivity(ws, l.Workers["Bob"], l.Activities["Idle"])
	clock.Advance(120 * time.Second)
	h.setActivity(ws, l.Workers["Alice"], l.Activities["Idle"])
	clock.Advance(5 * time.Second)
	if err := h.api.DeleteTask(ws, *task.Sid, nil); err != nil {
		t.Fatal(err)
	}

	got, err := h.api.FetchWorkspaceCumulativeStatistics(ws, nil)
	expect(t, "workspace", figures(t, got, err), map[string]any{"tasks_created": 1, "tasks_moved": 1, "tasks_deleted": 1,
		"tasks_canceled": 0, "reservations_created": 2, "reservations_timed_out": 1, "reservations_canceled": 1, "reservations_accepted": 0})
	gotEs, err := h.api.FetchTaskQueueCumulativeStatistics(ws, es, nil)
	expect(t, "Spanish queue (left)", figures(t, gotEs, err), map[string]any{"tasks_entered": 1, "tasks_moved": 1,
		"reservations_created": 0, "tasks_deleted": 0})
	gotEn, err := h.api.FetchTaskQueueCumulativeStatistics(ws, en, nil)
	expect(t, "English queue (entered)", figures(t, gotEn, err), map[string]any{"tasks_entered": 1, "tasks_moved": 0,
		"reservations_created": 2, "reservations_timed_out": 1, "reservations_canceled": 1, "tasks_deleted": 1})
	gotWf, err := h.api.FetchWorkflowCumulativeStatistics(ws, flow, nil)
	expect(t, "workflow", figures(t, gotWf, err), map[string]any{"tasks_entered": 1, "tasks_moved": 1, "tasks_deleted": 1})
	for name, want := range map[string]map[string]any{
		"Bob":   {"reservations_created": 1, "reservations_timed_out": 1, "reservations_canceled": 0},
		"Alice": {"reservations_created": 1, "reservations_timed_out": 0, "reservations_canceled": 1},
	} {
		w, err := h.api.FetchWorkerInstanceStatistics(ws, l.Workers[name], nil)
		expect(t, name, sub(figures(t, w, err), "cumulative"), want)
	}
}

// When a queue reserves two workers at once, the first accept rescinds
// the other reservation: counted as rescinded, for that worker too.
func TestCumulativeStatisticsCountRescinded(t *testing.T) {
	h := newHarness(t, emulator.Options{Clock: emulator.NewManualClock(epoch)})
	spec := emulator.Tutorial()
	spec.TaskQueues[1].MaxReservedWorkers = 2 // English
	l, err := h.emu.Load(spec)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	ws := l.Workspace
	h.setActivity(ws, l.Workers["Alice"], l.Activities["Idle"])
	h.setActivity(ws, l.Workers["Bob"], l.Activities["Idle"])
	task := h.createTask(ws, l.Workflows["Tutorial Workflow"], `{}`)
	rs := h.reservations(ws, *task.Sid)
	if len(rs) != 2 {
		t.Fatalf("%d reservations, want Alice's and Bob's", len(rs))
	}
	var bobs string
	for _, r := range rs {
		if str(r.WorkerName) == "Alice" {
			if _, err := h.api.UpdateTaskReservation(ws, *task.Sid, *r.Sid, (&openapi.UpdateTaskReservationParams{}).SetReservationStatus("accepted")); err != nil {
				t.Fatal(err)
			}
		} else {
			bobs = str(r.WorkerSid)
		}
	}
	got, err := h.api.FetchWorkspaceCumulativeStatistics(ws, nil)
	expect(t, "workspace", figures(t, got, err), map[string]any{"reservations_created": 2, "reservations_accepted": 1, "reservations_rescinded": 1})
	bob, err := h.api.FetchWorkerInstanceStatistics(ws, bobs, nil)
	expect(t, "Bob", sub(figures(t, bob, err), "cumulative"), map[string]any{"reservations_created": 1, "reservations_rescinded": 1, "reservations_accepted": 0})
}

// A task whose workflow's last step times out with nowhere left to go
// (workflow.timeout) counts in tasks_timed_out_in_workflow, for the
// workspace and the workflow.
func TestCumulativeStatisticsCountTimedOutInWorkflow(t *testing.T) {
	clock := emulator.NewManualClock(epoch)
	h := newHarness(t, emulator.Options{Clock: clock})
	spec := emulator.Tutorial()
	spec.Workflows[0].Filters[0].Targets = []emulator.TargetSpec{{Queue: "Customer Care Requests - Spanish", Timeout: 10}}
	spec.Workflows[0].DefaultQueue = ""
	l, err := h.emu.Load(spec)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	ws, flow := l.Workspace, l.Workflows["Tutorial Workflow"]
	h.createTask(ws, flow, `{"selected_language":"es"}`)
	clock.Advance(10 * time.Second)
	evs, err := h.api.ListEvent(ws, (&openapi.ListEventParams{}).SetEventType("workflow.timeout"))
	if err != nil || len(evs) != 1 {
		t.Fatalf("workflow.timeout events: %d, %v", len(evs), err)
	}
	got, err := h.api.FetchWorkspaceCumulativeStatistics(ws, nil)
	expect(t, "workspace", figures(t, got, err), map[string]any{"tasks_created": 1, "tasks_timed_out_in_workflow": 1})
	gotWf, err := h.api.FetchWorkflowCumulativeStatistics(ws, flow, nil)
	expect(t, "workflow", figures(t, gotWf, err), map[string]any{"tasks_entered": 1, "tasks_timed_out_in_workflow": 1})
}
