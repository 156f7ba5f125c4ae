package emulator_test

import (
	"testing"

	openapi "github.com/twilio/twilio-go/rest/taskrouter/v1"

	"github.com/assignd/assignd/emulator"
)

// A task's answers carry its ETag, which changes with every change of the
// task; an update or delete with a stale If-Match is refused with 412 20412
// and changes nothing, one with the current ETag applies.
func TestTaskETagIfMatch(t *testing.T) {
	h := newHarness(t, emulator.Options{})
	l := tutorial(t, h, newApp(t, answerAlways(`{}`)), nil)
	ws := l.Workspace
	created, err := h.api.CreateTaskWithMetadata(ws, (&openapi.CreateTaskParams{}).SetAttributes(`{"n":1}`).SetWorkflowSid(l.Workflows["Tutorial Workflow"]))
	if err != nil {
		t.Fatal(err)
	}
	sid := *created.Resource.Sid
	etag := func() string {
		t.Helper()
		got, err := h.api.FetchTaskWithMetadata(ws, sid)
		if err != nil {
			t.Fatal(err)
		}
		return got.GetHeader("ETag")
	}
	first := etag()
	if first == "" || first != created.GetHeader("ETag") {
		t.Fatalf("ETag on fetch %q, on create %q: want the same, not empty", first, created.GetHeader("ETag"))
	}

	updated, err := h.api.UpdateTaskWithMetadata(ws, sid, (&openapi.UpdateTaskParams{}).SetAttributes(`{"n":2}`).SetIfMatch(first))
	if err != nil {
		t.Fatalf("update with the current ETag: %v", err)
	}
	second := updated.GetHeader("ETag")
	if second == "" || second == first || second != etag() {
		t.Fatalf("ETag after an update %q (fetch %q), before %q: want a new one", second, etag(), first)
	}

	_, err = h.api.UpdateTask(ws, sid, (&openapi.UpdateTaskParams{}).SetAttributes(`{"n":3}`).SetIfMatch(first))
	if re := restErr(t, err); re.Status != 412 || re.Code != 20412 {
		t.Fatalf("update with a stale If-Match: %d %d %s, want 412 20412", re.Status, re.Code, re.Message)
	}
	_, err = h.api.UpdateTask(ws, sid, (&openapi.UpdateTaskParams{}).SetAssignmentStatus("canceled").SetIfMatch(first))
	restErr(t, err)
	if got, _ := h.api.FetchTask(ws, sid); str(got.Attributes) != `{"n":2}` || str(got.AssignmentStatus) != "pending" || etag() != second {
		t.Fatalf("a refused update changed the task: %s %s", str(got.Attributes), str(got.AssignmentStatus))
	}
	if err := h.api.DeleteTask(ws, sid, (&openapi.DeleteTaskParams{}).SetIfMatch(first)); restErr(t, err).Status != 412 {
		t.Fatalf("delete with a stale If-Match: %v", err)
	}
	if err := h.api.DeleteTask(ws, sid, (&openapi.DeleteTaskParams{}).SetIfMatch(second)); err != nil {
		t.Fatalf("delete with the current ETag: %v", err)
	}
}

// A reservation's fetch answers its ETag; an update with a stale If-Match
// is refused 412 20412 and leaves it pending, one with the current ETag
// applies.
func TestReservationETagIfMatch(t *testing.T) {
	h := newHarness(t, emulator.Options{})
	l := tutorial(t, h, newApp(t, answerAlways(`{}`)), nil)
	ws := l.Workspace
	task := h.spanishTaskForAlice(l)
	res := *h.reservations(ws, *task.Sid)[0].Sid
	fetched, err := h.api.FetchTaskReservationWithMetadata(ws, *task.Sid, res)
	if err != nil || fetched.GetHeader("ETag") == "" {
		t.Fatalf("FetchTaskReservation: ETag %q, %v", fetched.GetHeader("ETag"), err)
	}
	current := fetched.GetHeader("ETag")
	_, err = h.api.UpdateTaskReservation(ws, *task.Sid, res, (&openapi.UpdateTaskReservationParams{}).SetReservationStatus("accepted").SetIfMatch(`"stale"`))
	if re := restErr(t, err); re.Status != 412 || re.Code != 20412 {
		t.Fatalf("update with a stale If-Match: %d %d, want 412 20412", re.Status, re.Code)
	}
	if got, _ := h.api.FetchTaskReservation(ws, *task.Sid, res); str(got.ReservationStatus) != "pending" {
		t.Fatalf("a refused update changed the reservation to %s", str(got.ReservationStatus))
	}
	accepted, err := h.api.UpdateTaskReservation(ws, *task.Sid, res, (&openapi.UpdateTaskReservationParams{}).SetReservationStatus("accepted").SetIfMatch(current))
	if err != nil || str(accepted.ReservationStatus) != "accepted" {
		t.Fatalf("update with the current ETag: %v %v", accepted, err)
	}
	if after, _ := h.api.FetchTaskReservationWithMetadata(ws, *task.Sid, res); after.GetHeader("ETag") == current {
		t.Fatalf("ETag %s unchanged by the accept", current)
	}
}

