package simulate

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/assignd/assignd/emulator"
	"github.com/assignd/assignd/whatif/report"
)

// The emulator's account for every run: the service checks callback
// signatures and calls the REST API with it.
var (
	accountSid = emulator.StableSid("AC", "assignd simulate")
	authToken  = "5e1f0c0de5e1f0c0de5e1f0c0de5e1f0"
)

// Env is what a service needs to stand in for production against the
// emulator: the account whose token signs callbacks and opens the REST API
// at APIBase (real loopback HTTP), and Decided, to be called with every
// decision the service answers (its rule and instruction are measured).
type Env struct {
	AccountSid, AuthToken string
	APIBase               string
	Decided               func(Decision)
}

// Decision is what the service decided for one reservation.
type Decision struct {
	ReservationSid string
	Rule           string
	Instruction    string // accept, reject, …, or "later"
}

// Service is a running service: the URL the emulator posts assignment
// callbacks to, and how to stop it.
type Service struct {
	CallbackURL string
	Close       func() error
}

// Options configure Run.
type Options struct {
	Scenario     *Scenario
	ScenarioName string // as given, for the reports
	// Policies name the policies, in order: one Report each.
	Policies []string
	// NewService starts the service deciding with policy; it is closed
	// after that policy's runs.
	NewService func(ctx context.Context, policy string, env Env) (Service, error)
	Runs       int   // replications (default 1)
	Seed       int64 // the scenario's seed unless SeedSet
	SeedSet    bool
	// ServiceLevels are the thresholds in seconds (default 20).
	ServiceLevels []int
	// Progress, when set, is called now and then with the share done.
	Progress func(done float64)
	// Warn is told what the reports cannot show (statistics lost).
	Warn func(string)
	// Parallel is how many runs go at once (default GOMAXPROCS): each has
	// its own emulator and virtual clock, so the numbers do not depend on it.
	Parallel int
	// MaxCallbacksPerInstant overrides the reject-loop guard (tests).
	MaxCallbacksPerInstant int
	// RunDone, when set, is told each run's own figures as it ends (from
	// the run's goroutine: runs go in parallel), for an estimate the
	// reports' plain means over runs do not make, such as a control
	// variate on the load each day happened to draw.
	RunDone func(RunFigures)
}

// RunFigures are one run's figures for the whole center.
type RunFigures struct {
	Policy, Run int // indexes into Options.Policies and the runs
	// Center is by the keys of report.Figures.CI95 (asa_s, prob_wait,
	// occupancy, offered, …); a ratio undefined in the run (asa_s with no
	// task answered) is absent.
	Center map[string]float64
	// Tasks are the day's draws, every task in creation order: when it was
	// created and the handle time it drew. They are fixed by the seed
	// before any routing, so a caller can hold the run's waits against a
	// reference queue fed the same draws.
	Tasks []Drawn
}

// Drawn is one task's draws; times since the day's start.
type Drawn struct {
	Created, Handle time.Duration
}

// Guards against a run that cannot finish.
const (
	// MaxCallbacksPerInstant stops a reject loop: a policy that rejects
	// everything makes the emulator offer the task again at once, forever,
	// without the virtual clock moving.
	MaxCallbacksPerInstant = 10000
	// MaxFailedCallbacks stops a run whose service does not answer.
	MaxFailedCallbacks = 20
	// asyncWait bounds the wall time an async decision may take to come
	// back over REST while virtual time stands still.
	asyncWait = 30 * time.Second
	// MaxRuns bounds -runs.
	MaxRuns = 10000
)

// epoch is the virtual day's start: fixed, so runs are reproducible.
var epoch = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

