package emulator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/assignd/assignd/emulator/expr"
)

type workflow struct {
	sid, name                string
	configRaw                string
	cfg                      *routing
	callbackURL, fallbackURL string
	reservationTimeout       int // seconds
	created, updated         time.Time
}

// routing is a parsed workflow configuration ("task_routing").
type routing struct {
	filters []filter
	def     *target // default_filter; nil when absent
}

type filter struct {
	name    string
	match   *expr.Expr
	targets []target
}

type target struct {
	queue    string
	match    *expr.Expr // nil: any worker of the queue
	priority *int
	timeout  int // seconds; 0: none

	// targets.go: order_by, skip_if, known-worker routing.
	orderBy             []orderKey
	skipIf              *expr.Expr
	knownSid, knownName []string // the task attribute naming the worker
}

func (rt *routing) uses(queue string) bool {
	if rt.def != nil && rt.def.queue == queue {
		return true
	}
	for _, f := range rt.filters {
		for _, t := range f.targets {
			if t.queue == queue {
				return true
			}
		}
	}
	return false
}

// configJSON is the Configuration document as Twilio defines it.
type configJSON struct {
	TaskRouting *struct {
		Filters []struct {
			FilterFriendlyName string       `json:"filter_friendly_name"`
			FriendlyName       string       `json:"friendly_name"`
			Expression         string       `json:"expression"`
			Targets            []targetJSON `json:"targets"`
		} `json:"filters"`
		DefaultFilter *targetJSON `json:"default_filter"`
	} `json:"task_routing"`
}

// targetJSON is one routing step: every key Twilio documents for a target
// (order_by, skip_if and the known-worker keys are carried out in
// targets.go).
type targetJSON struct {
	Queue                   string `json:"queue"`
	Expression              string `json:"expression,omitempty"`
	Priority                *int   `json:"priority,omitempty"`
	Timeout                 int    `json:"timeout,omitempty"`
	OrderBy                 string `json:"order_by,omitempty"`
	SkipIf                  string `json:"skip_if,omitempty"`
	KnownWorkerSid          string `json:"known_worker_sid,omitempty"`
	KnownWorkerFriendlyName string `json:"known_worker_friendly_name,omitempty"`
}

// parseRouting checks a Configuration as Twilio does at create/update: JSON,
// task_routing present, every expression valid, every queue in ws.
func parseRouting(ws *workspace, raw string) (*routing, error) {
	var cj configJSON
	if err := json.Unmarshal([]byte(raw), &cj); err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	if cj.TaskRouting == nil {
		return nil, fmt.Errorf("task_routing is missing")
	}
	tgt := func(where string, tj targetJSON) (target, error) {
		if tj.Queue == "" {
			// Twilio's Lifecycle of a Task example has a queue-less target
			// but no page says what it routes to: refused, not guessed.
			return target{}, fmt.Errorf("%s: queue is missing: every target names a task queue SID", where)
		}
		if ws.queues.get(tj.Queue) == nil {
			return target{}, fmt.Errorf("%s: queue %q not found in workspace %s", where, tj.Queue, ws.sid)
		}
		t := target{queue: tj.Queue, priority: tj.Priority, timeout: tj.Timeout}
		if tj.Timeout < 0 {
			return target{}, fmt.Errorf("%s: timeout %d is negative", where, tj.Timeout)
		}
		if tj.Expression != "" {
			x, err := expr.Parse(tj.Expression)
			if err != nil {
				return target{}, fmt.Errorf("%s: invalid expression %q: %w", where, tj.Expression, err)
			}
			t.match = x
		}
		if err := parseTargetFeatures(&t, tj); err != nil {
			return target{}, fmt.Errorf("%s: %w", where, err)
		}
		return t, nil
	}
	rt := &routing{}
	for i, fj := range cj.TaskRouting.Filters {
		name := fj.FilterFriendlyName
		if name == "" {
			name = fj.FriendlyName
		}
		where := fmt.Sprintf("filter %d (%s)", i, name)
		src := fj.Expression
		if src == "" {
			src = "1==1"
		}
		x, err := expr.Parse(src)
		if err != nil {
			return nil, fmt.Errorf("%s: invalid expression %q: %w", where, src, err)
		}
		if len(fj.Targets) == 0 {
			return nil, fmt.Errorf("%s: no targets", where)
		}
		f := filter{name: name, match: x}
		for j, tj := range fj.Targets {
			t, err := tgt(fmt.Sprintf("%s target %d", where, j), tj)
			if err != nil {
				return nil, err
			}
			f.targets = append(f.targets, t)
		}
		rt.filters = append(rt.filters, f)
	}
	if d := cj.TaskRouting.DefaultFilter; d != nil {
		t, err := tgt("default_filter", *d)
		if err != nil {
			return nil, err
		}
		rt.def = &t
	}
	return rt, nil
}

func (e *Emulator) workflowResource() resource[workflow] {
	return resource[workflow]{key: "workflows", rows: func(c *call) *table[workflow] { return &c.ws.workflows }, render: e.renderWorkflow}
}

