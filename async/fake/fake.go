// Package fake is a local stand-in for TaskRouter's Reservations REST API.
// It keeps reservation state the way the real API does (pending → accepted,
// a second update → 400 "not in expected state"; a call or redirect without
// accept leaves the reservation pending and counts the call placed), checks
// Basic auth and the form, answers Twilio's JSON error bodies, and can be
// scripted to misbehave: 429 with or without Retry-After, 500, slow answers,
// a refused parameter (400, 20001) with the reservation left pending, a 2xx
// whose body is broken or cut, a dropped connection after the update was
// applied, and faults on GET (ScriptFetch). assignd's tests use it, and so does development mode.
package fake

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Fault is one scripted misbehaviour, used for the next update request of a
// reservation (or of any reservation, for a global script).
type Fault struct {
	Status     int           // answer this status (429, 500, 503 …) instead of the real one
	RetryAfter string        // Retry-After header with Status
	Apply      bool          // apply the update first, then answer Status or drop
	Drop       bool          // close the connection without answering
	Delay      time.Duration // wait this long before acting
	// Code and Message replace the Twilio error body's code and message
	// with Status (e.g. 400 with 20001 "Invalid parameter").
	Code    int
	Message string
	// Refuse answers Status (default 400) with Code/Message without
	// applying, leaving the reservation as it is: Twilio refusing a
	// parameter while the reservation stays pending.
	Refuse bool
	// AfterApply holds the answer this long after applying, as a slow
	// network would: a client that gives up meanwhile never learns.
	AfterApply time.Duration
	// ThenStatus, with Apply, moves the reservation on to this status right
	// after applying (e.g. "wrapping", "completed"), as a worker would.
	ThenStatus string
	// BrokenBody applies, then answers 200 with a body that is not JSON.
	BrokenBody bool
	// CutBody applies, then answers 200 with half a body and holds the
	// rest until the client gives up.
	CutBody bool
}

// Reservation is the fake's record of one reservation.
type Reservation struct {
	WorkspaceSid, TaskSid, WorkerSid, Sid string
	Status                                string // pending, accepted, rejected, timeout, canceled, rescinded
	Instruction                           string // the instruction applied, if any
	Form                                  map[string][]string
	Applied                               int // state changes applied: exactly-once wants 1
	// CallsPlaced counts call and redirect instructions carried out: a
	// call or redirect without accept leaves the reservation pending, so
	// a second one would place a second call, as with the real API.
	CallsPlaced int
	Updates     int // update requests received
	UpdateTimes []time.Time
	Fetches     int
	ExpiresAt   time.Time
	UpdatedAt   time.Time
}

// Server is the fake API. It is an http.Handler; serve it with httptest or
// net/http.
type Server struct {
	mu           sync.Mutex
	users        map[string]string // Basic auth username → password
	autoCreate   bool
	ttl          time.Duration
	latency      time.Duration
	faultRate    float64
	reservations map[string]*Reservation
	faults       map[string][]Fault // by reservation SID; "" for any
	fetchFaults  map[string][]Fault // for GET requests, by reservation SID
	now          func() time.Time
}

// Options configure a Server.
type Options struct {
	// Credentials are accepted username/password pairs: an Account SID and
	// its auth token, or an API key SID and its secret.
	Credentials map[string]string
	// AutoCreate makes an unknown reservation pending on first sight, as if
	// TaskRouter had just created it (development mode). Without it unknown
	// reservations are 404, as in the real API.
	AutoCreate bool
	// Latency delays every update's answer, after the update is applied:
	// a client that gives up or dies meanwhile has changed the reservation
	// without learning it, as can happen with the real API.
	Latency time.Duration
	// FaultRate makes that share of update requests misbehave at random, for
	// soak runs: half 429 with Retry-After 1, a quarter 500 before applying,
	// a quarter 500 after applying.
	FaultRate float64
	// ReservationTTL is how long a reservation stays pending before it times
	// out (the Workflow's TaskReservationTimeout). Default 120 s.
	ReservationTTL time.Duration
}

