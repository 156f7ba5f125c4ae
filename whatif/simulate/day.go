package simulate

import (
	"container/heap"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"

	"github.com/assignd/assignd/emulator"
)

// What the driver schedules itself, beside the emulator's own timers.
const (
	kArrival = iota
	kHandleEnd
	kWrapEnd
	kPatience
	kShiftStart
	kShiftEnd
	kBack // back to work after a reject made the agent unavailable
)

type item struct {
	at     time.Duration // since the day's start
	seq    int
	kind   int
	sid    string // task or worker
	stream int
}

// eventQueue is a min-heap by time, then by the order things were
// scheduled, so equal times are taken in a reproducible order.
type eventQueue struct {
	items []item
	seq   int
}

func (q *eventQueue) Len() int { return len(q.items) }
func (q *eventQueue) Less(i, j int) bool {
	a, b := q.items[i], q.items[j]
	return a.at < b.at || a.at == b.at && a.seq < b.seq
}
func (q *eventQueue) Swap(i, j int) { q.items[i], q.items[j] = q.items[j], q.items[i] }
func (q *eventQueue) Push(x any)    { q.items = append(q.items, x.(item)) }
func (q *eventQueue) Pop() any {
	it := q.items[len(q.items)-1]
	q.items = q.items[:len(q.items)-1]
	return it
}

func (r *run) schedule(it item) {
	r.queue.seq++
	it.seq = r.queue.seq
	heap.Push(&r.queue, it)
}

// stream is one arrival stream's state: two random streams, one for the
// arrival times and one for each task's own draws, so that two policies
// (whose routing differs) see the same tasks at the same times.
type stream struct {
	a            Arrival
	arrive, draw *rand.Rand
	workflow     string
	attrs        string
}

// taskRec is one task as the driver follows it; times since the day's start.
type taskRec struct {
	sid                string
	stream             int
	queue              string
	created            time.Duration
	answered, ended    time.Duration // -1 until then
	abandoned, closed  bool
	handle, wrap, pat  time.Duration
	worker             string
	rejected, timedOut int
}

// agent is one scenario worker.
type agent struct {
	sid      string
	group    int
	task     string // the task held, "" when free
	onShift  bool
	offAfter bool // the shift ended while busy: off once free
	away     bool // a reject made them unavailable; back at kBack, if after_reject.back_after
	// activity is the one the emulator last said they are in.
	activity string
	// rejected: a reservation.rejected of theirs was the last event about
	// them, so the activity move that follows it is the reject's (the
	// emulator moves the worker after emitting the reject). Any other move
	// (Busy on an offer or accept, the timeout activity, the driver's own)
	// says nothing of a reject.
	rejected bool
}

// day runs the virtual day and measures it.
func (r *run) day(ctx context.Context, first bool) (*measure, error) {
	// A reject loop never lets the emulator fall quiet: onEvent ends the
	// run's context instead.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	r.mu.Lock()
	r.stop = cancel
	r.mu.Unlock()
	if err := r.setUp(); err != nil {
		return nil, err
	}
	end := r.s.Duration
	shown := -1.0
	for {
		if err := context.Cause(ctx); err != nil {
			return nil, err
		}
		if err := r.settle(ctx); err != nil {
			return nil, err
		}
		now := r.now()
		if r.progress != nil && now.Seconds()/end.Seconds()-shown >= 0.01 {
			shown = now.Seconds() / end.Seconds()
			r.progress(min(shown, 1))
		}
		if r.queue.Len() > 0 && r.queue.items[0].at <= now {
			if err := r.handle(heap.Pop(&r.queue).(item)); err != nil {
				return nil, err
			}
			continue
		}
		next, ok := end, false
		if r.queue.Len() > 0 {
			next, ok = r.queue.items[0].at, true
		}
		if at, tok := r.clock.Next(); tok && (!ok || at.Sub(epoch) < next) {
			next, ok = max(at.Sub(epoch), now), true
		}
		if !ok || next > end {
			break
		}
		r.clock.Advance(next - now)
	}
	if now := r.now(); now < end {
		r.clock.Advance(end - now)
	}
	if err := r.settle(ctx); err != nil {
		return nil, err
	}
	r.awaitDecisions()
	m := r.measure(first)
	if first {
		r.statsLost = r.emu.StatisticsLost(r.ws)
	}
	return m, nil
}

func (r *run) now() time.Duration { return r.clock.Now().Sub(epoch) }

// clockTime is a time of the day as hh:mm:ss.
func clockTime(d time.Duration) string {
	s := int(d / time.Second)
	return fmt.Sprintf("%02d:%02d:%02d", s/3600, s/60%60, s%60)
}

