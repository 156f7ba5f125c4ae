package emulator_test

import (
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
