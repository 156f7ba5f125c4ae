package async

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// JobReport is what the inspector shows of one stored async decision: its
// state, every failed attempt River recorded, and the final outcome the
// worker wrote into the job's metadata ("output").
type JobReport struct {
	ID          int64           `json:"id"`
	State       string          `json:"state"`
	Attempt     int             `json:"attempt"`
	MaxAttempts int             `json:"max_attempts"`
	CreatedAt   time.Time       `json:"created_at"`
	ScheduledAt time.Time       `json:"scheduled_at"`
	AttemptedAt *time.Time      `json:"attempted_at,omitempty"`
	FinalizedAt *time.Time      `json:"finalized_at,omitempty"`
	Rule        string          `json:"rule"`
	Instruction json.RawMessage `json:"instruction"`
	Deadline    time.Time       `json:"deadline"`
	Errors      []AttemptError  `json:"errors"`
	// Output is the worker's record of the outcome (see Output), as stored;
	// empty until the job finishes.
	Output json.RawMessage `json:"output,omitempty"`
}

// AttemptError is one failed attempt as River recorded it.
type AttemptError struct {
	At      time.Time `json:"at"`
	Attempt int       `json:"attempt"`
	Error   string    `json:"error"`
}

// Jobs returns the stored async decisions for a reservation (normally one:
// the queue keeps one per ReservationSid), oldest first. It only reads.
func (q *Queue) Jobs(ctx context.Context, reservationSid string) ([]JobReport, error) {
	// The args column is jsonb on PostgreSQL and JSON text on SQLite; both
	// answer ->> with a key name.
	params := river.NewJobListParams().Kinds(ApplyArgs{}.Kind()).First(100).
		OrderBy(river.JobListOrderByID, river.SortOrderAsc).
		Where("args ->> 'reservation_sid' = @reservation_sid", river.NamedArgs{"reservation_sid": reservationSid})
	res, err := q.store.list(ctx, params)
	if err != nil {
		return nil, fmt.Errorf("%s store: jobs for %s: %w", q.store, reservationSid, err)
	}
	out := make([]JobReport, 0, len(res.Jobs))
	for _, j := range res.Jobs {
		out = append(out, report(j))
	}
	return out, nil
}

func report(j *rivertype.JobRow) JobReport {
	r := JobReport{
		ID: j.ID, State: string(j.State), Attempt: j.Attempt, MaxAttempts: j.MaxAttempts,
		CreatedAt: j.CreatedAt, ScheduledAt: j.ScheduledAt, AttemptedAt: j.AttemptedAt, FinalizedAt: j.FinalizedAt,
		Output: j.Output(), Errors: make([]AttemptError, 0, len(j.Errors)),
	}
	var args ApplyArgs
	if err := json.Unmarshal(j.EncodedArgs, &args); err == nil {
		r.Rule, r.Instruction, r.Deadline = args.Rule, args.Instruction, args.Deadline
	}
	for _, e := range j.Errors {
		r.Errors = append(r.Errors, AttemptError{At: e.At, Attempt: e.Attempt, Error: e.Error})
	}
	return r
}
