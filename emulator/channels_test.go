package emulator_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	openapi "github.com/twilio/twilio-go/rest/taskrouter/v1"

	"github.com/assignd/assignd/emulator"
)

// oneAgent is the tutorial's workspace with Alice alone, Idle, with the
// channel capacities given; the app answers every callback accept.
func oneAgent(t *testing.T, h *harness, caps map[string]int, edit func(*emulator.WorkspaceSpec)) emulator.Loaded {
	t.Helper()
	a := newApp(t, answerAlways(`{"instruction":"accept"}`))
	return tutorial(t, h, a, func(s *emulator.WorkspaceSpec) {
		s.Workers = []emulator.WorkerSpec{{Name: "Alice", Activity: "Idle", Attributes: map[string]any{"languages": []any{"en"}}, Channels: caps}}
		if edit != nil {
			edit(s)
		}
	})
}

// createTaskOn creates an English task on channel ch (a SID or unique name).
func (h *harness) createTaskOn(l emulator.Loaded, ch string) *openapi.TaskrouterV1Task {
	h.t.Helper()
	task, err := h.api.CreateTask(l.Workspace, (&openapi.CreateTaskParams{}).SetAttributes(`{"selected_language":"en"}`).
		SetWorkflowSid(l.Workflows["Tutorial Workflow"]).SetTaskChannel(ch))
	if err != nil {
		h.t.Fatalf("CreateTask on %s: %v", ch, err)
	}
	return task
}

func (h *harness) complete(ws, task string) {
	h.t.Helper()
	if _, err := h.api.UpdateTask(ws, task, (&openapi.UpdateTaskParams{}).SetAssignmentStatus("completed")); err != nil {
		h.t.Fatalf("completing %s: %v", task, err)
	}
}

// waitingUnoffered checks that the task is pending with no reservation: the
// tasks before it were offered synchronously as they were created, so one
// not offered then waits for capacity.
func (h *harness) waitingUnoffered(ws, task string) {
	h.t.Helper()
	got, err := h.api.FetchTask(ws, task)
	if err != nil || str(got.AssignmentStatus) != "pending" || len(h.reservations(ws, task)) != 0 {
		h.t.Fatalf("task %s: %v %v, want pending and never offered", task, str(got.AssignmentStatus), err)
	}
}

func (h *harness) workerChannel(ws, worker, ch string) *openapi.TaskrouterV1WorkerChannel {
	h.t.Helper()
	wc, err := h.api.FetchWorkerChannel(ws, worker, ch)
	if err != nil {
		h.t.Fatalf("FetchWorkerChannel %s: %v", ch, err)
	}
	return wc
}

// The example: voice capacity 1 and chat capacity 3 hold one call
// and three chats at once and no more; completing a chat lets the waiting
// chat in, not the waiting call.
func TestChannelCapacityHoldsOneCallAndThreeChats(t *testing.T) {
	h := newHarness(t, emulator.Options{})
	l := oneAgent(t, h, map[string]int{"voice": 1, "chat": 3}, nil)
	ws, alice := l.Workspace, l.Workers["Alice"]

	call := h.createTaskOn(l, "voice")
	var chats []*openapi.TaskrouterV1Task
	for range 3 {
		chats = append(chats, h.createTaskOn(l, "chat"))
	}
	secondCall, fourthChat := h.createTaskOn(l, "voice"), h.createTaskOn(l, "chat")
	for _, task := range append([]*openapi.TaskrouterV1Task{call}, chats...) {
		h.waitTask(ws, *task.Sid, "assigned")
	}
	h.waitingUnoffered(ws, *secondCall.Sid)
	h.waitingUnoffered(ws, *fourthChat.Sid)

	chat := h.workerChannel(ws, alice, "chat")
	if chat.ConfiguredCapacity != 3 || chat.AssignedTasks != 3 || chat.AvailableCapacityPercentage != 0 || str(chat.TaskChannelUniqueName) != "chat" {
		t.Fatalf("chat worker channel: %+v, want capacity 3, 3 assigned, 0%% free", chat)
	}

	h.complete(ws, *chats[0].Sid)
	h.waitTask(ws, *fourthChat.Sid, "assigned")
	h.waitingUnoffered(ws, *secondCall.Sid)
	if v := h.workerChannel(ws, alice, "voice"); v.AssignedTasks != 1 || v.AvailableCapacityPercentage != 0 {
		t.Fatalf("voice worker channel: %+v, want the one call assigned", v)
	}
}