// New returns a fake API.
func New(o Options) *Server {
	if o.ReservationTTL <= 0 {
		o.ReservationTTL = 120 * time.Second
	}
	return &Server{
		users: o.Credentials, autoCreate: o.AutoCreate, ttl: o.ReservationTTL, latency: o.Latency, faultRate: o.FaultRate,
		reservations: map[string]*Reservation{}, faults: map[string][]Fault{}, fetchFaults: map[string][]Fault{}, now: time.Now,
	}
}

// AddReservation creates a pending reservation.
func (s *Server) AddReservation(workspace, task, worker, sid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addLocked(workspace, task, worker, sid)
}

func (s *Server) addLocked(workspace, task, worker, sid string) *Reservation {
	r := &Reservation{WorkspaceSid: workspace, TaskSid: task, WorkerSid: worker, Sid: sid,
		Status: "pending", ExpiresAt: s.now().Add(s.ttl), UpdatedAt: s.now()}
	s.reservations[sid] = r
	return r
}

// SetStatus forces a reservation's status (e.g. "canceled", "timeout").
func (s *Server) SetStatus(sid, status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.reservations[sid]; ok {
		r.Status = status
	}
}

// Script queues faults for the next update requests of reservation sid, or
// of any reservation when sid is "".
func (s *Server) Script(sid string, faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[sid] = append(s.faults[sid], faults...)
}

// ScriptFetch queues faults for the next GET requests of reservation sid.
// Only Status, RetryAfter, Code, Message, Drop and Delay apply.
func (s *Server) ScriptFetch(sid string, faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fetchFaults[sid] = append(s.fetchFaults[sid], faults...)
}

// Get returns a copy of the reservation's record.
func (s *Server) Get(sid string) (Reservation, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.reservations[sid]
	if !ok {
		return Reservation{}, false
	}
	s.expireLocked(r)
	return *r, true
}

// All returns copies of every reservation's record.
func (s *Server) All() []Reservation {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Reservation, 0, len(s.reservations))
	for _, r := range s.reservations {
		s.expireLocked(r)
		out = append(out, *r)
	}
	return out
}

// Stats summarises what the fake has seen.
type Stats struct {
	Reservations int            `json:"reservations"`
	Updates      int            `json:"updates"`
	Applied      int            `json:"applied"`
	AppliedTwice int            `json:"applied_twice"` // must stay 0: exactly once
	ByStatus     map[string]int `json:"by_status"`
}

