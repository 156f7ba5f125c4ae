package emulator_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"sync"
	"testing"

	openapi "github.com/twilio/twilio-go/rest/taskrouter/v1"

	"github.com/assignd/assignd/async"
	"github.com/assignd/assignd/emulator"
	"github.com/assignd/assignd/policy"
)

// allInstructions returns the six instructions with every field set.
func allInstructions(busy, offline string) []policy.Instruction {
	n, yes, no := ptr(30), ptr(true), ptr(false)
	return []policy.Instruction{
		policy.Accept{},
		policy.Reject{ActivitySid: busy},
		policy.Dequeue{To: "client:alice", From: "+15550001111", PostWorkActivitySid: offline, Record: "record-from-answer",
			Timeout: n, StatusCallbackURL: "https://app.example/status", StatusCallbackEvents: "initiated,ringing,answered,completed"},
		policy.Call{From: "+15550001111", URL: "https://app.example/twiml", To: "client:alice", Accept: yes, Record: "record-from-answer",
			Timeout: n, StatusCallbackURL: "https://app.example/status"},
		policy.Redirect{CallSid: "CA0123456789abcdef0123456789abcdef", URL: "https://app.example/twiml", Accept: no},
		policy.Conference{To: "client:alice", From: "+15550001111", PostWorkActivitySid: offline, Timeout: n, Record: yes, Muted: no,
			Beep: "onEnter", StartConferenceOnEnter: yes, EndConferenceOnExit: no, EndConferenceOnCustomerExit: yes,
			BeepOnCustomerEntrance: yes, EarlyMedia: yes, WaitURL: "https://app.example/wait", WaitMethod: "GET",
			MaxParticipants: ptr(5), StatusCallback: "https://app.example/conf", StatusCallbackMethod: "POST",
			StatusCallbackEvent: "initiated,answered,completed", ConferenceRecord: "record-from-start", ConferenceTrim: "trim-silence",
			ConferenceStatusCallback: "https://app.example/cs", ConferenceStatusCallbackMethod: "POST",
			ConferenceStatusCallbackEvent: "start,end,join,leave", RecordingChannels: "dual", RecordingStatusCallback: "https://app.example/rs",
			RecordingStatusCallbackMethod: "POST", ConferenceRecordingStatusCallback: "https://app.example/crs",
			ConferenceRecordingStatusCallbackMethod: "POST", Region: "us1", SipAuthUsername: "user", SipAuthPassword: "secret",
			Supervisor: "WK0123456789abcdef0123456789abcdef", SupervisorMode: "monitor", JitterBufferSize: "large"},
	}
}