// Available=false on a worker channel stops offers on that channel only;
// true again lets the waiting task through.
func TestWorkerChannelUnavailableStopsThatChannelOnly(t *testing.T) {
	h := newHarness(t, emulator.Options{})
	l := oneAgent(t, h, map[string]int{"voice": 1, "chat": 2}, nil)
	ws, alice := l.Workspace, l.Workers["Alice"]

	chans, err := h.api.ListWorkerChannel(ws, alice, &openapi.ListWorkerChannelParams{})
	if err != nil {
		t.Fatalf("ListWorkerChannel: %v", err)
	}
	i := slices.IndexFunc(chans, func(c openapi.TaskrouterV1WorkerChannel) bool { return str(c.TaskChannelUniqueName) == "chat" })
	if len(chans) != 5 || i < 0 || !strings.HasPrefix(str(chans[i].Sid), "WC") || chans[i].ConfiguredCapacity != 2 {
		t.Fatalf("worker channels: %+v, want Twilio's five, chat capacity 2", chans)
	}
	if _, err := h.api.UpdateWorkerChannel(ws, alice, str(chans[i].Sid), (&openapi.UpdateWorkerChannelParams{}).SetAvailable(false)); err != nil {
		t.Fatalf("UpdateWorkerChannel: %v", err)
	}

	chat := h.createTaskOn(l, "chat")
	call := h.createTaskOn(l, "voice")
	h.waitTask(ws, *call.Sid, "assigned")
	h.waitingUnoffered(ws, *chat.Sid)

	if _, err := h.api.UpdateWorkerChannel(ws, alice, "chat", (&openapi.UpdateWorkerChannelParams{}).SetAvailable(true)); err != nil {
		t.Fatalf("UpdateWorkerChannel by unique name: %v", err)
	}
	h.waitTask(ws, *chat.Sid, "assigned")
}

// Without multitasking a worker takes one task at a time whatever the
// channel capacities: the next only once the previous is completed.
func TestSingleTaskingWorkspaceOneTaskAtATime(t *testing.T) {
	h := newHarness(t, emulator.Options{})
	off := false
	l := oneAgent(t, h, map[string]int{"chat": 3}, func(s *emulator.WorkspaceSpec) { s.MultiTaskEnabled = &off })
	ws := l.Workspace

	first, second, call := h.createTaskOn(l, "chat"), h.createTaskOn(l, "chat"), h.createTaskOn(l, "voice")
	h.waitTask(ws, *first.Sid, "assigned")
	h.waitingUnoffered(ws, *second.Sid)
	h.waitingUnoffered(ws, *call.Sid)

	h.complete(ws, *first.Sid)
	h.waitTask(ws, *second.Sid, "assigned")
	h.waitingUnoffered(ws, *call.Sid)
}

// A queue's assignment activity moves the worker only in a workspace
// without multitasking; with it the worker stays in their activity, as
// Twilio's Multitasking page describes.
func TestQueueAssignmentActivityOnlyWithoutMultitasking(t *testing.T) {
	for _, tc := range []struct {
		multi bool
		want  string
	}{{true, "Idle"}, {false, "Busy"}} {
		h := newHarness(t, emulator.Options{})
		l := oneAgent(t, h, nil, func(s *emulator.WorkspaceSpec) {
			s.MultiTaskEnabled = &tc.multi
			for i := range s.TaskQueues {
				if !tc.multi { // a multitasking workspace file refuses them (workspace_spec.go)
					s.TaskQueues[i].ReservationActivity, s.TaskQueues[i].AssignmentActivity = "Idle", "Busy"
				}
			}
		})
		task := h.createTaskOn(l, "default")
		h.waitTask(l.Workspace, *task.Sid, "assigned")
		alice, err := h.api.FetchWorker(l.Workspace, l.Workers["Alice"])
		if err != nil || str(alice.ActivityName) != tc.want {
			t.Fatalf("multi_task_enabled %v: Alice %s after assignment (%v), want %s", tc.multi, str(alice.ActivityName), err, tc.want)
		}
	}
}

