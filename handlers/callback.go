package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/trace"

	"github.com/assignd/assignd/policy"
)

// Decider is what the callback needs of a policy: a decision that is always
// usable. policy.Guard implements it: on error it returns the fallback, and
// a decision carries its own policy's fallback in OnError, used when the
// decision cannot be carried out; Fallback is for a request no policy saw.
type Decider interface {
	Decide(ctx context.Context, r *policy.Reservation) (policy.Decision, error)
	Fallback() policy.Decision
}

// Scheduler durably records an async decision so that it is applied through
// the Reservations REST API after the callback has been answered. When it
// returns nil the decision is stored; duplicate reports that this
// reservation already had one (a retried or fallback-URL callback). A
// non-nil error means nothing is stored, and nothing ever will be from this
// call (not even once ctx has ended and a stalled store recovers): the
// handler then answers with the fallback instruction, and a decision stored
// later would act on the reservation a second time.
type Scheduler interface {
	Schedule(ctx context.Context, r *policy.Reservation, d policy.Decision) (duplicate bool, err error)
}

// Callback results, as logged and counted.
const (
	ResultOK           = "ok"
	ResultBadSignature = "bad_signature"
	ResultBadRequest   = "bad_request"
	// ResultMalformed: refused before the signature check for a shape no
	// TaskRouter request has (see CheckShape).
	ResultMalformed = "malformed"
	ResultFallback  = "fallback"
)

// emptyAnswer is {}: "I will update the reservation through the REST API".
var emptyAnswer = []byte("{}")

type callback struct {
	log       zerolog.Logger
	refusals  *refusalLog
	verifier  *Verifier
	decider   Decider
	scheduler Scheduler // nil: async decisions are refused (fallback)
	metrics   *Metrics
	bodyLimit int64
	logAttrs  bool
	budget    time.Duration
	overdue   error // the budget context's cause, for the log
	tracer    trace.Tracer
	recorder  Recorder // nil: no decision log
}

// answerMargin is kept from the budget for encoding, logging and writing the
// answer once the decision is made (or stored).
const answerMargin = 100 * time.Millisecond

func (h *callback) serve(c echo.Context) error {
	start := time.Now()
	req := c.Request()
	ctx, sp := h.startSpan(c)
	defer sp.end()

	body, err := receiveBody(req, h.bodyLimit)
	if err != nil {
		h.metrics.callback(ResultBadRequest, time.Since(start))
		sp.result = ResultBadRequest
		h.refusals.bodyRefused("callback", req, err, h.bodyLimit)
		h.record(CallbackRecord{Received: start, Latency: time.Since(start), Result: ResultBadRequest, Err: err})
		return refuseBody(c)
	}
	// Anyone can send this: refused for its shape, it is counted and
	// (sampled) logged, never recorded, and costs one scan of the body.
	if err := CheckShape(body); err != nil {
		h.metrics.callback(ResultMalformed, time.Since(start))
		sp.result = ResultMalformed
		h.refusals.shapeRefused("callback", req, err)
		return c.String(http.StatusBadRequest, err.Error()+"\n")
	}

	// Nothing in the request is trusted or acted on before its signature
	// holds. An unparseable body cannot carry a valid signature either.
	_, vspan := h.childSpan(ctx, SpanSignature)
	form, checked, err := h.verifier.VerifyForm(req, body)
	vspan.End()
	if err != nil {
		h.metrics.callback(ResultBadSignature, time.Since(start))
		sp.result = ResultBadSignature
		h.refusals.signatureRefused("callback", req, checked, err, h.verifier.Hint(req, err))
		h.record(CallbackRecord{Received: start, Latency: time.Since(start), Result: ResultBadSignature, CheckedURL: checked, Err: err, Form: form})
		return c.String(http.StatusForbidden, "invalid Twilio signature\n")
	}

	// One budget from receipt, safely inside the 5 s Twilio waits: the
	// decision and storing an async decision both end by it, so the answer
	// is never one TaskRouter has stopped waiting for.
	ctx, cancel := context.WithDeadlineCause(ctx, start.Add(h.budget-answerMargin), h.overdue)
	defer cancel()

	res, err := ParseReservation(form, start)
	var attrErr *AttributeError
	if err != nil && !errors.As(err, &attrErr) {
		h.metrics.callback(ResultBadRequest, time.Since(start))
		sp.result, sp.res = ResultBadRequest, &res
		h.log.Warn().Str("result", ResultBadRequest).Str("path", req.URL.Path).Str("reservation", res.ReservationSid).Err(err).
			Msg("callback refused: bad parameters")
		h.record(CallbackRecord{Received: start, Latency: time.Since(start), Result: ResultBadRequest, CheckedURL: checked, Err: err, Reservation: &res, Form: form})
		return c.String(http.StatusBadRequest, "bad request: "+err.Error()+"\n")
	}

	var d policy.Decision
	var why error // set when the answer is a fallback
	result := ResultOK
	var explain *policy.Trace
	if h.recorder != nil {
		explain = &policy.Trace{}
		ctx = policy.WithTrace(ctx, explain)
	}
	if attrErr != nil {
		// Signed by Twilio but the attributes are not objects: deciding on
		// half the facts would be a guess, so give the configured fallback.
		d, result, why = h.decider.Fallback(), ResultFallback, fmt.Errorf("malformed attributes: %w", attrErr)
	} else {
		t0 := time.Now()
		dctx, dspan := h.childSpan(ctx, SpanDecide)
		d, err = h.decider.Decide(dctx, &res)
		endStep(dspan, err)
		h.metrics.decided(time.Since(t0))
		if err != nil {
			result, why = ResultFallback, fmt.Errorf("policy failed: %w", err)
		}
	}

	answer := emptyAnswer
	duplicate := false
	if d.Async {
		duplicate, err = h.schedule(ctx, &res, d)
		if err != nil {
			// Never a silent {}: without a stored job nobody would act.
			d, result, why = h.fallbackFor(d), ResultFallback, fmt.Errorf("could not store async decision: %w", err)
		}
	}
	if !d.Async && d.Instruction != nil {
		if answer, err = json.Marshal(d.Instruction); err != nil {
			d, result, why = h.fallbackFor(d), ResultFallback, fmt.Errorf("could not encode instruction: %w", err)
			answer, _ = json.Marshal(d.Instruction)
		}
	}

	elapsed := time.Since(start)
	h.metrics.callback(result, elapsed)
	h.metrics.decision(d)
	sp.result, sp.res, sp.decision, sp.decided, sp.dup = result, &res, d, true, duplicate
	line := h.log.Info()
	if why != nil && h.logAttrs {
		line = h.log.Warn().Err(why)
	} else if why != nil {
		// The error may quote attribute values (a value built from one,
		// a computed key): without LOG_ATTRIBUTES only its redacted text.
		line = h.log.Warn().Str(zerolog.ErrorFieldName, policy.RedactError(why))
	}
	line = line.Str("result", result).Str("reservation", res.ReservationSid).Str("task", res.TaskSid).Str("worker", res.WorkerSid).
		Str("rule", d.Rule).Str("instruction", d.InstructionName()).Bool("async", d.Async).Dur("latency_ms", elapsed).
		Int("task_age", res.TaskAge).Str("queue", res.TaskQueueSid)
	if duplicate {
		line = line.Bool("duplicate", true)
	}
	if elapsed > h.budget {
		line = line.Bool("over_budget", true)
	}
	if h.logAttrs {
		line = line.Interface("task_attributes", res.TaskAttributes).Interface("worker_attributes", res.WorkerAttributes)
	}
	line.Ctx(ctx).Msg("callback answered")
	h.record(CallbackRecord{Received: start, Latency: elapsed, Result: result, CheckedURL: checked, Err: why,
		Reservation: &res, Form: form, Decision: d, Steps: explain.Steps(), Answer: answer, Duplicate: duplicate})
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, answer)
}

