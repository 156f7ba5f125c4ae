package emulator

import (
	"sort"
	"time"

	"github.com/assignd/assignd/taskrouter"
)

// This file is the statistics log: one compact record per event that a
// cumulative statistic counts, appended from emit (events.go), which every
// event passes through. The Events API's table is trimmed to
// Options.History, far too short for a day of statistics, so the figures
// keep their own log, bounded by statsRetention and statsLogCap.

// statsRetention is how far back statistics reach: Twilio keeps 30 days
// ("Historical statistics allow you to analyze data from the past 30
// days", the statistics pages); older records are not counted.
const statsRetention = 30 * 24 * time.Hour

// statsLogCap bounds the records kept per workspace (about 180 bytes each,
// so at most some 90 MB) whatever the rate: a long run at full speed keeps
// its latest records, about a simulated day of 80,000 tasks.
const statsLogCap = 500_000

// statKind is what a record counts.
type statKind uint8

const (
	statTaskCreated statKind = iota
	statTaskCanceled
	statTaskCompleted
	statTaskDeleted
	statTaskEntered // entered a queue
	statTaskMoved   // moved out of a queue (queue is the one it left)
	statTaskTimedOutInWorkflow
	statTaskEnteredWorkflow // workflow.entered: a task routed through its workflow's filters
	statResCreated
	statResAccepted
	statResRejected
	statResTimedOut
	statResCanceled
	statResRescinded
	statWorkerActivity // a worker created in, or moved to, activity
	statWorkerGone     // a worker deleted: its last activity span ends
)

// statRec is one record of the log: when, what, and the SIDs and waits the
// figures are filtered and measured by.
type statRec struct {
	at                                     time.Time
	kind                                   statKind
	task, queue, workflow, worker, channel string
	activity, from                         string        // statWorkerActivity: the activity entered, and the one left
	wait, inQueue                          time.Duration // the task's age, and time in its queue, at that moment
}

// statsLog is a workspace's records in time order (add keeps them so even
// if the clock goes back), so a window is found by binary search. Once it holds statsLogCap
// records it is a ring: each record overwrites the oldest, so recording
// never copies what is kept.
type statsLog struct {
	ring []statRec
	head int  // the oldest record's index, once the ring is full
	lost bool // a record has been overwritten (StatisticsLost)
}

// add appends rec, over the oldest record once the log is full. A record
// dated before the newest one (a wall clock stepped back) takes the newest
// one's time: window's binary search needs the records in time order.
func (l *statsLog) add(rec statRec) {
	if n := len(l.ring); n > 0 && rec.at.Before(l.rec(n-1).at) {
		rec.at = l.rec(n - 1).at
	}
	if len(l.ring) < statsLogCap {
		l.ring = append(l.ring, rec)
		return
	}
	l.ring[l.head] = rec
	l.lost = true
	l.head = (l.head + 1) % len(l.ring)
}

// rec is the i-th record, oldest first.
func (l *statsLog) rec(i int) *statRec { return &l.ring[(l.head+i)%len(l.ring)] }

// from is the index of the first record at or after t.
func (l *statsLog) from(t time.Time) int {
	return sort.Search(len(l.ring), func(i int) bool { return !l.rec(i).at.Before(t) })
}

// window is the records from start to end, both included, leaving out
// those past retention at now: Twilio keeps 30 days, so a window reaching
// further back finds nothing there.
func (l *statsLog) window(start, end, now time.Time) span {
	if floor := now.Add(-statsRetention); start.Before(floor) {
		start = floor
	}
	i := l.from(start)
	j := sort.Search(len(l.ring), func(k int) bool { return l.rec(k).at.After(end) })
	return span{l, i, max(i, j)}
}

// span is records i to j (excluded) of a log.
type span struct {
	l    *statsLog
	i, j int
}

func (s span) each(f func(*statRec)) {
	for k := s.i; k < s.j; k++ {
		f(s.l.rec(k))
	}
}

// recordStat turns an event into its statistics record, if it is one a
// figure counts. It runs inside emit, with e.mu held.
func (e *Emulator) recordStat(ws *workspace, ev *event, subject any) {
	kind, ok := statKindOf(ev.typ)
	if !ok {
		return
	}
	rec := statRec{at: ev.date, kind: kind}
	switch s := subject.(type) {
	case *task:
		rec.taskFields(s)
		if kind == statTaskMoved {
			rec.queue = ev.data.Get("TaskQueueSidPrevious")
		}
	case *reservation:
		if t := ws.tasks.get(s.task); t != nil {
			rec.taskFields(t)
		}
		rec.task, rec.queue, rec.workflow, rec.worker = s.task, s.queue, s.workflow, s.worker
	case *worker:
		rec.worker, rec.activity, rec.from = s.sid, s.activity, ev.data.Get("WorkerPreviousActivitySid")
	default:
		return
	}
	ws.stats.add(rec)
}

// taskFields fills what a record says about task t now.
func (rec *statRec) taskFields(t *task) {
	rec.task, rec.queue, rec.workflow, rec.channel = t.sid, t.queue, t.workflow, t.channel
	rec.wait = rec.at.Sub(t.created)
	if !t.queueEntered.IsZero() {
		rec.inQueue = rec.at.Sub(t.queueEntered)
	}
}

// statKindOf is the record an event type makes, if any.
func statKindOf(typ string) (statKind, bool) {
	switch typ {
	case taskrouter.EventTaskCreated:
		return statTaskCreated, true
	case taskrouter.EventTaskCanceled:
		return statTaskCanceled, true
	case taskrouter.EventTaskCompleted:
		return statTaskCompleted, true
	case taskrouter.EventTaskDeleted:
		return statTaskDeleted, true
	case taskrouter.EventTaskQueueEntered:
		return statTaskEntered, true
	case taskrouter.EventTaskQueueMoved:
		return statTaskMoved, true
	case taskrouter.EventWorkflowTimeout: // tasks_timed_out_in_workflow
		return statTaskTimedOutInWorkflow, true
	case taskrouter.EventWorkflowEntered: // a workflow's tasks_entered
		return statTaskEnteredWorkflow, true
	case taskrouter.EventReservationCreated:
		return statResCreated, true
	case taskrouter.EventReservationAccepted:
		return statResAccepted, true
	case taskrouter.ReservationEvent(resRejected):
		return statResRejected, true
	case taskrouter.ReservationEvent(resTimeout):
		return statResTimedOut, true
	case taskrouter.ReservationEvent(resCanceled):
		return statResCanceled, true
	case taskrouter.ReservationEvent(resRescinded):
		return statResRescinded, true
	case taskrouter.EventWorkerCreated, taskrouter.EventWorkerActivity:
		return statWorkerActivity, true
	case taskrouter.EventWorkerDeleted:
		return statWorkerGone, true
	}
	return 0, false
}
