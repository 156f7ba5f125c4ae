// Package simulate runs a day of a contact center on the TaskRouter
// emulator in virtual time, with a real assignd service deciding every
// reservation over signed HTTP, and measures it into report.Reports
// (`assignd simulate`). The service is given to Run, not built here, so
// this package knows nothing of how the service is composed.
package simulate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/assignd/assignd/emulator"
)

// Scenario is a scenario file, checked: the workspace, the demand and the
// agents' behaviour. In YAML (Parse, LoadFile), every key but workspace,
// duration, arrivals and workers optional:
//
//	workspace: tutorial.yaml          # relative to this file, or the workspace inline
//	duration: 8h
//	seed: 7
//	warm_up: 30m                      # tasks created before it are not measured
//	interval: 15m                     # the series' interval
//	answer_time: 5s                   # an agent's pick-up after an accept
//	after_reject: {back_after: 5m}    # an agent a reject made unavailable comes back
//	arrivals:                         # Poisson streams
//	  - name: spanish
//	    rate_per_hour: 100            # or by hour: [40, 80, 120]; the last holds
//	    attributes: {selected_language: es}
//	    handle_time: {distribution: lognormal, mean: 180s, sd: 60s}  # exponential, lognormal, fixed
//	    patience: {distribution: exponential, mean: 120s}           # abandonment
//	    wrap_up: 30s
//	    task_channel: voice
//	    priority: 5
//	    workflow: Tutorial Workflow   # default: the workspace's first
//	workers:                          # replace the workspace's workers
//	  - name: agents
//	    count: 7
//	    attributes: {languages: [es]}
//	    shift: {start: 0h, end: 8h}
//	    activity: Idle                # default: the first available activity
//
// A scenario is bounded, so a run's memory is: duration at most
// MaxDuration (31 days), interval at least MinInterval (1s) and at most
// MaxIntervals intervals in the day, at most MaxExpectedTasks tasks
// expected over all streams (the sum of rate × hours), at most MaxWorkers
// agents over all workers entries.
type Scenario struct {
	File      string // as given
	Workspace emulator.WorkspaceSpec
	Duration  time.Duration
	Seed      int64
	// WarmUp: tasks created before it are not measured (the day starts
	// empty); staffed time before it is not counted.
	WarmUp time.Duration
	// Interval is the Series' interval.
	Interval time.Duration
	// AnswerTime is how long an agent takes to pick up an accepted task:
	// occupied, not yet handling.
	AnswerTime time.Duration
	// AfterReject is what an agent does after rejecting a reservation.
	AfterReject AfterReject
	Arrivals    []Arrival
	Workers     []Workers
}

// AfterReject is the scenario's after_reject. The policy's reject names
// the activity the agent goes to (Twilio's reject instruction carries it,
// and TaskRouter applies it with the reject, before offering the task
// again); BackAfter is how long an agent the reject made unavailable takes
// to come back to work (0: they stay there for the rest of their shift).
type AfterReject struct {
	BackAfter time.Duration
}

// Arrival is one Poisson stream of tasks.
type Arrival struct {
	Name string
	// RatePerHour is tasks per hour by hour of the day; past its end the
	// last rate holds (one entry: a constant rate).
	RatePerHour []float64
	Attributes  map[string]any
	HandleTime  Dist
	Patience    *Dist // nil: callers never abandon
	WrapUp      time.Duration
	TaskChannel string
	Priority    *int
	Workflow    string // a workflow name; "" the workspace's first
}

// Dist is a distribution of durations.
type Dist struct {
	Kind     string // one of Distributions
	Mean, SD time.Duration
}

// Distributions are the names a distribution may have.
var Distributions = []string{"exponential", "lognormal", "fixed"}

// Workers is one group of identical agents; they replace the workspace's
// own workers.
type Workers struct {
	Name       string
	Count      int
	Attributes map[string]any
	// Start, End is the shift; End is the day's Duration when absent.
	Start, End time.Duration
	Activity   string // the available activity they work in
}

