package emulator

import (
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/assignd/assignd/taskrouter"
)

// This file is task channels and worker channels: a task's type (voice,
// chat, …) and each worker's capacity for it. Routing reads the counts kept
// here (routing.go, free and eligible); the lifecycle keeps them in step
// (setResStatus → countReservation).

// prefixWorkerChannel is a WorkerChannel's SID prefix, as Twilio's OpenAPI
// description gives it (taskrouter has no use for it outside the emulator).
const prefixWorkerChannel = "WC"

// defaultChannels are the task channels Twilio creates in a new workspace,
// unique name and friendly name (Multitasking: "Voice, SMS, Chat, Video or
// Default").
func defaultChannels() [][2]string {
	return [][2]string{{"default", "Default"}, {"voice", "Voice"}, {"sms", "SMS"}, {"chat", "Chat"}, {"video", "Video"}}
}

// defaultCapacity is a new worker channel's configured_capacity.
const defaultCapacity = 1

type taskChannel struct {
	sid, unique, name string
	created, updated  time.Time
}

// workerChannel is one worker's capacity for one task channel, and the
// reservations of that channel it holds.
type workerChannel struct {
	sid, channel     string // its own SID; the task channel's SID
	capacity         int
	available        bool
	active, assigned int // reservations pending, accepted or wrapping; accepted or wrapping
	created, updated time.Time
}

// spare reports whether the worker channel can take one more reservation.
func (wc *workerChannel) spare() bool { return wc.available && wc.active < wc.capacity }

// addDefaultChannels gives a new workspace Twilio's task channels, with
// stable SIDs (the same ones a loaded workspace has).
func (ws *workspace) addDefaultChannels(now time.Time) {
	for _, d := range defaultChannels() {
		ws.addChannel(&taskChannel{sid: StableSid(prefixChannel, ws.sid, d[0]), unique: d[0], name: d[1], created: now, updated: now})
	}
}

// addChannel adds a task channel, and a worker channel for it to every
// worker.
func (ws *workspace) addChannel(ch *taskChannel) {
	ws.channels.put(ch.sid, ch)
	for _, w := range ws.workers.all() {
		w.addChannel(ch, ch.created)
	}
}

// addChannels gives a new worker one worker channel per task channel.
func (ws *workspace) addChannels(w *worker, now time.Time) {
	for _, ch := range ws.channels.all() {
		w.addChannel(ch, now)
	}
}

func (w *worker) addChannel(ch *taskChannel, now time.Time) {
	if w.chans == nil {
		w.chans = map[string]*workerChannel{}
	}
	wc := &workerChannel{sid: StableSid(prefixWorkerChannel, w.sid, ch.sid), channel: ch.sid,
		capacity: defaultCapacity, available: true, created: now, updated: now}
	w.chans[ch.sid] = wc
	w.chanList = append(w.chanList, wc)
}

func (w *worker) removeChannel(ch string) {
	delete(w.chans, ch)
	w.chanList = slices.DeleteFunc(w.chanList, func(wc *workerChannel) bool { return wc.channel == ch })
}

// channel finds a task channel by SID or unique name, as Twilio accepts
// either wherever a task channel is named.
func (ws *workspace) channel(ref string) *taskChannel {
	if ch := ws.channels.get(ref); ch != nil {
		return ch
	}
	for _, ch := range ws.channels.all() {
		if ch.unique == ref {
			return ch
		}
	}
	return nil
}

// channelName is the unique name of task channel sid ("" once deleted).
func (ws *workspace) channelName(sid string) string {
	if ch := ws.channels.get(sid); ch != nil {
		return ch.unique
	}
	return ""
}

// countReservation keeps the worker's per-channel counts in step with a
// reservation's status change: active (pending, accepted, wrapping) and
// assigned (accepted, wrapping).
func (ws *workspace) countReservation(r *reservation, wasActive, wasAssigned bool) {
	w := ws.workers.get(r.worker)
	if w == nil {
		return
	}
	d := delta(wasActive, r.active())
	w.busy += d
	if wc := w.chans[r.channel]; wc != nil {
		wc.active += d
		wc.assigned += delta(wasAssigned, r.assigned())
	}
}

func delta(was, is bool) int {
	switch {
	case is && !was:
		return 1
	case was && !is:
		return -1
	}
	return 0
}

