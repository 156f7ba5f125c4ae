package emulator

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/assignd/assignd/taskrouter"
)

// Reservation statuses.
const (
	resPending   = taskrouter.ReservationPending
	resAccepted  = taskrouter.ReservationAccepted
	resRejected  = taskrouter.ReservationRejected
	resTimeout   = taskrouter.ReservationTimeout
	resCanceled  = taskrouter.ReservationCanceled
	resRescinded = taskrouter.ReservationRescinded
	resWrapping  = taskrouter.ReservationWrapping
	resCompleted = taskrouter.ReservationCompleted
)

type reservation struct {
	sid, task, worker, workerName string
	queue, workflow               string
	channel                       string // the task's channel SID, whose worker channel it counts against
	status                        string
	instruction                   string     // accept, reject, dequeue, call, redirect, conference
	params                        url.Values // the update (or callback answer) that decided it
	applied, updates              int        // state changes applied; update requests received
	created, updated              time.Time
	revision                      int // counts changes: the ETag (etag.go)
	timer                         Timer
	observed                      // what clients did to it (inspect.go)
}

func (r *reservation) active() bool {
	return r.status == resPending || r.status == resAccepted || r.status == resWrapping
}

// assigned reports whether r holds its worker's capacity as an assigned task.
func (r *reservation) assigned() bool { return r.status == resAccepted || r.status == resWrapping }

func (r *reservation) stopTimer() {
	if r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
}

func (e *Emulator) renderReservation(c *call, r *reservation, underWorker bool) map[string]any {
	ws := c.ws
	wsURL := c.workspaceURL(ws.sid)
	u := wsURL + "/Tasks/" + r.task + "/Reservations/" + r.sid
	if underWorker {
		u = wsURL + "/Workers/" + r.worker + "/Reservations/" + r.sid
	}
	out := map[string]any{
		"account_sid": e.opt.AccountSid, "workspace_sid": ws.sid, "sid": r.sid, "task_sid": r.task,
		"worker_sid": r.worker, "worker_name": r.workerName, "reservation_status": r.status,
		"date_created": twilioTime(r.created), "date_updated": twilioTime(r.updated), "url": u,
		"links": map[string]any{
			"task": wsURL + "/Tasks/" + r.task, "worker": wsURL + "/Workers/" + r.worker, "workspace": wsURL,
		},
	}
	// Not in Twilio's resource: what the instruction did (the call that
	// would have been placed, the conference joined), so it can be checked.
	if r.instruction != "" {
		out["instruction"] = r.instruction
		p := map[string]any{}
		for k, v := range r.params {
			if len(v) == 1 {
				p[k] = v[0]
			} else {
				p[k] = v
			}
		}
		out["instruction_parameters"] = p
	}
	return out
}

// reservationsOf returns the reservations of the path's task or worker,
// or a 404 when that parent does not exist.
func (e *Emulator) reservationsOf(c *call) ([]*reservation, bool, *apiError) {
	underWorker := c.path("WorkerSid") != ""
	if underWorker && c.ws.workers.get(c.path("WorkerSid")) == nil ||
		!underWorker && c.ws.tasks.get(c.path("TaskSid")) == nil {
		return nil, underWorker, errNotFound(c.r.URL.Path)
	}
	var out []*reservation
	if !underWorker {
		for _, sid := range c.ws.tasks.get(c.path("TaskSid")).reservations {
			if r := c.ws.reservations.get(sid); r != nil {
				out = append(out, r)
			}
		}
		return out, false, nil
	}
	for _, r := range c.ws.reservations.all() {
		if r.worker == c.path("WorkerSid") {
			out = append(out, r)
		}
	}
	return out, true, nil
}

func (e *Emulator) listReservations(c *call) (int, any, *apiError) {
	all, underWorker, err := e.reservationsOf(c)
	if err != nil {
		return 0, nil, err
	}
	status, workerSid := c.query("ReservationStatus"), c.query("WorkerSid")
	var out []*reservation
	for _, r := range all {
		if status != "" && r.status != status {
			continue
		}
		if workerSid != "" && r.worker != workerSid {
			continue
		}
		out = append(out, r)
	}
	body, err := page(c.r, c.base, "reservations", out, func(r *reservation) map[string]any {
		return e.renderReservation(c, r, underWorker)
	})
	return http.StatusOK, body, err
}

