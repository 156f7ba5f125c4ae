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
	Instruction    json.RawMessage `json:"instruction"` // Twilio's instruction JSON
	Rule           string          `json:"rule"`
	ReceivedAt     time.Time       `json:"received_at"`
	Deadline       time.Time       `json:"deadline"`
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

// Outcomes recorded on the job row and in the log.
const (
	OutcomeApplied  = "applied"
	OutcomeExpired  = "expired"
	OutcomeCanceled = "canceled"
	OutcomeFailed   = "failed"
)

// Output is recorded in the job's metadata ("output") when it finishes.
type Output struct {
	Outcome           string `json:"outcome"`
	ReservationStatus string `json:"reservation_status,omitempty"`
	VerifiedByFetch   bool   `json:"verified_by_fetch,omitempty"`
	Attempt           int    `json:"attempt"`
	Detail            string `json:"detail,omitempty"`
}

type applyWorker struct {
	river.WorkerDefaults[ApplyArgs]
	api     *API
	log     zerolog.Logger
	metrics *Metrics
	now     func() time.Time
}

func (w *applyWorker) Timeout(*river.Job[ApplyArgs]) time.Duration { return jobTimeout }

// NextRetry backs off exponentially with jitter, and never past the
// reservation deadline: at the deadline Work records the job as expired.
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

func (w *applyWorker) Work(ctx context.Context, job *river.Job[ApplyArgs]) error {
	a := job.Args
	// Ctx: with tracing on, these lines carry the job's trace_id.
	log := w.log.With().Ctx(ctx).Str("reservation", a.ReservationSid).Str("task", a.TaskSid).
		Str("rule", a.Rule).Int("attempt", job.Attempt).Logger()
	if !w.now().Before(a.Deadline) {
		return w.finish(ctx, log, job, Output{Outcome: OutcomeExpired, Detail: "reservation deadline passed before the update could be applied"}, errExpired)
	}
	ins, err := policy.ParseInstruction(a.Instruction)
	if err == nil {
		err = ins.Validate()
	}
	if err != nil {
		return w.finish(ctx, log, job, Output{Outcome: OutcomeFailed, Detail: err.Error()}, err)
	}
	ctx, cancel := context.WithDeadline(ctx, a.Deadline)
	defer cancel()

	res := w.api.Update(ctx, a.WorkspaceSid, a.TaskSid, a.ReservationSid, ins)
	w.metrics.restCall(res.Class)
	switch res.Class {
	case Done:
		return w.finish(ctx, log, job, Output{Outcome: OutcomeApplied, ReservationStatus: wantStatus(ins)}, nil)

	case RateLimited:
		d := max(res.RetryAfter, backoff(job.Attempt, time.Hour))
		if !w.now().Add(d).Before(a.Deadline) {
			return w.finish(ctx, log, job, Output{Outcome: OutcomeExpired, Detail: fmt.Sprintf("rate limited; Retry-After %s is past the deadline", d)}, errExpired)
		}
		log.Warn().Dur("retry_in_ms", d).Msg("TaskRouter rate limited the update (429): retrying")
		w.metrics.retry("rate_limited")
		return river.JobSnooze(d) // a 429 was not processed: not an attempt

	case Transient:
		if job.Attempt >= job.MaxAttempts {
			return w.finish(ctx, log, job, Output{Outcome: OutcomeFailed, Detail: "gave up after " + res.Err.Error()}, res.Err)
		}
		log.Warn().Err(res.Err).Int("status", res.Status).Msg("update failed, may or may not have applied: retrying")
		w.metrics.retry("transient")
		return fmt.Errorf("update reservation: %w", res.Err)

	case NotPending:
		// The reservation can no longer take this update. If an earlier
		// attempt of ours got through (a 5xx or a dropped connection after
		// Twilio applied it), the reservation shows the status we asked for:
		// that is success, not a second update.
		status, fres := w.api.Fetch(ctx, a.WorkspaceSid, a.TaskSid, a.ReservationSid)
		w.metrics.restCall(fres.Class)
		switch {
		case fres.Class == Transient || fres.Class == RateLimited:
			w.metrics.retry("verify")
			return fmt.Errorf("fetch reservation after %d: %w", res.Status, fres.Err)
		case fres.Class == NotPending:
			return w.finish(ctx, log, job, Output{Outcome: OutcomeCanceled, Detail: "reservation no longer exists (404)"}, res.Err)
		case fres.Class != Done:
			return w.finish(ctx, log, job, Output{Outcome: OutcomeFailed, Detail: fres.Err.Error()}, fres.Err)
		case status == wantStatus(ins):
			return w.finish(ctx, log, job, Output{Outcome: OutcomeApplied, ReservationStatus: status, VerifiedByFetch: true}, nil)
		case status == "timeout":
			return w.finish(ctx, log, job, Output{Outcome: OutcomeExpired, ReservationStatus: status}, res.Err)
		case status == "canceled" || status == "rescinded":
			return w.finish(ctx, log, job, Output{Outcome: OutcomeCanceled, ReservationStatus: status}, res.Err)
		default:
			return w.finish(ctx, log, job, Output{Outcome: OutcomeFailed, ReservationStatus: status, Detail: res.Err.Error()}, res.Err)
		}

	default:
		return w.finish(ctx, log, job, Output{Outcome: OutcomeFailed, Detail: res.Err.Error()}, res.Err)
	}
}

var errExpired = errors.New("reservation deadline passed")

// finish records the job's final outcome on its row and in the log.
func (w *applyWorker) finish(ctx context.Context, log zerolog.Logger, job *river.Job[ApplyArgs], out Output, err error) error {
	out.Attempt = job.Attempt
	if rerr := river.RecordOutput(ctx, out); rerr != nil {
		log.Error().Err(rerr).Msg("could not record job output")
	}
	w.metrics.outcome(out.Outcome, w.now().Sub(job.Args.ReceivedAt))
	ev := log.Info()
	if out.Outcome != OutcomeApplied {
		ev = log.Warn()
	}
	ev.Str("outcome", out.Outcome).Str("reservation_status", out.ReservationStatus).
		Bool("verified_by_fetch", out.VerifiedByFetch).Str("detail", out.Detail).
		Dur("since_callback_ms", w.now().Sub(job.Args.ReceivedAt)).Msg("async decision finished")
	if err == nil {
		return nil
	}
	return river.JobCancel(fmt.Errorf("%s: %w", out.Outcome, err))
}

// wantStatus is the reservation status the instruction leads to.
func wantStatus(ins policy.Instruction) string {
	if _, ok := ins.(policy.Reject); ok {
		return "rejected"
	}
	return "accepted"
}
