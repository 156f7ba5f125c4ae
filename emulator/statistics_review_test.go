package emulator_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	openapi "github.com/twilio/twilio-go/rest/taskrouter/v1"

	"github.com/assignd/assignd/emulator"
)

// A worker whose first activity change comes after the window's end still
// spent the window in the activity it left: Alice Offline from 0 to 20
// minutes, asked at 25 minutes about 0-15, was Offline all 900 seconds.
func TestActivityDurationsCountAStayEndingAfterTheWindow(t *testing.T) {
	clock := emulator.NewManualClock(epoch)
	h := newHarness(t, emulator.Options{Clock: clock})
	l, err := h.emu.Load(emulator.Tutorial())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	clock.Advance(20 * time.Minute)
	h.setActivity(l.Workspace, l.Workers["Alice"], l.Activities["Idle"])
	clock.Advance(5 * time.Minute)
	got, err := h.api.FetchWorkerInstanceStatistics(l.Workspace, l.Workers["Alice"],
		(&openapi.FetchWorkerInstanceStatisticsParams{}).SetStartDate(epoch).SetEndDate(epoch.Add(15*time.Minute)))
	cum := sub(figures(t, got, err), "cumulative")
	for _, a := range cum["activity_durations"].([]any) {
		a := a.(map[string]any)
		want := 0.0
		if a["friendly_name"] == "Offline" {
			want = 900
		}
		if total, _ := a["total"].(float64); total != want {
			t.Errorf("%v total %v, want %v", a["friendly_name"], a["total"], want)
		}
	}
}

// A workflow's tasks_entered counts the tasks that entered it
// (workflow.entered), not every task created with its SID: a task sent
// straight to a queue by RoutingTarget never enters the workflow.
func TestWorkflowTasksEnteredCountsWorkflowEntered(t *testing.T) {
	h := newHarness(t, emulator.Options{})
	l := tutorial(t, h, newApp(t, answerAlways(`{}`)), nil)
	ws, wf := l.Workspace, l.Workflows["Tutorial Workflow"]
	if _, err := h.api.CreateTask(ws, (&openapi.CreateTaskParams{}).SetAttributes(`{}`).
		SetRoutingTarget(l.TaskQueues["Customer Care Requests - English"])); err != nil {
		t.Fatal(err)
	}
	h.createTask(ws, wf, `{}`)
	got, err := h.api.FetchWorkflowCumulativeStatistics(ws, wf, nil)
	expect(t, "workflow cumulative", figures(t, got, err), map[string]any{"tasks_entered": 1})
}

// TaskChannel on the workers' and the workspace's real-time statistics
// counts the workers who take tasks of that channel now: their worker
// channel for it available with capacity. Alice's voice channel off, she
// counts for sms but not for voice, nor in her activity's figure.
func TestRealTimeTaskChannelCountsTheChannelsWorkers(t *testing.T) {
	h := newHarness(t, emulator.Options{})
	l := tutorial(t, h, newApp(t, answerAlways(`{}`)), nil)
	ws := l.Workspace
	if _, err := h.api.UpdateWorkerChannel(ws, l.Workers["Alice"], "voice", (&openapi.UpdateWorkerChannelParams{}).SetAvailable(false)); err != nil {
		t.Fatal(err)
	}
	if _, err := h.api.UpdateWorkerChannel(ws, l.Workers["Bob"], "voice", (&openapi.UpdateWorkerChannelParams{}).SetCapacity(0)); err != nil {
		t.Fatal(err)
	}
	offline := func(m map[string]any) any {
		for _, a := range m["activity_statistics"].([]any) {
			if a := a.(map[string]any); a["friendly_name"] == "Offline" {
				return a["workers"]
			}
		}
		return nil
	}
	for _, c := range []struct {
		channel string
		want    float64
	}{{"sms", 2}, {"voice", 0}} {
		workers, err := h.api.FetchWorkersRealTimeStatistics(ws, (&openapi.FetchWorkersRealTimeStatisticsParams{}).SetTaskChannel(c.channel))
		m := figures(t, workers, err)
		expect(t, "Workers/RealTimeStatistics?TaskChannel="+c.channel, m, map[string]any{"total_workers": c.want})
		if offline(m) != c.want {
			t.Errorf("Workers/RealTimeStatistics?TaskChannel=%s: %v Offline, want %v", c.channel, offline(m), c.want)
		}
		both, err := h.api.FetchWorkerStatistics(ws, (&openapi.FetchWorkerStatisticsParams{}).SetTaskChannel(c.channel))
		expect(t, "Workers/Statistics?TaskChannel="+c.channel, sub(figures(t, both, err), "realtime"), map[string]any{"total_workers": c.want})
		space, err := h.api.FetchWorkspaceRealTimeStatistics(ws, (&openapi.FetchWorkspaceRealTimeStatisticsParams{}).SetTaskChannel(c.channel))
		expect(t, "RealTimeStatistics?TaskChannel="+c.channel, figures(t, space, err), map[string]any{"total_workers": c.want})
	}
}

