package emulator

import (
	"context"
	"net/url"
	"time"
)

// This file is what a driver of virtual time (`assignd simulate`) needs to
// follow the emulator without polling its REST API: every event and every
// assignment callback attempt as it happens (Options.OnEvent,
// Options.OnCallback), a way to wait until no callback is in flight
// (Quiet), and whether the statistics log lost records (StatisticsLost).

// Event is one event as the Events API and the event callback carry it.
type Event struct {
	Sid          string
	WorkspaceSid string
	Type         string // "reservation.accepted", …
	ResourceSid  string
	Date         time.Time // on the emulator's Clock
	// Data is the resource's fields by their event callback names
	// (TaskSid, TaskQueueSid, ReservationSid, WorkerSid, TaskAttributes, …).
	// The observer owns it.
	Data url.Values
}

// observeEventLocked hands ev to Options.OnEvent, if set.
func (e *Emulator) observeEventLocked(ws *workspace, ev *event) {
	if e.opt.OnEvent == nil {
		return
	}
	data := make(url.Values, len(ev.data))
	for k, v := range ev.data {
		data[k] = v
	}
	e.opt.OnEvent(Event{Sid: ev.sid, WorkspaceSid: ws.sid, Type: ev.typ, ResourceSid: ev.rsid, Date: ev.date, Data: data})
}

// callbackStarted and callbackDone count the assignment callbacks in
// flight, for Quiet.
func (e *Emulator) callbackStartedLocked() {
	if e.inflight == 0 {
		e.quiet = make(chan struct{})
	}
	e.inflight++
}

func (e *Emulator) callbackDone() {
	e.mu.Lock()
	e.inflight--
	if e.inflight == 0 {
		close(e.quiet)
	}
	e.mu.Unlock()
}

// Quiet waits until no assignment callback is in flight: every callback
// posted has been answered (or has failed) and its answer carried out,
// including the routing that answer set off and the callbacks that routing
// posted in turn. With a ManualClock nothing else moves on its own, so
// after Quiet the emulator's state changes only by a REST request or by
// advancing the clock: a virtual-time driver can then advance
// deterministically. Work outside the emulator (a service applying an
// async decision over REST) is not seen here.
func (e *Emulator) Quiet(ctx context.Context) error {
	for {
		e.mu.Lock()
		if e.inflight == 0 {
			e.mu.Unlock()
			return nil
		}
		ch := e.quiet
		e.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// StatisticsLost reports whether the statistics log of the workspace has
// overwritten records (more than statsLogCap since it was created), so its
// cumulative statistics over the whole run are incomplete.
func (e *Emulator) StatisticsLost(workspaceSid string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	ws := e.workspaces.get(workspaceSid)
	return ws != nil && ws.stats.lost
}
