package emulator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"
)

// Endpoint names one REST operation, by the operationId of Twilio's OpenAPI
// description of TaskRouter, so faults can be aimed at one.
type Endpoint string

// The operations the emulator serves.
const (
	ListWorkspace           Endpoint = "ListWorkspace"
	CreateWorkspace         Endpoint = "CreateWorkspace"
	FetchWorkspace          Endpoint = "FetchWorkspace"
	UpdateWorkspace         Endpoint = "UpdateWorkspace"
	DeleteWorkspace         Endpoint = "DeleteWorkspace"
	ListActivity            Endpoint = "ListActivity"
	CreateActivity          Endpoint = "CreateActivity"
	FetchActivity           Endpoint = "FetchActivity"
	UpdateActivity          Endpoint = "UpdateActivity"
	DeleteActivity          Endpoint = "DeleteActivity"
	ListWorker              Endpoint = "ListWorker"
	CreateWorker            Endpoint = "CreateWorker"
	FetchWorker             Endpoint = "FetchWorker"
	UpdateWorker            Endpoint = "UpdateWorker"
	DeleteWorker            Endpoint = "DeleteWorker"
	ListTaskQueue           Endpoint = "ListTaskQueue"
	CreateTaskQueue         Endpoint = "CreateTaskQueue"
	FetchTaskQueue          Endpoint = "FetchTaskQueue"
	UpdateTaskQueue         Endpoint = "UpdateTaskQueue"
	DeleteTaskQueue         Endpoint = "DeleteTaskQueue"
	ListWorkflow            Endpoint = "ListWorkflow"
	CreateWorkflow          Endpoint = "CreateWorkflow"
	FetchWorkflow           Endpoint = "FetchWorkflow"
	UpdateWorkflow          Endpoint = "UpdateWorkflow"
	DeleteWorkflow          Endpoint = "DeleteWorkflow"
	ListTask                Endpoint = "ListTask"
	CreateTask              Endpoint = "CreateTask"
	FetchTask               Endpoint = "FetchTask"
	UpdateTask              Endpoint = "UpdateTask"
	DeleteTask              Endpoint = "DeleteTask"
	ListTaskReservation     Endpoint = "ListTaskReservation"
	FetchTaskReservation    Endpoint = "FetchTaskReservation"
	UpdateTaskReservation   Endpoint = "UpdateTaskReservation"
	ListWorkerReservation   Endpoint = "ListWorkerReservation"
	FetchWorkerReservation  Endpoint = "FetchWorkerReservation"
	UpdateWorkerReservation Endpoint = "UpdateWorkerReservation"
	ListEvent               Endpoint = "ListEvent"
	FetchEvent              Endpoint = "FetchEvent"
	ListTaskChannel         Endpoint = "ListTaskChannel"
	CreateTaskChannel       Endpoint = "CreateTaskChannel"
	FetchTaskChannel        Endpoint = "FetchTaskChannel"
	UpdateTaskChannel       Endpoint = "UpdateTaskChannel"
	DeleteTaskChannel       Endpoint = "DeleteTaskChannel"
	ListWorkerChannel       Endpoint = "ListWorkerChannel"
	FetchWorkerChannel      Endpoint = "FetchWorkerChannel"
	UpdateWorkerChannel     Endpoint = "UpdateWorkerChannel"
)

// Fault is one scripted misbehaviour of one request.
type Fault struct {
	Status     int           // answer this status (429, 500, 502 …) instead of the real one
	RetryAfter string        // Retry-After header with Status
	Apply      bool          // carry the request out first, then answer Status or drop
	Drop       bool          // close the connection without answering
	Delay      time.Duration // wait this long before acting (the request is not yet applied)
	// Code and Message replace the Twilio error body's code and message
	// with Status: Status 400, Code 20001 and no Apply is Twilio refusing a
	// parameter, the reservation left as it was (pending).
	Code    int
	Message string
	// AfterApply holds the answer this long after the request was carried
	// out, as a slow network would: a client that gives up meanwhile has
	// changed state without learning it.
	AfterApply time.Duration
	// ThenStatus, on a reservation update that applied, moves the task on
	// right after, as its worker would through the Tasks API: "wrapping"
	// (assignment_status wrapping) or "completed"; the accepted
	// reservation follows the task, as on Twilio.
	ThenStatus string
	// BrokenBody carries the request out and answers 200 with a body that
	// is not JSON (a proxy or a broken answer).
	BrokenBody bool
	// CutBody carries the request out and answers 200 with half the body,
	// holding the rest until the client gives up.
	CutBody bool
}

