package emulator

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// WorkspaceSpec describes a whole workspace, to load in one step (Load).
// In YAML (ParseWorkspace, LoadWorkspaceFile) it is written like this; the
// ready tutorial workspace, tutorial.yaml, is the complete example:
//
//	friendly_name: TaskRouter Tutorial
//	event_callback_url: https://example.com/events   # optional
//	events_filter: reservation.created,reservation.accepted   # optional
//	default_activity: Offline                        # activity names
//	timeout_activity: Offline
//	multi_task_enabled: true                         # default true, as on Twilio
//	task_channels:                                   # beyond Twilio's default, voice, sms, chat, video
//	  - {unique_name: email, friendly_name: Email}
//	activities:
//	  - {name: Offline, available: false}
//	  - {name: Idle, available: true}
//	workers:
//	  - name: Alice
//	    activity: Idle                               # default: default_activity
//	    attributes: {languages: [en, es]}
//	    channels: {voice: 1, chat: 3}                # capacity by channel unique name; others 1
//	task_queues:
//	  - name: Spanish
//	    target_workers: languages HAS "es"           # default 1==1
//	    max_reserved_workers: 1                      # default 1
//	    task_order: FIFO                             # or LIFO
//	    reservation_activity: Busy                   # optional activity names, refused
//	    assignment_activity: Busy                    # unless multi_task_enabled is false
//	workflows:
//	  - name: Tutorial Workflow
//	    assignment_callback_url: http://localhost:8080/assignment
//	    fallback_assignment_callback_url: http://localhost:8080/assignment
//	    task_reservation_timeout: 120                # seconds, default 120
//	    filters:                                     # first match wins
//	      - name: Language - Spanish
//	        expression: selected_language == "es"
//	        targets:                                 # in order, each until its timeout
//	          - {queue: Spanish, expression: "task.vip == true", priority: 10, timeout: 30,
//	             order_by: worker.level DESC,        # optional: reserve in this order
//	             skip_if: workers.available == 0}    # optional: move on at once
//	          - {queue: Spanish, known_worker_sid: task.agent_sid}   # or known_worker_friendly_name
//	    default_queue: Spanish                       # default_filter
//
// Queues are named by friendly name. Every SID is derived from the
// workspace's and the resource's names (StableSid), so loading the same
// file again gives the same SIDs.
type WorkspaceSpec struct {
	FriendlyName     string         `yaml:"friendly_name"`
	EventCallbackURL string         `yaml:"event_callback_url"`
	EventsFilter     string         `yaml:"events_filter"`
	DefaultActivity  string         `yaml:"default_activity"`
	TimeoutActivity  string         `yaml:"timeout_activity"`
	MultiTaskEnabled *bool          `yaml:"multi_task_enabled"` // nil: true, Twilio's default
	TaskChannels     []ChannelSpec  `yaml:"task_channels"`
	Activities       []ActivitySpec `yaml:"activities"`
	Workers          []WorkerSpec   `yaml:"workers"`
	TaskQueues       []QueueSpec    `yaml:"task_queues"`
	Workflows        []WorkflowSpec `yaml:"workflows"`
}

// ActivitySpec is one activity.
type ActivitySpec struct {
	Name      string `yaml:"name"`
	Available bool   `yaml:"available"`
}

// ChannelSpec is one task channel added to Twilio's default ones.
type ChannelSpec struct {
	UniqueName   string `yaml:"unique_name"`
	FriendlyName string `yaml:"friendly_name"`
}

// WorkerSpec is one worker; Activity is an activity name; Channels sets
// the capacity of the worker channels it names by unique name (every other
// channel has capacity 1).
type WorkerSpec struct {
	Name       string         `yaml:"name"`
	Activity   string         `yaml:"activity"`
	Attributes map[string]any `yaml:"attributes"`
	Channels   map[string]int `yaml:"channels"`
}