// setUp seeds the streams and schedules the first arrivals and the shifts.
func (r *run) setUp() error {
	seed := uint64(r.o.Seed)
	for i, a := range r.s.Arrivals {
		attrs, err := json.Marshal(jsonable(a.Attributes))
		if err != nil {
			return fmt.Errorf("arrivals %q: attributes: %w", a.Name, err)
		}
		if a.Attributes == nil {
			attrs = []byte("{}")
		}
		wf := r.s.Workspace.Workflows[0].Name
		if a.Workflow != "" {
			wf = a.Workflow
		}
		key := uint64(r.idx)<<32 | uint64(i)<<1
		st := &stream{a: a, arrive: rand.New(rand.NewPCG(seed, key)), draw: rand.New(rand.NewPCG(seed, key|1)),
			workflow: r.sids.Workflows[wf], attrs: string(attrs)}
		r.streams = append(r.streams, st)
		if at, ok := st.next(0, r.s.Duration); ok {
			r.schedule(item{at: at, kind: kArrival, stream: i})
		}
	}
	for gi, g := range r.s.Workers {
		for i := 0; i < g.Count; i++ {
			sid := r.sids.Workers[workerName(g, i)]
			ag := &agent{sid: sid, group: gi, onShift: g.Start == 0, activity: g.Activity}
			if !ag.onShift {
				ag.activity = r.s.offline()
			}
			r.workers[sid] = ag
			if g.Start > 0 && g.Start < r.s.Duration {
				r.schedule(item{at: g.Start, kind: kShiftStart, sid: sid})
			}
			if g.End < r.s.Duration {
				r.schedule(item{at: g.End, kind: kShiftEnd, sid: sid})
			}
		}
	}
	return nil
}

// jsonable turns YAML's map[any]any (if any) into JSON's shapes.
func jsonable(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = jsonable(x)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[fmt.Sprint(k)] = jsonable(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = jsonable(x)
		}
		return out
	}
	return v
}

// next is the stream's next arrival after from (Poisson with the hour's
// rate: the exponential hazard is spent hour by hour), if before end.
func (st *stream) next(from, end time.Duration) (time.Duration, bool) {
	hazard := st.arrive.ExpFloat64()
	t := from.Hours()
	for t < end.Hours() {
		h := int(math.Floor(t))
		rate := st.a.RatePerHour[min(h, len(st.a.RatePerHour)-1)]
		hourEnd := float64(h + 1)
		if rate > 0 {
			if need := hazard / rate; t+need <= hourEnd {
				at := time.Duration((t + need) * float64(time.Hour))
				return at, at < end
			}
			hazard -= rate * (hourEnd - t)
		}
		t = hourEnd
	}
	return 0, false
}

// sample draws a duration from d.
func sample(rng *rand.Rand, d Dist) time.Duration {
	m := d.Mean.Seconds()
	var s float64
	switch d.Kind {
	case "fixed":
		s = m
	case "lognormal":
		sd := d.SD.Seconds()
		sigma2 := math.Log(1 + sd*sd/(m*m))
		s = math.Exp(math.Log(m) - sigma2/2 + math.Sqrt(sigma2)*rng.NormFloat64())
	default:
		s = m * rng.ExpFloat64()
	}
	return time.Duration(s * float64(time.Second))
}

