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