// reservationOr404 returns the path's reservation, or a 404 when its task
// or worker does not exist or the reservation is not one of theirs. A
// task's reservations list holds exactly the reservations whose task it
// is, so looking the SID up and checking its parent finds the same row
// reservationsOf would, without building the list.
func (e *Emulator) reservationOr404(c *call) (*reservation, bool, *apiError) {
	underWorker := c.path("WorkerSid") != ""
	if underWorker && c.ws.workers.get(c.path("WorkerSid")) == nil ||
		!underWorker && c.ws.tasks.get(c.path("TaskSid")) == nil {
		return nil, underWorker, errNotFound(c.r.URL.Path)
	}
	r := c.ws.reservations.get(c.path("Sid"))
	if r == nil || underWorker && r.worker != c.path("WorkerSid") || !underWorker && r.task != c.path("TaskSid") {
		return nil, underWorker, errNotFound(c.r.URL.Path)
	}
	return r, underWorker, nil
}

func (e *Emulator) fetchReservation(c *call) (int, any, *apiError) {
	r, underWorker, err := e.reservationOr404(c)
	if err != nil {
		return 0, nil, err
	}
	return e.reservationAnswer(c, r, underWorker)
}

func (e *Emulator) updateReservation(c *call) (int, any, *apiError) {
	r, underWorker, apiErr := e.reservationOr404(c)
	if apiErr != nil {
		return 0, nil, apiErr
	}
	v, apiErr := form(c.r)
	if apiErr != nil {
		return 0, nil, apiErr
	}
	if err := checkIfMatch(c, "reservation "+r.sid, r.revision); err != nil {
		return 0, nil, err
	}
	if err := e.applyLocked(c.ws, r, v); err != nil {
		return 0, nil, err
	}
	e.dispatchLocked(c.ws)
	return e.reservationAnswer(c, r, underWorker)
}

// Parameters of the reservation update, by type, as Twilio's API defines
// them; checked before anything changes.
func updateIntegers() []string {
	return []string{"DequeueTimeout", "CallTimeout", "Timeout", "MaxParticipants"}
}

func updateBooleans() []string {
	return []string{"CallAccept", "RedirectAccept", "Record", "Muted", "EarlyMedia", "EndConferenceOnExit",
		"EndConferenceOnCustomerExit", "StartConferenceOnEnter", "BeepOnCustomerEntrance"}
}

func updateActivities() []string {
	return []string{"WorkerActivitySid", "DequeuePostWorkActivitySid", "PostWorkActivitySid"}
}

// instructionRequires lists what instruction ins cannot do without.
func instructionRequires(ins string) []string {
	switch ins {
	case taskrouter.InstructionCall:
		return []string{"CallFrom", "CallUrl"}
	case taskrouter.InstructionRedirect:
		return []string{"RedirectCallSid", "RedirectUrl"}
	}
	return nil
}

func reservationStatuses() []string {
	return []string{resPending, resAccepted, resRejected, resTimeout, resCanceled, resRescinded, resWrapping, resCompleted}
}

// updateEnums are the enumerations of the update's list parameters
// (Twilio's spec: task_reservation_enum_call_status, _conference_event,
// _supervisor_mode).
func updateEnums() map[string][]string {
	callStatuses, _ := taskrouter.EnumValues(taskrouter.EnumCallStatus)
	conferenceEvents, _ := taskrouter.EnumValues(taskrouter.EnumConferenceEvent)
	supervisorModes, _ := taskrouter.EnumValues(taskrouter.EnumSupervisorMode)
	return map[string][]string{
		"DequeueStatusCallbackEvent": callStatuses, "StatusCallbackEvent": callStatuses,
		"ConferenceStatusCallbackEvent": conferenceEvents, "SupervisorMode": supervisorModes,
	}
}

