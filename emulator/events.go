package emulator

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/assignd/assignd/taskrouter"
)

type event struct {
	sid, typ, desc     string
	resourceType, rsid string
	resourcePath       string // under the workspace: "/Tasks/WT…"
	date               time.Time
	data               url.Values // the resource's fields, by their event callback names
}

// emit records an event about subject (*task, *worker or *reservation) and
// posts it to the workspace's event_callback_url unless events_filter
// leaves it out.
func (e *Emulator) emit(ws *workspace, typ, desc string, subject any, extra map[string]string) {
	ev := &event{sid: newSid(prefixEvent), typ: typ, desc: desc, date: e.clock.Now(), data: url.Values{}}
	switch s := subject.(type) {
	case *task:
		ev.resourceType, ev.rsid, ev.resourcePath = "task", s.sid, "/Tasks/"+s.sid
		e.taskFields(ws, s, ev.data)
	case *worker:
		ev.resourceType, ev.rsid, ev.resourcePath = "worker", s.sid, "/Workers/"+s.sid
		e.workerFields(ws, s, ev.data)
	case *reservation:
		ev.resourceType, ev.rsid, ev.resourcePath = "reservation", s.sid, "/Tasks/"+s.task+"/Reservations/"+s.sid
		if t := ws.tasks.get(s.task); t != nil {
			e.taskFields(ws, t, ev.data)
		}
		if w := ws.workers.get(s.worker); w != nil {
			e.workerFields(ws, w, ev.data)
		}
		ev.data.Set("ReservationSid", s.sid)
		ev.data.Set("TaskQueueSid", s.queue)
	}
	for k, v := range extra {
		ev.data.Set(k, v)
	}
	ws.events.put(ev.sid, ev)
	ws.events.trim(e.opt.History)
	e.recordStat(ws, ev, subject)
	e.observeEventLocked(ws, ev)
	e.retainFinished(ws, typ, subject)
	e.opt.Log.Info().Str("workspace", ws.sid).Str("event", typ).Str("resource", ev.rsid).Msg(desc)
	if ws.eventURL == "" || !wanted(ws.eventsFilter, typ) || e.closed {
		return // after Close: kept for the Events API, not posted
	}
	f := url.Values{}
	for k, v := range ev.data {
		f[k] = v
	}
	f.Set("Sid", ev.sid)
	f.Set("EventType", typ)
	f.Set("EventDescription", desc)
	f.Set("ResourceType", ev.resourceType)
	f.Set("ResourceSid", ev.rsid)
	f.Set("Timestamp", strconv.FormatInt(ev.date.Unix(), 10))
	f.Set("TimestampMs", strconv.FormatInt(ev.date.UnixMilli(), 10))
	f.Set("AccountSid", e.opt.AccountSid)
	f.Set("WorkspaceSid", ws.sid)
	f.Set("WorkspaceName", ws.name)
	e.outbox.push(ws.eventURL, f)
}

func wanted(filter, typ string) bool {
	if strings.TrimSpace(filter) == "" {
		return true
	}
	for _, f := range strings.Split(filter, ",") {
		if strings.TrimSpace(f) == typ {
			return true
		}
	}
	return false
}

func (e *Emulator) taskFields(ws *workspace, t *task, f url.Values) {
	f.Set("TaskSid", t.sid)
	f.Set("TaskAttributes", t.attrsRaw)
	f.Set("TaskAge", strconv.Itoa(int(e.clock.Now().Sub(t.created)/time.Second)))
	f.Set("TaskPriority", strconv.Itoa(t.priority))
	f.Set("TaskAssignmentStatus", t.status)
	f.Set("TaskDateCreated", strconv.FormatInt(t.created.Unix(), 10))
	f.Set("TaskTimeout", strconv.Itoa(t.timeout))
	f.Set("TaskChannelSid", t.channel)
	f.Set("TaskChannelUniqueName", ws.channelName(t.channel))
	if t.reason != "" {
		f.Set("TaskCanceledReason", t.reason)
	}
	if q := ws.queues.get(t.queue); q != nil {
		f.Set("TaskQueueSid", q.sid)
		f.Set("TaskQueueName", q.name)
		f.Set("TaskQueueTargetExpression", q.targetSrc)
	}
	if wf := ws.workflows.get(t.workflow); wf != nil {
		f.Set("WorkflowSid", wf.sid)
		f.Set("WorkflowName", wf.name)
	}
}

func (e *Emulator) workerFields(ws *workspace, w *worker, f url.Values) {
	f.Set("WorkerSid", w.sid)
	f.Set("WorkerName", w.name)
	f.Set("WorkerAttributes", w.attrsRaw)
	f.Set("WorkerActivitySid", w.activity)
	if a := ws.activities.get(w.activity); a != nil {
		f.Set("WorkerActivityName", a.name)
	}
}

// snake turns an event field name into its event_data key: TaskSid → task_sid.
func snake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (e *Emulator) eventResource() resource[event] {
	return resource[event]{key: "events", rows: func(c *call) *table[event] { return &c.ws.events }, render: e.renderEvent}
}

