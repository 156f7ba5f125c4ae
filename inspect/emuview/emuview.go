// Package emuview shows a running emulator on the inspector page: it adapts
// one workspace of an *emulator.Emulator to inspect.Emulator, so `assignd
// dev` can pass it in inspect.Options. It is the inspector's adapter, so it
// lives under inspect; inspect itself imports no emulator, and the emulator,
// a library on its own, imports nothing of the service.
package emuview

import (
	"context"
	"fmt"
	"time"

	"github.com/assignd/assignd/emulator"
	"github.com/assignd/assignd/inspect"
)

// View is one emulator workspace as the inspector sees it.
type View struct {
	emu       *emulator.Emulator
	workspace string
}

var _ inspect.Emulator = (*View)(nil)

// New returns the inspector's view of the workspace workspaceSid (as
// emulator.Loaded.Workspace names it) of e.
func New(e *emulator.Emulator, workspaceSid string) *View {
	return &View{emu: e, workspace: workspaceSid}
}

// State reads the workspace through the emulator's inspection API, in one
// consistent snapshot.
func (v *View) State(ctx context.Context) (inspect.EmulatorState, error) {
	if err := ctx.Err(); err != nil {
		return inspect.EmulatorState{}, fmt.Errorf("emulator state: %w", err)
	}
	ws, ok := v.emu.Workspace(v.workspace)
	if !ok {
		return inspect.EmulatorState{}, fmt.Errorf("emulator state: no workspace %s (deleted over the REST API?)", v.workspace)
	}
	st := inspect.EmulatorState{
		Workspace:    ws.Name,
		Activities:   make([]inspect.EmulatorActivity, 0, len(ws.Activities)),
		Workers:      make([]inspect.EmulatorWorker, 0, len(ws.Workers)),
		Tasks:        make([]inspect.EmulatorTask, 0, len(ws.Tasks)),
		Reservations: make([]inspect.EmulatorReservation, 0, len(ws.Reservations)),
	}
	for _, a := range ws.Activities {
		st.Activities = append(st.Activities, inspect.EmulatorActivity{Sid: a.Sid, Name: a.Name, Available: a.Available})
	}
	names := make(map[string]string, len(ws.Workers))
	for _, w := range ws.Workers {
		names[w.Sid] = w.Name
		st.Workers = append(st.Workers, inspect.EmulatorWorker{Sid: w.Sid, Name: w.Name, ActivitySid: w.ActivitySid,
			ActivityName: w.ActivityName, Attributes: w.Attributes, Available: w.Available})
	}
	// Newest first, like the callbacks above them on the page.
	for i := len(ws.Tasks) - 1; i >= 0; i-- {
		t := ws.Tasks[i]
		st.Tasks = append(st.Tasks, inspect.EmulatorTask{Sid: t.Sid, Status: t.Status, Queue: t.Queue,
			Attributes: t.Attributes, Age: int(ws.Now.Sub(t.Created) / time.Second)})
	}
	for i := len(ws.Reservations) - 1; i >= 0; i-- {
		r := ws.Reservations[i]
		st.Reservations = append(st.Reservations, inspect.EmulatorReservation{Sid: r.Sid, TaskSid: r.TaskSid,
			WorkerSid: r.WorkerSid, WorkerName: names[r.WorkerSid], Status: r.Status, Instruction: r.Instruction})
	}
	return st, nil
}

// SetWorkerActivity moves the worker as a REST client's
// POST …/Workers/{workerSid} ActivitySid=… would: events, routing and any
// scripted faults follow.
func (v *View) SetWorkerActivity(ctx context.Context, workerSid, activitySid string) error {
	return v.emu.SetWorkerActivity(ctx, v.workspace, workerSid, activitySid)
}
