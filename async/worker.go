package async

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/rs/zerolog"

	"github.com/assignd/assignd/policy"
)

// ApplyArgs is one stored async decision: apply Instruction to the
// reservation before Deadline. River keeps at most one per ReservationSid.
type ApplyArgs struct {
	AccountSid     string          `json:"account_sid"`
	WorkspaceSid   string          `json:"workspace_sid"`
	TaskSid        string          `json:"task_sid"`
	WorkerSid      string          `json:"worker_sid"`
	ReservationSid string          `json:"reservation_sid" river:"unique"`
	Instruction    json.RawMessage `json:"instruction"` // Twilio's instruction JSON, secrets sealed
	// Fallback is the policy's on_error instruction when the decision was
	// stored, applied if Twilio refuses Instruction (secrets sealed).
	Fallback   json.RawMessage `json:"on_error,omitempty"`
	Rule       string          `json:"rule"`
	ReceivedAt time.Time       `json:"received_at"`
	// Deadline counts from the earliest evidence of the reservation's
	// creation (see Queue.created).
	Deadline time.Time `json:"deadline"`
}

// Kind names the job type in the river_job table.
func (ApplyArgs) Kind() string { return "apply_reservation_decision" }

// InsertOpts makes the job unique by reservation across every state River
// retains (completed jobs are kept 24 h, the longest reservation timeout).
func (ApplyArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{
		Queue:       queueName,
		MaxAttempts: maxAttempts,
		UniqueOpts:  river.UniqueOpts{ByArgs: true, ByState: uniqueAcrossAllStates},
	}
}

// uniqueAcrossAllStates includes cancelled and discarded, which River's
// default leaves out: a duplicate callback after a failed or expired job
// must not start a second attempt at the reservation.
var uniqueAcrossAllStates = []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStateCancelled, rivertype.JobStateCompleted,
	rivertype.JobStateDiscarded, rivertype.JobStatePending, rivertype.JobStateRetryable,
	rivertype.JobStateRunning, rivertype.JobStateScheduled,
}

const (
	queueName   = "reservations"
	maxAttempts = 50
	// jobTimeout bounds one attempt: a REST update and, at most, a fetch.
	jobTimeout = 25 * time.Second
	backoffMin = 250 * time.Millisecond
	backoffMax = 10 * time.Second
)

// Output is recorded in the job's metadata ("output") when it finishes.
type Output struct {
	Outcome           string `json:"outcome"`
	Instruction       string `json:"instruction,omitempty"` // the instruction the outcome is about: accept, reject, …
	Fallback          bool   `json:"on_error,omitempty"`    // it was the policy's on_error instruction
	ReservationStatus string `json:"reservation_status,omitempty"`
	VerifiedByFetch   bool   `json:"verified_by_fetch,omitempty"`
	Attempt           int    `json:"attempt"`
	Detail            string `json:"detail,omitempty"`
	// Refusal is Twilio's refusal of the decision's own update, when the
	// reservation was still pending after it (see OutcomeFallbackApplied).
	Refusal *RefusalRecord `json:"refusal,omitempty"`
}

