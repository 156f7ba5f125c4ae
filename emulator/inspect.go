package emulator

import (
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/assignd/assignd/taskrouter"
)

// ReservationInfo is a snapshot of one reservation, for tests and tools.
type ReservationInfo struct {
	Sid, WorkspaceSid, TaskSid, WorkerSid, TaskQueueSid string
	Status                                              string
	Instruction                                         string     // accept, reject, dequeue, call, redirect, conference
	Params                                              url.Values // the update or callback answer that decided it
	Applied                                             int        // updates carried out, a call placed without accepting too (exactly-once wants 1)
	Updates                                             int        // REST update requests received
	Created, Updated                                    time.Time
	// Fetches counts REST GETs of the reservation (under its task or its
	// worker), faulted ones included.
	Fetches int
	// UpdateTimes is when each update request arrived, on the wall clock
	// (not the emulator's Clock): the gaps are a client's retry waits.
	UpdateTimes []time.Time
	// CallsPlaced counts the calls the reservation's call and redirect
	// instructions placed (or redirected). Without accept the reservation
	// stays pending, so a second such update places a second call, as on
	// Twilio.
	CallsPlaced int
}

// observed is what clients did to a reservation, kept for inspection.
type observed struct {
	fetches     int
	updateTimes []time.Time
	callsPlaced int
}

// placeCall records the call effect of instruction ins, carried out.
func (o *observed) placeCall(ins string) {
	if ins == taskrouter.InstructionCall || ins == taskrouter.InstructionRedirect {
		o.callsPlaced++
	}
}

// observeLocked counts a request to a reservation endpoint for the
// reservation in its path, if it exists.
func (e *Emulator) observeLocked(ep Endpoint, req *http.Request) {
	update := ep == UpdateTaskReservation || ep == UpdateWorkerReservation
	fetch := ep == FetchTaskReservation || ep == FetchWorkerReservation
	if !update && !fetch {
		return
	}
	ws := e.workspaces.get(req.PathValue("WorkspaceSid"))
	if ws == nil {
		return
	}
	r := ws.reservations.get(req.PathValue("Sid"))
	if r == nil {
		return
	}
	if update {
		r.updates++
		r.updateTimes = append(r.updateTimes, time.Now())
	} else {
		r.fetches++
	}
}

// TaskInfo is a snapshot of one task.
type TaskInfo struct {
	Sid, WorkspaceSid, WorkflowSid, TaskQueueSid string
	Status, Reason, Attributes                   string
	Priority, Reservations                       int
}

func resInfo(ws *workspace, r *reservation) ReservationInfo {
	return ReservationInfo{Sid: r.sid, WorkspaceSid: ws.sid, TaskSid: r.task, WorkerSid: r.worker, TaskQueueSid: r.queue,
		Status: r.status, Instruction: r.instruction, Params: r.params, Applied: r.applied, Updates: r.updates,
		Created: r.created, Updated: r.updated,
		Fetches: r.fetches, UpdateTimes: slices.Clone(r.updateTimes), CallsPlaced: r.callsPlaced}
}

// Reservation returns a snapshot of the reservation with this SID.
func (e *Emulator) Reservation(sid string) (ReservationInfo, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ws := range e.workspaces.all() {
		if r := ws.reservations.get(sid); r != nil {
			return resInfo(ws, r), true
		}
	}
	return ReservationInfo{}, false
}

// Reservations returns snapshots of every reservation, oldest first.
func (e *Emulator) Reservations() []ReservationInfo {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []ReservationInfo
	for _, ws := range e.workspaces.all() {
		for _, r := range ws.reservations.all() {
			out = append(out, resInfo(ws, r))
		}
	}
	return out
}

// Task returns a snapshot of the task with this SID.
func (e *Emulator) Task(sid string) (TaskInfo, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ws := range e.workspaces.all() {
		if t := ws.tasks.get(sid); t != nil {
			return taskInfo(ws, t), true
		}
	}
	return TaskInfo{}, false
}

// Callbacks returns every assignment callback attempt so far, in order.
func (e *Emulator) Callbacks() []CallbackAttempt {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.callbacks)
}

// Stats summarises the reservations.
type Stats struct {
	Reservations int            `json:"reservations"`
	Updates      int            `json:"updates"`
	Applied      int            `json:"applied"`
	Fetches      int            `json:"fetches"`
	CallsPlaced  int            `json:"calls_placed"`
	AppliedTwice int            `json:"applied_twice"` // must stay 0: exactly once
	ByStatus     map[string]int `json:"by_status"`
}

// Stats counts over every reservation.
func (e *Emulator) Stats() Stats {
	st := Stats{ByStatus: map[string]int{}}
	for _, r := range e.Reservations() {
		st.Reservations++
		st.Updates += r.Updates
		st.Applied += r.Applied
		st.Fetches += r.Fetches
		st.CallsPlaced += r.CallsPlaced
		if r.Applied > 1 {
			st.AppliedTwice++
		}
		st.ByStatus[r.Status]++
	}
	return st
}