// The TaskChannels resource.

func (e *Emulator) channelResource() resource[taskChannel] {
	return resource[taskChannel]{key: "channels", rows: func(c *call) *table[taskChannel] { return &c.ws.channels }, render: e.renderChannel}
}

func (e *Emulator) renderChannel(c *call, ch *taskChannel) map[string]any {
	wsURL := c.workspaceURL(c.ws.sid)
	return map[string]any{
		"account_sid": e.opt.AccountSid, "workspace_sid": c.ws.sid, "sid": ch.sid, "unique_name": ch.unique,
		"friendly_name": ch.name, "channel_optimized_routing": false,
		"date_created": twilioTime(ch.created), "date_updated": twilioTime(ch.updated),
		"url": wsURL + "/TaskChannels/" + ch.sid, "links": map[string]any{"workspace": wsURL},
	}
}

func (e *Emulator) listChannels(c *call) (int, any, *apiError) {
	return e.channelResource().list(c, func(*taskChannel) bool { return true })
}

// fetchChannel finds {Sid} by SID or unique name, as Twilio does.
func (e *Emulator) fetchChannel(c *call) (int, any, *apiError) {
	ch, err := e.channelByPath(c)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, e.renderChannel(c, ch), nil
}

func (e *Emulator) channelByPath(c *call) (*taskChannel, *apiError) {
	if ch := c.ws.channel(c.path("Sid")); ch != nil {
		return ch, nil
	}
	return nil, errNotFound(c.r.URL.Path)
}

func (e *Emulator) createChannel(c *call) (int, any, *apiError) {
	p, apiErr := formParams(c.r)
	if apiErr != nil {
		return 0, nil, apiErr
	}
	name, unique := p.required("FriendlyName"), p.required("UniqueName")
	if p.err != nil {
		return 0, nil, p.err
	}
	if c.ws.channel(unique) != nil {
		return 0, nil, errParam("Task channel with UniqueName %q already exists", unique)
	}
	now := e.clock.Now()
	ch := &taskChannel{sid: newSid(prefixChannel), unique: unique, name: name, created: now, updated: now}
	c.ws.addChannel(ch)
	return http.StatusCreated, e.renderChannel(c, ch), nil
}

func (e *Emulator) updateChannel(c *call) (int, any, *apiError) {
	ch, err := e.channelByPath(c)
	if err != nil {
		return 0, nil, err
	}
	p, err := formParams(c.r)
	if err != nil {
		return 0, nil, err
	}
	p.assign("FriendlyName", &ch.name)
	ch.updated = e.clock.Now()
	return http.StatusOK, e.renderChannel(c, ch), nil
}

// deleteChannel refuses while a task not yet completed or canceled uses
// the channel: its workers' capacity for it would vanish under it.
func (e *Emulator) deleteChannel(c *call) (int, any, *apiError) {
	ch, err := e.channelByPath(c)
	if err != nil {
		return 0, nil, err
	}
	for _, t := range c.ws.tasks.all() {
		if t.channel == ch.sid && !t.final() {
			return 0, nil, errParam("Task channel %s is in use by task %s and cannot be deleted", ch.unique, t.sid)
		}
	}
	c.ws.channels.del(ch.sid)
	for _, w := range c.ws.workers.all() {
		w.removeChannel(ch.sid)
	}
	return http.StatusNoContent, nil, nil
}

// The Workers/{WorkerSid}/Channels resource.

func (e *Emulator) renderWorkerChannel(c *call, w *worker, wc *workerChannel) map[string]any {
	u := c.workspaceURL(c.ws.sid) + "/Workers/" + w.sid + "/Channels/" + wc.sid
	// The share of capacity not taken by reservations pending, accepted or
	// wrapping: what routing counts (spare), so that 100 means, as Twilio
	// documents, "available to receive any Tasks from this TaskChannel", and
	// a slot held by an offer is not shown free. assigned_tasks stays the
	// accepted and wrapping ones.
	pct := 0
	if wc.capacity > 0 {
		pct = max(0, (wc.capacity-wc.active)*100/wc.capacity)
	}
	return map[string]any{
		"account_sid": e.opt.AccountSid, "workspace_sid": c.ws.sid, "worker_sid": w.sid, "sid": wc.sid,
		"task_channel_sid": wc.channel, "task_channel_unique_name": c.ws.channelName(wc.channel),
		"configured_capacity": wc.capacity, "available": wc.available, "assigned_tasks": wc.assigned,
		"available_capacity_percentage": pct, "date_created": twilioTime(wc.created),
		"date_updated": twilioTime(wc.updated), "url": u,
	}
}

