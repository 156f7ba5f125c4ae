package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/trace"

	"github.com/assignd/assignd/policy"
)

// Decider is what the callback needs of a policy: a decision that is always
// usable. policy.Guard implements it: on error it returns the fallback, and
// a decision carries its own policy's fallback in Decision.Fallback, used
// when the decision cannot be carried out; Fallback() is for a request no
// policy saw.
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
	gate
	log       zerolog.Logger
	decider   Decider
	scheduler Scheduler // nil: async decisions are refused (fallback)
	metrics   *Metrics
	logAttrs  bool
	budget    time.Duration
	overdue   error // the budget context's cause, for the log
	tracer    trace.Tracer
	recorder  Recorder // nil: no decision log
}

// answerMargin is kept from the budget for encoding, logging and writing the
// answer once the decision is made (or stored).
const answerMargin = 100 * time.Millisecond

// serve settles the callback's outcome, reports it to every sink and
// answers it.
func (h *callback) serve(c echo.Context) error {
	o := outcome{req: c.Request()}
	o.Received = time.Now()
	ctx, sp := h.startSpan(c)
	defer sp.end(&o) // after the answer: the span carries its status
	h.settle(ctx, &o)
	o.Latency = time.Since(o.Received)
	h.report(ctx, &o)
	return o.answer(c)
}

// settle runs the callback's steps, which stop at the first refusal: admit
// the request, parse it, decide, and carry the decision out.
func (h *callback) settle(ctx context.Context, o *outcome) {
	form, ok := h.admit(ctx, o)
	if !ok {
		return
	}
	// One budget from receipt, safely inside the 5 s Twilio waits: the
	// decision and storing an async decision both end by it, so the answer
	// is never one TaskRouter has stopped waiting for.
	ctx, cancel := context.WithDeadlineCause(ctx, o.Received.Add(h.budget-answerMargin), h.overdue)
	defer cancel()
	res, attrErr, ok := h.parse(o, form)
	if !ok {
		return
	}
	var explain *policy.Trace
	if h.recorder != nil {
		explain = &policy.Trace{}
		ctx = policy.WithTrace(ctx, explain)
	}
	h.decide(ctx, o, res, attrErr)
	h.carryOut(ctx, o, res)
	o.Steps = explain.Steps()
}

// admit reads the body and checks its shape, then its signature: nothing in
// the request is trusted or acted on before it holds. An unparseable body
// cannot carry a valid signature either.
func (h *callback) admit(ctx context.Context, o *outcome) (url.Values, bool) {
	body, r, err := h.read(o.req)
	if err != nil {
		o.refuse(r, err)
		return nil, false
	}
	_, vspan := h.childSpan(ctx, SpanSignature)
	form, checked, err := h.verifier.VerifyForm(o.req, body)
	vspan.End()
	o.CheckedURL = checked
	if err != nil {
		o.Form = form // unverified: what the sender claimed
		o.refuse(refusedSignature, err)
		return nil, false
	}
	return form, true
}

// parse reads the reservation from the signed form. Attributes that are not
// objects leave it usable for a fallback: they come back as attrErr.
func (h *callback) parse(o *outcome, form url.Values) (res *policy.Reservation, attrErr *AttributeError, ok bool) {
	r, err := ParseReservation(form, o.Received)
	o.Form, o.Reservation = form, &r
	if err != nil && !errors.As(err, &attrErr) {
		o.refuse(refusedParams, err)
		return nil, nil, false
	}
	return &r, attrErr, true
}

// decide asks the policy, or gives the fallback for a reservation whose
// attributes it cannot read.
func (h *callback) decide(ctx context.Context, o *outcome, res *policy.Reservation, attrErr *AttributeError) {
	o.Result, o.decided = ResultOK, true
	if attrErr != nil {
		// Signed by Twilio but the attributes are not objects: deciding on
		// half the facts would be a guess, so give the configured fallback.
		o.fallBack(h.decider.Fallback(), fmt.Errorf("malformed attributes: %w", attrErr))
		return
	}
	t0 := time.Now()
	dctx, dspan := h.childSpan(ctx, SpanDecide)
	d, err := h.decider.Decide(dctx, res)
	endStep(dspan, err)
	o.asked, o.decideTook, o.Decision = true, time.Since(t0), d
	if err != nil {
		o.Result, o.Err = ResultFallback, fmt.Errorf("policy failed: %w", err)
	}
}

// carryOut stores an async decision, or encodes a sync one as the answer;
// when either fails, the answer is the fallback of the policy that decided.
func (h *callback) carryOut(ctx context.Context, o *outcome, res *policy.Reservation) {
	o.Answer = emptyAnswer
	if d := o.Decision; d.Async {
		dup, err := h.schedule(ctx, res, d)
		o.Duplicate = dup
		if err != nil {
			// Never a silent {}: without a stored job nobody would act.
			o.fallBack(h.fallbackFor(d), fmt.Errorf("could not store async decision: %w", err))
		}
	}
	if d := o.Decision; !d.Async && d.Instruction != nil {
		answer, err := json.Marshal(d.Instruction)
		if err != nil {
			o.fallBack(h.fallbackFor(d), fmt.Errorf("could not encode instruction: %w", err))
			answer, _ = json.Marshal(o.Decision.Instruction)
		}
		o.Answer = answer
	}
}

// fallbackFor is the fallback of the policy that made d (see
// policy.Decision.Fallback), else the one in force.
func (h *callback) fallbackFor(d policy.Decision) policy.Decision {
	if d.Fallback != nil {
		return *d.Fallback
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
	if _, err := buf.ReadFrom(io.LimitReader(wireBounded(r, limit), limit+1)); err != nil {
		return nil, err
	}
	if int64(buf.Len()) > limit {
		return nil, errTooLarge
	}
	return buf.Bytes(), nil
}

// refuseBody answers a body receiveBody refused, closing the connection:
// the rest of the body is never read, not even to reuse the connection. A
// body over the limit is 413; one that broke off, stalled or was badly
// framed is the sender's fault too, but not a size: 400.
func refuseBody(c echo.Context, err error) error {
	c.Response().Header().Set(echo.HeaderConnection, "close")
	if errors.Is(err, errTooLarge) {
		return c.String(http.StatusRequestEntityTooLarge, "request body too large\n")
	}
	return c.String(http.StatusBadRequest, "request body unreadable: it broke off, stalled or was badly framed\n")
}