// DefaultInterval is the Series' interval when the scenario names none.
const DefaultInterval = 15 * time.Minute

// Bounds on a scenario, which bound a run's memory: the series hold one
// point per interval, the driver one record per task and per agent.
const (
	// MaxDuration bounds duration: 31 days.
	MaxDuration = 31 * 24 * time.Hour
	// MinInterval bounds interval from below.
	MinInterval = time.Second
	// MaxIntervals bounds duration / interval: the points of each series.
	MaxIntervals = 10000
	// MaxExpectedTasks bounds the tasks the arrival streams are expected
	// to create over the day (rate_per_hour × hours, summed).
	MaxExpectedTasks = 2000000
)

// Error is a refused scenario: one line, FILE:LINE: problem.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// The raw shapes: yaml.Node where a value needs its line or more than one
// form; KnownFields refuses any other key.
type rawScenario struct {
	Workspace   yaml.Node    `yaml:"workspace"`
	Duration    yaml.Node    `yaml:"duration"`
	Seed        yaml.Node    `yaml:"seed"`
	WarmUp      yaml.Node    `yaml:"warm_up"`
	Interval    yaml.Node    `yaml:"interval"`
	AnswerTime  yaml.Node    `yaml:"answer_time"`
	AfterReject *rawReject   `yaml:"after_reject"`
	Arrivals    []rawArrival `yaml:"arrivals"`
	Workers     []rawWorkers `yaml:"workers"`
}

type rawReject struct {
	BackAfter yaml.Node `yaml:"back_after"`
}

type rawArrival struct {
	Name        yaml.Node      `yaml:"name"`
	RatePerHour yaml.Node      `yaml:"rate_per_hour"`
	Attributes  map[string]any `yaml:"attributes"`
	HandleTime  *rawDist       `yaml:"handle_time"`
	Patience    *rawDist       `yaml:"patience"`
	WrapUp      yaml.Node      `yaml:"wrap_up"`
	TaskChannel string         `yaml:"task_channel"`
	Priority    *int           `yaml:"priority"`
	Workflow    yaml.Node      `yaml:"workflow"`
}

type rawDist struct {
	Distribution yaml.Node `yaml:"distribution"`
	Mean         yaml.Node `yaml:"mean"`
	SD           yaml.Node `yaml:"sd"`
}

type rawWorkers struct {
	Name       yaml.Node      `yaml:"name"`
	Count      yaml.Node      `yaml:"count"`
	Attributes map[string]any `yaml:"attributes"`
	Shift      *struct {
		Start yaml.Node `yaml:"start"`
		End   yaml.Node `yaml:"end"`
	} `yaml:"shift"`
	Activity yaml.Node `yaml:"activity"`
}

// LoadFile reads and checks the scenario at path.
func LoadFile(path string) (*Scenario, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{File: path, Msg: fmt.Sprintf("cannot read: %v", errors.Unwrap(err))}
	}
	return Parse(path, b)
}

var yamlLine = regexp.MustCompile(`line (\d+): (.*)`)

