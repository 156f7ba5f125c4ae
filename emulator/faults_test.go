package emulator_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	openapi "github.com/twilio/twilio-go/rest/taskrouter/v1"

	"github.com/assignd/assignd/emulator"
)

// pendingReservation sets up one task with a pending reservation for Alice.
func pendingReservation(t *testing.T, h *harness) (ws, task, res string) {
	t.Helper()
	a := newApp(t, answerAlways(`{}`))
	l := tutorial(t, h, a, nil)
	tk := h.spanishTaskForAlice(l)
	return l.Workspace, *tk.Sid, *h.reservations(l.Workspace, *tk.Sid)[0].Sid
}

// rawRequest sends method to u with the account's Basic auth and, when f
// is not nil, f as the form body, to see statuses, headers and bodies
// twilio-go hides. The response's body is read and closed.
func rawRequest(t *testing.T, c *http.Client, method, u string, f url.Values) (*http.Response, string, error) {
	t.Helper()
	req, _ := http.NewRequest(method, u, nil)
	if f != nil {
		req, _ = http.NewRequest(method, u, strings.NewReader(f.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.SetBasicAuth(accountSid, authToken)
	resp, err := c.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b), nil
}

// postForm sends a raw update.
func postForm(t *testing.T, c *http.Client, u string, f url.Values) (*http.Response, string, error) {
	t.Helper()
	return rawRequest(t, c, http.MethodPost, u, f)
}

// rawGet is a raw GET that fails the test when nothing answers.
func rawGet(t *testing.T, u string) (*http.Response, string) {
	t.Helper()
	resp, body, err := rawRequest(t, http.DefaultClient, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func TestScriptedFaultsOnReservationUpdate(t *testing.T) {
	h := newHarness(t, emulator.Options{})
	ws, task, res := pendingReservation(t, h)
	u := h.srv.URL + "/v1/Workspaces/" + ws + "/Tasks/" + task + "/Reservations/" + res
	accept := url.Values{"ReservationStatus": {"accepted"}}
	applied := func() int { info, _ := h.emu.Reservation(res); return info.Applied }

	// 429 with Retry-After, not applied.
	h.emu.Script(emulator.UpdateTaskReservation, res, emulator.Fault{Status: 429, RetryAfter: "3"})
	resp, body, err := postForm(t, http.DefaultClient, u, accept)
	if err != nil || resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "3" || !strings.Contains(body, `"code":20429`) {
		t.Fatalf("429 fault: %v %v %q", resp, err, body)
	}
	if applied() != 0 {
		t.Fatal("a 429 applied the update")
	}
	// 502 from a proxy: HTML, not Twilio's JSON; not applied.
	h.emu.Script(emulator.UpdateTaskReservation, "", emulator.Fault{Status: 502})
	resp, body, _ = postForm(t, http.DefaultClient, u, accept)
	if resp.StatusCode != 502 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, "Bad Gateway") {
		t.Fatalf("502 fault: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	// A delay longer than the client waits: the client gives up, and the
	// delay comes before applying, so nothing changed.
	h.emu.Script(emulator.UpdateTaskReservation, res, emulator.Fault{Delay: 10 * time.Second, Status: 500})
	impatient := &http.Client{Timeout: 200 * time.Millisecond}
	if _, _, err := postForm(t, impatient, u, accept); err == nil {
		t.Fatal("a 10 s delay answered a client that waits 200 ms")
	}
	if applied() != 0 {
		t.Fatal("a delayed request applied the update")
	}
	// A dropped connection without applying.
	h.emu.Script(emulator.UpdateTaskReservation, res, emulator.Fault{Drop: true})
	if _, _, err := postForm(t, http.DefaultClient, u, accept); err == nil {
		t.Fatal("a dropped connection answered")
	}
	if applied() != 0 {
		t.Fatal("a dropped request applied the update")
	}
	// 500 after applying: the client sees a failure, the reservation is accepted.
	h.emu.Script(emulator.UpdateTaskReservation, res, emulator.Fault{Status: 500, Apply: true})
	_, err = h.api.UpdateTaskReservation(ws, task, res, (&openapi.UpdateTaskReservationParams{}).SetReservationStatus("accepted"))
	if re := restErr(t, err); re.Status != 500 {
		t.Fatalf("500-after-apply: %+v", re)
	}
	info, _ := h.emu.Reservation(res)
	if info.Status != "accepted" || info.Applied != 1 || info.Updates != 5 {
		t.Fatalf("after the faults: %+v, want accepted, applied once, 5 requests", info)
	}
	// The retry the client makes now finds it accepted: 400 20001.
	_, err = h.api.UpdateTaskReservation(ws, task, res, (&openapi.UpdateTaskReservationParams{}).SetReservationStatus("accepted"))
	if re := restErr(t, err); re.Status != 400 || re.Code != 20001 {
		t.Fatalf("retry after apply: %+v", re)
	}
}

func TestDropAfterApply(t *testing.T) {
	h := newHarness(t, emulator.Options{})
	ws, task, res := pendingReservation(t, h)
	h.emu.Script(emulator.UpdateWorkerReservation, "", emulator.Fault{Drop: true, Apply: true})
	info, _ := h.emu.Reservation(res)
	u := h.srv.URL + "/v1/Workspaces/" + ws + "/Workers/" + info.WorkerSid + "/Reservations/" + res
	if _, _, err := postForm(t, http.DefaultClient, u, url.Values{"ReservationStatus": {"accepted"}}); err == nil {
		t.Fatal("dropped connection answered")
	}
	if info, _ := h.emu.Reservation(res); info.Status != "accepted" || info.Applied != 1 {
		t.Fatalf("drop after apply: %+v, want accepted once", info)
	}
	if got, _ := h.api.FetchTask(ws, task); str(got.AssignmentStatus) != "assigned" {
		t.Fatalf("task: %s", str(got.AssignmentStatus))
	}
}

// Faults are per endpoint (and per resource): a fault aimed at CreateTask
// leaves other endpoints alone and is used once.
func TestFaultsPerEndpoint(t *testing.T) {
	h := newHarness(t, emulator.Options{})
	a := newApp(t, answerAlways(`{}`))
	l := tutorial(t, h, a, nil)
	ws, wf := l.Workspace, l.Workflows["Tutorial Workflow"]
	h.emu.Script(emulator.CreateTask, "", emulator.Fault{Status: 503})
	h.emu.Script(emulator.FetchWorker, l.Workers["Bob"], emulator.Fault{Status: 429, RetryAfter: "1"})

	if _, err := h.api.FetchWorker(ws, l.Workers["Alice"]); err != nil {
		t.Fatalf("Alice's fetch was hit by Bob's fault: %v", err)
	}
	if _, err := h.api.FetchWorker(ws, l.Workers["Bob"]); restErr(t, err).Code != 20429 {
		t.Fatalf("Bob's fetch: %v, want 429", err)
	}
	if _, err := h.api.FetchWorker(ws, l.Workers["Bob"]); err != nil {
		t.Fatalf("second fetch of Bob: %v (the fault is used once)", err)
	}
	if _, err := h.api.ListWorker(ws, &openapi.ListWorkerParams{}); err != nil {
		t.Fatalf("ListWorker: %v", err)
	}
	_, err := h.api.CreateTask(ws, (&openapi.CreateTaskParams{}).SetAttributes(`{}`).SetWorkflowSid(wf))
	if re := restErr(t, err); re.Status != 503 {
		t.Fatalf("CreateTask: %+v, want 503", re)
	}
	tasks, _ := h.api.ListTask(ws, &openapi.ListTaskParams{})
	if len(tasks) != 0 {
		t.Fatalf("a 503 before applying created %d tasks", len(tasks))
	}
	h.createTask(ws, wf, `{}`)

	// Aimed at one workspace's tasks: another workspace is untouched.
	h.emu.Script(emulator.CreateTask, ws, emulator.Fault{Status: 500})
	other, err := h.api.CreateWorkspace((&openapi.CreateWorkspaceParams{}).SetFriendlyName("Other"))
	if err != nil {
		t.Fatal(err)
	}
	q, _ := h.api.CreateTaskQueue(*other.Sid, (&openapi.CreateTaskQueueParams{}).SetFriendlyName("All"))
	owf, err := h.api.CreateWorkflow(*other.Sid, (&openapi.CreateWorkflowParams{}).SetFriendlyName("W").
		SetConfiguration(`{"task_routing":{"filters":[],"default_filter":{"queue":"`+*q.Sid+`"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	h.createTask(*other.Sid, *owf.Sid, `{}`)
	_, err = h.api.CreateTask(ws, (&openapi.CreateTaskParams{}).SetAttributes(`{}`).SetWorkflowSid(wf))
	if re := restErr(t, err); re.Status != 500 {
		t.Fatalf("CreateTask in the faulted workspace: %+v", re)
	}
}

// FaultRate misbehaves at random on the chosen endpoints only.
func TestRandomFaultRate(t *testing.T) {
	h := newHarness(t, emulator.Options{FaultRate: 1, FaultEndpoints: []emulator.Endpoint{emulator.FetchWorker}})
	a := newApp(t, answerAlways(`{}`))
	l := tutorial(t, h, a, nil)
	for range 10 {
		_, err := h.api.FetchWorker(l.Workspace, l.Workers["Alice"])
		if re := restErr(t, err); re.Status != 429 && re.Status != 500 {
			t.Fatalf("random fault: %+v, want 429 or 500", re)
		}
	}
	if _, err := h.api.FetchWorkflow(l.Workspace, l.Workflows["Tutorial Workflow"]); err != nil {
		t.Fatalf("an endpoint without faults failed: %v", err)
	}
}