func (e *Emulator) listWorkerChannels(c *call) (int, any, *apiError) {
	w := c.ws.workers.get(c.path("WorkerSid"))
	if w == nil {
		return 0, nil, errNotFound(c.r.URL.Path)
	}
	body, err := page(c.r, c.base, "channels", w.chanList, func(wc *workerChannel) map[string]any {
		return e.renderWorkerChannel(c, w, wc)
	})
	return http.StatusOK, body, err
}

// workerChannelByPath finds {Sid} among {WorkerSid}'s channels: the worker
// channel's SID, or its task channel's SID or unique name.
func (e *Emulator) workerChannelByPath(c *call) (*worker, *workerChannel, *apiError) {
	w := c.ws.workers.get(c.path("WorkerSid"))
	if w == nil {
		return nil, nil, errNotFound(c.r.URL.Path)
	}
	ref := c.path("Sid")
	if ch := c.ws.channel(ref); ch != nil {
		ref = StableSid(prefixWorkerChannel, w.sid, ch.sid)
	}
	for _, wc := range w.chanList {
		if wc.sid == ref {
			return w, wc, nil
		}
	}
	return nil, nil, errNotFound(c.r.URL.Path)
}

func (e *Emulator) fetchWorkerChannel(c *call) (int, any, *apiError) {
	w, wc, err := e.workerChannelByPath(c)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, e.renderWorkerChannel(c, w, wc), nil
}

// updateWorkerChannel sets Capacity and Available; more room may let
// waiting tasks through, so it routes again.
func (e *Emulator) updateWorkerChannel(c *call) (int, any, *apiError) {
	w, wc, apiErr := e.workerChannelByPath(c)
	if apiErr != nil {
		return 0, nil, apiErr
	}
	p, apiErr := formParams(c.r)
	if apiErr != nil {
		return 0, nil, apiErr
	}
	capacity := p.integer("Capacity", wc.capacity)
	available := p.boolean("Available", wc.available)
	if p.err != nil {
		return 0, nil, p.err
	}
	if capacity < 0 {
		return 0, nil, errParam("Invalid Capacity %d: must be 0 or more", capacity)
	}
	prevCap, prevAvail := wc.capacity, wc.available
	wc.capacity, wc.available, wc.updated = capacity, available, e.clock.Now()
	w.touch()
	if capacity != prevCap {
		e.emitWorkerChannel(c.ws, w, wc, taskrouter.EventWorkerCapacity, "capacity")
	}
	if available != prevAvail {
		e.emitWorkerChannel(c.ws, w, wc, taskrouter.EventWorkerChannelAvailability, "availability")
	}
	e.dispatchLocked(c.ws)
	return http.StatusOK, e.renderWorkerChannel(c, w, wc), nil
}

// emitWorkerChannel emits typ, a change of what (capacity or availability)
// on w's channel wc: the worker's event fields and the channel's. Twilio
// lists these events without documenting their fields; the names here
// follow its resource fields (doc.go).
func (e *Emulator) emitWorkerChannel(ws *workspace, w *worker, wc *workerChannel, typ, what string) {
	name := ws.channelName(wc.channel)
	e.emit(ws, typ, "Worker "+w.name+" "+name+" channel "+what+" updated", w, map[string]string{
		"WorkerChannelSid": wc.sid, "TaskChannelSid": wc.channel, "TaskChannelUniqueName": name,
		"WorkerChannelCapacity": strconv.Itoa(wc.capacity), "WorkerChannelAvailable": strconv.FormatBool(wc.available),
	})
}

// taskChannelParam is the channel a task create's TaskChannel names, by
// SID or unique name; "default" when it names none (Twilio's default).
func taskChannelParam(ws *workspace, ref string) *taskChannel {
	if ref == "" {
		ref = "default"
	}
	return ws.channel(ref)
}
