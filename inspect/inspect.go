// Package inspect serves the inspector: a live page of the callbacks
// assignd answered (newest first, filters, detail with the explanation and
// the async attempts), replay of a stored callback through the policy in
// force or a rules file sent with the request, "Try a policy" (the recent
// callbacks decided again by a candidate policy, whatif/replay), the policy
// in force, `assignd simulate -json` reports uploaded and drawn, and, when
// the caller provides one, the emulator's workers, tasks and reservations. The same
// data is JSON under /admin/api/.
//
// It does no access control and no cross-origin check: the caller mounts it
// behind the admin listener's guard (loopback only with a Host check, or
// Basic auth), which also refuses cross-origin POSTs
// (http.CrossOriginProtection) for every admin page alike.
package inspect

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/assignd/assignd/async"
	"github.com/assignd/assignd/decisionlog"
	"github.com/assignd/assignd/handlers"
	"github.com/assignd/assignd/policy"
	"github.com/assignd/assignd/whatif/report"
)

// PolicySource gives the inspector the policy in force and how its last
// reload went. The service's reloader implements it.
type PolicySource interface {
	Policy() policy.Policy
	LastReload() Reload
}

// Reload describes the last attempt to reload the policy file. A zero
// Reload means none has happened since start.
type Reload struct {
	At      time.Time `json:"at"`
	Trigger string    `json:"trigger,omitempty"` // "file change", "SIGHUP"
	OK      bool      `json:"ok"`
	Error   string    `json:"error,omitempty"` // why it was rejected; the old policy stayed
}

// NotReloaded is the status of a policy loaded at start and never reloaded.
const NotReloaded = "not reloaded since start"

// Status says how the last reload went: NotReloaded, "ok" or "rejected".
func (r Reload) Status() string {
	switch {
	case r.At.IsZero():
		return NotReloaded
	case r.OK:
		return "ok"
	}
	return "rejected"
}

// MarshalJSON adds the status and, with no reload yet, shows only it: a
// zero time with ok:false reads as a reload that failed.
func (r Reload) MarshalJSON() ([]byte, error) {
	type fields Reload // without this method
	if r.At.IsZero() {
		return json.Marshal(struct {
			Status string `json:"status"`
		}{NotReloaded})
	}
	return json.Marshal(struct {
		fields
		Status string `json:"status"`
	}{fields(r), r.Status()})
}

// Jobs reads the stored async decisions of a reservation; *async.Queue
// implements it.
type Jobs interface {
	Jobs(ctx context.Context, reservationSid string) ([]async.JobReport, error)
}

// Emulator is the TaskRouter emulator `assignd dev` runs. When Options has
// one, the page shows its state and can set a worker's activity.
type Emulator interface {
	State(ctx context.Context) (EmulatorState, error)
	SetWorkerActivity(ctx context.Context, workerSid, activitySid string) error
}

// EmulatorState is what the page shows of the emulator.
type EmulatorState struct {
	Workspace    string                `json:"workspace"` // friendly name
	Activities   []EmulatorActivity    `json:"activities"`
	Workers      []EmulatorWorker      `json:"workers"`
	Tasks        []EmulatorTask        `json:"tasks"`
	Reservations []EmulatorReservation `json:"reservations"`
}

// EmulatorActivity is an activity a worker can be set to.
type EmulatorActivity struct {
	Sid       string `json:"sid"`
	Name      string `json:"name"`
	Available bool   `json:"available"`
}

// EmulatorWorker is one worker.
type EmulatorWorker struct {
	Sid          string `json:"sid"`
	Name         string `json:"name"`
	ActivitySid  string `json:"activity_sid"`
	ActivityName string `json:"activity_name"`
	Attributes   string `json:"attributes"`
	Available    bool   `json:"available"`
}

// EmulatorTask is one task.
type EmulatorTask struct {
	Sid        string `json:"sid"`
	Status     string `json:"assignment_status"`
	Queue      string `json:"task_queue_friendly_name"`
	Attributes string `json:"attributes"`
	Age        int    `json:"age"` // seconds
}

// EmulatorReservation is one reservation.
type EmulatorReservation struct {
	Sid        string `json:"sid"`
	TaskSid    string `json:"task_sid"`
	WorkerSid  string `json:"worker_sid"`
	WorkerName string `json:"worker_name"`
	Status     string `json:"reservation_status"`
	// Instruction is what decided it (accept, reject, dequeue, call,
	// redirect, conference); "" while pending or when it ended otherwise.
	Instruction string `json:"instruction"`
}

// Options are the inspector's dependencies.
type Options struct {
	Log    *decisionlog.Log // required
	Policy PolicySource     // required
	Jobs   Jobs             // optional: without it async attempts are not shown
	// Emulator is optional: set by `assignd dev` when it runs the emulator.
	Emulator Emulator
	Logger   zerolog.Logger
	// Prefix is where the handler is mounted; default /admin.
	Prefix string
	// Heartbeat is how often the live stream writes a keep-alive and looks
	// for entries other instances wrote; default 2 s.
	Heartbeat time.Duration
	// DecisionDeadline bounds each replayed decision as DECISION_DEADLINE
	// bounds a live one: required, serve passes DECISION_DEADLINE (whose
	// default config defines, once).
	DecisionDeadline time.Duration
	// Done, when closed, ends the live streams: http.Server.Shutdown waits
	// for open requests, and a stream never ends by itself.
	Done <-chan struct{}
}