// Stats returns counts over every reservation.
func (s *Server) Stats() Stats {
	st := Stats{ByStatus: map[string]int{}}
	for _, r := range s.All() {
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

// serveStats answers GET /__fake/stats (behind the same Basic auth), so a
// benchmark or soak script can check exactly-once from outside.
func (s *Server) serveStats(w http.ResponseWriter) {
	b, _ := json.Marshal(s.Stats())
	writeJSON(w, http.StatusOK, b)
}

func (s *Server) expireLocked(r *Reservation) {
	if r.Status == "pending" && !s.now().Before(r.ExpiresAt) {
		r.Status = "timeout"
	}
}

var pathRE = regexp.MustCompile(`^/v1/Workspaces/(WS[0-9a-fA-F]{32})/(Tasks|Workers)/((?:WT|WK)[0-9a-fA-F]{32})/Reservations/(WR[0-9a-fA-F]{32})$`)

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	if !ok || s.users[user] == "" || s.users[user] != pass {
		writeError(w, http.StatusUnauthorized, 20003, "Authenticate")
		return
	}
	if r.URL.Path == "/__fake/stats" {
		s.serveStats(w)
		return
	}
	m := pathRE.FindStringSubmatch(r.URL.Path)
	if m == nil {
		writeError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
		return
	}
	workspace, parentKind, parent, sid := m[1], m[2], m[3], m[4]
	switch r.Method {
	case http.MethodGet:
		s.fetch(w, r, workspace, parentKind, parent, sid)
	case http.MethodPost:
		s.update(w, r, workspace, parentKind, parent, sid)
	default:
		writeError(w, http.StatusMethodNotAllowed, 20004, "Method not allowed")
	}
}

// lookupLocked finds the reservation for the path, creating it in
// AutoCreate mode. It checks that the path's task or worker matches.
func (s *Server) lookupLocked(workspace, parentKind, parent, sid string) *Reservation {
	res, ok := s.reservations[sid]
	if !ok && s.autoCreate {
		task, worker := parent, ""
		if parentKind == "Workers" {
			task, worker = "", parent
		}
		res = s.addLocked(workspace, task, worker, sid)
	}
	if res == nil || res.WorkspaceSid != workspace {
		return nil
	}
	if parentKind == "Tasks" && res.TaskSid != "" && res.TaskSid != parent {
		return nil
	}
	if parentKind == "Workers" && res.WorkerSid != "" && res.WorkerSid != parent {
		return nil
	}
	s.expireLocked(res)
	return res
}

func (s *Server) fetch(w http.ResponseWriter, r *http.Request, workspace, parentKind, parent, sid string) {
	s.mu.Lock()
	res := s.lookupLocked(workspace, parentKind, parent, sid)
	if res != nil {
		res.Fetches++
	}
	var fault Fault
	faulty := false
	if q := s.fetchFaults[sid]; len(q) > 0 {
		fault, faulty, s.fetchFaults[sid] = q[0], true, q[1:]
	}
	if faulty {
		s.mu.Unlock()
		if fault.Delay > 0 {
			select {
			case <-time.After(fault.Delay):
			case <-r.Context().Done():
				return
			}
		}
		s.misbehave(w, fault)
		return
	}
	var body []byte
	if res != nil {
		body = resource(res)
	}
	s.mu.Unlock()
	if res == nil {
		writeError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
		return
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) nextFault(sid string) (Fault, bool) {
	for _, key := range []string{sid, ""} {
		if q := s.faults[key]; len(q) > 0 {
			s.faults[key] = q[1:]
			return q[0], true
		}
	}
	if s.faultRate > 0 && rand.Float64() < s.faultRate {
		switch x := rand.Float64(); {
		case x < 0.5:
			return Fault{Status: http.StatusTooManyRequests, RetryAfter: "1"}, true
		case x < 0.75:
			return Fault{Status: http.StatusInternalServerError}, true
		default:
			return Fault{Status: http.StatusInternalServerError, Apply: true}, true
		}
	}
	return Fault{}, false
}

func (s *Server) update(w http.ResponseWriter, r *http.Request, workspace, parentKind, parent, sid string) {
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, 20001, "Invalid form body")
		return
	}
	form := r.PostForm

	s.mu.Lock()
	res := s.lookupLocked(workspace, parentKind, parent, sid)
	if res == nil {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
		return
	}
	res.Updates++
	res.UpdateTimes = append(res.UpdateTimes, s.now())
	fault, faulty := s.nextFault(sid)
	s.mu.Unlock()

	if faulty && fault.Delay > 0 {
		select {
		case <-time.After(fault.Delay):
		case <-r.Context().Done():
			return
		}
	}
	if faulty && fault.Refuse {
		if fault.Status == 0 {
			fault.Status = http.StatusBadRequest
		}
		if fault.Code == 0 {
			fault.Code = 20001
		}
		s.misbehave(w, fault)
		return
	}
	if faulty && !fault.Apply && (fault.Status != 0 || fault.Drop) {
		s.misbehave(w, fault)
		return
	}

	s.mu.Lock()
	s.expireLocked(res)
	status, msg := s.applyLocked(res, form)
	if faulty && status == http.StatusOK && fault.ThenStatus != "" {
		res.Status = fault.ThenStatus
	}
	body := resource(res)
	s.mu.Unlock()

	hold := s.latency
	if faulty {
		hold += fault.AfterApply
	}
	if hold > 0 {
		select {
		case <-time.After(hold):
		case <-r.Context().Done():
			return
		}
	}
	if faulty && status == http.StatusOK && (fault.BrokenBody || fault.CutBody) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		if fault.BrokenBody {
			w.Write([]byte("<html>not json</html>"))
			return
		}
		w.Write(body[:len(body)/2])
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		<-r.Context().Done() // the rest never comes
		return
	}
	if faulty && (fault.Status != 0 || fault.Drop) {
		s.misbehave(w, fault) // applied, but the client never learns it
		return
	}
	if status != http.StatusOK {
		writeError(w, status, 20001, msg)
		return
	}
	writeJSON(w, http.StatusOK, body)
}