func (e *Emulator) renderWorkflow(c *call, wf *workflow) map[string]any {
	ws := c.ws
	wsURL := c.workspaceURL(ws.sid)
	u := wsURL + "/Workflows/" + wf.sid
	return map[string]any{
		"account_sid": e.opt.AccountSid, "workspace_sid": ws.sid, "sid": wf.sid, "friendly_name": wf.name,
		"configuration": wf.configRaw, "document_content_type": "application/json",
		"assignment_callback_url": nullable(wf.callbackURL), "fallback_assignment_callback_url": nullable(wf.fallbackURL),
		"task_reservation_timeout": wf.reservationTimeout,
		"date_created":             twilioTime(wf.created), "date_updated": twilioTime(wf.updated), "url": u,
		"links": map[string]any{
			"statistics": u + "/Statistics", "real_time_statistics": u + "/RealTimeStatistics",
			"cumulative_statistics": u + "/CumulativeStatistics",
		},
	}
}

func (e *Emulator) listWorkflows(c *call) (int, any, *apiError) {
	name := c.query("FriendlyName")
	return e.workflowResource().list(c, func(wf *workflow) bool { return name == "" || wf.name == name })
}

// workflowParams applies create/update parameters to wf.
func (e *Emulator) workflowParams(ws *workspace, wf *workflow, p *params) *apiError {
	wf.reservationTimeout = p.integer("TaskReservationTimeout", wf.reservationTimeout)
	if p.err != nil {
		return p.err
	}
	if wf.reservationTimeout < 1 || wf.reservationTimeout > 86400 {
		return errParam("Invalid TaskReservationTimeout %d: must be 1 to 86400 seconds", wf.reservationTimeout)
	}
	if p.has("Configuration") {
		if err := e.checkConfigKeys(p.str("Configuration")); err != nil {
			return err
		}
		rt, err := parseRouting(ws, p.str("Configuration"))
		if err != nil {
			return errParam("Invalid Configuration: %v", err)
		}
		wf.configRaw, wf.cfg = p.str("Configuration"), rt
	}
	p.assign("AssignmentCallbackUrl", &wf.callbackURL)
	p.assign("FallbackAssignmentCallbackUrl", &wf.fallbackURL)
	if n := p.str("FriendlyName"); n != "" {
		wf.name = n
	}
	return nil
}

// checkConfigKeys refuses a Configuration with a key the emulator does not
// carry out (strict.go's configKeys), naming its path; with
// AllowUnsupported it logs each and accepts the rest.
func (e *Emulator) checkConfigKeys(raw string) *apiError {
	for _, path := range configKeys(raw) {
		if !e.opt.AllowUnsupported {
			return errParam("Invalid Configuration: key %s is not supported by the emulator", path)
		}
		e.opt.Log.Warn().Str("parameter", "Configuration").Str("key", path).
			Msg("not supported by the emulator: accepted and ignored (AllowUnsupported)")
	}
	return nil
}

func (e *Emulator) createWorkflow(c *call) (int, any, *apiError) {
	p, apiErr := formParams(c.r)
	if apiErr != nil {
		return 0, nil, apiErr
	}
	name := p.required("FriendlyName")
	p.required("Configuration")
	if p.err != nil {
		return 0, nil, p.err
	}
	now := e.clock.Now()
	wf := &workflow{sid: newSid(prefixWorkflow), name: name, reservationTimeout: 120, created: now, updated: now}
	if err := e.workflowParams(c.ws, wf, p); err != nil {
		return 0, nil, err
	}
	c.ws.workflows.put(wf.sid, wf)
	return http.StatusCreated, e.renderWorkflow(c, wf), nil
}

func (e *Emulator) updateWorkflow(c *call) (int, any, *apiError) {
	wf, p, apiErr := e.workflowResource().forUpdate(c)
	if apiErr != nil {
		return 0, nil, apiErr
	}
	reEval := p.boolean("ReEvaluateTasks", false)
	if p.err != nil {
		return 0, nil, p.err
	}
	updated := *wf
	if err := e.workflowParams(c.ws, &updated, p); err != nil {
		return 0, nil, err
	}
	updated.updated = e.clock.Now()
	*wf = updated
	if reEval {
		for _, t := range c.ws.tasks.all() {
			if t.workflow == wf.sid && t.status == "pending" {
				e.routeLocked(c.ws, t)
			}
		}
	}
	e.dispatchLocked(c.ws)
	return http.StatusOK, e.renderWorkflow(c, wf), nil
}

func (e *Emulator) deleteWorkflow(c *call) (int, any, *apiError) {
	wf, err := e.workflowResource().bySid(c)
	if err != nil {
		return 0, nil, err
	}
	for _, t := range c.ws.tasks.all() {
		if t.workflow == wf.sid && !t.final() {
			return 0, nil, errParam("Workflow %s has tasks and cannot be deleted", wf.sid)
		}
	}
	c.ws.workflows.del(wf.sid)
	return http.StatusNoContent, nil, nil
}
