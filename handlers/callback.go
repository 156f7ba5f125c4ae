package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/rs/zerolog"

	"github.com/assignd/assignd/policy"
)

// Decider is what the callback needs of a policy: a decision that is always
// usable. policy.Guard implements it: on error it returns the fallback.
type Decider interface {
	Decide(ctx context.Context, r *policy.Reservation) (policy.Decision, error)
	Fallback() policy.Decision
}

// Scheduler durably records an async decision so that it is applied through
// the Reservations REST API after the callback has been answered. When it
// returns nil the decision is stored; duplicate reports that this
// reservation already had one (a retried or fallback-URL callback).
type Scheduler interface {
	Schedule(ctx context.Context, r *policy.Reservation, d policy.Decision) (duplicate bool, err error)
}

// Callback results, as logged and counted.
const (
	ResultOK           = "ok"
	ResultBadSignature = "bad_signature"
	ResultBadRequest   = "bad_request"
	ResultFallback     = "fallback"
)

// emptyAnswer is {}: "I will update the reservation through the REST API".
var emptyAnswer = []byte("{}")

type callback struct {
	log       zerolog.Logger
	verifier  *Verifier
	decider   Decider
	scheduler Scheduler // nil: async decisions are refused (fallback)
	metrics   *Metrics
	bodyLimit int64
	logAttrs  bool
}

func (h *callback) serve(c echo.Context) error {
	start := time.Now()
	req := c.Request()
	ev := h.log.With().Str("path", req.URL.Path).Logger()

	body, err := readBody(req.Body, h.bodyLimit)
	if err != nil {
		h.metrics.callback(ResultBadRequest, time.Since(start))
		ev.Warn().Str("result", ResultBadRequest).Err(err).Int64("limit", h.bodyLimit).Msg("callback refused: body too large or unreadable")
		return c.String(http.StatusRequestEntityTooLarge, "request body too large\n")
	}

	// Nothing about the request is trusted, parsed or logged in detail
	// before its signature holds.
	checked := h.verifier.PublicURL(req)
	sig := req.Header.Get("X-Twilio-Signature")
	if !h.verifier.Valid(checked, body, sig) {
		h.metrics.callback(ResultBadSignature, time.Since(start))
		why := "signature does not match"
		if sig == "" {
			why = "no X-Twilio-Signature header"
		}
		ev.Warn().Str("result", ResultBadSignature).Str("checked_url", checked).Str("remote", req.RemoteAddr).
			Str("hint", "the URL must be the one Twilio called: set PUBLIC_URL to your public base URL (e.g. the ngrok URL), or TRUST_PROXY=true behind a proxy that sets X-Forwarded-Proto/Host; and check TWILIO_AUTH_TOKEN").
			Msg("callback refused: " + why)
		return c.String(http.StatusForbidden, "invalid Twilio signature\n")
	}

	form, err := url.ParseQuery(string(body))
	if err != nil {
		return h.badRequest(c, ev, start, &ParamError{"body", "not a form: " + err.Error()})
	}
	res, err := ParseReservation(form, start)
	var attrErr *AttributeError
	if err != nil && !errors.As(err, &attrErr) {
		return h.badRequest(c, ev, start, err)
	}
	ev = ev.With().Str("reservation", res.ReservationSid).Str("task", res.TaskSid).Str("worker", res.WorkerSid).Logger()

	var d policy.Decision
	result := ResultOK
	if attrErr != nil {
		// Signed by Twilio but the attributes are not objects: deciding on
		// half the facts would be a guess, so give the configured fallback.
		d, result = h.decider.Fallback(), ResultFallback
		ev.Warn().Err(attrErr).Msg("malformed attributes: answering the fallback decision")
	} else {
		t0 := time.Now()
		d, err = h.decider.Decide(req.Context(), &res)
		h.metrics.decided(time.Since(t0))
		if err != nil {
			result = ResultFallback
			ev.Error().Err(err).Str("fallback", d.Rule).Msg("policy failed: answering the fallback decision")
		}
	}

	answer := emptyAnswer
	duplicate := false
	if d.Async {
		duplicate, err = h.schedule(req.Context(), &res, d)
		if err != nil {
			// Never a silent {}: without a stored job nobody would act.
			ev.Error().Err(err).Msg("could not store async decision: answering the fallback decision")
			d, result = h.decider.Fallback(), ResultFallback
		}
	}
	if !d.Async && d.Instruction != nil {
		if answer, err = json.Marshal(d.Instruction); err != nil {
			ev.Error().Err(err).Msg("could not encode instruction: answering the fallback decision")
			d, result = h.decider.Fallback(), ResultFallback
			answer, _ = json.Marshal(d.Instruction)
		}
	}

	elapsed := time.Since(start)
	h.metrics.callback(result, elapsed)
	h.metrics.decision(d)
	line := ev.Info()
	if result != ResultOK {
		line = ev.Warn()
	}
	line = line.Str("result", result).Str("rule", d.Rule).Str("instruction", instructionName(d)).
		Bool("async", d.Async).Dur("latency_ms", elapsed).Int("task_age", res.TaskAge).Str("queue", res.TaskQueueSid)
	if duplicate {
		line = line.Bool("duplicate", true)
	}
	if h.logAttrs {
		line = line.Interface("task_attributes", res.TaskAttributes).Interface("worker_attributes", res.WorkerAttributes)
	}
	line.Msg("callback answered")
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, answer)
}

func (h *callback) schedule(ctx context.Context, r *policy.Reservation, d policy.Decision) (bool, error) {
	if h.scheduler == nil {
		return false, errors.New("async decisions need the durable queue, which is not configured")
	}
	return h.scheduler.Schedule(ctx, r, d)
}

func (h *callback) badRequest(c echo.Context, ev zerolog.Logger, start time.Time, err error) error {
	h.metrics.callback(ResultBadRequest, time.Since(start))
	ev.Warn().Str("result", ResultBadRequest).Err(err).Msg("callback refused: bad parameters")
	return c.String(http.StatusBadRequest, "bad request: "+err.Error()+"\n")
}

func instructionName(d policy.Decision) string {
	if d.Instruction == nil {
		return "later"
	}
	return d.Instruction.Name()
}

var errTooLarge = errors.New("body exceeds the limit")

// readBody reads at most limit bytes, and fails rather than truncates: a cut
// body would fail the signature check for a confusing reason.
func readBody(body io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, errTooLarge
	}
	return data, nil
}
