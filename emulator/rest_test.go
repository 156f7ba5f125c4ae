package emulator_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	openapi "github.com/twilio/twilio-go/rest/taskrouter/v1"

	"github.com/assignd/assignd/emulator"
)

func TestAuthentication(t *testing.T) {
	const key, secret = "SK0123456789abcdef0123456789abcdef", "keysecret0123456789abcdef0123456"
	h := newHarness(t, emulator.Options{APIKeys: map[string]string{key: secret}})
	if _, err := h.api.ListWorkspace(&openapi.ListWorkspaceParams{}); err != nil {
		t.Fatalf("account SID + auth token: %v", err)
	}
	if _, err := twilioAPI(h.srv.URL, key, secret).ListWorkspace(&openapi.ListWorkspaceParams{}); err != nil {
		t.Fatalf("API key + secret: %v", err)
	}
	for name, pair := range map[string][2]string{
		"wrong token":   {accountSid, "wrongtoken0123456789abcdef012345"},
		"wrong secret":  {key, "wrongsecret"},
		"other account": {"AC00000000000000000000000000000000", authToken},
	} {
		_, err := twilioAPI(h.srv.URL, pair[0], pair[1]).ListWorkspace(&openapi.ListWorkspaceParams{})
		if re := restErr(t, err); re.Status != 401 || re.Code != 20003 {
			t.Errorf("%s: %+v, want 401 20003", name, re)
		}
	}
	resp, err := http.Get(h.srv.URL + "/v1/Workspaces")
	if err != nil || resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("no credentials: %v %v", resp, err)
	}
	resp.Body.Close()
	resp, b, err := rawRequest(t, http.DefaultClient, http.MethodPut, h.srv.URL+"/v1/Workspaces", nil)
	if err != nil {
		t.Fatal(err)
	}
	var body struct{ Code, Status int }
	if err := json.Unmarshal([]byte(b), &body); err != nil || resp.StatusCode != 405 || body.Code != 20004 {
		t.Fatalf("PUT: %d %+v %v, want Twilio's 405 20004", resp.StatusCode, body, err)
	}
}

