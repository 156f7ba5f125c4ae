package emulator_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	openapi "github.com/twilio/twilio-go/rest/taskrouter/v1"

	"github.com/assignd/assignd/emulator"
)

// levelled is the tutorial with three English speakers of levels 1 (Alice),
// 3 (Bob) and 2 (Carol), and one filter for every task whose targets are
// the given ones. The workers go Idle in the order Carol, Alice, Bob, a
// second apart, so without an order_by Carol (idle longest) is reserved
// first.
func levelled(t *testing.T, targets ...emulator.TargetSpec) (*harness, emulator.Loaded) {
	t.Helper()
	clock := emulator.NewManualClock(epoch)
	h := newHarness(t, emulator.Options{Clock: clock})
	a := newApp(t, answerAlways(`{}`))
	l := tutorial(t, h, a, func(s *emulator.WorkspaceSpec) {
		s.Workers = []emulator.WorkerSpec{
			{Name: "Alice", Attributes: map[string]any{"languages": []any{"en", "es"}, "level": 1}},
			{Name: "Bob", Attributes: map[string]any{"languages": []any{"en"}, "level": 3}},
			{Name: "Carol", Attributes: map[string]any{"languages": []any{"en"}, "level": 2}},
		}
		s.Workflows[0].Filters = []emulator.FilterSpec{{Name: "Everyone", Expression: "1==1", Targets: targets}}
	})
	for _, name := range []string{"Carol", "Alice", "Bob"} {
		h.setActivity(l.Workspace, l.Workers[name], l.Activities["Idle"])
		clock.Advance(time.Second)
	}
	return h, l
}

func (h *harness) reservedWorker(l emulator.Loaded, attrs string) string {
	h.t.Helper()
	task := h.createTask(l.Workspace, l.Workflows["Tutorial Workflow"], attrs)
	rs := h.reservations(l.Workspace, *task.Sid)
	if len(rs) != 1 {
		h.t.Fatalf("task %s: %d reservations, want 1", attrs, len(rs))
	}
	return str(rs[0].WorkerName)
}

// A target's order_by reserves the free workers in its order, not the one
// idle longest.
func TestTargetOrderBy(t *testing.T) {
	for order, want := range map[string]string{"worker.level DESC": "Bob", "worker.level ASC": "Alice"} {
		t.Run(order, func(t *testing.T) {
			h, l := levelled(t, emulator.TargetSpec{Queue: "Customer Care Requests - English", OrderBy: order})
			if got := h.reservedWorker(l, `{}`); got != want {
				t.Fatalf("order_by %s reserved %s, want %s", order, got, want)
			}
		})
	}
	t.Run("ties by the next clause, then longest idle", func(t *testing.T) {
		h, l := levelled(t, emulator.TargetSpec{Queue: "Customer Care Requests - English", OrderBy: "worker.tier DESC, worker.level ASC"})
		if got := h.reservedWorker(l, `{}`); got != "Alice" {
			t.Fatalf("no worker has a tier, so level ASC decides: reserved %s, want Alice", got)
		}
	})
}

// An order_by Twilio would refuse is refused at create, naming it.
func TestTargetOrderByRefused(t *testing.T) {
	h := newHarness(t, emulator.Options{})
	l := tutorial(t, h, newApp(t, answerAlways(`{}`)), nil)
	q := l.TaskQueues["Customer Care Requests - English"]
	for _, orderBy := range []string{"worker.level UP", "level DESC", "worker.level"} {
		cfg := `{"task_routing":{"filters":[{"expression":"1==1","targets":[{"queue":"` + q + `","order_by":"` + orderBy + `"}]}]}}`
		_, err := h.api.CreateWorkflow(l.Workspace, (&openapi.CreateWorkflowParams{}).SetFriendlyName("ordered").SetConfiguration(cfg))
		if re := restErr(t, err); re.Status != 400 || re.Code != 20001 || !strings.Contains(re.Message, "order_by") {
			t.Errorf("order_by %q: %d %d %q, want 400 20001 naming order_by", orderBy, re.Status, re.Code, re.Message)
		}
	}
}