// applyLocked carries out a reservation update (REST, or the assignment
// callback's answer mapped to the same parameters): checked whole first,
// then one lifecycle row, or an instruction that leaves it pending.
func (e *Emulator) applyLocked(ws *workspace, r *reservation, v url.Values) *apiError {
	status, ins, err := checkUpdate(ws, v)
	if err != nil {
		return err
	}
	// refuse answers Twilio's 20001 unless a lifecycle row moves r on on.
	refuse := func(on trigger) *apiError {
		if e.lookup("reservation", r.status, on) != nil {
			return nil
		}
		return errParam("Reservation %s is not in expected state %v; current state %s", r.sid, e.expectedFrom("reservation", on), r.status)
	}
	on := reservationUpdate(status)
	switch {
	case status == "" && ins == "":
		return errParam("Missing required parameter ReservationStatus or Instruction in the post body")
	case ins != "":
		if err := refuse(onAccept); err != nil {
			return err
		}
		r.instruction, r.params = ins, v
		r.placeCall(ins)
		if !instructionAccepts(ins, v) {
			// Twilio places the call or redirects it, but the reservation
			// stays pending until an accept (or its timeout): only
			// CallAccept/RedirectAccept=true accept it with the instruction.
			r.updated = e.clock.Now()
			r.revision++
			break
		}
		e.resTo(ws, r, onAccept, "")
	case on == "":
		return errParam("Invalid ReservationStatus %s: a reservation can be updated to accepted, rejected, wrapping or completed", status)
	default:
		if err := refuse(on); err != nil {
			return err
		}
		switch on {
		case onAccept:
			r.instruction, r.params = taskrouter.InstructionAccept, v
			e.resTo(ws, r, onAccept, "")
		case onReject:
			r.instruction, r.params = taskrouter.InstructionReject, v
			e.transition(&change{ws: ws, t: ws.tasks.get(r.task), r: r, activity: v.Get("WorkerActivitySid")}, onReject)
		default: // wrapping and completed move the task; its reservations follow
			e.taskTo(ws, ws.tasks.get(r.task), on, "")
		}
	}
	r.applied++
	return nil
}

// checkUpdate checks a reservation update's parameters as Twilio's API
// types them, before anything changes; it returns the status and the
// instruction asked for.
func checkUpdate(ws *workspace, v url.Values) (status, ins string, err *apiError) {
	p := &params{v: v}
	status = p.oneOf("ReservationStatus", reservationStatuses()...)
	ins = p.oneOf("Instruction", taskrouter.InstructionDequeue, taskrouter.InstructionCall, taskrouter.InstructionRedirect, taskrouter.InstructionConference)
	for _, k := range updateIntegers() {
		p.integer(k, 0)
	}
	for _, k := range updateBooleans() {
		p.boolean(k, false)
	}
	if p.err != nil {
		return "", "", p.err
	}
	for k, allowed := range updateEnums() {
		for _, x := range v[k] {
			if !slices.Contains(allowed, x) {
				return "", "", errParam("Invalid %s %q: must be one of %s", k, x, strings.Join(allowed, ", "))
			}
		}
	}
	for _, k := range updateActivities() {
		if s := v.Get(k); s != "" && ws.activities.get(s) == nil {
			return "", "", errParam("Invalid %s: activity %s not found in workspace %s", k, s, ws.sid)
		}
	}
	for _, k := range instructionRequires(ins) {
		if v.Get(k) == "" {
			return "", "", errParam("Missing required parameter %s for instruction %s", k, ins)
		}
	}
	return status, ins, nil
}

// instructionAccepts reports whether instruction ins, with parameters v,
// accepts the reservation: dequeue and conference always do; call and
// redirect only with CallAccept or RedirectAccept true.
func instructionAccepts(ins string, v url.Values) bool {
	key := map[string]string{taskrouter.InstructionCall: "CallAccept", taskrouter.InstructionRedirect: "RedirectAccept"}[ins]
	if key == "" {
		return true
	}
	yes, _ := strconv.ParseBool(v.Get(key)) // already checked by applyLocked
	return yes
}