// Each instruction, every field set, carried out two ways: the async
// worker's REST update (async.TwilioUpdateParams through twilio-go, validated
// against Twilio's request schema by the harness) and the same instruction
// as the assignment callback's answer. Both must decide the reservation the
// same way with the same parameters: the emulator's reading of a callback
// answer cannot drift from assignd's REST mapping.
func TestInstructionsRESTAndCallbackAgree(t *testing.T) {
	h := newHarness(t, emulator.Options{})
	var mu sync.Mutex
	answer := `{}`
	a := newApp(t, func(string, url.Values) (int, string) {
		mu.Lock()
		defer mu.Unlock()
		return http.StatusOK, answer
	})
	l := tutorial(t, h, a, nil)
	ws, alice, wf := l.Workspace, l.Workers["Alice"], l.Workflows["Tutorial Workflow"]

	run := func(ins policy.Instruction, viaCallback bool) emulator.ReservationInfo {
		t.Helper()
		body, _ := json.Marshal(ins)
		mu.Lock()
		answer = `{}`
		if viaCallback {
			answer = string(body)
		}
		mu.Unlock()
		h.setActivity(ws, alice, l.Activities["Idle"])
		task := h.createTask(ws, wf, `{"selected_language":"es"}`)
		rs := h.reservations(ws, *task.Sid)
		if len(rs) != 1 {
			t.Fatalf("%s: %d reservations, want 1", ins.Name(), len(rs))
		}
		sid := *rs[0].Sid
		if !viaCallback {
			waitFor(t, "the callback", func() bool {
				for _, cb := range h.emu.Callbacks() {
					if cb.ReservationSid == sid {
						return true
					}
				}
				return false
			})
			p, err := async.TwilioUpdateParams(ins)
			if err != nil {
				t.Fatalf("TwilioUpdateParams(%s): %v", ins.Name(), err)
			}
			if _, err := h.api.UpdateTaskReservation(ws, *task.Sid, sid, p); err != nil {
				t.Fatalf("REST %s: %v", ins.Name(), err)
			}
		}
		var info emulator.ReservationInfo
		waitFor(t, ins.Name()+" applied", func() bool {
			info, _ = h.emu.Reservation(sid)
			return info.Instruction != ""
		})
		// Clear the way for the next round.
		next := (&openapi.UpdateTaskParams{}).SetAssignmentStatus("completed")
		if info.Status != "accepted" {
			next.SetAssignmentStatus("canceled")
		}
		if _, err := h.api.UpdateTask(ws, *task.Sid, next); err != nil {
			t.Fatalf("closing the task after %s: %v", ins.Name(), err)
		}
		return info
	}

	for _, ins := range allInstructions(l.Activities["Busy"], l.Activities["Offline"]) {
		rest := run(ins, false)
		cb := run(ins, true)
		wantStatus := "accepted"
		switch ins.Name() {
		case "reject":
			wantStatus = "rejected"
		case "redirect": // with accept false: redirected, still pending
			wantStatus = "pending"
		}
		if rest.Status != wantStatus || cb.Status != wantStatus || rest.Instruction != ins.Name() || cb.Instruction != ins.Name() {
			t.Errorf("%s: REST → %s (%s), callback → %s (%s), want %s", ins.Name(), rest.Status, rest.Instruction, cb.Status, cb.Instruction, wantStatus)
		}
		if !reflect.DeepEqual(rest.Params, cb.Params) {
			t.Errorf("%s: parameters differ\n REST:     %v\n callback: %v", ins.Name(), rest.Params, cb.Params)
		}
		if rest.Applied != 1 || cb.Applied != 1 {
			t.Errorf("%s: applied %d/%d times, want once each", ins.Name(), rest.Applied, cb.Applied)
		}
	}

	// The effect shows on the reservation resource.
	var last emulator.ReservationInfo
	for _, r := range h.emu.Reservations() {
		last = r
	}
	_, b := rawGet(t, h.srv.URL+"/v1/Workspaces/"+ws+"/Tasks/"+last.TaskSid+"/Reservations/"+last.Sid)
	var got map[string]any
	if err := json.Unmarshal([]byte(b), &got); err != nil {
		t.Fatalf("reservation body %s: %v", b, err)
	}
	params, _ := got["instruction_parameters"].(map[string]any)
	if got["instruction"] != "conference" || params["WaitUrl"] != "https://app.example/wait" {
		t.Fatalf("reservation resource: %s, want the conference and its parameters", b)
	}
}