// RefusalRecord is a 400/409 Twilio answered while the reservation stayed pending.
type RefusalRecord struct {
	Status  int    `json:"status"`
	Code    int    `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}

// RESTAttempt is one REST request, as recorded in the job's metadata under
// MetadataAttempts across all of the job's attempts, so an inspector can
// show how a decision went.
type RESTAttempt struct {
	At                time.Time `json:"at"`
	Attempt           int       `json:"attempt"` // River's attempt number
	Request           string    `json:"request"` // "update", "update on_error" or "fetch"
	Status            int       `json:"status,omitempty"`
	Class             string    `json:"class"`
	DurationMs        float64   `json:"duration_ms"`
	Code              int       `json:"code,omitempty"`
	Message           string    `json:"message,omitempty"`
	ReservationStatus string    `json:"reservation_status,omitempty"` // fetch only
	Error             string    `json:"error,omitempty"`
}

// Attempts returns the REST requests recorded on a job row, oldest first,
// for an inspector (and tests) to show how a decision went.
func Attempts(row *rivertype.JobRow) ([]RESTAttempt, error) {
	var md jobMetadata
	if len(row.Metadata) == 0 {
		return nil, nil
	}
	if err := json.Unmarshal(row.Metadata, &md); err != nil {
		return nil, fmt.Errorf("job %d metadata: %w", row.ID, err)
	}
	return md.Attempts, nil
}

// Job metadata keys.
const (
	MetadataAttempts = "rest_attempts"
	metadataRefusal  = "refusal" // set once the decision's own update was refused
	metadataSnoozes  = "snoozes" // River's own count of snoozes (429s here)
	maxRecorded      = 200       // attempts kept per job: enough for any 50-attempt run
)

type applyWorker struct {
	river.WorkerDefaults[ApplyArgs]
	api     *API
	log     zerolog.Logger
	metrics *Metrics
	now     func() time.Time
	seal    *sealer
	// fence, when set, is asked before each REST request; an error means
	// this instance may have lost its jobs to other instances (see
	// sweeper.fence), so the attempt fails without sending.
	fence func() error
}

func (w *applyWorker) Timeout(*river.Job[ApplyArgs]) time.Duration { return jobTimeout }

// NextRetry backs off exponentially with jitter, and never past the
// reservation deadline: at the deadline Work records the job's outcome.
func (w *applyWorker) NextRetry(job *river.Job[ApplyArgs]) time.Time {
	return w.now().Add(backoff(job.Attempt, job.Args.Deadline.Sub(w.now())))
}

// backoff is the delay before retry number attempt, at most remaining.
func backoff(attempt int, remaining time.Duration) time.Duration {
	d := backoffMin << min(max(attempt-1, 0), 10)
	d = min(d, backoffMax)
	d = d/2 + rand.N(d/2+1) // "equal jitter": spread retries, keep a floor
	return max(min(d, remaining), 0)
}

// jobMetadata is what the worker reads back from earlier attempts.
type jobMetadata struct {
	Attempts []RESTAttempt  `json:"rest_attempts"`
	Refusal  *RefusalRecord `json:"refusal"`
	Snoozes  int            `json:"snoozes"`
}

// applyAttempt is one attempt at applying a job's decision.
type applyAttempt struct {
	w        *applyWorker
	job      *river.Job[ApplyArgs]
	log      zerolog.Logger
	md       jobMetadata
	effect   Effect
	fallback bool   // applying the on_error instruction
	applying string // the name of the instruction this attempt applies, once read
	verified bool
	status   string // the last GET's reservation_status
}

func (w *applyWorker) Work(ctx context.Context, job *river.Job[ApplyArgs]) error {
	a := job.Args
	// Ctx: with tracing on, these lines carry the job's trace_id.
	r := &applyAttempt{w: w, job: job, log: w.log.With().Ctx(ctx).Str("reservation", a.ReservationSid).Str("task", a.TaskSid).
		Str("rule", a.Rule).Int("attempt", job.Attempt).Logger()}
	if len(job.Metadata) > 0 {
		if err := json.Unmarshal(job.Metadata, &r.md); err != nil {
			r.log.Warn().Err(err).Msg("unreadable job metadata: treating earlier attempts as ambiguous")
			r.md = jobMetadata{}
		}
	}
	r.fallback = r.md.Refusal != nil
	ins, err := r.instruction()
	if err != nil {
		return r.finish(ctx, Output{Outcome: OutcomeFailed, Detail: err.Error()}, err)
	}
	r.effect = effectOf(ins)
	ambiguous := r.ambiguousBefore()
	if !w.now().Before(a.Deadline) {
		if !ambiguous {
			return r.finish(ctx, Output{Outcome: OutcomeExpired, Detail: "reservation deadline passed before the update could be applied"}, errExpired)
		}
		// The deadline is ours; the reservation's status is Twilio's.
		gctx, cancel := context.WithTimeout(ctx, verifyTimeout)
		defer cancel()
		return r.verify(ctx, gctx, ins, AnswerLate, Result{})
	}
	dctx, cancel := context.WithDeadline(ctx, a.Deadline)
	defer cancel()
	if ambiguous {
		return r.verify(dctx, dctx, ins, AnswerEarlier, Result{})
	}
	return r.update(dctx, ins)
}

// verifyTimeout bounds the GET made after the deadline.
const verifyTimeout = 5 * time.Second

// instruction is the instruction this attempt applies: the decision's, or
// on_error's once the decision's was refused.
func (r *applyAttempt) instruction() (policy.Instruction, error) {
	raw, what := r.job.Args.Instruction, "instruction"
	if r.fallback {
		raw, what = r.job.Args.Fallback, "on_error instruction"
	}
	opened, err := r.w.seal.openInstruction(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	ins, err := policy.ParseInstruction(opened)
	if err == nil {
		err = ins.Validate()
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	r.applying = ins.Name()
	return ins, nil
}

// ambiguousBefore reports whether an earlier attempt may have applied
// something this one cannot see: its last update was ambiguous, or an
// attempt left no record at all (its process died mid-call).
func (r *applyAttempt) ambiguousBefore() bool {
	recorded := map[int]bool{}
	var last *RESTAttempt
	for i := range r.md.Attempts {
		at := &r.md.Attempts[i]
		recorded[at.Attempt] = true
		if at.Request != "fetch" {
			last = at
		}
	}
	for n := 1; n < r.job.Attempt; n++ {
		if !recorded[n] {
			return true
		}
	}
	return last != nil && last.Class == Ambiguous.String()
}

// record appends one REST request to the job's metadata.
func (r *applyAttempt) record(ctx context.Context, request string, res Result, status string) {
	r.w.metrics.restCall(res.Class)
	at := RESTAttempt{At: r.w.now().Add(-res.Duration).UTC(), Attempt: r.job.Attempt, Request: request, Status: res.Status,
		Class: res.Class.String(), DurationMs: float64(res.Duration.Microseconds()) / 1000, Code: res.Code,
		Message: res.Message, ReservationStatus: status}
	if res.Err != nil && res.Class != Applied {
		at.Error = res.Err.Error()
	}
	r.md.Attempts = append(r.md.Attempts, at)
	if n := len(r.md.Attempts); n > maxRecorded {
		r.md.Attempts = r.md.Attempts[n-maxRecorded:]
	}
	if err := river.MetadataSet(ctx, MetadataAttempts, r.md.Attempts); err != nil {
		r.log.Error().Err(err).Msg("could not record the REST attempt")
	}
}

func (r *applyAttempt) update(ctx context.Context, ins policy.Instruction) error {
	if err := r.fenced(); err != nil {
		return err
	}
	a := r.job.Args
	res := r.w.api.Update(ctx, a.WorkspaceSid, a.TaskSid, a.ReservationSid, ins)
	request := "update"
	if r.fallback {
		request = "update on_error"
	}
	r.record(ctx, request, res, "")
	return r.act(ctx, ctx, ins, answerOf(res.Class), SeenNone, res)
}

// fenced refuses a REST request while this instance's heartbeat is stale.
// The error is River's to retry; nothing is recorded, so the next attempt
// (here or on the instance that took the job) finds this one unrecorded and
// verifies before updating.
func (r *applyAttempt) fenced() error {
	if r.w.fence == nil {
		return nil
	}
	if err := r.w.fence(); err != nil {
		r.log.Warn().Err(err).Msg("async decision not sent: heartbeat stale")
		return err
	}
	return nil
}

// verify GETs the reservation (under gctx) and acts on what it shows.
func (r *applyAttempt) verify(ctx, gctx context.Context, ins policy.Instruction, answer Answer, cause Result) error {
	if err := r.fenced(); err != nil {
		return err
	}
	a := r.job.Args
	status, res := r.w.api.Fetch(gctx, a.WorkspaceSid, a.TaskSid, a.ReservationSid)
	r.record(ctx, "fetch", res, status)
	if res.Class == Applied {
		r.verified, r.status = true, status
	}
	return r.act(ctx, gctx, ins, answer, seenOf(r.effect, status, res), cause)
}

// act does what the outcome table says for (effect, answer, seen). cause is
// the update's result that led here, when there was one.
func (r *applyAttempt) act(ctx, gctx context.Context, ins policy.Instruction, answer Answer, seen Seen, cause Result) error {
	row, ok := lookup(r.effect, answer, seen)
	if !ok { // the table test makes this unreachable; fail safe, never resend
		err := fmt.Errorf("no outcome table row for %s / %s / %s", r.effect, answer, seen)
		return r.finish(ctx, Output{Outcome: OutcomeUnknown, Detail: err.Error()}, err)
	}
	detail := row.Why
	if cause.Err != nil {
		detail += ": " + cause.Err.Error()
	}
	switch row.Next {
	case NextFinish:
		return r.finishAs(ctx, row.Outcome, detail)
	case NextUpdate:
		return r.update(ctx, ins)
	case NextVerify:
		return r.verify(ctx, gctx, ins, answer, cause)
	case NextRetry:
		return r.retry(ctx, answer, seen, detail)
	case NextSnooze:
		return r.snooze(ctx, cause)
	case NextFallback:
		return r.applyFallback(ctx, cause, detail)
	}
	return fmt.Errorf("outcome table: unknown next step %q", row.Next)
}

// finishAs ends the job with the table's outcome; only an applied one is
// not an error.
func (r *applyAttempt) finishAs(ctx context.Context, outcome, detail string) error {
	out := Output{Outcome: outcome, Detail: detail, ReservationStatus: r.status, VerifiedByFetch: r.verified}
	if outcome == OutcomeApplied && r.fallback {
		out.Outcome = OutcomeFallbackApplied
	}
	if outcome == OutcomeApplied && !r.verified {
		out.Detail = ""
	}
	var err error
	if outcome != OutcomeApplied {
		err = errors.New(detail)
		if outcome == OutcomeExpired {
			err = fmt.Errorf("%w: %s", errExpired, detail)
		}
	}
	return r.finish(ctx, out, err)
}

// retry leaves the job to River's next attempt, or gives up after the last.
func (r *applyAttempt) retry(ctx context.Context, answer Answer, seen Seen, detail string) error {
	if r.job.Attempt >= r.job.MaxAttempts {
		return r.finish(ctx, Output{Outcome: OutcomeFailed, Detail: "gave up after " + detail}, errors.New(detail))
	}
	r.log.Warn().Str("answer", string(answer)).Str("seen", string(seen)).Str("detail", detail).Msg("update not confirmed: retrying")
	r.w.metrics.retry(string(answer))
	return fmt.Errorf("%s / %s: %s", answer, seen, detail)
}

// snooze waits out TaskRouter's rate limit (429), unless the wait would
// pass the reservation's deadline.
func (r *applyAttempt) snooze(ctx context.Context, cause Result) error {
	d := cause.RetryAfter
	if d <= 0 {
		// River does not count a snooze as an attempt, so the wait
		// grows with River's own count of this job's snoozes.
		d = backoff(r.md.Snoozes+1, time.Hour)
	}
	if !r.w.now().Add(d).Before(r.job.Args.Deadline) {
		return r.finish(ctx, Output{Outcome: OutcomeExpired, Detail: fmt.Sprintf("rate limited; the wait of %s is past the deadline", d)}, errExpired)
	}
	r.log.Warn().Dur("retry_in_ms", d).Int("snoozes", r.md.Snoozes).Msg("TaskRouter rate limited the update (429): waiting")
	r.w.metrics.retry("rate_limited")
	return river.JobSnooze(d)
}

// applyFallback applies the on_error instruction once Twilio has refused
// the decision and the reservation is still pending; with none stored, or
// when it was on_error that was refused, the job ends refused.
func (r *applyAttempt) applyFallback(ctx context.Context, cause Result, detail string) error {
	refusal := &RefusalRecord{Status: cause.Status, Code: cause.Code, Message: cause.Message}
	if r.fallback || len(r.job.Args.Fallback) == 0 {
		what := "no on_error instruction was stored"
		if r.fallback {
			what = "the on_error instruction was refused too"
		}
		err := fmt.Errorf("%s; %s", detail, what)
		return r.finish(ctx, Output{Outcome: OutcomeRefused, Detail: err.Error(), ReservationStatus: r.status,
			VerifiedByFetch: r.verified}, err)
	}
	r.log.Warn().Int("code", refusal.Code).Str("message", refusal.Message).Msg("Twilio refused the decision and the reservation is still pending: applying on_error")
	r.md.Refusal, r.fallback, r.verified, r.status = refusal, true, false, ""
	if err := river.MetadataSet(ctx, metadataRefusal, refusal); err != nil {
		r.log.Error().Err(err).Msg("could not record the refusal")
	}
	next, err := r.instruction()
	if err != nil {
		return r.finish(ctx, Output{Outcome: OutcomeRefused, Detail: err.Error()}, err)
	}
	r.effect = effectOf(next)
	return r.update(ctx, next)
}

var errExpired = errors.New("reservation deadline passed")

// finish records the job's final outcome on its row, in the log and in metrics.
func (r *applyAttempt) finish(ctx context.Context, out Output, err error) error {
	job := r.job
	out.Attempt = job.Attempt
	if out.Refusal == nil {
		out.Refusal = r.md.Refusal
	}
	out.Instruction, out.Fallback = r.applying, r.fallback
	if rerr := river.RecordOutput(ctx, out); rerr != nil {
		r.log.Error().Err(rerr).Msg("could not record job output")
	}
	since := r.w.now().Sub(job.Args.ReceivedAt)
	r.w.metrics.outcome(out.Outcome, since)
	ev := r.log.Info()
	switch out.Outcome {
	case OutcomeApplied:
	case OutcomeUnknown:
		ev = r.log.Error() // loud: a person should check this reservation
	default:
		ev = r.log.Warn()
	}
	if out.Refusal != nil {
		ev = ev.Int("refusal_code", out.Refusal.Code).Str("refusal_message", out.Refusal.Message)
	}
	ev.Str("outcome", out.Outcome).Str("instruction", out.Instruction).Bool("on_error", out.Fallback).Str("reservation_status", out.ReservationStatus).
		Bool("verified_by_fetch", out.VerifiedByFetch).Str("detail", out.Detail).
		Dur("since_callback_ms", since).Msg("async decision finished")
	if err == nil {
		return nil
	}
	return river.JobCancel(fmt.Errorf("%s: %w", out.Outcome, err))
}
