package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/rs/zerolog"

	"github.com/assignd/assignd/policy"
)

// outcome is what happened to one callback. The handler's steps fill it in
// and write to no sink themselves; report writes it to every sink and answer
// sends it, so each result reaches the metrics, the log, the decision log
// and the span the same way whichever step settled it.
type outcome struct {
	// CallbackRecord is what the decision log is told; its Result, Err and
	// Latency are every sink's.
	CallbackRecord
	req     *http.Request
	refusal refusal // notRefused once the request was answered
	// decided: Decision is what was answered (the policy's, or a fallback).
	decided bool
	// asked: the policy was asked, and took decideTook.
	asked      bool
	decideTook time.Duration
}

// refuse settles o as refused by r, for err.
func (o *outcome) refuse(r refusal, err error) {
	o.refusal, o.Result, o.Err = r, r.result(), err
}

// fallBack settles o as answered with the fallback d, for why.
func (o *outcome) fallBack(d policy.Decision, why error) {
	o.Decision, o.Result, o.Err = d, ResultFallback, why
}

// report writes o to the metrics, the log and the decision log. (The span
// is ended by serve once the answer is written: it carries the status.)
func (h *callback) report(ctx context.Context, o *outcome) {
	h.metrics.callback(o.Result, o.Latency)
	if o.asked {
		h.metrics.decided(o.decideTook)
	}
	if o.decided {
		h.metrics.decision(o.Decision)
	}
	switch {
	case o.refusal.beforeSignature():
		h.logRefused("callback", o.refusal, o.req, o.Err, o.CheckedURL)
	case o.refusal == refusedParams:
		h.log.Warn().Str("result", o.Result).Str("path", o.req.URL.Path).Str("reservation", o.Reservation.ReservationSid).Err(o.Err).
			Msg("callback refused: bad parameters")
	default:
		h.logAnswer(ctx, o)
	}
	// Anyone can send a malformed form: it is counted and (sampled) logged,
	// never recorded.
	if h.recorder != nil && o.refusal != refusedShape {
		h.recorder.Record(o.CallbackRecord)
	}
}

// logAnswer writes the line of an answered callback.
func (h *callback) logAnswer(ctx context.Context, o *outcome) {
	res, d := o.Reservation, o.Decision
	line := h.log.Info()
	if o.Err != nil && h.logAttrs {
		line = h.log.Warn().Err(o.Err)
	} else if o.Err != nil {
		// The error may quote attribute values (a value built from one,
		// a computed key): without LOG_ATTRIBUTES only its redacted text.
		line = h.log.Warn().Str(zerolog.ErrorFieldName, policy.RedactError(o.Err))
	}
	line = line.Str("result", o.Result).Str("reservation", res.ReservationSid).Str("task", res.TaskSid).Str("worker", res.WorkerSid).
		Str("rule", d.Rule).Str("instruction", d.InstructionName()).Bool("async", d.Async).Dur("latency_ms", o.Latency).
		Int("task_age", res.TaskAge).Str("queue", res.TaskQueueSid)
	if o.Duplicate {
		line = line.Bool("duplicate", true)
	}
	if o.Latency > h.budget {
		line = line.Bool("over_budget", true)
	}
	if h.logAttrs {
		line = line.Interface("task_attributes", res.TaskAttributes).Interface("worker_attributes", res.WorkerAttributes)
	}
	line.Ctx(ctx).Msg("callback answered")
}

// answer writes o's HTTP answer: the decision's JSON, or the refusal.
func (o *outcome) answer(c echo.Context) error {
	if o.refusal != notRefused {
		return o.refusal.answer(c, o.Err)
	}
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, o.Answer)
}
