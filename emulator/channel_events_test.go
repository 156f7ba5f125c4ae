package emulator_test

import (
	"testing"

	openapi "github.com/twilio/twilio-go/rest/taskrouter/v1"

	"github.com/assignd/assignd/emulator"
)

// A worker channel update emits worker.capacity.update when its capacity
// changes and worker.channel.availability.update when its availability
// does, with the worker's fields and the channel's, through the Events API
// and the event callback (events_filter applies); an update changing
// nothing emits neither.
func TestWorkerChannelEvents(t *testing.T) {
	h := newHarness(t, emulator.Options{})
	a := newApp(t, answerAlways(`{}`))
	l := tutorial(t, h, a, func(s *emulator.WorkspaceSpec) {
		s.EventCallbackURL = a.srv.URL + "/events"
		s.EventsFilter = "worker.capacity.update,worker.channel.availability.update"
	})
	ws, alice := l.Workspace, l.Workers["Alice"]
	voice := h.workerChannel(ws, alice, "voice")
	for _, p := range []*openapi.UpdateWorkerChannelParams{
		(&openapi.UpdateWorkerChannelParams{}).SetCapacity(3),
		(&openapi.UpdateWorkerChannelParams{}).SetAvailable(false),
		(&openapi.UpdateWorkerChannelParams{}).SetCapacity(3).SetAvailable(false), // no change
	} {
		if _, err := h.api.UpdateWorkerChannel(ws, alice, *voice.Sid, p); err != nil {
			t.Fatal(err)
		}
	}
	// The callback: these two alone (the filter leaves the load's events out), in order.
	waitFor(t, "two channel events delivered", func() bool { return len(a.requests("/events")) >= 2 })
	got := a.requests("/events")
	if len(got) != 2 {
		t.Fatalf("%d events delivered, want 2", len(got))
	}
	want := []struct{ typ, capacity, available string }{
		{"worker.capacity.update", "3", "true"},
		{"worker.channel.availability.update", "3", "false"},
	}
	for i, w := range want {
		f := got[i]
		if f.Get("EventType") != w.typ || f.Get("WorkerSid") != alice || f.Get("WorkerName") != "Alice" ||
			f.Get("ResourceSid") != alice || f.Get("WorkerChannelSid") != *voice.Sid ||
			f.Get("TaskChannelSid") != str(voice.TaskChannelSid) || f.Get("TaskChannelUniqueName") != "voice" ||
			f.Get("WorkerChannelCapacity") != w.capacity || f.Get("WorkerChannelAvailable") != w.available {
			t.Errorf("event %d: %v, want %s for Alice's voice channel, capacity %s, available %s", i, f, w.typ, w.capacity, w.available)
		}
	}
	// The Events API: one of each, the channel's fields in event_data.
	for _, w := range want {
		evs, err := h.api.ListEvent(ws, (&openapi.ListEventParams{}).SetWorkerSid(alice).SetEventType(w.typ))
		if err != nil || len(evs) != 1 {
			t.Fatalf("ListEvent %s: %d %v, want 1", w.typ, len(evs), err)
		}
		data, _ := (*evs[0].EventData).(map[string]any)
		if data["task_channel_unique_name"] != "voice" || data["worker_channel_capacity"] != w.capacity ||
			data["worker_channel_available"] != w.available {
			t.Errorf("%s event_data: %v", w.typ, data)
		}
	}
}