//go:embed templates/*.html
var templateFS embed.FS

// staticFS holds the pages' script and styles, served as files so that no
// page needs inline script or style (the admin listener's CSP forbids both).
//
//go:embed static
var staticFS embed.FS

type inspector struct {
	o       Options
	tmpl    *template.Template
	replays *limit // running replays, MaxReplays
	renders *limit // simulation reports being drawn, MaxRenders
	uploads *limit // simulation uploads being read or drawn, MaxUploads
	tries   *limit // running tries of a policy, MaxTries (taken once the body is read: a slow sender holds no slot)
}

// New returns the inspector's handler, serving Prefix+"/" and everything
// under it.
func New(o Options) (http.Handler, error) {
	_, h, err := newInspector(o)
	return h, err
}

// newInspector is New, with the inspector for the package's tests.
func newInspector(o Options) (*inspector, http.Handler, error) {
	if o.Log == nil || o.Policy == nil || o.DecisionDeadline <= 0 {
		return nil, nil, errors.New("inspect: Log, Policy and DecisionDeadline are required")
	}
	if o.Prefix == "" {
		o.Prefix = "/admin"
	}
	o.Prefix = strings.TrimSuffix(o.Prefix, "/")
	if o.Heartbeat <= 0 {
		o.Heartbeat = 2 * time.Second
	}
	in := &inspector{o: o,
		replays: newLimit(MaxReplays, http.StatusServiceUnavailable, o.DecisionDeadline,
			fmt.Sprintf("inspector: %d replays are running, the most at once; try again in %s", MaxReplays, o.DecisionDeadline)),
		renders: newLimit(MaxRenders, http.StatusTooManyRequests, time.Second,
			fmt.Sprintf("inspector: %d reports are being drawn, the most at once; try again in a second", MaxRenders)),
		uploads: newLimit(MaxUploads, http.StatusTooManyRequests, time.Second,
			fmt.Sprintf("inspector: %d uploads are being read, the most at once; try again in a second", MaxUploads)),
		tries: newLimit(MaxTries, http.StatusTooManyRequests, TryBudget,
			fmt.Sprintf("inspector: %d try of a policy runs at a time, the most at once; try again in %s", MaxTries, TryBudget)),
	}
	tmpl, err := template.New("").Funcs(template.FuncMap{
		"prefix":  func() string { return o.Prefix },
		"ago":     ago,
		"pretty":  prettyJSON,
		"ms":      func(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d.Microseconds())/1000) },
		"short":   shortSid,
		"timefmt": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000") },
		"instructions": func() []string {
			return policy.AnswerNames()
		},
		"results": handlers.Results,
		"pct":     func(f float64) string { return fmt.Sprintf("%.1f%%", f*100) },
		"maxKiB":  func() int { return MaxReplayPolicy >> 10 },
	}).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, nil, fmt.Errorf("inspect: templates: %w", err)
	}
	in.tmpl = tmpl

	p := o.Prefix
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+p+"/{$}", in.index)
	mux.HandleFunc("GET "+p+"/decisions/{id}", in.detail)
	mux.HandleFunc("POST "+p+"/decisions/{id}/replay", in.replayPage)
	mux.HandleFunc("GET "+p+"/events", in.events)
	mux.HandleFunc("GET "+p+"/emulator", in.emulatorSection)
	mux.HandleFunc("POST "+p+"/emulator/workers/{sid}/activity", in.setActivity)
	mux.HandleFunc("GET "+p+"/api/decisions", in.apiList)
	mux.HandleFunc("GET "+p+"/api/decisions/{id}", in.apiDetail)
	mux.HandleFunc("POST "+p+"/api/decisions/{id}/replay", in.apiReplay)
	mux.HandleFunc("GET "+p+"/api/policy", in.apiPolicy)
	mux.HandleFunc("GET "+p+"/try", in.tryForm)
	mux.HandleFunc("POST "+p+"/try", in.tryRun)
	mux.HandleFunc("POST "+p+"/api/try", in.apiTry)
	mux.HandleFunc("GET "+p+"/api/emulator", in.apiEmulator)
	mux.HandleFunc("GET "+p+"/simulations", in.simulations)
	mux.HandleFunc("POST "+p+"/simulations", in.simulationsUpload)
	mux.HandleFunc("POST "+p+"/api/simulations", in.apiSimulations)
	mux.HandleFunc("GET "+p+report.StylesheetPath, in.reportStylesheet)
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, nil, fmt.Errorf("inspect: static files: %w", err)
	}
	mux.Handle("GET "+p+"/static/", http.StripPrefix(p+"/static", http.FileServerFS(static)))
	return in, mux, nil
}
