package emulator_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	openapi "github.com/twilio/twilio-go/rest/taskrouter/v1"

	"github.com/assignd/assignd/emulator"
)

// orderedTasks are three waiting tasks of the tutorial: t0 priority 1; t1
// priority 5, a second later; t2 priority 1, two seconds later but with the
// earliest virtual start. It returns their SIDs, t0 first.
func orderedTasks(t *testing.T, h *harness, clock *emulator.ManualClock, l emulator.Loaded) []string {
	t.Helper()
	var sids []string
	for _, p := range []*openapi.CreateTaskParams{
		(&openapi.CreateTaskParams{}).SetPriority(1),
		(&openapi.CreateTaskParams{}).SetPriority(5),
		(&openapi.CreateTaskParams{}).SetPriority(1).SetVirtualStartTime(epoch.Add(-time.Hour)),
	} {
		tk, err := h.api.CreateTask(l.Workspace, p.SetWorkflowSid(l.Workflows["Tutorial Workflow"]).SetAttributes(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		sids = append(sids, *tk.Sid)
		clock.Advance(time.Second)
	}
	return sids
}

// listTasks lists the workspace's tasks with p and names them by their
// index in sids: "t1 t0 t2".
func (h *harness) listTasks(ws string, sids []string, p *openapi.ListTaskParams) (string, error) {
	tasks, err := h.api.ListTask(ws, p)
	var got []string
	for _, tk := range tasks {
		got = append(got, fmt.Sprintf("t%d", slices.Index(sids, *tk.Sid)))
	}
	return strings.Join(got, " "), err
}

// The task list's Ordering sorts as Twilio's OpenAPI describes it:
// Attribute:Order pairs over DateCreated, Priority and VirtualStartTime,
// applied in turn, ascending DateCreated by default; DateCreated with
// VirtualStartTime, or anything else, is refused naming Ordering.
func TestTaskListOrdering(t *testing.T) {
	clock := emulator.NewManualClock(epoch)
	h := newHarness(t, emulator.Options{Clock: clock})
	l := tutorial(t, h, newApp(t, answerAlways(`{}`)), nil) // workers Offline: the tasks wait
	sids := orderedTasks(t, h, clock, l)
	for _, c := range []struct{ ordering, want string }{
		{"", "t0 t1 t2"},
		{"DateCreated:asc", "t0 t1 t2"},
		{"DateCreated:desc", "t2 t1 t0"},
		{"Priority:desc,DateCreated:asc", "t1 t0 t2"},
		{"Priority:asc,DateCreated:desc", "t2 t0 t1"},
		{"VirtualStartTime:asc", "t2 t0 t1"},
		{"Priority:desc,VirtualStartTime:desc", "t1 t0 t2"},
	} {
		p := &openapi.ListTaskParams{}
		if c.ordering != "" {
			p.SetOrdering(c.ordering)
		}
		if got, err := h.listTasks(l.Workspace, sids, p); err != nil || got != c.want {
			t.Errorf("Ordering=%q: %q %v, want %q", c.ordering, got, err, c.want)
		}
	}
	for _, bad := range []string{"DateCreated:asc,VirtualStartTime:desc", "Priority", "Priority:up", "Sid:asc", "priority:desc"} {
		_, err := h.listTasks(l.Workspace, sids, (&openapi.ListTaskParams{}).SetOrdering(bad))
		if re := restErr(t, err); re.Status != 400 || re.Code != 20001 || !strings.Contains(re.Message, "Ordering") {
			t.Errorf("Ordering=%q: %+v, want 400 20001 naming Ordering", bad, re)
		}
	}
}

// HasAddons: the emulator's tasks have no add-ons ("addons": "{}"), so
// true lists none of them and false lists them all, as without it.
func TestTaskListHasAddons(t *testing.T) {
	clock := emulator.NewManualClock(epoch)
	h := newHarness(t, emulator.Options{Clock: clock})
	l := tutorial(t, h, newApp(t, answerAlways(`{}`)), nil)
	sids := orderedTasks(t, h, clock, l)
	for _, c := range []struct {
		p    *openapi.ListTaskParams
		want string
	}{
		{&openapi.ListTaskParams{}, "t0 t1 t2"},
		{(&openapi.ListTaskParams{}).SetHasAddons(false), "t0 t1 t2"},
		{(&openapi.ListTaskParams{}).SetHasAddons(true), ""},
	} {
		if got, err := h.listTasks(l.Workspace, sids, c.p); err != nil || got != c.want {
			t.Errorf("HasAddons %v: %q %v, want %q", c.p.HasAddons, got, err, c.want)
		}
	}
}

// Workers' Ordering sorts by DateStatusChanged and task queues' by
// DateUpdated, asc or desc, the values twilio-taskrouter.js's tests use
// against TaskRouter (Twilio's OpenAPI names none); another attribute is
// refused as not carried out, a malformed value as invalid.
func TestWorkerAndQueueListOrdering(t *testing.T) {
	clock := emulator.NewManualClock(epoch)
	h := newHarness(t, emulator.Options{Clock: clock})
	l := tutorial(t, h, newApp(t, answerAlways(`{}`)), nil)
	ws := l.Workspace
	clock.Advance(time.Second)
	h.setActivity(ws, l.Workers["Bob"], l.Activities["Idle"])
	clock.Advance(time.Second)
	h.setActivity(ws, l.Workers["Alice"], l.Activities["Idle"]) // Alice's status changed last
	clock.Advance(time.Second)
	spanish := l.TaskQueues["Customer Care Requests - Spanish"]
	if _, err := h.api.UpdateTaskQueue(ws, spanish, (&openapi.UpdateTaskQueueParams{}).SetFriendlyName("Spanish")); err != nil {
		t.Fatal(err) // the Spanish queue, first in table order, updated last
	}
	workers := func(ordering string) (string, error) {
		list, err := h.api.ListWorker(ws, (&openapi.ListWorkerParams{}).SetOrdering(ordering))
		var names []string
		for _, w := range list {
			names = append(names, str(w.FriendlyName))
		}
		return strings.Join(names, " "), err
	}
	queues := func(ordering string) (string, error) {
		qs, err := h.api.ListTaskQueue(ws, (&openapi.ListTaskQueueParams{}).SetOrdering(ordering))
		var names []string
		for _, q := range qs {
			names = append(names, strings.TrimPrefix(str(q.FriendlyName), "Customer Care Requests - "))
		}
		return strings.Join(names, " "), err
	}
	for _, c := range []struct {
		list           func(string) (string, error)
		ordering, want string
	}{
		{workers, "DateStatusChanged:asc", "Bob Alice"},
		{workers, "DateStatusChanged:desc", "Alice Bob"},
		{queues, "DateUpdated:asc", "English Spanish"},
		{queues, "DateUpdated:desc", "Spanish English"},
	} {
		if got, err := c.list(c.ordering); err != nil || got != c.want {
			t.Errorf("Ordering=%s: %q %v, want %q", c.ordering, got, err, c.want)
		}
	}
	for _, c := range []struct {
		list            func(string) (string, error)
		ordering, named string
	}{
		{workers, "DateCreated:asc", "Parameter Ordering=DateCreated:asc is not supported by the emulator"},
		{queues, "FriendlyName:desc", "Parameter Ordering=FriendlyName:desc is not supported by the emulator"},
		{workers, "DateStatusChanged", "Invalid Ordering"},
		{queues, "DateUpdated:up", "Invalid Ordering"},
	} {
		_, err := c.list(c.ordering)
		if re := restErr(t, err); re.Status != 400 || re.Code != 20001 || !strings.Contains(re.Message, c.named) {
			t.Errorf("Ordering=%s: %+v, want 400 20001 %q", c.ordering, re, c.named)
		}
	}
}

// The task list's RoutingTarget lists the tasks created with that
// RoutingTarget (shown as routing_target), not the others.
func TestTaskListRoutingTarget(t *testing.T) {
	h := newHarness(t, emulator.Options{})
	l := tutorial(t, h, newApp(t, answerAlways(`{}`)), nil)
	ws, english := l.Workspace, l.TaskQueues["Customer Care Requests - English"]
	routed, err := h.api.CreateTask(ws, (&openapi.CreateTaskParams{}).SetRoutingTarget(english).SetAttributes(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	h.createTask(ws, l.Workflows["Tutorial Workflow"], `{}`) // through the workflow: no RoutingTarget
	tasks, err := h.api.ListTask(ws, (&openapi.ListTaskParams{}).SetRoutingTarget(english))
	if err != nil || len(tasks) != 1 || *tasks[0].Sid != *routed.Sid {
		t.Fatalf("RoutingTarget=%s: %d tasks %v, want the one routed to it", english, len(tasks), err)
	}
}