// A worker's answers carry its ETag, new with every change of the worker
// (its name, attributes, activity, a channel's capacity); an update or
// delete with a stale If-Match is refused with 412 20412 and changes
// nothing, one with the current ETag applies (Twilio's OpenAPI gives
// UpdateWorker and DeleteWorker an If-Match header).
func TestWorkerETagIfMatch(t *testing.T) {
	h := newHarness(t, emulator.Options{})
	l := tutorial(t, h, newApp(t, answerAlways(`{}`)), nil)
	ws := l.Workspace
	created, err := h.api.CreateWorkerWithMetadata(ws, (&openapi.CreateWorkerParams{}).SetFriendlyName("Zed").SetAttributes(`{"n":1}`))
	if err != nil {
		t.Fatal(err)
	}
	sid := *created.Resource.Sid
	etag := func() string {
		t.Helper()
		got, err := h.api.FetchWorkerWithMetadata(ws, sid)
		if err != nil {
			t.Fatal(err)
		}
		return got.GetHeader("ETag")
	}
	first := etag()
	if first == "" || first != created.GetHeader("ETag") {
		t.Fatalf("ETag on fetch %q, on create %q: want the same, not empty", first, created.GetHeader("ETag"))
	}
	updated, err := h.api.UpdateWorkerWithMetadata(ws, sid, (&openapi.UpdateWorkerParams{}).SetAttributes(`{"n":2}`).SetIfMatch(first))
	if err != nil {
		t.Fatalf("update with the current ETag: %v", err)
	}
	second := updated.GetHeader("ETag")
	if second == "" || second == first || second != etag() {
		t.Fatalf("ETag after an update %q (fetch %q), before %q: want a new one", second, etag(), first)
	}
	_, err = h.api.UpdateWorker(ws, sid, (&openapi.UpdateWorkerParams{}).SetFriendlyName("Zoe").SetActivitySid(l.Activities["Idle"]).SetIfMatch(first))
	if re := restErr(t, err); re.Status != 412 || re.Code != 20412 {
		t.Fatalf("update with a stale If-Match: %d %d %s, want 412 20412", re.Status, re.Code, re.Message)
	}
	if got, _ := h.api.FetchWorker(ws, sid); str(got.FriendlyName) != "Zed" || str(got.ActivitySid) == l.Activities["Idle"] || etag() != second {
		t.Fatalf("a refused update changed the worker: %s %s", str(got.FriendlyName), str(got.ActivitySid))
	}
	h.setActivity(ws, sid, l.Activities["Idle"])
	third := etag()
	if third == second {
		t.Fatalf("ETag %s unchanged by an activity change", third)
	}
	chans, err := h.api.ListWorkerChannel(ws, sid, nil)
	if err != nil || len(chans) == 0 {
		t.Fatalf("ListWorkerChannel: %v %v", chans, err)
	}
	if _, err := h.api.UpdateWorkerChannel(ws, sid, *chans[0].Sid, (&openapi.UpdateWorkerChannelParams{}).SetCapacity(3)); err != nil {
		t.Fatal(err)
	}
	fourth := etag()
	if fourth == third {
		t.Fatalf("ETag %s unchanged by a channel's capacity change", fourth)
	}
	if err := h.api.DeleteWorker(ws, sid, (&openapi.DeleteWorkerParams{}).SetIfMatch(third)); restErr(t, err).Status != 412 {
		t.Fatalf("delete with a stale If-Match: %v", err)
	}
	if _, err := h.api.FetchWorker(ws, sid); err != nil {
		t.Fatalf("a refused delete removed the worker: %v", err)
	}
	if err := h.api.DeleteWorker(ws, sid, (&openapi.DeleteWorkerParams{}).SetIfMatch(fourth)); err != nil {
		t.Fatalf("delete with the current ETag: %v", err)
	}
}
