package emulator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// This file is Twilio's optimistic concurrency for tasks ("API mutation and
// conflict resolution"): every answer carrying one task has the task's
// revision as its ETag; an update or delete whose If-Match names another
// revision is refused with 412 20412 and changes nothing. The revision
// counts the task's changes, so a task changed and changed back still has
// a new ETag. Reservations do the same on fetch and update, and workers on
// fetch, create, update and delete, as Twilio's OpenAPI description gives
// those an ETag answer header and an If-Match request header.

// headed is an answer body with headers to send along. It marshals as the
// body, so a fault that garbles the answer still sees the body.
type headed struct {
	body   any
	header http.Header
}

func (h headed) MarshalJSON() ([]byte, error) { return json.Marshal(h.body) }

// sendHeaders sets the headers body carries, if it is headed, and returns
// the body to encode: unwrapped, since encoding/json re-reads what a
// MarshalJSON returns, which the busiest answers (task create and update)
// should not pay for.
func sendHeaders(w http.ResponseWriter, body any) any {
	h, ok := body.(headed)
	if !ok {
		return body
	}
	for k, v := range h.header {
		w.Header()[k] = v
	}
	return h.body
}

// touch records a change of the task: a new revision, a new ETag.
func (t *task) touch() { t.revision++ }

// touch records a change of the worker: a new revision, a new ETag.
func (w *worker) touch() { w.revision++ }

// etag is the ETag header value of a revision, quoted (RFC 9110).
func etag(revision int) string { return `"` + strconv.Itoa(revision) + `"` }

// taskAnswer is t rendered with its ETag.
func (e *Emulator) taskAnswer(c *call, status int, t *task) (int, any, *apiError) {
	return status, headed{body: e.renderTask(c, t), header: http.Header{"Etag": {etag(t.revision)}}}, nil
}

// workerAnswer is w rendered with its ETag.
func (e *Emulator) workerAnswer(c *call, status int, w *worker) (int, any, *apiError) {
	return status, headed{body: e.renderWorker(c, w), header: http.Header{"Etag": {etag(w.revision)}}}, nil
}

func (e *Emulator) fetchWorker(c *call) (int, any, *apiError) {
	w, err := e.workerResource().bySid(c)
	if err != nil {
		return 0, nil, err
	}
	return e.workerAnswer(c, http.StatusOK, w)
}

// reservationAnswer is r rendered with its ETag.
func (e *Emulator) reservationAnswer(c *call, r *reservation, underWorker bool) (int, any, *apiError) {
	return http.StatusOK, headed{body: e.renderReservation(c, r, underWorker), header: http.Header{"Etag": {etag(r.revision)}}}, nil
}

// checkIfMatch refuses the request when its If-Match header names another
// revision of what (at revision). Quotes and a weak W/ prefix are ignored,
// so the ETag sent back as received or unquoted both match; "*" matches
// any.
func checkIfMatch(c *call, what string, revision int) *apiError {
	want := c.r.Header.Get("If-Match")
	if want == "" || want == "*" || bareTag(want) == bareTag(etag(revision)) {
		return nil
	}
	return &apiError{http.StatusPreconditionFailed, 20412,
		fmt.Sprintf("Precondition failed: If-Match %s does not match the ETag %s of %s", want, etag(revision), what)}
}

func bareTag(s string) string {
	return strings.Trim(strings.TrimPrefix(strings.TrimSpace(s), "W/"), `"`)
}

func (e *Emulator) fetchTask(c *call) (int, any, *apiError) {
	t, err := e.taskResource().bySid(c)
	if err != nil {
		return 0, nil, err
	}
	return e.taskAnswer(c, http.StatusOK, t)
}