// skip_if moves a task on at once when no worker can take it, instead of
// waiting out the target's timeout; when the expression is false the task
// waits in the target.
func TestTargetSkipIf(t *testing.T) {
	for skipIf, wantQueue := range map[string]string{
		"workers.available == 0": "Customer Care Requests - English", // Alice, the only Spanish speaker, is Offline
		"workers.available == 5": "Customer Care Requests - Spanish",
	} {
		t.Run(skipIf, func(t *testing.T) {
			h := newHarness(t, emulator.Options{Clock: emulator.NewManualClock(epoch)})
			l := tutorial(t, h, newApp(t, answerAlways(`{}`)), func(s *emulator.WorkspaceSpec) {
				s.Workflows[0].Filters[0].Targets = []emulator.TargetSpec{
					{Queue: "Customer Care Requests - Spanish", Timeout: 600, SkipIf: skipIf},
					{Queue: "Customer Care Requests - English"},
				}
			})
			h.setActivity(l.Workspace, l.Workers["Bob"], l.Activities["Idle"])
			task := h.createTask(l.Workspace, l.Workflows["Tutorial Workflow"], `{"selected_language":"es"}`)
			got, err := h.api.FetchTask(l.Workspace, *task.Sid)
			if err != nil || str(got.TaskQueueFriendlyName) != wantQueue {
				t.Fatalf("task in %q (%v), want %q with no time passed", str(got.TaskQueueFriendlyName), err, wantQueue)
			}
			skipped := h.events(l.Workspace, *task.Sid, "workflow.skipped")
			if moved := wantQueue == "Customer Care Requests - English"; moved != (len(skipped) == 1) {
				t.Fatalf("moved on %v but %d workflow.skipped events", moved, len(skipped))
			}
		})
	}
}

// A known-worker target reserves only the worker the task's attribute
// names, by SID or by friendly name, though another is idle longer; a task
// without the attribute waits.
func TestTargetKnownWorker(t *testing.T) {
	t.Run("known_worker_sid", func(t *testing.T) {
		h, l := levelled(t, emulator.TargetSpec{Queue: "Customer Care Requests - English", KnownWorkerSid: "task.agent.sid"})
		if got := h.reservedWorker(l, `{"agent":{"sid":"`+l.Workers["Bob"]+`"}}`); got != "Bob" {
			t.Fatalf("reserved %s, want Bob", got)
		}
	})
	t.Run("known_worker_friendly_name", func(t *testing.T) {
		h, l := levelled(t, emulator.TargetSpec{Queue: "Customer Care Requests - English", KnownWorkerFriendlyName: "task.agent_name"})
		if got := h.reservedWorker(l, `{"agent_name":"Alice"}`); got != "Alice" {
			t.Fatalf("reserved %s, want Alice", got)
		}
		task := h.createTask(l.Workspace, l.Workflows["Tutorial Workflow"], `{}`)
		if rs := h.reservations(l.Workspace, *task.Sid); len(rs) != 0 {
			t.Fatalf("a task naming no worker was reserved for %s", str(rs[0].WorkerName))
		}
	})
}

// A task's way through its workflow posts workflow.entered, then
// workflow.target-matched for each target it enters, with the filter and
// target; workflow.timeout when its last target times out, and the task is
// then canceled: a workflow traces a task's path "until either a
// Reservation is accepted or the Task is canceled" (Twilio, Lifecycle of a
// Task: Workflows and Assignment).
func TestWorkflowEvents(t *testing.T) {
	clock := emulator.NewManualClock(epoch)
	h := newHarness(t, emulator.Options{Clock: clock})
	l := tutorial(t, h, newApp(t, answerAlways(`{}`)), func(s *emulator.WorkspaceSpec) {
		s.Workflows[0].Filters[0].Targets = []emulator.TargetSpec{
			{Queue: "Customer Care Requests - Spanish", Expression: "worker.languages HAS \"es\"", Timeout: 10},
		}
		s.Workflows[0].DefaultQueue = ""
	})
	ws := l.Workspace
	task := h.createTask(ws, l.Workflows["Tutorial Workflow"], `{"selected_language":"es"}`)
	if got := h.events(ws, *task.Sid, "workflow.timeout"); len(got) != 0 {
		t.Fatalf("workflow.timeout before the target's timeout: %d", len(got))
	}
	clock.Advance(10 * time.Second)
	for typ, want := range map[string]map[string]any{
		"workflow.entered": {"workflow_sid": l.Workflows["Tutorial Workflow"], "workflow_name": "Tutorial Workflow"},
		"workflow.target-matched": {"workflow_name": "Tutorial Workflow", "workflow_filter_name": "Language - Spanish",
			"workflow_filter_expression": `selected_language == "es"`, "workflow_filter_target_expression": `worker.languages HAS "es"`,
			"task_queue_sid": l.TaskQueues["Customer Care Requests - Spanish"]},
		"workflow.timeout": {"workflow_filter_name": "Language - Spanish"},
		"task.canceled":    {"task_canceled_reason": emulator.WorkflowTimeoutReason},
	} {
		evs := h.events(ws, *task.Sid, typ)
		if len(evs) != 1 {
			t.Errorf("%s: %d events, want 1", typ, len(evs))
			continue
		}
		data, _ := (*evs[0].EventData).(map[string]any)
		for k, v := range want {
			if data[k] != v {
				t.Errorf("%s %s = %v, want %v", typ, k, data[k], v)
			}
		}
	}
}