// Instructions Twilio refuses are refused with 400 20001 and change nothing.
func TestBadReservationUpdates(t *testing.T) {
	h := newHarness(t, emulator.Options{})
	a := newApp(t, answerAlways(`{}`))
	l := tutorial(t, h, a, nil)
	ws := l.Workspace
	task := h.spanishTaskForAlice(l)
	sid := *h.reservations(ws, *task.Sid)[0].Sid
	for name, p := range map[string]*openapi.UpdateTaskReservationParams{
		"nothing":            {},
		"call without url":   (&openapi.UpdateTaskReservationParams{}).SetInstruction("call").SetCallFrom("+15550001111"),
		"redirect, no sid":   (&openapi.UpdateTaskReservationParams{}).SetInstruction("redirect").SetRedirectUrl("https://x.example"),
		"unknown activity":   (&openapi.UpdateTaskReservationParams{}).SetReservationStatus("rejected").SetWorkerActivitySid("WA00000000000000000000000000000000"),
		"timeout is not set": (&openapi.UpdateTaskReservationParams{}).SetReservationStatus("timeout"),
		"completed too soon": (&openapi.UpdateTaskReservationParams{}).SetReservationStatus("completed"),
	} {
		_, err := h.api.UpdateTaskReservation(ws, *task.Sid, sid, p)
		if re := restErr(t, err); re.Status != 400 || re.Code != 20001 || re.Message == "" {
			t.Errorf("%s: %+v, want 400 20001 with a message", name, re)
		}
	}
	if info, _ := h.emu.Reservation(sid); info.Status != "pending" || info.Applied != 0 || info.Updates != 6 {
		t.Fatalf("after refused updates: %+v, want pending, nothing applied, 6 updates seen", info)
	}
	// Under the wrong task: 404.
	other := h.createTask(ws, l.Workflows["Tutorial Workflow"], `{"selected_language":"es"}`)
	_, err := h.api.FetchTaskReservation(ws, *other.Sid, sid)
	if re := restErr(t, err); re.Status != 404 || re.Code != 20404 {
		t.Fatalf("reservation under another task: %+v", re)
	}
}

// Call and redirect accept the reservation only with accept true, as on
// Twilio: without it the call is recorded and the reservation stays pending
// for a later accept, which then applies (and only then is the task
// assigned). The async worker's at-most-once check relies on this.
func TestCallAndRedirectWithoutAcceptStayPending(t *testing.T) {
	h := newHarness(t, emulator.Options{})
	a := newApp(t, answerAlways(`{}`))
	l := tutorial(t, h, a, nil)
	ws, wf := l.Workspace, l.Workflows["Tutorial Workflow"]
	for name, p := range map[string]*openapi.UpdateTaskReservationParams{
		"call": (&openapi.UpdateTaskReservationParams{}).SetInstruction("call").SetCallFrom("+15550001111").
			SetCallUrl("https://app.example/twiml").SetCallTo("client:alice").SetCallAccept(false),
		"redirect": (&openapi.UpdateTaskReservationParams{}).SetInstruction("redirect").
			SetRedirectCallSid("CA0123456789abcdef0123456789abcdef").SetRedirectUrl("https://app.example/twiml"),
	} {
		h.setActivity(ws, l.Workers["Alice"], l.Activities["Idle"])
		task := h.createTask(ws, wf, `{"selected_language":"es"}`)
		sid := *h.reservations(ws, *task.Sid)[0].Sid
		got, err := h.api.UpdateTaskReservation(ws, *task.Sid, sid, p)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if str(got.ReservationStatus) != "pending" {
			t.Fatalf("%s without accept: reservation %s, want pending", name, str(got.ReservationStatus))
		}
		info, _ := h.emu.Reservation(sid)
		if info.Instruction != name || info.Status != "pending" || info.Applied != 1 {
			t.Fatalf("%s without accept: %+v, want the instruction recorded, pending, applied once", name, info)
		}
		if tk, _ := h.emu.Task(*task.Sid); tk.Status != "reserved" {
			t.Fatalf("%s without accept: task %s, want reserved", name, tk.Status)
		}
		if _, err := h.api.UpdateTaskReservation(ws, *task.Sid, sid, (&openapi.UpdateTaskReservationParams{}).SetReservationStatus("accepted")); err != nil {
			t.Fatalf("%s, then accept: %v", name, err)
		}
		if tk, _ := h.emu.Task(*task.Sid); tk.Status != "assigned" {
			t.Fatalf("%s, then accept: task %s, want assigned", name, tk.Status)
		}
		if _, err := h.api.UpdateTask(ws, *task.Sid, (&openapi.UpdateTaskParams{}).SetAssignmentStatus("completed")); err != nil {
			t.Fatalf("closing the task: %v", err)
		}
	}
}
