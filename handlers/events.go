package handlers

import (
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"
	"github.com/rs/zerolog"

	"github.com/assignd/assignd/taskrouter"
)

// events serves the Workspace's EventCallbackUrl. It counts reservation
// outcomes so operators can see whether the policy's accepts stick
// (accepted) or are lost (timeout, canceled, rescinded).
type events struct {
	gate
	log     zerolog.Logger
	metrics *Metrics
}

// eventOutcome is what happened to one request to /events.
type eventOutcome struct {
	req     *http.Request
	refusal refusal
	err     error  // why it was refused
	checked string // the URL its signature was checked against
	form    url.Values
}

// serve settles the request's outcome, reports it and answers it.
func (h *events) serve(c echo.Context) error {
	o := eventOutcome{req: c.Request()}
	h.admit(&o)
	h.report(&o)
	if o.refusal != notRefused {
		return o.refusal.answer(c, o.err)
	}
	return c.NoContent(http.StatusNoContent)
}

// admit reads the body and checks its shape, then its signature.
func (h *events) admit(o *eventOutcome) {
	body, r, err := h.read(o.req)
	if err != nil {
		o.refusal, o.err = r, err
		return
	}
	if o.form, o.checked, err = h.verifier.VerifyForm(o.req, body); err != nil {
		o.refusal, o.err = refusedSignature, err
	}
}

// report writes o to the metrics and the log: every request is counted, and
// a reservation event is counted by type and logged.
func (h *events) report(o *eventOutcome) {
	h.metrics.eventRequest(o.refusal.result())
	if o.refusal != notRefused {
		h.logRefused("event", o.refusal, o.req, o.err, o.checked)
		return
	}
	typ := o.form.Get("EventType")
	if taskrouter.IsReservationEvent(typ) {
		h.metrics.event(typ)
		h.log.Info().Str("event", typ).Str("reservation", o.form.Get("ResourceSid")).
			Str("task", o.form.Get("TaskSid")).Str("worker", o.form.Get("WorkerSid")).Msg("reservation event")
	}
}
