package emulator_test

import (
	"testing"
	"time"

	openapi "github.com/twilio/twilio-go/rest/taskrouter/v1"

	"github.com/assignd/assignd/emulator"
)

// worker.activity.update says how long the worker spent in the activity it
// left, in seconds and in milliseconds, as Twilio's event does.
func TestWorkerActivityEventTimeInPrevious(t *testing.T) {
	clock := emulator.NewManualClock(epoch)
	h := newHarness(t, emulator.Options{Clock: clock})
	l := tutorial(t, h, newApp(t, answerAlways(`{}`)), nil)
	ws, alice := l.Workspace, l.Workers["Alice"]
	clock.Advance(90*time.Second + 250*time.Millisecond)
	h.setActivity(ws, alice, l.Activities["Idle"])
	clock.Advance(1500 * time.Millisecond)
	h.setActivity(ws, alice, l.Activities["Busy"])
	evs, err := h.api.ListEvent(ws, (&openapi.ListEventParams{}).SetWorkerSid(alice).SetEventType("worker.activity.update"))
	if err != nil || len(evs) != 2 {
		t.Fatalf("ListEvent: %d events, %v", len(evs), err)
	}
	want := map[string][2]string{"Offline": {"90", "90250"}, "Idle": {"1", "1500"}}
	for _, ev := range evs {
		data, _ := (*ev.EventData).(map[string]any)
		w, ok := want[data["worker_previous_activity_name"].(string)]
		if !ok || data["worker_time_in_previous_activity"] != w[0] || data["worker_time_in_previous_activity_ms"] != w[1] {
			t.Errorf("%s: time in previous activity %v s, %v ms; want %v", data["worker_previous_activity_name"],
				data["worker_time_in_previous_activity"], data["worker_time_in_previous_activity_ms"], w)
		}
	}
}

// A worker's attributes are shown when it is fetched, created or updated,
// and null in the list of workers, as Twilio's description of the field
// says.
func TestWorkerAttributesOnlyOnFetch(t *testing.T) {
	h := newHarness(t, emulator.Options{})
	l := tutorial(t, h, newApp(t, answerAlways(`{}`)), nil)
	ws := l.Workspace
	created, err := h.api.CreateWorker(ws, (&openapi.CreateWorkerParams{}).SetFriendlyName("Carol").SetAttributes(`{"level":2}`))
	if err != nil || str(created.Attributes) != `{"level":2}` {
		t.Fatalf("CreateWorker: attributes %q, %v", str(created.Attributes), err)
	}
	if got, err := h.api.FetchWorker(ws, *created.Sid); err != nil || str(got.Attributes) != `{"level":2}` {
		t.Fatalf("FetchWorker: attributes %q, %v", str(got.Attributes), err)
	}
	listed, err := h.api.ListWorker(ws, &openapi.ListWorkerParams{})
	if err != nil || len(listed) != 3 {
		t.Fatalf("ListWorker: %d workers, %v", len(listed), err)
	}
	for _, w := range listed {
		if w.Attributes != nil {
			t.Errorf("listed worker %s shows attributes %q, want null", str(w.FriendlyName), *w.Attributes)
		}
	}
}