// QueueSpec is one task queue; the activities are names.
type QueueSpec struct {
	Name                string `yaml:"name"`
	TargetWorkers       string `yaml:"target_workers"`
	MaxReservedWorkers  int    `yaml:"max_reserved_workers"`
	TaskOrder           string `yaml:"task_order"`
	ReservationActivity string `yaml:"reservation_activity"`
	AssignmentActivity  string `yaml:"assignment_activity"`
}

// WorkflowSpec is one workflow.
type WorkflowSpec struct {
	Name                          string       `yaml:"name"`
	AssignmentCallbackURL         string       `yaml:"assignment_callback_url"`
	FallbackAssignmentCallbackURL string       `yaml:"fallback_assignment_callback_url"`
	TaskReservationTimeout        int          `yaml:"task_reservation_timeout"`
	Filters                       []FilterSpec `yaml:"filters"`
	DefaultQueue                  string       `yaml:"default_queue"`
}

// FilterSpec is one entry of the workflow's task_routing.filters.
type FilterSpec struct {
	Name       string       `yaml:"name"`
	Expression string       `yaml:"expression"`
	Targets    []TargetSpec `yaml:"targets"`
}

// TargetSpec is one target of a filter; Queue is a queue name.
type TargetSpec struct {
	Queue      string `yaml:"queue"`
	Expression string `yaml:"expression"`
	Priority   *int   `yaml:"priority"`
	Timeout    int    `yaml:"timeout"`
	// OrderBy, SkipIf, KnownWorkerSid and KnownWorkerFriendlyName are the
	// target's order_by, skip_if, known_worker_sid and
	// known_worker_friendly_name, as in Twilio's workflow configuration.
	OrderBy                 string `yaml:"order_by"`
	SkipIf                  string `yaml:"skip_if"`
	KnownWorkerSid          string `yaml:"known_worker_sid"`
	KnownWorkerFriendlyName string `yaml:"known_worker_friendly_name"`
}

//go:embed tutorial.yaml
var tutorialYAML []byte

// Tutorial returns a fresh copy of the ready workspace modelled on Twilio's
// TaskRouter quickstart (see tutorial.yaml). Set its workflow's callback
// URLs before loading it.
func Tutorial() WorkspaceSpec {
	s, err := ParseWorkspace(tutorialYAML)
	if err != nil {
		panic("emulator: the embedded tutorial.yaml is invalid: " + err.Error()) // caught by TestTutorialParses
	}
	return s
}

// ParseWorkspace reads a WorkspaceSpec from YAML, refusing unknown keys.
func ParseWorkspace(b []byte) (WorkspaceSpec, error) {
	var s WorkspaceSpec
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		return WorkspaceSpec{}, fmt.Errorf("workspace YAML: %w", err)
	}
	return s, nil
}

// LoadWorkspaceFile reads a WorkspaceSpec from a YAML file.
func LoadWorkspaceFile(path string) (WorkspaceSpec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return WorkspaceSpec{}, fmt.Errorf("reading workspace file: %w", err)
	}
	s, err := ParseWorkspace(b)
	if err != nil {
		return WorkspaceSpec{}, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// Loaded names the SIDs of a loaded workspace, by friendly name.
type Loaded struct {
	Workspace  string
	Activities map[string]string
	Workers    map[string]string
	TaskQueues map[string]string
	Workflows  map[string]string
	spec       WorkspaceSpec
}

// String lists the SIDs, one per line, in the spec's order.
func (l Loaded) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "workspace  %s  %s\n", l.Workspace, l.spec.FriendlyName)
	for _, a := range l.spec.Activities {
		fmt.Fprintf(&b, "activity   %s  %s\n", l.Activities[a.Name], a.Name)
	}
	for _, w := range l.spec.Workers {
		fmt.Fprintf(&b, "worker     %s  %s\n", l.Workers[w.Name], w.Name)
	}
	for _, q := range l.spec.TaskQueues {
		fmt.Fprintf(&b, "taskqueue  %s  %s\n", l.TaskQueues[q.Name], q.Name)
	}
	for _, wf := range l.spec.Workflows {
		fmt.Fprintf(&b, "workflow   %s  %s\n", l.Workflows[wf.Name], wf.Name)
	}
	return b.String()
}

