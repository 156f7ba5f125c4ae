package emulator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// WorkspaceView is a consistent snapshot of one workspace: everything read
// under one lock, so a reservation never names a task the view lacks.
// Tools such as the inspector show it; nothing in it aliases the
// emulator's state.
type WorkspaceView struct {
	Sid, Name    string
	Now          time.Time // the emulator's clock when the view was taken
	Activities   []ActivityInfo
	Workers      []WorkerInfo
	Tasks        []TaskView        // oldest first
	Reservations []ReservationInfo // oldest first
}

// ActivityInfo is a snapshot of one activity.
type ActivityInfo struct {
	Sid, Name string
	Available bool
}

// WorkerInfo is a snapshot of one worker; Available follows its activity,
// as the REST API's available field does.
type WorkerInfo struct {
	Sid, Name, ActivitySid, ActivityName, Attributes string
	Available                                        bool
	StatusChanged                                    time.Time
}

// TaskView is a task's snapshot with what a reader wants beside the SIDs:
// its queue's friendly name and when it was created (its age is
// WorkspaceView.Now minus Created, as the REST API's age field).
type TaskView struct {
	TaskInfo
	Queue   string // friendly name of TaskQueueSid; "" before it entered one
	Created time.Time
}

func taskInfo(ws *workspace, t *task) TaskInfo {
	return TaskInfo{Sid: t.sid, WorkspaceSid: ws.sid, WorkflowSid: t.workflow, TaskQueueSid: t.queue,
		Status: t.status, Reason: t.reason, Attributes: t.attrsRaw, Priority: t.priority,
		Reservations: len(t.reservations)}
}

// Workspace returns a snapshot of the workspace with this SID.
func (e *Emulator) Workspace(sid string) (WorkspaceView, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ws := e.workspaces.get(sid)
	if ws == nil {
		return WorkspaceView{}, false
	}
	v := WorkspaceView{Sid: ws.sid, Name: ws.name, Now: e.clock.Now()}
	for _, a := range ws.activities.all() {
		v.Activities = append(v.Activities, ActivityInfo{Sid: a.sid, Name: a.name, Available: a.available})
	}
	for _, w := range ws.workers.all() {
		wi := WorkerInfo{Sid: w.sid, Name: w.name, ActivitySid: w.activity, Attributes: w.attrsRaw,
			Available: ws.available(w), StatusChanged: w.statusSince}
		if a := ws.activities.get(w.activity); a != nil {
			wi.ActivityName = a.name
		}
		v.Workers = append(v.Workers, wi)
	}
	for _, t := range ws.tasks.all() {
		tv := TaskView{TaskInfo: taskInfo(ws, t), Created: t.created}
		if q := ws.queues.get(t.queue); q != nil {
			tv.Queue = q.name
		}
		v.Tasks = append(v.Tasks, tv)
	}
	for _, r := range ws.reservations.all() {
		v.Reservations = append(v.Reservations, resInfo(ws, r))
	}
	return v, true
}

// SetWorkerActivity moves a worker to an activity the way a REST client
// does: POST /v1/Workspaces/{workspaceSid}/Workers/{workerSid} with
// ActivitySid, authenticated as the account and served by the emulator's
// own handler, so scripted faults, Latency, the worker.activity.update
// event and routing (a waiting task reserved, its callback posted) follow
// exactly as for any client. A refusal comes back as an *APIError with
// Twilio's code and message.
func (e *Emulator) SetWorkerActivity(ctx context.Context, workspaceSid, workerSid, activitySid string) error {
	if workspaceSid == "" || workerSid == "" || activitySid == "" {
		return errors.New("emulator: set worker activity: workspace, worker and activity SIDs are required")
	}
	path := "/v1/Workspaces/" + url.PathEscape(workspaceSid) + "/Workers/" + url.PathEscape(workerSid)
	status, body, err := e.selfRequest(ctx, http.MethodPost, path, url.Values{"ActivitySid": {activitySid}})
	if err != nil {
		return fmt.Errorf("emulator: set worker %s activity: %w", workerSid, err)
	}
	if status != http.StatusOK {
		return fmt.Errorf("emulator: set worker %s activity: %w", workerSid, apiErrorOf(status, body))
	}
	return nil
}

// APIError is an error answer of the REST API, as Twilio's body carries
// it ({"code","message","more_info","status"}).
type APIError struct {
	Status  int    `json:"status"`
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%d %s (Twilio error %d)", e.Status, e.Message, e.Code)
}

// apiErrorOf reads an error answer; a body that is not Twilio's JSON (a
// scripted proxy 502) keeps its status and text.
func apiErrorOf(status int, body []byte) *APIError {
	var ae APIError
	if json.Unmarshal(body, &ae) != nil || ae.Message == "" {
		return &APIError{Status: status, Message: strings.TrimSpace(string(body))}
	}
	ae.Status = status
	return &ae
}

// selfRequest serves one REST request in process through the emulator's
// mux, as the account, and returns the answer.
func (e *Emulator) selfRequest(ctx context.Context, method, path string, form url.Values) (status int, body []byte, err error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://emulator.invalid"+path, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(e.opt.AccountSid, e.opt.AuthToken)
	rec := &recorder{header: http.Header{}}
	defer func() {
		// A scripted dropped connection aborts the handler, as net/http
		// would on HTTP/2: the client sees no answer.
		if p := recover(); p != nil {
			if p != http.ErrAbortHandler {
				panic(p)
			}
			status, body, err = 0, nil, errors.New("connection dropped without an answer")
		}
	}()
	e.ServeHTTP(rec, req)
	if rec.status == 0 {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return 0, nil, fmt.Errorf("no answer: %w", ctxErr)
		}
		rec.status = http.StatusOK
	}
	return rec.status, rec.body.Bytes(), nil
}

// recorder is the in-process http.ResponseWriter of selfRequest.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}