// Parse checks a scenario; file names it in errors and is what a
// workspace path is relative to. Every refusal is one *Error.
func Parse(file string, b []byte) (*Scenario, error) {
	p := &parser{file: file}
	var raw rawScenario
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&raw); err != nil {
		return nil, p.yamlErr(err)
	}
	s := &Scenario{File: file, Interval: DefaultInterval}
	p.workspace(&raw.Workspace, s)
	s.Duration = p.duration(&raw.Duration, "duration", 0, true)
	if raw.Duration.Kind == 0 {
		p.fail(0, "duration: required (e.g. duration: 8h)")
	}
	if raw.Seed.Kind != 0 {
		if err := raw.Seed.Decode(&s.Seed); err != nil {
			p.fail(raw.Seed.Line, "seed: want an integer, got %q", raw.Seed.Value)
		}
	}
	s.WarmUp = p.duration(&raw.WarmUp, "warm_up", 0, false)
	s.Interval = p.duration(&raw.Interval, "interval", DefaultInterval, true)
	s.AnswerTime = p.duration(&raw.AnswerTime, "answer_time", 0, false)
	if s.WarmUp >= s.Duration && raw.WarmUp.Kind != 0 && p.err == nil {
		p.fail(raw.WarmUp.Line, "warm_up: %v is not shorter than duration %v", s.WarmUp, s.Duration)
	}
	if p.err == nil {
		p.bounds(&raw, s)
	}
	if r := raw.AfterReject; r != nil {
		s.AfterReject.BackAfter = p.duration(&r.BackAfter, "after_reject.back_after", 0, true)
	}
	if len(raw.Arrivals) == 0 {
		p.fail(0, "arrivals: at least one stream is required")
	}
	names := map[string]bool{}
	for i := range raw.Arrivals {
		a := p.arrival(&raw.Arrivals[i], i, s)
		if names[a.Name] {
			p.fail(raw.Arrivals[i].Name.Line, "arrivals[%d]: name %q used twice", i, a.Name)
		}
		names[a.Name] = true
		s.Arrivals = append(s.Arrivals, a)
	}
	if p.err == nil {
		expected := 0.0
		for i, a := range s.Arrivals {
			expected += a.expected(s.Duration)
			if expected > MaxExpectedTasks {
				p.fail(raw.Arrivals[i].RatePerHour.Line, "arrivals %q: rate_per_hour: the streams to here are expected to create %.0f tasks in %v; at most %d",
					a.Name, expected, s.Duration, MaxExpectedTasks)
				break
			}
		}
	}
	if len(raw.Workers) == 0 {
		p.fail(0, "workers: at least one group is required")
	}
	names = map[string]bool{}
	total := 0
	for i := range raw.Workers {
		w := p.workers(&raw.Workers[i], i, len(raw.Workers), s)
		if names[w.Name] {
			p.fail(raw.Workers[i].Name.Line, "workers[%d]: name %q used twice", i, w.Name)
		}
		names[w.Name] = true
		s.Workers = append(s.Workers, w)
		if total += w.Count; total > MaxWorkers {
			p.fail(raw.Workers[i].Count.Line, "workers %q: count %d makes %d agents over all workers entries; at most %d",
				w.Name, w.Count, total, MaxWorkers)
		}
	}
	if p.err != nil {
		return nil, p.err
	}
	// The workspace as the run loads it, loaded once here so a workspace
	// the emulator refuses is refused before any run.
	channels, err := s.check()
	if err != nil {
		return nil, &Error{File: file, Line: raw.Workspace.Line, Msg: "workspace does not load: " + err.Error()}
	}
	for i, a := range s.Arrivals {
		if a.TaskChannel != "" && !channels[a.TaskChannel] {
			return nil, &Error{File: file, Line: raw.Arrivals[i].Name.Line, Msg: fmt.Sprintf(
				"arrivals %q: task_channel %q is not a task channel of the workspace (its unique names: %s)",
				a.Name, a.TaskChannel, strings.Join(sortedKeys(channels), ", "))}
		}
	}
	return s, nil
}

// bounds refuses a day too long or cut into too many intervals.
func (p *parser) bounds(raw *rawScenario, s *Scenario) {
	switch {
	case s.Duration > MaxDuration:
		p.fail(raw.Duration.Line, "duration: %v is over %v (31 days)", s.Duration, MaxDuration)
	case s.Interval < MinInterval:
		p.fail(raw.Interval.Line, "interval: %v is under %v", s.Interval, MinInterval)
	case s.Duration/s.Interval > MaxIntervals:
		line := raw.Interval.Line
		if line == 0 {
			line = raw.Duration.Line
		}
		p.fail(line, "interval: %v cuts duration %v into %d intervals; at most %d (a longer interval)",
			s.Interval, s.Duration, s.Duration/s.Interval, MaxIntervals)
	}
}

