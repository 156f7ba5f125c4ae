package emulator

import (
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/assignd/assignd/taskrouter"
)

// CallbackAttempt is one assignment callback POST and what came of it.
type CallbackAttempt struct {
	ReservationSid string
	URL            string
	Fallback       bool       // the workflow's fallback_assignment_callback_url
	Form           url.Values // what was posted (signed)
	Status         int        // 0 when no answer came in time
	Body           string
	Err            string // why the answer was not used, if it was not
	At             time.Time
}

// callbackForm is what TaskRouter posts to the assignment callback URL.
func (e *Emulator) callbackForm(ws *workspace, wf *workflow, q *queue, t *task, w *worker, r *reservation) url.Values {
	return url.Values{
		taskrouter.ParamAccountSid:       {e.opt.AccountSid},
		taskrouter.ParamWorkspaceSid:     {ws.sid},
		taskrouter.ParamWorkflowSid:      {wf.sid},
		taskrouter.ParamTaskQueueSid:     {q.sid},
		taskrouter.ParamTaskSid:          {t.sid},
		taskrouter.ParamWorkerSid:        {w.sid},
		taskrouter.ParamReservationSid:   {r.sid},
		taskrouter.ParamTaskAttributes:   {t.attrsRaw},
		taskrouter.ParamWorkerAttributes: {w.attrsRaw},
		taskrouter.ParamTaskAge:          {strconv.Itoa(int(e.clock.Now().Sub(t.created) / time.Second))},
		taskrouter.ParamTaskPriority:     {strconv.Itoa(t.priority)},
		taskrouter.ParamTimestamp:        {strconv.FormatInt(e.clock.Now().Unix(), 10)},
	}
}

// deliverCallback posts the assignment callback, then the fallback URL if
// the first answer is late, not 200, not JSON or not an object, and applies
// the instruction it gets. `{}` (no instruction) leaves the reservation
// pending for a REST update or its timeout.
func (e *Emulator) deliverCallback(ws *workspace, r *reservation, urls []string, f url.Values) {
	defer e.callbackDone()
	for i, u := range urls {
		status, ctype, body, err := e.post(context.Background(), u, f, e.opt.CallbackTimeout)
		var answer map[string]any
		if err == nil {
			answer, err = callbackAnswer(status, ctype, body)
		}
		e.mu.Lock()
		at := CallbackAttempt{ReservationSid: r.sid, URL: u, Fallback: i > 0, Form: f, Status: status,
			Body: string(body), At: e.clock.Now()}
		if err != nil {
			at.Err = err.Error()
		} else if useErr := e.useAnswerLocked(ws, r, answer); useErr != "" {
			at.Err = useErr
		}
		e.callbacks = keepLast(append(e.callbacks, at), e.opt.History)
		if e.opt.OnCallback != nil {
			e.opt.OnCallback(at)
		}
		e.mu.Unlock()
		e.opt.Log.Info().Str("reservation", r.sid).Str("url", u).Bool("fallback", i > 0).Int("status", status).
			Str("answer", truncate(string(body), 200)).Str("error", at.Err).Msg("assignment callback")
		if err == nil {
			return // an answer Twilio takes, even one it cannot carry out, ends the callback
		}
	}
}

// useAnswerLocked carries out a callback's answer; it returns why it could
// not, or "".
func (e *Emulator) useAnswerLocked(ws *workspace, r *reservation, answer map[string]any) string {
	v, err := instructionParams(answer)
	if err != nil {
		return err.Error()
	}
	if v == nil || e.closed || e.workspaces.get(ws.sid) != ws || r.status != resPending {
		return "" // {}: the reservation waits for a REST update; or it moved on meanwhile
	}
	if apiErr := e.applyLocked(ws, r, v); apiErr != nil {
		return apiErr.Message
	}
	e.dispatchLocked(ws)
	return ""
}

// callbackAnswer accepts what Twilio accepts: 200 with a JSON object body
// and a JSON content type.
func callbackAnswer(status int, contentType string, body []byte) (map[string]any, error) {
	if status != http.StatusOK {
		return nil, fmt.Errorf("answered HTTP %d", status)
	}
	if mt, _, _ := mime.ParseMediaType(contentType); mt != "application/json" {
		return nil, fmt.Errorf("answer content type %q is not application/json (Twilio error 40000)", contentType)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		return nil, fmt.Errorf("answer is not a JSON object (Twilio error 40001)")
	}
	return m, nil
}

// instructionParams maps a callback answer to the REST update's
// parameters; nil for `{}`. One case per instruction: long, read as a table.
func instructionParams(m map[string]any) (url.Values, error) {
	ins, _ := m["instruction"].(string)
	if _, ok := m["instruction"]; !ok {
		return nil, nil
	}
	v := url.Values{}
	str := func(x any) string {
		switch x := x.(type) {
		case string:
			return x
		case float64:
			return strconv.FormatFloat(x, 'f', -1, 64)
		case bool:
			return strconv.FormatBool(x)
		}
		b, _ := json.Marshal(x)
		return string(b)
	}
	// set copies answer key k to parameter p.
	set := func(k, p string) {
		if x, ok := m[k]; ok && x != nil {
			if k == "status_callback_events" || k == "conference_status_callback_event" || k == "status_callback_event" {
				for _, ev := range strings.Split(str(x), ",") {
					if ev = strings.TrimSpace(ev); ev != "" {
						v.Add(p, ev)
					}
				}
				return
			}
			v.Set(p, str(x))
		}
	}
	switch ins {
	case taskrouter.InstructionAccept:
		v.Set("ReservationStatus", resAccepted)
	case taskrouter.InstructionReject:
		v.Set("ReservationStatus", resRejected)
		set("activity_sid", "WorkerActivitySid")
	case taskrouter.InstructionDequeue:
		v.Set("Instruction", ins)
		for k, p := range map[string]string{"to": "DequeueTo", "from": "DequeueFrom", "post_work_activity_sid": "DequeuePostWorkActivitySid",
			"record": "DequeueRecord", "timeout": "DequeueTimeout", "status_callback_url": "DequeueStatusCallbackUrl",
			"status_callback_events": "DequeueStatusCallbackEvent"} {
			set(k, p)
		}
	case taskrouter.InstructionCall:
		v.Set("Instruction", ins)
		for k, p := range map[string]string{"to": "CallTo", "from": "CallFrom", "url": "CallUrl", "accept": "CallAccept",
			"record": "CallRecord", "timeout": "CallTimeout", "status_callback_url": "CallStatusCallbackUrl"} {
			set(k, p)
		}
	case taskrouter.InstructionRedirect:
		v.Set("Instruction", ins)
		for k, p := range map[string]string{"call_sid": "RedirectCallSid", "url": "RedirectUrl", "accept": "RedirectAccept"} {
			set(k, p)
		}
	case taskrouter.InstructionConference:
		v.Set("Instruction", ins)
		for k := range m {
			if k != "instruction" {
				set(k, pascal(k)) // the REST names are the answer's snake_case keys in PascalCase
			}
		}
	default:
		return nil, fmt.Errorf("unknown instruction %q (Twilio error 55555)", ins)
	}
	return v, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// pascal turns end_conference_on_exit into EndConferenceOnExit.
func pascal(s string) string {
	parts := strings.Split(s, "_")
	for i, p := range parts {
		if p != "" {
			parts[i] = strings.ToUpper(p[:1]) + p[1:]
		}
	}
	return strings.Join(parts, "")
}