// settle waits until the emulator is quiet and every async decision has
// come back, handling the events meanwhile.
func (r *run) settle(ctx context.Context) error {
	var deadline time.Time
	for {
		if err := r.emu.Quiet(ctx); err != nil {
			return err
		}
		r.mu.Lock()
		evs := r.inbox
		r.inbox = nil
		open, failed, last := len(r.asyncOpen), r.failed, r.lastFail
		r.mu.Unlock()
		if failed >= MaxFailedCallbacks {
			return fmt.Errorf("stopped: %d assignment callbacks failed; the last: %s", failed, last)
		}
		for _, ev := range evs {
			if err := r.onEmulatorEvent(ev); err != nil {
				return err
			}
		}
		if len(evs) > 0 {
			continue
		}
		if open == 0 {
			return nil
		}
		// An async decision is on its way over REST: wait, in wall time,
		// for it (or anything else) to arrive.
		if deadline.IsZero() {
			deadline = time.Now().Add(asyncWait)
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return fmt.Errorf("stopped: an async decision was not applied over REST within %v (wall clock)", asyncWait)
		}
		t := time.NewTimer(wait)
		select {
		case <-r.poke:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		t.Stop()
	}
}

// awaitDecisions gives the service's record of the last decisions a moment
// to arrive: it may be made just after the answer was written. A service
// that reports none (Env.Decided never called) is not waited for.
func (r *run) awaitDecisions() {
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		done := len(r.decisions) == 0 || len(r.decisions) >= r.answered
		r.mu.Unlock()
		if done {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// onEmulatorEvent follows the tasks and agents from the emulator's events.
func (r *run) onEmulatorEvent(ev emulator.Event) error {
	at := ev.Date.Sub(epoch)
	switch ev.Type {
	case "reservation.created":
		r.resTask[ev.ResourceSid] = ev.Data.Get("TaskSid")
		if ag := r.workers[ev.Data.Get("WorkerSid")]; ag != nil {
			ag.rejected = false
		}
	case "task-queue.entered":
		if t := r.tasks[ev.Data.Get("TaskSid")]; t != nil {
			t.queue = ev.Data.Get("TaskQueueName")
		}
	case "reservation.accepted":
		t, ag := r.tasks[ev.Data.Get("TaskSid")], r.workers[ev.Data.Get("WorkerSid")]
		if t == nil || ag == nil {
			return nil
		}
		if q := ev.Data.Get("TaskQueueName"); q != "" {
			t.queue = q
		}
		t.answered, t.worker, ag.task, ag.rejected = at, ag.sid, t.sid, false
		r.schedule(item{at: at + r.s.AnswerTime + t.handle, kind: kHandleEnd, sid: t.sid})
	case "reservation.rejected":
		if t := r.tasks[ev.Data.Get("TaskSid")]; t != nil {
			t.rejected++
		}
		if ag := r.workers[ev.Data.Get("WorkerSid")]; ag != nil {
			ag.rejected = true
		}
	case "reservation.timeout":
		if t := r.tasks[ev.Data.Get("TaskSid")]; t != nil {
			t.timedOut++
		}
		// TaskRouter moved the agent to the timeout activity; a simulated
		// agent notices and comes back at once.
		if ag := r.workers[ev.Data.Get("WorkerSid")]; ag != nil && ag.onShift && !ag.offAfter {
			ag.rejected = false
			return r.setActivity(ag, r.s.Workers[ag.group].Activity)
		}
	case "worker.activity.update":
		// Only the move right after the agent's reject is the reject's:
		// the agent goes where the policy said; one it made unavailable
		// comes back after back_after (never, without it: complete() does
		// not put them back either).
		ag := r.workers[ev.ResourceSid]
		if ag == nil {
			return nil
		}
		name, byReject := ev.Data.Get("WorkerActivityName"), ag.rejected
		ag.activity, ag.rejected = name, false
		if byReject && ag.onShift && !ag.away && !r.availableActivity(name) {
			ag.away = true
			if back := r.s.AfterReject.BackAfter; back > 0 {
				r.schedule(item{at: at + back, kind: kBack, sid: ag.sid})
			}
		}
	case "task.canceled", "task.completed", "task.deleted":
		if t := r.tasks[ev.ResourceSid]; t != nil {
			t.closed = true
		}
	}
	return nil
}

// handle carries out one of the driver's own events.
func (r *run) handle(it item) error {
	switch it.kind {
	case kArrival:
		return r.arrive(it.stream, it.at)
	case kHandleEnd:
		t := r.tasks[it.sid]
		if t.wrap > 0 {
			if err := r.updateTask(t.sid, url.Values{"AssignmentStatus": {"wrapping"}}); err != nil {
				return err
			}
			r.schedule(item{at: it.at + t.wrap, kind: kWrapEnd, sid: t.sid})
			return nil
		}
		return r.complete(t, it.at)
	case kWrapEnd:
		return r.complete(r.tasks[it.sid], it.at)
	case kPatience:
		t := r.tasks[it.sid]
		if t.answered >= 0 || t.closed {
			return nil
		}
		if err := r.updateTask(t.sid, url.Values{"AssignmentStatus": {"canceled"}, "Reason": {"abandoned"}}); err != nil {
			return err
		}
		t.abandoned, t.closed, t.ended = true, true, it.at
	case kShiftStart:
		ag := r.workers[it.sid]
		ag.onShift = true
		return r.setActivity(ag, r.s.Workers[ag.group].Activity)
	case kShiftEnd:
		ag := r.workers[it.sid]
		ag.onShift = false
		if ag.task != "" {
			ag.offAfter = true
			return nil
		}
		return r.setActivity(ag, r.s.offline())
	case kBack:
		ag := r.workers[it.sid]
		ag.away = false
		if ag.onShift {
			return r.setActivity(ag, r.s.Workers[ag.group].Activity)
		}
	}
	return nil
}

// arrive creates a task of stream i over the REST API.
func (r *run) arrive(i int, at time.Duration) error {
	st := r.streams[i]
	form := url.Values{"WorkflowSid": {st.workflow}, "Attributes": {st.attrs}}
	if st.a.TaskChannel != "" {
		form.Set("TaskChannel", st.a.TaskChannel)
	}
	if st.a.Priority != nil {
		form.Set("Priority", fmt.Sprint(*st.a.Priority))
	}
	// The task's own draws, in a fixed order, before anything depends on
	// routing.
	t := &taskRec{stream: i, created: at, answered: -1, ended: -1, wrap: st.a.WrapUp}
	t.handle = sample(st.draw, st.a.HandleTime)
	if st.a.Patience != nil {
		t.pat = sample(st.draw, *st.a.Patience)
	}
	status, body := r.rest(http.MethodPost, "/Tasks", form)
	if status != http.StatusCreated {
		return fmt.Errorf("create a task of stream %q: %d %s", st.a.Name, status, strings.TrimSpace(string(body)))
	}
	var created struct {
		Sid string `json:"sid"`
	}
	if err := json.Unmarshal(body, &created); err != nil || created.Sid == "" {
		return fmt.Errorf("create a task of stream %q: answer without a sid: %s", st.a.Name, body)
	}
	t.sid = created.Sid
	r.tasks[t.sid] = t
	r.order = append(r.order, t)
	if st.a.Patience != nil {
		r.schedule(item{at: at + t.pat, kind: kPatience, sid: t.sid})
	}
	if next, ok := st.next(at, r.s.Duration); ok {
		r.schedule(item{at: next, kind: kArrival, stream: i})
	}
	return nil
}

// complete ends a task's work; its agent is free again: back in their
// group's available activity if the task moved them out of it (a queue's
// assignment_activity), as their softphone would put them.
func (r *run) complete(t *taskRec, at time.Duration) error {
	ag := r.workers[t.worker]
	// An agent whose shift ended while on this task logs off before
	// completing it: TaskRouter offers a worker free and available the next
	// task the moment this one completes.
	if ag != nil && ag.offAfter {
		if err := r.setActivity(ag, r.s.offline()); err != nil {
			return err
		}
	}
	if err := r.updateTask(t.sid, url.Values{"AssignmentStatus": {"completed"}}); err != nil {
		return err
	}
	t.ended = at
	if ag == nil {
		return nil
	}
	ag.task = ""
	if ag.offAfter {
		ag.offAfter = false
		return nil
	}
	if want := r.s.Workers[ag.group].Activity; ag.onShift && !ag.away && ag.activity != want {
		return r.setActivity(ag, want)
	}
	return nil
}

func (r *run) updateTask(sid string, form url.Values) error {
	status, body := r.rest(http.MethodPost, "/Tasks/"+sid, form)
	if status != http.StatusOK {
		return fmt.Errorf("update task %s (%s): %d %s", sid, form.Encode(), status, strings.TrimSpace(string(body)))
	}
	return nil
}

func (r *run) setActivity(ag *agent, activity string) error {
	sid := r.sids.Activities[activity]
	status, body := r.rest(http.MethodPost, "/Workers/"+ag.sid, url.Values{"ActivitySid": {sid}})
	if status != http.StatusOK {
		return fmt.Errorf("move worker %s to %s: %d %s", ag.sid, activity, status, strings.TrimSpace(string(body)))
	}
	return nil
}

// rest serves one REST request of the workspace in process, as the
// account: what the agents' softphones and the caller's hang-up do.
func (r *run) rest(method, path string, form url.Values) (int, []byte) {
	var body *strings.Reader
	target := "http://emulator.invalid/v1/Workspaces/" + r.ws + path
	if method == http.MethodGet {
		target += "?" + form.Encode()
		body = strings.NewReader("")
	} else {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		return 0, []byte(err.Error())
	}
	if method != http.MethodGet {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.SetBasicAuth(accountSid, authToken)
	w := httptest.NewRecorder()
	r.emu.ServeHTTP(w, req)
	return w.Code, w.Body.Bytes()
}

// availableActivity reports whether the workspace's activity of that name
// is an available one.
func (r *run) availableActivity(name string) bool {
	for _, a := range r.s.Workspace.Activities {
		if a.Name == name {
			return a.Available
		}
	}
	return false
}
