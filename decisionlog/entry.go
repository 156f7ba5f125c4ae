// Package decisionlog keeps what assignd decided for each callback and why:
// the SIDs, the result, every rule the policy looked at, the answer and the
// latency. handlers hand it a record per callback; a writer goroutine stores
// them in batches (one transaction per batch) in SQLite in DATA_DIR or in
// PostgreSQL, and a pruner keeps the table within its retention.
//
// What a crash may lose: records wait in a bounded in-memory channel (and
// the batch being written) for a few milliseconds before they are committed;
// a crash loses those, at most BufferSize records and usually none but the
// last batch. A full channel drops records rather than slow a callback, and
// counts them in assignd_decision_log_dropped_total. While the store is
// unreachable the writer keeps rows in a bounded backlog and writes them
// when it is back. Refused callbacks are sampled (see refusals.go).
package decisionlog

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/assignd/assignd/policy"

	"github.com/assignd/assignd/taskrouter"
)

// Mode says how much of each callback is kept.
type Mode string

const (
	// ModeFull keeps everything, task and worker attributes and extra
	// parameters included (development default).
	ModeFull Mode = "full"
	// ModeSummary keeps everything but attribute values and extra
	// parameters, which are customer data (production default): also
	// instruction fields computed from them, computed keys and evaluation
	// error text are redacted (see redact.go).
	ModeSummary Mode = "summary"
	// ModeOff keeps nothing.
	ModeOff Mode = "off"
)

// ParseMode checks s.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeFull, ModeSummary, ModeOff:
		return m, nil
	}
	return "", fmt.Errorf("want full, summary or off, got %q", s)
}

// Entry is one stored callback.
type Entry struct {
	ID         int64     `json:"id"`
	Time       time.Time `json:"time"`
	Result     string    `json:"result"` // ok, fallback, bad_signature, bad_request
	Error      string    `json:"error,omitempty"`
	CheckedURL string    `json:"checked_url,omitempty"`
	// Mode is how much was kept of this entry (full or summary).
	Mode Mode `json:"mode"`

	AccountSid     string `json:"account_sid,omitempty"`
	WorkspaceSid   string `json:"workspace_sid,omitempty"`
	WorkflowSid    string `json:"workflow_sid,omitempty"`
	QueueSid       string `json:"queue_sid,omitempty"`
	TaskSid        string `json:"task_sid,omitempty"`
	WorkerSid      string `json:"worker_sid,omitempty"`
	ReservationSid string `json:"reservation_sid,omitempty"`
	TaskAge        int    `json:"task_age"`
	TaskPriority   int    `json:"task_priority"`
	// Timestamp is the callback's Timestamp parameter as sent.
	Timestamp string `json:"timestamp,omitempty"`

	Rule        string        `json:"rule,omitempty"`
	Steps       []policy.Step `json:"steps"`
	Instruction string        `json:"instruction,omitempty"` // its name, "later" for none
	// InstructionJSON is the decision's instruction: the answer when sync,
	// what the REST update applies when async.
	InstructionJSON json.RawMessage `json:"instruction_json,omitempty"`
	// Answer is the body TaskRouter got ({} for async decisions).
	Answer    json.RawMessage `json:"answer,omitempty"`
	Async     bool            `json:"async"`
	Delay     time.Duration   `json:"delay_ns,omitempty"`
	Duplicate bool            `json:"duplicate,omitempty"`
	Latency   time.Duration   `json:"latency_ns"`
	// Skipped is, for a refusal, how many refusals of its kind were not
	// kept since the previous one kept (the log keeps a sampled trickle).
	Skipped int64 `json:"skipped,omitempty"`

	// Only in full mode.
	TaskAttributes   json.RawMessage `json:"task_attributes,omitempty"`
	WorkerAttributes json.RawMessage `json:"worker_attributes,omitempty"`
	Params           json.RawMessage `json:"params,omitempty"`
}

// sidColumn is the entry's column for a SID parameter of the callback
// (taskrouter's table), nil for any other parameter.
func (e *Entry) sidColumn(param string) *string {
	switch param {
	case taskrouter.ParamAccountSid:
		return &e.AccountSid
	case taskrouter.ParamWorkspaceSid:
		return &e.WorkspaceSid
	case taskrouter.ParamWorkflowSid:
		return &e.WorkflowSid
	case taskrouter.ParamTaskQueueSid:
		return &e.QueueSid
	case taskrouter.ParamTaskSid:
		return &e.TaskSid
	case taskrouter.ParamWorkerSid:
		return &e.WorkerSid
	case taskrouter.ParamReservationSid:
		return &e.ReservationSid
	}
	return nil
}

// Reservation rebuilds the reservation the callback carried, for replay.
// In summary mode the attributes were not kept and come back empty.
func (e *Entry) Reservation() (*policy.Reservation, error) {
	r := &policy.Reservation{
		AccountSid: e.AccountSid, WorkspaceSid: e.WorkspaceSid, WorkflowSid: e.WorkflowSid,
		TaskQueueSid: e.QueueSid, WorkerSid: e.WorkerSid, TaskSid: e.TaskSid, ReservationSid: e.ReservationSid,
		TaskAge: e.TaskAge, TaskPriority: e.TaskPriority, Timestamp: e.Timestamp, ReceivedAt: e.Time,
		TaskAttributes: map[string]any{}, WorkerAttributes: map[string]any{},
	}
	if len(e.TaskAttributes) > 0 {
		if err := json.Unmarshal(e.TaskAttributes, &r.TaskAttributes); err != nil {
			return nil, fmt.Errorf("entry %d: task attributes: %w", e.ID, err)
		}
	}
	if len(e.WorkerAttributes) > 0 {
		if err := json.Unmarshal(e.WorkerAttributes, &r.WorkerAttributes); err != nil {
			return nil, fmt.Errorf("entry %d: worker attributes: %w", e.ID, err)
		}
	}
	if len(e.Params) > 0 && !Refused(e.Result) {
		if err := json.Unmarshal(e.Params, &r.Params); err != nil {
			return nil, fmt.Errorf("entry %d: params: %w", e.ID, err)
		}
	}
	return r, nil
}

// Filter selects entries; zero fields match everything.
type Filter struct {
	// SID matches any of the entry's reservation, task, worker and queue
	// SIDs.
	SID            string
	ReservationSid string
	TaskSid        string
	WorkerSid      string
	Rule           string
	Instruction    string
	Result         string
	Since, Until   time.Time // Since ≤ time < Until
	// AfterID returns only entries newer than this ID (the live feed).
	AfterID int64
	// BeforeID returns only entries older than this ID: a reader pages
	// backwards, newest first, by passing the last ID of the page before
	// (policy replay reads more than a page of the recent window).
	BeforeID int64
	// Limit bounds the answer, newest first; default DefaultQueryLimit,
	// at most MaxQueryLimit.
	Limit int
	// Oldest returns the oldest entries first (by ID) instead: paging
	// forward with AfterID, as the live feed does, then skips nothing.
	Oldest bool
}