var validStatus = map[string]bool{"accepted": true, "rejected": true}
var validInstruction = map[string][]string{
	"dequeue":    nil,
	"call":       {"CallFrom", "CallUrl"},
	"redirect":   {"RedirectCallSid", "RedirectUrl"},
	"conference": nil,
}

// applyLocked validates the form as the real API does and applies it.
func (s *Server) applyLocked(res *Reservation, form map[string][]string) (int, string) {
	get := func(k string) string {
		if v := form[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	status, ins := get("ReservationStatus"), get("Instruction")
	switch {
	case status == "" && ins == "":
		return http.StatusBadRequest, "Missing required parameter ReservationStatus or Instruction"
	case status != "" && !validStatus[status]:
		return http.StatusBadRequest, "Invalid ReservationStatus " + status
	case ins != "":
		required, ok := validInstruction[ins]
		if !ok {
			return http.StatusBadRequest, "Invalid Instruction " + ins
		}
		for _, k := range required {
			if get(k) == "" {
				return http.StatusBadRequest, "Missing required parameter " + k
			}
		}
	}
	if status == "rejected" && get("WorkerActivitySid") != "" && !strings.HasPrefix(get("WorkerActivitySid"), "WA") {
		return http.StatusBadRequest, "Invalid WorkerActivitySid"
	}
	if res.Status != "pending" {
		return http.StatusBadRequest, "Reservation is not in expected state [pending]; current state " + res.Status
	}
	switch {
	case status == "rejected":
		res.Status = "rejected"
	case ins == "call" || ins == "redirect":
		// The call is placed; the reservation is accepted only if asked.
		res.CallsPlaced++
		if get("CallAccept") == "true" || get("RedirectAccept") == "true" {
			res.Status = "accepted"
		}
	default:
		res.Status = "accepted"
	}
	res.Instruction = ins
	if ins == "" {
		res.Instruction = status
	}
	res.Form = form
	res.Applied++
	res.UpdatedAt = s.now()
	return http.StatusOK, ""
}

func (s *Server) misbehave(w http.ResponseWriter, f Fault) {
	if f.Drop {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler) // HTTP/2 or a recorder: abort the stream
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	switch {
	case f.Code != 0 || f.Message != "":
		writeError(w, f.Status, f.Code, f.Message)
	case f.Status == http.StatusTooManyRequests:
		writeError(w, f.Status, 20429, "Too Many Requests")
	case f.Status == http.StatusBadGateway:
		w.Header().Set("Content-Type", "text/html") // a proxy's answer, not Twilio's JSON
		w.WriteHeader(f.Status)
		fmt.Fprint(w, "<html><body>502 Bad Gateway</body></html>")
	default:
		writeError(w, f.Status, 20500, http.StatusText(f.Status))
	}
}

func resource(r *Reservation) []byte {
	b, _ := json.Marshal(map[string]any{
		"sid":                r.Sid,
		"account_sid":        "",
		"workspace_sid":      r.WorkspaceSid,
		"task_sid":           r.TaskSid,
		"worker_sid":         r.WorkerSid,
		"reservation_status": r.Status,
		"date_updated":       r.UpdatedAt.UTC().Format(time.RFC3339),
		"url":                "https://taskrouter.twilio.com/v1/Workspaces/" + r.WorkspaceSid + "/Tasks/" + r.TaskSid + "/Reservations/" + r.Sid,
	})
	return b
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
}

func writeError(w http.ResponseWriter, status, code int, msg string) {
	b, _ := json.Marshal(map[string]any{
		"code": code, "message": msg, "status": status,
		"more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code),
	})
	writeJSON(w, status, b)
}
