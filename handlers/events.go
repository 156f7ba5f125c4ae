package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/rs/zerolog"

	"github.com/assignd/assignd/taskrouter"
)

// events serves the Workspace's EventCallbackUrl. It counts reservation
// outcomes so operators can see whether the policy's accepts stick
// (accepted) or are lost (timeout, canceled, rescinded).
type events struct {
	log       zerolog.Logger
	refusals  *refusalLog
	verifier  *Verifier
	metrics   *Metrics
	bodyLimit int64
}

func (h *events) serve(c echo.Context) error {
	req := c.Request()
	body, err := readBody(req, h.bodyLimit)
	if err != nil {
		h.metrics.eventRequest(ResultBadRequest)
		h.refusals.bodyRefused("event", req, err, h.bodyLimit)
		return c.String(http.StatusRequestEntityTooLarge, "request body too large\n")
	}
	if err := CheckShape(body); err != nil {
		h.metrics.eventRequest(ResultMalformed)
		h.refusals.shapeRefused("event", req, err)
		return c.String(http.StatusBadRequest, err.Error()+"\n")
	}
	form, checked, err := h.verifier.VerifyForm(req, body)
	if err != nil {
		h.metrics.eventRequest(ResultBadSignature)
		h.refusals.signatureRefused("event", req, checked, err, h.verifier.Hint(req, err))
		return c.String(http.StatusForbidden, "invalid Twilio signature\n")
	}
	h.metrics.eventRequest(ResultOK)
	typ := form.Get("EventType")
	if taskrouter.IsReservationEvent(typ) {
		h.metrics.event(typ)
		h.log.Info().Str("event", typ).Str("reservation", form.Get("ResourceSid")).
			Str("task", form.Get("TaskSid")).Str("worker", form.Get("WorkerSid")).Msg("reservation event")
	}
	return c.NoContent(http.StatusNoContent)
}