func (e *Emulator) renderEvent(c *call, ev *event) map[string]any {
	ws := c.ws
	wsURL := c.workspaceURL(ws.sid)
	data := map[string]any{}
	for k := range ev.data {
		data[snake(k)] = ev.data.Get(k)
	}
	return map[string]any{
		"account_sid": e.opt.AccountSid, "workspace_sid": ws.sid, "sid": ev.sid,
		"event_type": ev.typ, "description": ev.desc, "event_data": data,
		"event_date": twilioTime(ev.date), "event_date_ms": ev.date.UnixMilli(),
		"resource_type": ev.resourceType, "resource_sid": ev.rsid, "resource_url": wsURL + ev.resourcePath,
		"actor_type": "account", "actor_sid": e.opt.AccountSid, "actor_url": c.base + "/2010-04-01/Accounts/" + e.opt.AccountSid,
		"source": "twilio", "source_ip_address": nil,
		"url": wsURL + "/Events/" + ev.sid,
	}
}

func (e *Emulator) listEvents(c *call) (int, any, *apiError) {
	var from, to time.Time
	for k, dst := range map[string]*time.Time{"StartDate": &from, "EndDate": &to} {
		if s := c.query(k); s != "" {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return 0, nil, errParam("Invalid %s %q: want ISO 8601", k, s)
			}
			*dst = t
		}
	}
	if s := c.query("Minutes"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return 0, nil, errParam("Invalid Minutes %q", s)
		}
		from = e.clock.Now().Add(-time.Duration(n) * time.Minute)
	}
	// Each filter parameter, read here (not in the closure, which runs only
	// when there are events) → the event_data field it compares.
	want := map[string]string{}
	for param, field := range map[string]string{"TaskSid": "TaskSid", "WorkerSid": "WorkerSid", "ReservationSid": "ReservationSid",
		"TaskQueueSid": "TaskQueueSid", "WorkflowSid": "WorkflowSid", "TaskChannel": "TaskChannelUniqueName"} {
		if s := c.query(param); s != "" {
			want[field] = s
		}
	}
	// TaskChannel names a channel by SID or unique name, as everywhere; a
	// name no channel has now may still be a deleted one's, in old events.
	if ref := want["TaskChannelUniqueName"]; ref != "" {
		if ch := c.ws.channel(ref); ch != nil {
			delete(want, "TaskChannelUniqueName")
			want["TaskChannelSid"] = ch.sid
		}
	}
	typ, sid := c.query("EventType"), c.query("Sid")
	return e.eventResource().list(c, func(ev *event) bool {
		keep := (typ == "" || typ == ev.typ) && (sid == "" || sid == ev.sid) &&
			(from.IsZero() || !ev.date.Before(from)) && (to.IsZero() || !ev.date.After(to))
		for field, s := range want {
			if ev.data.Get(field) != s {
				keep = false
			}
		}
		return keep
	})
}

// outbox posts events one at a time in the order they happened, from a
// goroutine that runs while there is something to send.
type outbox struct {
	e       *Emulator
	mu      sync.Mutex
	queue   []delivery
	running bool
	done    sync.WaitGroup
	sent    []EventDelivery
}

type delivery struct {
	url  string
	form url.Values
}

// EventDelivery is one event callback the emulator posted.
type EventDelivery struct {
	URL       string
	EventType string
	Form      url.Values
	Status    int    // 0 when no answer came
	Err       string // transport error, if any
}

func newOutbox(e *Emulator) *outbox { return &outbox{e: e} }

func (o *outbox) push(u string, f url.Values) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.queue = append(o.queue, delivery{u, f})
	if !o.running {
		o.running = true
		o.done.Add(1)
		go o.run()
	}
}

func (o *outbox) run() {
	defer o.done.Done()
	for {
		o.mu.Lock()
		if len(o.queue) == 0 {
			o.running = false
			o.mu.Unlock()
			return
		}
		d := o.queue[0]
		o.queue = o.queue[1:]
		o.mu.Unlock()
		status, _, _, err := o.e.post(context.Background(), d.url, d.form, o.e.opt.EventTimeout)
		rec := EventDelivery{URL: d.url, EventType: d.form.Get("EventType"), Form: d.form, Status: status}
		if err != nil {
			rec.Err = err.Error()
		}
		o.mu.Lock()
		o.sent = keepLast(append(o.sent, rec), o.e.opt.History)
		o.mu.Unlock()
		if err != nil || status >= 300 {
			o.e.opt.Log.Warn().Str("event", rec.EventType).Str("url", d.url).Int("status", status).Err(err).Msg("event callback failed")
		}
	}
}

func (o *outbox) wait() { o.done.Wait() }

// EventDeliveries returns the event callbacks posted so far, in order.
func (e *Emulator) EventDeliveries() []EventDelivery {
	e.outbox.mu.Lock()
	defer e.outbox.mu.Unlock()
	return slices.Clone(e.outbox.sent)
}

// post sends a form signed as Twilio signs webhooks: X-Twilio-Signature
// over the URL and the sorted parameters with the account's auth token.
// It returns the answer's status, content type and body (at most 64 KiB).
func (e *Emulator) post(ctx context.Context, u string, f url.Values, timeout time.Duration) (int, string, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(f.Encode()))
	if err != nil {
		return 0, "", nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", taskrouter.Sign(e.opt.AuthToken, u, f))
	req.Header.Set("User-Agent", "TwilioProxy/1.1")
	resp, err := e.client.Do(req)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return resp.StatusCode, "", body, fmt.Errorf("reading the answer of %s: %w", u, err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), body, nil
}