// acts reports whether the fault replaces the real answer with Status or a
// dropped connection.
func (f Fault) acts() bool { return f.Status != 0 || f.Drop }

// garbles reports whether the fault answers a 2xx whose body is unreadable.
func (f Fault) garbles() bool { return f.BrokenBody || f.CutBody }

type faultKey struct {
	ep  Endpoint
	sid string
}

// Script queues faults for the next requests to endpoint ep about the
// resource sid (the last SID in the path: the reservation for
// UpdateTaskReservation, the task for ListTaskReservation, the workspace
// for CreateTask), or about any resource when sid is "". Faults for the
// resource are used before faults for any.
//
// It panics on a fault that cannot be carried out (a ThenStatus other than
// wrapping or completed, a body fault together with Status or Drop, a Code
// or Message without Status): a
// mistake in the test, not in the code under test.
func (e *Emulator) Script(ep Endpoint, sid string, faults ...Fault) {
	for _, f := range faults {
		if f.ThenStatus != "" && f.ThenStatus != resWrapping && f.ThenStatus != resCompleted {
			panic(fmt.Sprintf("emulator: Fault.ThenStatus %q: want wrapping or completed", f.ThenStatus))
		}
		if (f.Code != 0 || f.Message != "") && f.Status == 0 {
			panic("emulator: Fault.Code and Message go with a Status")
		}
		if f.garbles() && f.acts() {
			panic("emulator: Fault.BrokenBody or CutBody answer 200; they cannot go with Status or Drop")
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	k := faultKey{ep, sid}
	e.faults[k] = append(e.faults[k], faults...)
}

func (e *Emulator) nextFaultLocked(ep Endpoint, sid string) (Fault, bool) {
	for _, k := range []faultKey{{ep, sid}, {ep, ""}} {
		if q := e.faults[k]; len(q) > 0 {
			e.faults[k] = q[1:]
			return q[0], true
		}
	}
	if slices.Contains(e.opt.FaultEndpoints, ep) {
		return e.randomFault()
	}
	return Fault{}, false
}

func misbehave(w http.ResponseWriter, f Fault) {
	if f.Drop {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler) // HTTP/2: abort the stream
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	switch {
	case f.Code != 0 || f.Message != "":
		code := f.Code
		if code == 0 {
			code = 20001
		}
		writeError(w, &apiError{f.Status, code, f.Message})
	case f.Status == http.StatusTooManyRequests:
		writeError(w, &apiError{f.Status, 20429, "Too Many Requests"})
	case f.Status == http.StatusBadGateway:
		w.Header().Set("Content-Type", "text/html") // a proxy's answer, not Twilio's JSON
		w.WriteHeader(f.Status)
		fmt.Fprint(w, "<html><body>502 Bad Gateway</body></html>")
	default:
		writeError(w, &apiError{f.Status, 20500, http.StatusText(f.Status)})
	}
}

// moveOnLocked carries out f.ThenStatus after the reservation update in c
// applied: the task's assignment_status goes to wrapping or completed, as
// its worker would set it, and the accepted reservation follows.
func (e *Emulator) moveOnLocked(c *call, f Fault) {
	if f.ThenStatus == "" || c.ws == nil {
		return
	}
	r := c.ws.reservations.get(c.path("Sid"))
	if r == nil {
		return
	}
	t := c.ws.tasks.get(r.task)
	if t == nil || e.checkTaskTransition(t, f.ThenStatus) != nil {
		return // not accepted (a reject, a call without accept): nothing moves on
	}
	e.taskTo(c.ws, t, taskUpdate(f.ThenStatus), "")
	e.dispatchLocked(c.ws)
}

// garble answers 200 with a body the client cannot read: not JSON, or cut
// in half with the rest never sent.
func garble(w http.ResponseWriter, r *http.Request, f Fault, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if f.BrokenBody {
		_, _ = w.Write([]byte("<html>not json</html>"))
		return
	}
	b, _ := json.Marshal(body)
	_, _ = w.Write(b[:len(b)/2])
	if fl, ok := w.(http.Flusher); ok {
		fl.Flush()
	}
	<-r.Context().Done() // the rest never comes
}