// A workspace created over REST has Twilio's default task channels, and
// channels are created, fetched (by SID or unique name), listed, updated
// and deleted as Twilio's TaskChannels resource; a channel a live task
// uses is not deleted; ChannelOptimizedRouting is refused by name.
func TestTaskChannelsCRUD(t *testing.T) {
	h := newHarness(t, emulator.Options{})
	fresh, err := h.api.CreateWorkspace((&openapi.CreateWorkspaceParams{}).SetFriendlyName("fresh").SetMultiTaskEnabled(true))
	if err != nil || fresh.MultiTaskEnabled == nil || !*fresh.MultiTaskEnabled {
		t.Fatalf("CreateWorkspace multitasking: %+v %v", fresh, err)
	}
	if got := channelNames(t, h, *fresh.Sid); !slices.Equal(got, []string{"default", "voice", "sms", "chat", "video"}) {
		t.Fatalf("a new workspace's channels: %v, want Twilio's defaults", got)
	}

	l := oneAgent(t, h, nil, nil)
	ws := l.Workspace
	email, err := h.api.CreateTaskChannel(ws, (&openapi.CreateTaskChannelParams{}).SetFriendlyName("Email").SetUniqueName("email"))
	if err != nil || !strings.HasPrefix(str(email.Sid), "TC") || str(email.UniqueName) != "email" {
		t.Fatalf("CreateTaskChannel: %+v %v", email, err)
	}
	if _, err := h.api.CreateTaskChannel(ws, (&openapi.CreateTaskChannelParams{}).SetFriendlyName("again").SetUniqueName("email")); restErr(t, err).Status != http.StatusBadRequest {
		t.Fatalf("a second email channel: %v, want 400", err)
	}
	_, err = h.api.CreateTaskChannel(ws, (&openapi.CreateTaskChannelParams{}).SetFriendlyName("Fax").SetUniqueName("fax").SetChannelOptimizedRouting(true))
	if re := restErr(t, err); re.Code != 20001 || !strings.Contains(re.Message, "ChannelOptimizedRouting") {
		t.Fatalf("ChannelOptimizedRouting: %+v, want 400 20001 naming it", re)
	}
	if got, err := h.api.FetchTaskChannel(ws, "email"); err != nil || str(got.Sid) != str(email.Sid) {
		t.Fatalf("FetchTaskChannel by unique name: %+v %v", got, err)
	}
	renamed, err := h.api.UpdateTaskChannel(ws, *email.Sid, (&openapi.UpdateTaskChannelParams{}).SetFriendlyName("E-mail"))
	if err != nil || str(renamed.FriendlyName) != "E-mail" {
		t.Fatalf("UpdateTaskChannel: %+v %v", renamed, err)
	}
	if got := channelNames(t, h, ws); !slices.Equal(got, []string{"default", "voice", "sms", "chat", "video", "email"}) {
		t.Fatalf("channels after create: %v", got)
	}
	// Existing workers get a worker channel for it, capacity 1.
	if wc := h.workerChannel(ws, l.Workers["Alice"], "email"); wc.ConfiguredCapacity != 1 || str(wc.TaskChannelSid) != *email.Sid {
		t.Fatalf("Alice's email channel: %+v", wc)
	}

	task := h.createTaskOn(l, *email.Sid)
	h.waitTask(ws, *task.Sid, "assigned")
	if re := restErr(t, h.api.DeleteTaskChannel(ws, *email.Sid)); re.Status != http.StatusBadRequest || !strings.Contains(re.Message, *task.Sid) {
		t.Fatalf("deleting a channel in use: %+v, want 400 naming the task", re)
	}
	h.complete(ws, *task.Sid)
	if err := h.api.DeleteTaskChannel(ws, *email.Sid); err != nil {
		t.Fatalf("DeleteTaskChannel: %v", err)
	}
	if _, err := h.api.FetchTaskChannel(ws, *email.Sid); restErr(t, err).Status != http.StatusNotFound {
		t.Fatalf("fetching a deleted channel: %v, want 404", err)
	}
}