// record hands a callback to the recorder, if any.
func (h *callback) record(c CallbackRecord) {
	if h.recorder != nil {
		h.recorder.Record(c)
	}
}

// fallbackFor is the fallback of the policy that made d (see
// policy.Decision.OnError), else the one in force.
func (h *callback) fallbackFor(d policy.Decision) policy.Decision {
	if d.OnError != nil {
		return *d.OnError
	}
	return h.decider.Fallback()
}

func (h *callback) schedule(ctx context.Context, r *policy.Reservation, d policy.Decision) (dup bool, err error) {
	if h.scheduler == nil {
		return false, errors.New("async decisions need the durable queue, which is not configured")
	}
	// The job carries this span's context, so the REST call it leads to
	// links back here.
	ctx, span := h.childSpan(ctx, SpanStore)
	defer func() { endStep(span, err) }()
	return h.scheduler.Schedule(ctx, r, d)
}

var errTooLarge = errors.New("body exceeds the limit")

// bodyPrealloc is the most a body's buffer starts with. Content-Length is
// the sender's word: sized from it, thousands of connections announcing
// the limit and sending a byte would each hold a full buffer.
const bodyPrealloc = 8 << 10

// receiveBody reads r's body (see readBody). Once it is in whole, the
// request is in flight: a ConnLimiter no longer evicts its connection.
func receiveBody(r *http.Request, limit int64) ([]byte, error) {
	body, err := readBody(r, limit)
	if err == nil {
		markInFlight(r.Context())
	}
	return body, err
}

// readBody reads at most limit bytes, and fails rather than truncates: a cut
// body would fail the signature check for a confusing reason. A body
// announced above the limit fails before any of it is read.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, errTooLarge
	}
	size := min(max(r.ContentLength, 0), bodyPrealloc)
	buf := bytes.NewBuffer(make([]byte, 0, size+bytes.MinRead)) // MinRead: room for the read that finds EOF
	if _, err := buf.ReadFrom(io.LimitReader(r.Body, limit+1)); err != nil {
		return nil, err
	}
	if int64(buf.Len()) > limit {
		return nil, errTooLarge
	}
	return buf.Bytes(), nil
}

// refuseBody answers a body receiveBody refused, closing the connection:
// the rest of the body is never read, not even to reuse the connection.
func refuseBody(c echo.Context) error {
	c.Response().Header().Set(echo.HeaderConnection, "close")
	return c.String(http.StatusRequestEntityTooLarge, "request body too large\n")
}
