package emulator

import (
	"time"

	"github.com/assignd/assignd/taskrouter"
)

// This file is the system's deletion of finished tasks. Twilio deletes a
// canceled task "five minutes after moving into this state" (Lifecycle of a
// Task: Task state), and a completed one likewise; without it the tasks
// table, and every scan of it (real-time statistics, channel deletion),
// would grow for as long as the emulator runs.

// finishedTaskRetention is how long a completed or canceled task stays.
const finishedTaskRetention = 5 * time.Minute

// eventTaskSystemDeleted is the event of that deletion, as Twilio names it.
const eventTaskSystemDeleted = "task.system-deleted"

// retainFinished arms the system deletion of the task a task.canceled or
// task.completed event is about. It runs inside emit, with e.mu held.
func (e *Emulator) retainFinished(ws *workspace, typ string, subject any) {
	t, ok := subject.(*task)
	if !ok || (typ != taskrouter.EventTaskCanceled && typ != taskrouter.EventTaskCompleted) {
		return
	}
	e.after(ws, finishedTaskRetention, func(ws *workspace) {
		if ws.tasks.get(t.sid) == t && t.final() {
			e.systemDelete(ws, t)
		}
	})
}

// systemDelete removes finished task t and its reservations (all ended),
// announcing it with task.system-deleted. Unlike a DELETE it is no
// statistic's tasks_deleted: the task's outcome was already counted.
func (e *Emulator) systemDelete(ws *workspace, t *task) {
	for _, r := range ws.reservations.all() {
		if r.task == t.sid {
			ws.reservations.del(r.sid)
		}
	}
	e.emit(ws, eventTaskSystemDeleted, "Task "+t.sid+" deleted by the system", t, nil)
	ws.tasks.del(t.sid)
}
