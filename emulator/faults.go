package emulator

import (
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
)

// Fault is one scripted misbehaviour of one request.
type Fault struct {
	Status     int           // answer this status (429, 500, 502 …) instead of the real one
	RetryAfter string        // Retry-After header with Status
	Apply      bool          // carry the request out first, then answer Status or drop
	Drop       bool          // close the connection without answering
	Delay      time.Duration // wait this long before acting (the request is not yet applied)
}

func (f Fault) acts() bool { return f.Status != 0 || f.Drop }

type faultKey struct {
	ep  Endpoint
	sid string
}

// Script queues faults for the next requests to endpoint ep about the
// resource sid (the last SID in the path: the reservation for
// UpdateTaskReservation, the task for ListTaskReservation, the workspace
// for CreateTask), or about any resource when sid is "". Faults for the
// resource are used before faults for any.
func (e *Emulator) Script(ep Endpoint, sid string, faults ...Fault) {
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
	switch f.Status {
	case http.StatusTooManyRequests:
		writeError(w, &apiError{f.Status, 20429, "Too Many Requests"})
	case http.StatusBadGateway:
		w.Header().Set("Content-Type", "text/html") // a proxy's answer, not Twilio's JSON
		w.WriteHeader(f.Status)
		fmt.Fprint(w, "<html><body>502 Bad Gateway</body></html>")
	default:
		writeError(w, &apiError{f.Status, 20500, http.StatusText(f.Status)})
	}
}
