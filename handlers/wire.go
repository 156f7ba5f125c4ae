package handlers

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"time"

	"github.com/assignd/assignd/policy"
)

// ParamError is a callback parameter that is missing or malformed; the
// request cannot be acted on and gets 400.
type ParamError struct {
	Param string
	Msg   string
}

func (e *ParamError) Error() string { return e.Param + ": " + e.Msg }

// AttributeError is TaskAttributes or WorkerAttributes that is not a JSON
// object. The rest of the callback is sound and signed, so the reservation
// gets the policy's fallback decision rather than being left to time out.
type AttributeError struct {
	Param string
	Err   error
}

func (e *AttributeError) Error() string { return e.Param + ": not a JSON object: " + e.Err.Error() }
func (e *AttributeError) Unwrap() error { return e.Err }

// sidParams are the documented SID parameters: name, prefix, required.
var sidParams = []struct {
	name, prefix string
	required     bool
}{
	{"AccountSid", "AC", true},
	{"WorkspaceSid", "WS", true},
	{"WorkflowSid", "WW", false},
	{"TaskQueueSid", "WQ", false},
	{"WorkerSid", "WK", true},
	{"TaskSid", "WT", true},
	{"ReservationSid", "WR", true},
}

var knownParams = map[string]bool{
	"AccountSid": true, "WorkspaceSid": true, "WorkflowSid": true, "TaskQueueSid": true,
	"WorkerSid": true, "TaskSid": true, "ReservationSid": true, "TaskAge": true,
	"TaskPriority": true, "TaskAttributes": true, "WorkerAttributes": true, "Timestamp": true,
}

// ParseReservation turns the callback's form into a Reservation. It returns
// a *ParamError for input that cannot be acted on. When only the attributes
// are malformed it returns the otherwise complete reservation together with
// an *AttributeError, so the caller can still answer a fallback.
func ParseReservation(form url.Values, receivedAt time.Time) (policy.Reservation, error) {
	r := policy.Reservation{ReceivedAt: receivedAt}
	for name, vals := range form {
		if knownParams[name] && len(vals) > 1 {
			return r, &ParamError{name, fmt.Sprintf("sent %d times", len(vals))}
		}
		if !knownParams[name] {
			if r.Params == nil {
				r.Params = make(map[string]string)
			}
			r.Params[name] = vals[0]
		}
	}
	sids := [...]*string{&r.AccountSid, &r.WorkspaceSid, &r.WorkflowSid, &r.TaskQueueSid, &r.WorkerSid, &r.TaskSid, &r.ReservationSid}
	for i, p := range sidParams {
		v := form.Get(p.name)
		if v == "" && !p.required {
			continue
		}
		if v == "" {
			return r, &ParamError{p.name, "missing"}
		}
		if !policy.ValidSid(p.prefix, v) {
			return r, &ParamError{p.name, fmt.Sprintf("want %s followed by 32 hex digits", p.prefix)}
		}
		*sids[i] = v
	}
	var err error
	if r.TaskAge, err = intParam(form, "TaskAge"); err != nil {
		return r, err
	}
	if r.TaskPriority, err = intParam(form, "TaskPriority"); err != nil {
		return r, err
	}
	r.Timestamp = form.Get("Timestamp")

	// Attributes last: everything above is needed to act at all.
	var attrErr error
	if r.TaskAttributes, err = attributes(form, "TaskAttributes"); err != nil {
		attrErr = err
	}
	if r.WorkerAttributes, err = attributes(form, "WorkerAttributes"); err != nil && attrErr == nil {
		attrErr = err
	}
	return r, attrErr
}

func intParam(form url.Values, name string) (int, error) {
	v := form.Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, &ParamError{name, "want a non-negative integer"}
	}
	return n, nil
}

func attributes(form url.Values, name string) (map[string]any, error) {
	v := form.Get(name)
	if v == "" {
		return map[string]any{}, nil
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(v), &m); err != nil {
		return map[string]any{}, &AttributeError{name, err}
	}
	if m == nil { // the JSON literal null
		return map[string]any{}, &AttributeError{name, errors.New("got null")}
	}
	return m, nil
}

// EncodeForm is ParseReservation's inverse: the form TaskRouter would POST
// for r. Used by `assignd send`, tests and benchmarks.
func EncodeForm(r *policy.Reservation) (url.Values, error) {
	task, err := json.Marshal(orEmpty(r.TaskAttributes))
	if err != nil {
		return nil, fmt.Errorf("encode task attributes: %w", err)
	}
	worker, err := json.Marshal(orEmpty(r.WorkerAttributes))
	if err != nil {
		return nil, fmt.Errorf("encode worker attributes: %w", err)
	}
	f := url.Values{}
	for k, v := range r.Params {
		f.Set(k, v)
	}
	set := func(k, v string) {
		if v != "" {
			f.Set(k, v)
		}
	}
	set("AccountSid", r.AccountSid)
	set("WorkspaceSid", r.WorkspaceSid)
	set("WorkflowSid", r.WorkflowSid)
	set("TaskQueueSid", r.TaskQueueSid)
	set("WorkerSid", r.WorkerSid)
	set("TaskSid", r.TaskSid)
	set("ReservationSid", r.ReservationSid)
	f.Set("TaskAge", strconv.Itoa(r.TaskAge))
	f.Set("TaskPriority", strconv.Itoa(r.TaskPriority))
	f.Set("TaskAttributes", string(task))
	f.Set("WorkerAttributes", string(worker))
	set("Timestamp", r.Timestamp)
	return f, nil
}

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

// Sign computes X-Twilio-Signature the way Twilio does for a form POST: the
// URL followed by each parameter's name and value in name order, HMAC-SHA1
// with the auth token, base64. twilio-go only verifies; this signs for the
// `send` command, and the tests hold it to twilio-go's RequestValidator.
func Sign(token, publicURL string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	mac := hmac.New(sha1.New, []byte(token))
	mac.Write([]byte(publicURL))
	for _, k := range keys {
		mac.Write([]byte(k))
		mac.Write([]byte(form.Get(k)))
	}
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