// Load creates the workspace s describes, with stable SIDs. Everything is
// checked first, as the REST API would check it; on error nothing is
// created.
func (e *Emulator) Load(s WorkspaceSpec) (Loaded, error) {
	if s.FriendlyName == "" {
		return Loaded{}, errors.New("workspace: friendly_name is required")
	}
	ld := &loader{e: e, s: s, now: e.clock.Now()}
	ld.ws = newWorkspace(StableSid(prefixWorkspace, s.FriendlyName), s.FriendlyName, ld.now)
	ld.ws.eventURL, ld.ws.eventsFilter = s.EventCallbackURL, s.EventsFilter
	if s.MultiTaskEnabled != nil {
		ld.ws.multiTask = *s.MultiTaskEnabled
	}
	ld.l = Loaded{Workspace: ld.ws.sid, Activities: map[string]string{}, Workers: map[string]string{},
		TaskQueues: map[string]string{}, Workflows: map[string]string{}, spec: s}
	// In dependency order: workers name activities and channels, queues
	// name activities, workflows name queues.
	for _, step := range []func() error{ld.activities, ld.channels, ld.workers, ld.queues, ld.workflows} {
		if err := step(); err != nil {
			return Loaded{}, err
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.workspaces.get(ld.ws.sid) != nil {
		return Loaded{}, fmt.Errorf("workspace %q (%s) is already loaded", s.FriendlyName, ld.ws.sid)
	}
	e.workspaces.put(ld.ws.sid, ld.ws)
	return ld.l, nil
}

// loader builds a workspace from its spec, one kind of resource at a time,
// off the emulator's lock: nothing is visible until Load registers it.
type loader struct {
	e   *Emulator
	s   WorkspaceSpec
	now time.Time
	ws  *workspace
	l   Loaded
}

// newName refuses an empty name or one already used by that kind.
func (ld *loader) newName(kind string, m map[string]string, name string) error {
	if _, dup := m[name]; dup || name == "" {
		return fmt.Errorf("workspace %q: %s name %q is empty or repeated", ld.s.FriendlyName, kind, name)
	}
	return nil
}

func (ld *loader) sidOf(kind string, m map[string]string, name string) (string, error) {
	sid, err := sidByName(kind, m, name)
	if err != nil {
		return "", fmt.Errorf("workspace %q: %w", ld.s.FriendlyName, err)
	}
	return sid, nil
}

func (ld *loader) activities() error {
	for _, a := range ld.s.Activities {
		if err := ld.newName("activity", ld.l.Activities, a.Name); err != nil {
			return err
		}
		act := &activity{sid: StableSid(prefixActivity, ld.s.FriendlyName, a.Name), name: a.Name, available: a.Available, created: ld.now, updated: ld.now}
		ld.ws.activities.put(act.sid, act)
		ld.l.Activities[a.Name] = act.sid
	}
	var err error
	if ld.ws.defaultAct, err = ld.sidOf("activity", ld.l.Activities, ld.s.DefaultActivity); err != nil {
		return fmt.Errorf("default_activity: %w", err)
	}
	if ld.ws.timeoutAct, err = ld.sidOf("activity", ld.l.Activities, ld.s.TimeoutActivity); err != nil {
		return fmt.Errorf("timeout_activity: %w", err)
	}
	return nil
}

func (ld *loader) workers() error {
	for _, w := range ld.s.Workers {
		if err := ld.newName("worker", ld.l.Workers, w.Name); err != nil {
			return err
		}
		act := ld.ws.defaultAct
		if w.Activity != "" {
			var err error
			if act, err = ld.sidOf("activity", ld.l.Activities, w.Activity); err != nil {
				return fmt.Errorf("worker %q: %w", w.Name, err)
			}
		}
		attrs := w.Attributes
		if attrs == nil {
			attrs = map[string]any{}
		}
		raw, err := json.Marshal(attrs)
		if err != nil {
			return fmt.Errorf("worker %q: attributes: %w", w.Name, err)
		}
		var decoded map[string]any // as JSON sees them: numbers float64, as over REST
		_ = json.Unmarshal(raw, &decoded)
		wk := &worker{sid: StableSid(prefixWorker, ld.s.FriendlyName, w.Name), name: w.Name, activity: act,
			attrsRaw: string(raw), attrs: decoded, created: ld.now, updated: ld.now, statusSince: ld.now}
		ld.ws.addChannels(wk, ld.now)
		if err := ld.capacities(wk, w.Channels); err != nil {
			return fmt.Errorf("worker %q: %w", w.Name, err)
		}
		ld.ws.workers.put(wk.sid, wk)
		ld.l.Workers[w.Name] = wk.sid
	}
	return nil
}

// channels adds the spec's task channels to Twilio's default ones, with
// stable SIDs.
func (ld *loader) channels() error {
	for _, ch := range ld.s.TaskChannels {
		if ch.UniqueName == "" || ld.ws.channel(ch.UniqueName) != nil {
			return fmt.Errorf("workspace %q: task channel unique_name %q is empty or repeated", ld.s.FriendlyName, ch.UniqueName)
		}
		name := ch.FriendlyName
		if name == "" {
			name = ch.UniqueName
		}
		ld.ws.addChannel(&taskChannel{sid: StableSid(prefixChannel, ld.ws.sid, ch.UniqueName), unique: ch.UniqueName, name: name,
			created: ld.now, updated: ld.now})
	}
	return nil
}

// capacities sets the worker's channel capacities, by channel unique name.
func (ld *loader) capacities(wk *worker, caps map[string]int) error {
	for name, n := range caps {
		ch := ld.ws.channel(name)
		if ch == nil || n < 0 {
			return fmt.Errorf("channels: no task channel named %q, or capacity %d below 0", name, n)
		}
		wk.chans[ch.sid].capacity = n
	}
	return nil
}

// queues checks each queue as CreateTaskQueue would, through the same
// queueParams, with activity names turned into SIDs.
func (ld *loader) queues() error {
	for _, q := range ld.s.TaskQueues {
		if err := ld.newName("task queue", ld.l.TaskQueues, q.Name); err != nil {
			return err
		}
		tq := &queue{sid: StableSid(prefixQueue, ld.s.FriendlyName, q.Name), maxReserved: 1, order: "FIFO", created: ld.now, updated: ld.now}
		p := &params{v: map[string][]string{"FriendlyName": {q.Name}, "TargetWorkers": {q.TargetWorkers}}}
		if q.MaxReservedWorkers != 0 {
			p.v.Set("MaxReservedWorkers", fmt.Sprint(q.MaxReservedWorkers))
		}
		if q.TaskOrder != "" {
			p.v.Set("TaskOrder", q.TaskOrder)
		}
		if (q.ReservationActivity != "" || q.AssignmentActivity != "") && ld.ws.multiTask {
			// A file is the emulator's own format: refuse what would do
			// nothing rather than load it (REST accepts it, as Twilio does).
			return fmt.Errorf("task queue %q: reservation_activity and assignment_activity need multi_task_enabled: false "+
				"(in a multitasking workspace a worker's activity does not change as they take tasks)", q.Name)
		}
		for k, name := range map[string]string{"ReservationActivitySid": q.ReservationActivity, "AssignmentActivitySid": q.AssignmentActivity} {
			if name != "" {
				sid, err := ld.sidOf("activity", ld.l.Activities, name)
				if err != nil {
					return fmt.Errorf("task queue %q: %w", q.Name, err)
				}
				p.v.Set(k, sid)
			}
		}
		if apiErr := ld.e.queueParams(ld.ws, tq, p); apiErr != nil {
			return fmt.Errorf("task queue %q: %s", q.Name, apiErr.Message)
		}
		ld.ws.queues.put(tq.sid, tq)
		ld.l.TaskQueues[q.Name] = tq.sid
	}
	return nil
}

// workflows checks each workflow as CreateWorkflow would, through the same
// workflowParams, with queue names turned into SIDs.
func (ld *loader) workflows() error {
	for _, wf := range ld.s.Workflows {
		if err := ld.newName("workflow", ld.l.Workflows, wf.Name); err != nil {
			return err
		}
		cfg, err := wf.configuration(ld.l.TaskQueues)
		if err != nil {
			return fmt.Errorf("workflow %q: %w", wf.Name, err)
		}
		w := &workflow{sid: StableSid(prefixWorkflow, ld.s.FriendlyName, wf.Name), reservationTimeout: 120, created: ld.now, updated: ld.now}
		p := &params{v: map[string][]string{"FriendlyName": {wf.Name}, "Configuration": {cfg},
			"AssignmentCallbackUrl": {wf.AssignmentCallbackURL}, "FallbackAssignmentCallbackUrl": {wf.FallbackAssignmentCallbackURL}}}
		if wf.TaskReservationTimeout != 0 {
			p.v.Set("TaskReservationTimeout", fmt.Sprint(wf.TaskReservationTimeout))
		}
		if apiErr := ld.e.workflowParams(ld.ws, w, p); apiErr != nil {
			return fmt.Errorf("workflow %q: %s", wf.Name, apiErr.Message)
		}
		ld.ws.workflows.put(w.sid, w)
		ld.l.Workflows[wf.Name] = w.sid
	}
	return nil
}

// sidByName returns the SID loaded under name in m, the name-to-SID map of
// one kind of resource.
func sidByName(kind string, m map[string]string, name string) (string, error) {
	if sid, ok := m[name]; ok {
		return sid, nil
	}
	return "", fmt.Errorf("no %s named %q", kind, name)
}

// configuration renders the workflow's Configuration JSON, queue names
// replaced by SIDs.
func (wf WorkflowSpec) configuration(queues map[string]string) (string, error) {
	type filterJSON struct {
		FilterFriendlyName string       `json:"filter_friendly_name"`
		Expression         string       `json:"expression"`
		Targets            []targetJSON `json:"targets"`
	}
	var tr struct {
		Filters       []filterJSON `json:"filters"`
		DefaultFilter *targetJSON  `json:"default_filter,omitempty"`
	}
	tr.Filters = []filterJSON{}
	for _, f := range wf.Filters {
		fj := filterJSON{FilterFriendlyName: f.Name, Expression: f.Expression}
		for _, t := range f.Targets {
			sid, err := sidByName("task queue", queues, t.Queue)
			if err != nil {
				return "", fmt.Errorf("filter %q: %w", f.Name, err)
			}
			fj.Targets = append(fj.Targets, targetJSON{Queue: sid, Expression: t.Expression, Priority: t.Priority, Timeout: t.Timeout,
				OrderBy: t.OrderBy, SkipIf: t.SkipIf, KnownWorkerSid: t.KnownWorkerSid, KnownWorkerFriendlyName: t.KnownWorkerFriendlyName})
		}
		tr.Filters = append(tr.Filters, fj)
	}
	if wf.DefaultQueue != "" {
		sid, err := sidByName("task queue", queues, wf.DefaultQueue)
		if err != nil {
			return "", fmt.Errorf("default_queue: %w", err)
		}
		tr.DefaultFilter = &targetJSON{Queue: sid}
	}
	b, err := json.Marshal(map[string]any{"task_routing": tr})
	return string(b), err
}
