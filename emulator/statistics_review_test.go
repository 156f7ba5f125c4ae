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
