package emulator

import (
	"net/url"
	"slices"
	"time"
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
		Created: r.created, Updated: r.updated}
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
			return TaskInfo{Sid: t.sid, WorkspaceSid: ws.sid, WorkflowSid: t.workflow, TaskQueueSid: t.queue,
				Status: t.status, Reason: t.reason, Attributes: t.attrsRaw, Priority: t.priority,
				Reservations: len(t.reservations)}, true
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
		if r.Applied > 1 {
			st.AppliedTwice++
		}
		st.ByStatus[r.Status]++
	}
	return st
}