// expected is how many tasks the stream is expected to create in a day of
// length d.
func (a Arrival) expected(d time.Duration) float64 {
	n := 0.0
	hours := d.Hours()
	for h := 0; float64(h) < hours; h++ {
		rate := a.RatePerHour[min(h, len(a.RatePerHour)-1)]
		n += rate * min(1, hours-float64(h))
	}
	return n
}

// parser keeps the first problem: a refusal is one line.
type parser struct {
	file string
	err  *Error
}

func (p *parser) fail(line int, format string, args ...any) {
	if p.err == nil {
		p.err = &Error{File: p.file, Line: line, Msg: fmt.Sprintf(format, args...)}
	}
}

// yamlErr turns the decoder's error into one located line: the first
// problem, an unknown key named as such.
func (p *parser) yamlErr(err error) error {
	msg := err.Error()
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	line := 0
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	if k, _, ok := strings.Cut(strings.TrimPrefix(msg, "field "), " not found in type"); ok {
		msg = fmt.Sprintf("unknown key %q", k)
	}
	return &Error{File: p.file, Line: line, Msg: msg}
}

func (p *parser) workspace(n *yaml.Node, s *Scenario) {
	switch n.Kind {
	case 0:
		p.fail(0, "workspace: required (a workspace file, e.g. workspace: tutorial.yaml, or the workspace inline)")
	case yaml.ScalarNode:
		path := n.Value
		if !filepath.IsAbs(path) {
			path = filepath.Join(filepath.Dir(p.file), path)
		}
		spec, err := emulator.LoadWorkspaceFile(path)
		if err != nil {
			p.fail(n.Line, "workspace: %v", err)
			return
		}
		s.Workspace = spec
	case yaml.MappingNode:
		b, err := yaml.Marshal(n)
		if err == nil {
			s.Workspace, err = emulator.ParseWorkspace(b)
		}
		if err != nil {
			p.fail(n.Line, "workspace (inline, its own lines counted from it): %v", err)
		}
	default:
		p.fail(n.Line, "workspace: want a file name or a mapping")
	}
}

// duration reads a duration ("90s", "8h"; a bare number is seconds); def
// when absent; positive says 0 is refused.
func (p *parser) duration(n *yaml.Node, key string, def time.Duration, positive bool) time.Duration {
	if n.Kind == 0 {
		return def
	}
	d, err := time.ParseDuration(n.Value)
	if err != nil {
		f, ferr := strconv.ParseFloat(n.Value, 64)
		if ferr != nil || n.Kind != yaml.ScalarNode {
			p.fail(n.Line, "%s: %q is not a duration (e.g. 180s, 8h)", key, n.Value)
			return def
		}
		d = time.Duration(f * float64(time.Second))
	}
	if d < 0 || positive && d == 0 {
		want := "not negative"
		if positive {
			want = "positive"
		}
		p.fail(n.Line, "%s: %v must be %s", key, d, want)
	}
	return d
}