// A workspace built over REST, as a Twilio user builds one, then routed.
func TestBuildWorkspaceOverREST(t *testing.T) {
	h := newHarness(t, emulator.Options{})
	a := newApp(t, answerAlways(`{"instruction":"accept"}`))
	w, err := h.api.CreateWorkspace((&openapi.CreateWorkspaceParams{}).SetFriendlyName("Support"))
	if err != nil {
		t.Fatalf("CreateWorkspace: %v", err)
	}
	ws := *w.Sid
	if str(w.DefaultActivityName) != "Offline" || str(w.TimeoutActivityName) != "Offline" {
		t.Fatalf("new workspace activities: default %s, timeout %s; want Offline", str(w.DefaultActivityName), str(w.TimeoutActivityName))
	}
	acts, err := h.api.ListActivity(ws, (&openapi.ListActivityParams{}).SetAvailable("true"))
	if err != nil || len(acts) != 1 || str(acts[0].FriendlyName) != "Available" {
		t.Fatalf("available activities: %v %v", acts, err)
	}
	available := *acts[0].Sid
	if _, err := h.api.CreateActivity(ws, (&openapi.CreateActivityParams{}).SetFriendlyName("Lunch").SetAvailable(false)); err != nil {
		t.Fatalf("CreateActivity: %v", err)
	}

	// Invalid expressions are refused at create and at update.
	_, err = h.api.CreateTaskQueue(ws, (&openapi.CreateTaskQueueParams{}).SetFriendlyName("Bad").SetTargetWorkers(`skills HAS`))
	if re := restErr(t, err); re.Status != 400 || re.Code != 20001 {
		t.Fatalf("bad target_workers: %+v", re)
	}
	vip, err := h.api.CreateTaskQueue(ws, (&openapi.CreateTaskQueueParams{}).SetFriendlyName("VIP").
		SetTargetWorkers(`skills HAS "vip" AND level >= 2`).SetMaxReservedWorkers(1).SetTaskOrder("FIFO"))
	if err != nil {
		t.Fatalf("CreateTaskQueue: %v", err)
	}
	_, err = h.api.UpdateTaskQueue(ws, *vip.Sid, (&openapi.UpdateTaskQueueParams{}).SetTargetWorkers(`level >>= 2`))
	if re := restErr(t, err); re.Code != 20001 {
		t.Fatalf("bad target_workers on update: %+v", re)
	}
	all, err := h.api.CreateTaskQueue(ws, (&openapi.CreateTaskQueueParams{}).SetFriendlyName("Everyone"))
	if err != nil || str(all.TargetWorkers) != "1==1" {
		t.Fatalf("queue without target_workers: %v %v", all, err)
	}

	for i, attrs := range []string{`{"skills":["vip"],"level":3}`, `{"skills":["vip"],"level":1}`, `{"skills":[]}`} {
		if _, err := h.api.CreateWorker(ws, (&openapi.CreateWorkerParams{}).SetFriendlyName(fmt.Sprint("w", i)).SetAttributes(attrs)); err != nil {
			t.Fatalf("CreateWorker: %v", err)
		}
	}
	_, err = h.api.CreateWorker(ws, (&openapi.CreateWorkerParams{}).SetFriendlyName("bad").SetAttributes(`[1]`))
	if re := restErr(t, err); re.Code != 20001 {
		t.Fatalf("worker attributes not an object: %+v", re)
	}
	inVIP, err := h.api.ListWorker(ws, (&openapi.ListWorkerParams{}).SetTaskQueueSid(*vip.Sid))
	if err != nil || len(inVIP) != 1 || str(inVIP[0].FriendlyName) != "w0" {
		t.Fatalf("workers of the VIP queue: %v %v", inVIP, err)
	}
	byExpr, err := h.api.ListWorker(ws, (&openapi.ListWorkerParams{}).SetTargetWorkersExpression(`skills HAS "vip"`))
	if err != nil || len(byExpr) != 2 {
		t.Fatalf("TargetWorkersExpression: %d workers %v, want 2", len(byExpr), err)
	}
	offline, err := h.api.ListWorker(ws, (&openapi.ListWorkerParams{}).SetActivityName("Offline").SetAvailable("false"))
	if err != nil || len(offline) != 3 {
		t.Fatalf("offline workers: %d %v", len(offline), err)
	}
	// Paging: twilio-go follows next_page_url across pages of 2.
	paged, err := h.api.ListWorker(ws, (&openapi.ListWorkerParams{}).SetPageSize(2))
	if err != nil || len(paged) != 3 {
		t.Fatalf("paged list: %d %v, want 3", len(paged), err)
	}

	cfg := func(expr string) string {
		b, _ := json.Marshal(map[string]any{"task_routing": map[string]any{
			"filters": []any{map[string]any{"filter_friendly_name": "vip", "expression": expr,
				"targets": []any{map[string]any{"queue": *vip.Sid, "expression": "task.level <= worker.level", "priority": 5}}}},
			"default_filter": map[string]any{"queue": *all.Sid},
		}})
		return string(b)
	}
	_, err = h.api.CreateWorkflow(ws, (&openapi.CreateWorkflowParams{}).SetFriendlyName("bad").SetConfiguration(cfg(`vip ==`)))
	if re := restErr(t, err); re.Code != 20001 {
		t.Fatalf("bad filter expression: %+v", re)
	}
	_, err = h.api.CreateWorkflow(ws, (&openapi.CreateWorkflowParams{}).SetFriendlyName("bad").SetConfiguration(`{"task_routing":{"filters":[],"default_filter":{"queue":"WQ00000000000000000000000000000000"}}}`))
	if re := restErr(t, err); re.Code != 20001 {
		t.Fatalf("unknown queue: %+v", re)
	}
	flow, err := h.api.CreateWorkflow(ws, (&openapi.CreateWorkflowParams{}).SetFriendlyName("Main").
		SetConfiguration(cfg(`vip == true`)).SetAssignmentCallbackUrl(a.srv.URL+"/assignment").SetTaskReservationTimeout(60))
	if err != nil || flow.TaskReservationTimeout != 60 {
		t.Fatalf("CreateWorkflow: %v %v", flow, err)
	}

	for _, wk := range paged {
		h.setActivity(ws, *wk.Sid, available)
	}
	// A VIP task at level 2 goes to the VIP queue, priority 5, and only w0
	// (level 3) qualifies under the target expression.
	task, err := h.api.CreateTask(ws, (&openapi.CreateTaskParams{}).SetAttributes(`{"vip":true,"level":2}`))
	if err != nil {
		t.Fatalf("CreateTask without WorkflowSid (the only workflow): %v", err)
	}
	got := h.waitTask(ws, *task.Sid, "assigned")
	if str(got.TaskQueueSid) != *vip.Sid || got.Priority != 5 {
		t.Fatalf("VIP task: queue %s priority %d", str(got.TaskQueueSid), got.Priority)
	}
	if rs := h.reservations(ws, *task.Sid); str(rs[0].WorkerName) != "w0" {
		t.Fatalf("VIP task went to %s, want w0", str(rs[0].WorkerName))
	}
	// Others to the default queue.
	other, _ := h.api.CreateTask(ws, (&openapi.CreateTaskParams{}).SetAttributes(`{"vip":false}`))
	if got := h.waitTask(ws, *other.Sid, "assigned"); str(got.TaskQueueSid) != *all.Sid {
		t.Fatalf("other task in %s, want the default queue", str(got.TaskQueueSid))
	}

	assigned, err := h.api.ListTask(ws, (&openapi.ListTaskParams{}).SetAssignmentStatus([]string{"assigned"}).SetEvaluateTaskAttributes(`vip == true`))
	if err != nil || len(assigned) != 1 || *assigned[0].Sid != *task.Sid {
		t.Fatalf("ListTask filters: %v %v", assigned, err)
	}
	// Lifecycle over REST: wrong transition refused, then wrap-up, complete, delete.
	_, err = h.api.UpdateTask(ws, *task.Sid, (&openapi.UpdateTaskParams{}).SetAssignmentStatus("canceled"))
	if re := restErr(t, err); re.Code != 20001 {
		t.Fatalf("cancel an assigned task: %+v", re)
	}
	for _, st := range []string{"wrapping", "completed"} {
		if got, err := h.api.UpdateTask(ws, *task.Sid, (&openapi.UpdateTaskParams{}).SetAssignmentStatus(st)); err != nil || str(got.AssignmentStatus) != st {
			t.Fatalf("task → %s: %v %v", st, got, err)
		}
	}
	if rs := h.reservations(ws, *task.Sid); str(rs[0].ReservationStatus) != "completed" {
		t.Fatalf("reservation after the task completed: %s", str(rs[0].ReservationStatus))
	}
	if err := h.api.DeleteTaskQueue(ws, *vip.Sid); restErr(t, err).Code != 20001 {
		t.Fatalf("deleting a queue in use: %v", err)
	}
	if err := h.api.DeleteTask(ws, *task.Sid, &openapi.DeleteTaskParams{}); err != nil {
		t.Fatalf("DeleteTask: %v", err)
	}
	if _, err := h.api.FetchTask(ws, *task.Sid); restErr(t, err).Status != 404 {
		t.Fatalf("deleted task: %v", err)
	}
	if err := h.api.DeleteWorker(ws, *paged[2].Sid, &openapi.DeleteWorkerParams{}); err != nil {
		t.Fatalf("DeleteWorker: %v", err)
	}
	if _, err := h.api.FetchWorker(ws, *paged[2].Sid); restErr(t, err).Code != 20404 {
		t.Fatalf("deleted worker: %v", err)
	}
	if _, err := h.api.FetchWorkspace("WS00000000000000000000000000000000"); restErr(t, err).Code != 20404 {
		t.Fatalf("unknown workspace: %v", err)
	}
}