// Run simulates the scenario Runs times for each policy and returns one
// Report per policy, in order.
func Run(ctx context.Context, o Options) ([]report.Report, error) {
	if o.Scenario == nil || o.NewService == nil || len(o.Policies) == 0 {
		return nil, errors.New("simulate: Scenario, NewService and Policies are required")
	}
	if o.Runs <= 0 {
		o.Runs = 1
	}
	if o.Runs > MaxRuns {
		return nil, fmt.Errorf("simulate: at most %d runs", MaxRuns)
	}
	if o.MaxCallbacksPerInstant <= 0 {
		o.MaxCallbacksPerInstant = MaxCallbacksPerInstant
	}
	if len(o.ServiceLevels) == 0 {
		o.ServiceLevels = []int{20}
	}
	if !o.SeedSet {
		o.Seed = o.Scenario.Seed
	}
	// One loopback listener serves the REST API of every run's emulator,
	// each request routed by the reservation or task SID in its path (the
	// service is started once per policy, and runs go in parallel).
	reg := &registry{bySid: map[string]*run{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("simulate: listen for the emulator: %w", err)
	}
	srv := &http.Server{Handler: reg, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	env := Env{AccountSid: accountSid, AuthToken: authToken, APIBase: "http://" + ln.Addr().String(),
		Decided: func(d Decision) {
			if r := reg.lookup(d.ReservationSid); r != nil {
				r.decided(d)
			}
		}}
	parallel := o.Parallel
	if parallel <= 0 {
		parallel = runtime.GOMAXPROCS(0)
	}
	parallel = min(parallel, o.Runs)
	results := make([][]*measure, len(o.Policies))
	prog := &progress{f: o.Progress, done: make([]float64, len(o.Policies)*o.Runs)}
	for pi, pol := range o.Policies {
		svc, err := o.NewService(ctx, pol, env)
		if err != nil {
			return nil, fmt.Errorf("simulate: start the service with %s: %w", pol, err)
		}
		results[pi], err = runAll(ctx, o, pi, parallel, svc.CallbackURL, reg, func(ri int, f float64) { prog.set(pi*o.Runs+ri, f) })
		if cerr := svc.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("stop the service: %w", cerr)
		}
		if err != nil {
			return nil, fmt.Errorf("simulate: %s, %w", pol, err)
		}
	}
	if o.Progress != nil {
		o.Progress(1)
	}
	return reports(o, results), nil
}

// runAll runs one policy's replications, parallel at a time; a failing run
// stops the others.
func runAll(ctx context.Context, o Options, pi, parallel int, callbackURL string, reg *registry, progress func(int, float64)) ([]*measure, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	out := make([]*measure, o.Runs)
	next := make(chan int, o.Runs)
	for i := range o.Runs {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ri := range next {
				if ctx.Err() != nil {
					return
				}
				m, err := oneRun(ctx, o, ri, callbackURL, reg, func(f float64) { progress(ri, f) })
				if err != nil {
					once.Do(func() { first = fmt.Errorf("run %d: %w", ri+1, err) })
					cancel(err)
					return
				}
				out[ri] = m
				if o.RunDone != nil {
					o.RunDone(RunFigures{Policy: pi, Run: ri, Center: m.center, Tasks: m.drawn})
				}
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return nil, first
	}
	return out, context.Cause(ctx)
}

func oneRun(ctx context.Context, o Options, ri int, callbackURL string, reg *registry, progress func(float64)) (*measure, error) {
	r, err := newRun(o, ri, callbackURL)
	if err != nil {
		return nil, err
	}
	r.reg = reg
	defer reg.forget(r)
	defer r.emu.Close()
	if o.Progress != nil {
		r.progress = progress
	}
	m, err := r.day(ctx, ri == 0)
	if err != nil {
		return nil, err
	}
	if ri == 0 && r.statsLost && o.Warn != nil {
		o.Warn("the emulator's statistics log overflowed: cumulative_statistics cover only the day's end")
	}
	return m, nil
}

// progress sums the runs' shares done.
type progress struct {
	mu   sync.Mutex
	f    func(float64)
	done []float64
}

func (p *progress) set(i int, f float64) {
	if p.f == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done[i] = f
	sum := 0.0
	for _, d := range p.done {
		sum += d
	}
	p.f(sum / float64(len(p.done)))
}

// registry finds a run by a reservation or task SID of its emulator: the
// service's REST calls and decisions name them.
type registry struct {
	mu    sync.Mutex
	bySid map[string]*run
}

func (g *registry) add(r *run, sids ...string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, s := range sids {
		g.bySid[s] = r
	}
}

func (g *registry) lookup(sid string) *run {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.bySid[sid]
}

func (g *registry) forget(r *run) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for s, x := range g.bySid {
		if x == r {
			delete(g.bySid, s)
		}
	}
}

// ServeHTTP routes a REST request to the emulator of the run whose
// reservation or task its path names.
func (g *registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	for _, seg := range strings.Split(req.URL.Path, "/") {
		if strings.HasPrefix(seg, "WR") || strings.HasPrefix(seg, "WT") {
			if r := g.lookup(seg); r != nil {
				r.emu.ServeHTTP(w, req)
				return
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusNotFound)
	_, _ = w.Write([]byte(`{"code":20404,"message":"The requested resource was not found (no simulated run holds it)","status":404}`))
}

// run is one replication's state; the event and callback observers fill
// the inbox under mu, the driver drains it.
type run struct {
	o        Options
	s        *Scenario
	idx      int
	clock    *emulator.ManualClock
	emu      *emulator.Emulator
	ws       string
	sids     emulator.Loaded
	progress func(float64)
	reg      *registry

	mu        sync.Mutex
	inbox     []emulator.Event
	poke      chan struct{} // an event or callback arrived
	asyncOpen map[string]bool
	resolved  map[string]bool // reservations no longer pending
	failed    int
	lastFail  string
	decisions map[string]Decision
	answered  int // callbacks answered 200

	streams   []*stream
	tasks     map[string]*taskRec
	order     []*taskRec        // tasks in creation order: sums in a fixed order
	resTask   map[string]string // reservation → task
	workers   map[string]*agent // by SID
	queue     eventQueue
	instant   time.Duration // the virtual instant calls counts reservations at (mu)
	calls     int
	stop      func(error) // ends the day (mu)
	statsLost bool
}

func newRun(o Options, idx int, callbackURL string) (*run, error) {
	r := &run{o: o, s: o.Scenario, idx: idx, clock: emulator.NewManualClock(epoch), poke: make(chan struct{}, 1),
		asyncOpen: map[string]bool{}, resolved: map[string]bool{}, decisions: map[string]Decision{}, tasks: map[string]*taskRec{},
		resTask: map[string]string{}, workers: map[string]*agent{}}
	// MaxReservationAttempts well above the reject-loop guard: the guard,
	// which names the loop, stops a rejecting policy rather than the
	// emulator silently canceling its tasks.
	emu, err := emulator.New(emulator.Options{AccountSid: accountSid, AuthToken: authToken, Clock: r.clock,
		MaxReservationAttempts: MaxCallbacksPerInstant * 10, OnEvent: r.onEvent, OnCallback: r.onCallback})
	if err != nil {
		return nil, fmt.Errorf("simulate: %w", err)
	}
	r.emu = emu
	if r.sids, err = emu.Load(r.s.spec(callbackURL)); err != nil {
		emu.Close()
		return nil, fmt.Errorf("simulate: load the workspace: %w", err)
	}
	r.ws = r.sids.Workspace
	return r, nil
}

func (r *run) onEvent(ev emulator.Event) {
	r.mu.Lock()
	r.inbox = append(r.inbox, ev)
	if ev.Type == "reservation.created" {
		if r.reg != nil {
			r.reg.add(r, ev.ResourceSid, ev.Data.Get("TaskSid"))
		}
		// A policy rejecting everything has the emulator offer the task
		// again at once, forever, without the clock moving.
		if at := ev.Date.Sub(epoch); at != r.instant {
			r.instant, r.calls = at, 0
		}
		if r.calls++; r.calls == r.o.MaxCallbacksPerInstant+1 && r.stop != nil {
			r.stop(fmt.Errorf("stopped: more than %d assignment callbacks at %s of the day without the clock moving "+
				"(a reject loop: does the policy reject every reservation?)", r.o.MaxCallbacksPerInstant, clockTime(r.instant)))
		}
	}
	switch ev.Type {
	case "reservation.accepted", "reservation.rejected", "reservation.timeout", "reservation.canceled",
		"reservation.rescinded":
		delete(r.asyncOpen, ev.ResourceSid)
		r.resolved[ev.ResourceSid] = true
	}
	r.mu.Unlock()
	r.nudge()
}

func (r *run) onCallback(a emulator.CallbackAttempt) {
	r.mu.Lock()
	switch {
	case a.Err != "":
		r.failed++
		r.lastFail = a.Err
	case a.Status == http.StatusOK:
		r.answered++
		if isEmptyAnswer(a.Body) && !r.resolved[a.ReservationSid] {
			// {}: the decision comes back over REST (async) while the
			// clock stands still. (It may have come back already: the
			// attempt is reported after its answer was carried out.)
			r.asyncOpen[a.ReservationSid] = true
		}
	}
	r.mu.Unlock()
	r.nudge()
}

func (r *run) decided(d Decision) {
	r.mu.Lock()
	r.decisions[d.ReservationSid] = d
	r.mu.Unlock()
	r.nudge()
}

func (r *run) nudge() {
	select {
	case r.poke <- struct{}{}:
	default:
	}
}

func isEmptyAnswer(b string) bool {
	for _, c := range b {
		switch c {
		case '{', '}', ' ', '\n', '\r', '\t':
		default:
			return false
		}
	}
	return b != ""
}