func (p *parser) arrival(r *rawArrival, i int, s *Scenario) Arrival {
	where := fmt.Sprintf("arrivals[%d]", i)
	a := Arrival{Name: r.Name.Value, Attributes: r.Attributes, TaskChannel: r.TaskChannel, Priority: r.Priority,
		Workflow: r.Workflow.Value}
	if a.Name == "" {
		a.Name = fmt.Sprintf("stream%d", i+1)
	}
	where = fmt.Sprintf("arrivals %q", a.Name)
	switch r.RatePerHour.Kind {
	case 0:
		p.fail(r.Name.Line, "%s: rate_per_hour required", where)
	case yaml.ScalarNode:
		a.RatePerHour = []float64{p.rate(&r.RatePerHour, where)}
	case yaml.SequenceNode:
		for _, c := range r.RatePerHour.Content {
			a.RatePerHour = append(a.RatePerHour, p.rate(c, where))
		}
		if len(a.RatePerHour) == 0 {
			p.fail(r.RatePerHour.Line, "%s: rate_per_hour: empty list", where)
		}
	default:
		p.fail(r.RatePerHour.Line, "%s: rate_per_hour: want a number or a list by hour", where)
	}
	if r.HandleTime == nil {
		p.fail(r.Name.Line, "%s: handle_time required", where)
	} else {
		a.HandleTime = p.dist(r.HandleTime, where+": handle_time")
	}
	if r.Patience != nil {
		d := p.dist(r.Patience, where+": patience")
		a.Patience = &d
	}
	a.WrapUp = p.duration(&r.WrapUp, where+": wrap_up", 0, false)
	if a.Workflow != "" && !hasWorkflow(s.Workspace, a.Workflow) {
		p.fail(r.Workflow.Line, "%s: workflow %q is not in the workspace", where, a.Workflow)
	}
	return a
}

func hasWorkflow(ws emulator.WorkspaceSpec, name string) bool {
	for _, wf := range ws.Workflows {
		if wf.Name == name {
			return true
		}
	}
	return false
}

func (p *parser) rate(n *yaml.Node, where string) float64 {
	f, err := strconv.ParseFloat(n.Value, 64)
	switch {
	case err != nil || n.Kind != yaml.ScalarNode:
		p.fail(n.Line, "%s: rate_per_hour: %q is not a number", where, n.Value)
	case f < 0 || math.IsNaN(f) || math.IsInf(f, 0):
		p.fail(n.Line, "%s: rate_per_hour: %v must not be negative", where, n.Value)
	}
	return f
}

func (p *parser) dist(r *rawDist, where string) Dist {
	d := Dist{Kind: r.Distribution.Value}
	line := r.Distribution.Line
	if line == 0 {
		line = r.Mean.Line
	}
	if d.Kind == "" {
		d.Kind = "exponential"
	}
	known := false
	for _, k := range Distributions {
		known = known || k == d.Kind
	}
	if !known {
		p.fail(line, "%s: unknown distribution %q (want one of %s)", where, d.Kind, strings.Join(Distributions, ", "))
	}
	if r.Mean.Kind == 0 {
		p.fail(line, "%s: mean required", where)
	}
	d.Mean = p.duration(&r.Mean, where+": mean", 0, true)
	d.SD = p.duration(&r.SD, where+": sd", 0, false)
	if d.Kind == "lognormal" && r.SD.Kind == 0 {
		p.fail(line, "%s: lognormal needs sd", where)
	}
	if d.Kind != "lognormal" && r.SD.Kind != 0 {
		p.fail(r.SD.Line, "%s: sd applies only to lognormal", where)
	}
	return d
}

func (p *parser) workers(r *rawWorkers, i, n int, s *Scenario) Workers {
	w := Workers{Name: r.Name.Value, Attributes: r.Attributes, End: s.Duration}
	if w.Name == "" {
		w.Name = "workers"
		if n > 1 {
			w.Name = fmt.Sprintf("workers%d", i+1)
		}
	}
	where := fmt.Sprintf("workers %q", w.Name)
	line := r.Count.Line
	if r.Count.Kind == 0 {
		p.fail(r.Name.Line, "%s: count required", where)
	} else if err := r.Count.Decode(&w.Count); err != nil || w.Count <= 0 || w.Count > MaxWorkers {
		p.fail(line, "%s: count %q: want a whole number from 1 to %d", where, r.Count.Value, MaxWorkers)
	}
	if sh := r.Shift; sh != nil {
		w.Start = p.duration(&sh.Start, where+": shift.start", 0, false)
		w.End = p.duration(&sh.End, where+": shift.end", s.Duration, true)
		if w.End <= w.Start {
			p.fail(sh.End.Line, "%s: shift ends (%v) before it starts (%v)", where, w.End, w.Start)
		}
	}
	w.Activity = p.activity(&r.Activity, where+": activity", s, true)
	return w
}