// The bulk real-time body is decoded strictly: a key the emulator does not
// read (TaskChannel included: the operation documents no body fields) is
// refused by name rather than silently dropped.
func TestBulkRealTimeRefusesUnknownBodyKeys(t *testing.T) {
	h := newHarness(t, emulator.Options{})
	l := tutorial(t, h, newApp(t, answerAlways(`{}`)), nil)
	for _, key := range []string{"Bogus", "TaskChannel"} {
		_, err := h.api.CreateTaskQueueBulkRealTimeStatistics(l.Workspace, (&openapi.CreateTaskQueueBulkRealTimeStatisticsParams{}).
			SetBody(map[string]interface{}{"TaskQueueSids": []string{}, key: 1}))
		if re := restErr(t, err); re.Status != 400 || re.Code != 20001 || re.Message != "Parameter "+key+" is not supported by the emulator" {
			t.Errorf("body key %s: %d %d %q, want 400 20001 naming it", key, re.Status, re.Code, re.Message)
		}
	}
}

// A client slow to send its body does not hold the emulator: the body is
// read before the emulator's lock is taken, so other requests go on.
func TestSlowBodyDoesNotStallTheEmulator(t *testing.T) {
	h := newHarness(t, emulator.Options{})
	l := tutorial(t, h, newApp(t, answerAlways(`{}`)), nil)
	direct := httptest.NewServer(h.emu) // the harness buffers bodies; this one does not
	defer direct.Close()
	body, send := io.Pipe()
	defer send.Close()
	req, _ := http.NewRequest(http.MethodPost, direct.URL+"/v1/Workspaces/"+l.Workspace+"/TaskQueues/RealTimeStatistics", body)
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(accountSid, authToken)
	slow := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		slow <- err
	}()
	if _, err := send.Write([]byte(`{"TaskQueueSids":`)); err != nil { // the request has reached the emulator
		t.Fatal(err)
	}
	fetched := make(chan error, 1)
	go func() { _, err := h.api.FetchWorkspace(l.Workspace); fetched <- err }()
	var err error
	waitFor(t, "a fetch while another request's body is still coming", func() bool {
		select {
		case err = <-fetched:
			return true
		default:
			return false
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = send.Write([]byte(`[]}`))
	send.Close()
	if err := <-slow; err != nil {
		t.Fatal(err)
	}
}

// available_capacity_percentage counts a pending reservation against the
// channel's capacity, as routing does: "100 means the Worker is available
// to receive any Tasks from this TaskChannel", and a capacity-1 channel
// holding an offer receives no other.
func TestAvailableCapacityCountsPendingReservations(t *testing.T) {
	h := newHarness(t, emulator.Options{})
	l := tutorial(t, h, newApp(t, answerAlways(`{}`)), func(s *emulator.WorkspaceSpec) {
		s.Workers = []emulator.WorkerSpec{{Name: "Alice", Activity: "Idle", Attributes: map[string]any{"languages": []any{"en"}},
			Channels: map[string]int{"default": 1}}}
	})
	task := h.createTaskOn(l, "default")
	if rs := h.reservations(l.Workspace, *task.Sid); len(rs) != 1 || str(rs[0].ReservationStatus) != "pending" {
		t.Fatalf("reservations %+v, want Alice's pending one", rs)
	}
	wc := h.workerChannel(l.Workspace, l.Workers["Alice"], "default")
	if wc.AvailableCapacityPercentage != 0 {
		t.Errorf("available_capacity_percentage %v with the one slot offered, want 0", wc.AvailableCapacityPercentage)
	}
	second := h.createTaskOn(l, "default")
	h.waitingUnoffered(l.Workspace, *second.Sid)
}

// A completed or canceled task is deleted by the system five minutes
// later, as Twilio documents ("the Task will be deleted five minutes after
// moving into this state"), with a task.system-deleted event: the tasks
// table, which real-time statistics read, stays bounded.
func TestFinishedTasksAreDeletedAfterFiveMinutes(t *testing.T) {
	clock := emulator.NewManualClock(epoch)
	h := newHarness(t, emulator.Options{Clock: clock})
	l := tutorial(t, h, newApp(t, answerAlways(`{}`)), nil)
	ws := l.Workspace
	task := h.createTask(ws, l.Workflows["Tutorial Workflow"], `{}`)
	if _, err := h.api.UpdateTask(ws, *task.Sid, (&openapi.UpdateTaskParams{}).SetAssignmentStatus("canceled")); err != nil {
		t.Fatal(err)
	}
	clock.Advance(5*time.Minute - time.Second)
	if _, err := h.api.FetchTask(ws, *task.Sid); err != nil {
		t.Fatalf("FetchTask just before five minutes: %v", err)
	}
	clock.Advance(time.Second)
	_, err := h.api.FetchTask(ws, *task.Sid)
	if re := restErr(t, err); re.Status != http.StatusNotFound {
		t.Fatalf("FetchTask five minutes after it was canceled: %d, want 404", re.Status)
	}
	evs, err := h.api.ListEvent(ws, (&openapi.ListEventParams{}).SetTaskSid(*task.Sid).SetEventType("task.system-deleted"))
	if err != nil || len(evs) != 1 {
		t.Fatalf("task.system-deleted events: %d %v, want 1", len(evs), err)
	}
}