// events lists the task's events of type typ through the Events API.
func (h *harness) events(ws, task, typ string) []openapi.TaskrouterV1Event {
	h.t.Helper()
	evs, err := h.api.ListEvent(ws, (&openapi.ListEventParams{}).SetTaskSid(task).SetEventType(typ))
	if err != nil {
		h.t.Fatalf("ListEvent: %v", err)
	}
	return evs
}

// Skipping a filter's last target goes on to the next filter that matches,
// as if the skipped filter had not matched (Twilio's skip_if note), not
// straight to the default_filter; workers.<ActivitySid> counts the queue's
// workers in that activity.
func TestTargetSkipIfNextFilter(t *testing.T) {
	h := newHarness(t, emulator.Options{Clock: emulator.NewManualClock(epoch)})
	spec := func(offline string) func(s *emulator.WorkspaceSpec) {
		return func(s *emulator.WorkspaceSpec) {
			s.Workflows[0].Filters = []emulator.FilterSpec{
				{Name: "Spanish first", Expression: "1==1", Targets: []emulator.TargetSpec{
					{Queue: "Customer Care Requests - Spanish", SkipIf: "workers." + offline + " == 2"}}},
				{Name: "Nobody", Expression: "1==2", Targets: []emulator.TargetSpec{{Queue: "Customer Care Requests - Spanish"}}},
				{Name: "English next", Expression: "1==1", Targets: []emulator.TargetSpec{{Queue: "Customer Care Requests - English"}}},
			}
		}
	}
	l := tutorial(t, h, newApp(t, answerAlways(`{}`)), spec(emulator.StableSid("WA", "TaskRouter Tutorial", "Offline")))
	// Both workers start Offline, but only Alice is in the Spanish queue:
	// workers.<Offline> is 1 there, and the task stays.
	task := h.createTask(l.Workspace, l.Workflows["Tutorial Workflow"], `{}`)
	if got, _ := h.api.FetchTask(l.Workspace, *task.Sid); str(got.TaskQueueSid) != l.TaskQueues["Customer Care Requests - Spanish"] {
		t.Fatalf("workers.<Offline> == 2 held with one Offline worker in the queue: task in %s", str(got.TaskQueueFriendlyName))
	}

	h2 := newHarness(t, emulator.Options{Clock: emulator.NewManualClock(epoch)})
	l2 := tutorial(t, h2, newApp(t, answerAlways(`{}`)), func(s *emulator.WorkspaceSpec) {
		spec(emulator.StableSid("WA", "TaskRouter Tutorial", "Offline"))(s)
		s.TaskQueues[0].TargetWorkers = "1==1" // both workers in the Spanish queue, both Offline
	})
	task = h2.createTask(l2.Workspace, l2.Workflows["Tutorial Workflow"], `{}`)
	got, _ := h2.api.FetchTask(l2.Workspace, *task.Sid)
	if str(got.TaskQueueSid) != l2.TaskQueues["Customer Care Requests - English"] {
		t.Fatalf("skipped the first filter's target: task in %s, want the next matching filter's English queue", str(got.TaskQueueFriendlyName))
	}
	evs := h2.events(l2.Workspace, *task.Sid, "workflow.target-matched")
	if len(evs) != 2 {
		t.Fatalf("%d workflow.target-matched events, want 2 (Spanish first, English next)", len(evs))
	}
}

// The workflow events go through the event callback like the others,
// signed and honouring events_filter.
func TestWorkflowEventsPosted(t *testing.T) {
	h := newHarness(t, emulator.Options{})
	a := newApp(t, func(path string, _ url.Values) (int, string) {
		if path == "/events" {
			return http.StatusNoContent, ""
		}
		return http.StatusOK, `{}`
	})
	l := tutorial(t, h, a, func(s *emulator.WorkspaceSpec) {
		s.EventCallbackURL = a.srv.URL + "/events"
		s.EventsFilter = "workflow.target-matched"
	})
	task := h.createTask(l.Workspace, l.Workflows["Tutorial Workflow"], `{"selected_language":"es"}`)
	waitFor(t, "the workflow.target-matched callback", func() bool { return len(a.requests("/events")) == 1 })
	ev := a.requests("/events")[0]
	if ev.Get("EventType") != "workflow.target-matched" || ev.Get("TaskSid") != *task.Sid ||
		ev.Get("WorkflowFilterName") != "Language - Spanish" || ev.Get("WorkflowSid") != l.Workflows["Tutorial Workflow"] {
		t.Fatalf("posted %v", ev)
	}
	h.emu.Close() // every event posted: none but the filtered one came
	if n := len(a.requests("/events")); n != 1 {
		t.Fatalf("%d event callbacks, want 1 (events_filter)", n)
	}
}