// MaxWorkers bounds the scenario's agents: one workers entry's count and
// the sum over all entries.
const MaxWorkers = 10000

// activity checks an activity name of the workspace; available says it
// must be an available one, and fills in the first such when absent.
func (p *parser) activity(n *yaml.Node, where string, s *Scenario, available bool) string {
	name := n.Value
	for _, a := range s.Workspace.Activities {
		if name == "" && available && a.Available {
			return a.Name
		}
		if a.Name == name && name != "" {
			if available && !a.Available {
				p.fail(n.Line, "%s: %q is not an available activity", where, name)
			}
			return name
		}
	}
	if name == "" {
		if available {
			p.fail(n.Line, "%s: the workspace has no available activity", where)
		}
		return ""
	}
	p.fail(n.Line, "%s: no activity %q in the workspace", where, name)
	return name
}

// offline is the activity off-shift agents are in: the workspace's
// default activity when it is unavailable, else its first unavailable one.
func (s *Scenario) offline() string {
	for _, a := range s.Workspace.Activities {
		if a.Name == s.Workspace.DefaultActivity && !a.Available {
			return a.Name
		}
	}
	for _, a := range s.Workspace.Activities {
		if !a.Available {
			return a.Name
		}
	}
	return ""
}

// workerName is the i-th (from 0) agent of group g.
func workerName(g Workers, i int) string { return fmt.Sprintf("%s-%d", g.Name, i+1) }

// spec is the workspace a run loads: the scenario's agents instead of its
// workers, every workflow calling callbackURL, no event callback (the
// driver follows events in process).
func (s *Scenario) spec(callbackURL string) emulator.WorkspaceSpec {
	ws := s.Workspace
	ws.EventCallbackURL, ws.EventsFilter = "", ""
	ws.Workflows = append([]emulator.WorkflowSpec(nil), ws.Workflows...)
	for i := range ws.Workflows {
		ws.Workflows[i].AssignmentCallbackURL = callbackURL
		ws.Workflows[i].FallbackAssignmentCallbackURL = ""
	}
	ws.Workers = nil
	off := s.offline()
	for _, g := range s.Workers {
		act := g.Activity
		if g.Start > 0 {
			act = off
		}
		for i := 0; i < g.Count; i++ {
			ws.Workers = append(ws.Workers, emulator.WorkerSpec{Name: workerName(g, i), Activity: act, Attributes: g.Attributes})
		}
	}
	return ws
}

// check loads the run's workspace into a scratch emulator and returns its
// task channels' unique names, as the emulator lists them.
func (s *Scenario) check() (map[string]bool, error) {
	if len(s.Workspace.Workflows) == 0 {
		return nil, errors.New("no workflow")
	}
	for _, g := range s.Workers {
		if g.Start > 0 && s.offline() == "" {
			return nil, fmt.Errorf("workers %q start after 0h but the workspace has no unavailable activity to wait in", g.Name)
		}
	}
	emu, err := emulator.New(emulator.Options{AccountSid: accountSid, AuthToken: authToken})
	if err != nil {
		return nil, err
	}
	defer emu.Close()
	ld, err := emu.Load(s.spec("http://127.0.0.1:1/assignment"))
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodGet, "http://emulator.invalid/v1/Workspaces/"+ld.Workspace+"/TaskChannels?PageSize=1000", nil)
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(accountSid, authToken)
	w := httptest.NewRecorder()
	emu.ServeHTTP(w, req)
	var list struct {
		Channels []struct {
			UniqueName string `json:"unique_name"`
		} `json:"channels"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &list); err != nil {
		return nil, fmt.Errorf("list its task channels: %w", err)
	}
	out := map[string]bool{}
	for _, c := range list.Channels {
		out[c.UniqueName] = true
	}
	return out, nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