func channelNames(t *testing.T, h *harness, ws string) []string {
	t.Helper()
	chans, err := h.api.ListTaskChannel(ws, &openapi.ListTaskChannelParams{})
	if err != nil {
		t.Fatalf("ListTaskChannel: %v", err)
	}
	var names []string
	for _, c := range chans {
		names = append(names, str(c.UniqueName))
	}
	return names
}

// TaskChannel on task create names the channel by unique name or SID; the
// task and its events carry it; an unknown one is a 400 naming it.
func TestTaskChannelOnCreate(t *testing.T) {
	h := newHarness(t, emulator.Options{})
	l := oneAgent(t, h, nil, nil)
	ws := l.Workspace
	chat, err := h.api.FetchTaskChannel(ws, "chat")
	if err != nil {
		t.Fatalf("FetchTaskChannel: %v", err)
	}
	byName, bySid := h.createTaskOn(l, "chat"), h.createTaskOn(l, *chat.Sid)
	for _, task := range []*openapi.TaskrouterV1Task{byName, bySid} {
		if str(task.TaskChannelSid) != *chat.Sid || str(task.TaskChannelUniqueName) != "chat" {
			t.Fatalf("task channel: %s %s, want chat %s", str(task.TaskChannelSid), str(task.TaskChannelUniqueName), *chat.Sid)
		}
	}
	plain := h.createTask(ws, l.Workflows["Tutorial Workflow"], `{}`)
	if str(plain.TaskChannelUniqueName) != "default" {
		t.Fatalf("a task created without TaskChannel is on %s, want default", str(plain.TaskChannelUniqueName))
	}
	for _, ref := range []string{"chat", *chat.Sid} {
		events, err := h.api.ListEvent(ws, (&openapi.ListEventParams{}).SetTaskChannel(ref).SetEventType("task.created"))
		if err != nil || len(events) != 2 {
			t.Fatalf("task.created events on channel %s: %d %v, want 2", ref, len(events), err)
		}
	}

	_, err = h.api.CreateTask(ws, (&openapi.CreateTaskParams{}).SetWorkflowSid(l.Workflows["Tutorial Workflow"]).SetTaskChannel("carrier-pigeon"))
	if re := restErr(t, err); re.Status != http.StatusBadRequest || re.Code != 20001 || !strings.Contains(re.Message, "carrier-pigeon") {
		t.Fatalf("unknown channel: %+v, want 400 20001 naming it", re)
	}
}

// With capacity to spare and max_reserved_workers 2, a worker is still
// offered a task once: the second offer goes to another worker.
func TestOneOfferPerWorkerPerTask(t *testing.T) {
	h := newHarness(t, emulator.Options{})
	a := newApp(t, answerAlways(`{}`)) // leave every reservation pending
	l := tutorial(t, h, a, func(s *emulator.WorkspaceSpec) {
		s.Workers = []emulator.WorkerSpec{{Name: "Alice", Activity: "Idle", Attributes: map[string]any{"languages": []any{"en"}}, Channels: map[string]int{"chat": 3}}}
		for i := range s.TaskQueues {
			s.TaskQueues[i].MaxReservedWorkers = 2
		}
	})
	ws := l.Workspace
	task := h.createTaskOn(l, "chat")
	if rs := h.reservations(ws, *task.Sid); len(rs) != 1 {
		t.Fatalf("%d reservations with one worker, want 1", len(rs))
	}
	bob, err := h.api.CreateWorker(ws, (&openapi.CreateWorkerParams{}).SetFriendlyName("Bob").
		SetAttributes(`{"languages":["en"]}`).SetActivitySid(l.Activities["Idle"]))
	if err != nil {
		t.Fatalf("CreateWorker: %v", err)
	}
	rs := h.reservations(ws, *task.Sid)
	if len(rs) != 2 || str(rs[1].WorkerSid) != *bob.Sid {
		t.Fatalf("reservations after Bob joined: %d, want a second one for Bob", len(rs))
	}
}
