// Package async applies decisions after the callback has been answered:
// a decision is stored durably as a River job before the handler answers
// {}, and a worker applies it through the Reservations REST API with
// retries, never past the reservation's deadline, and at most once per
// reservation. The store is SQLite in DATA_DIR for a single instance, or
// PostgreSQL (DATABASE_URL) for several instances sharing one queue.
package async

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"
	"github.com/rs/zerolog"
	_ "modernc.org/sqlite" // database/sql driver "sqlite", pure Go

	"github.com/assignd/assignd/internal/sqlitefile"
	"github.com/assignd/assignd/policy"
)

// Options configure a Queue.
type Options struct {
	Logger zerolog.Logger
	// DatabaseURL selects PostgreSQL; when empty the queue is SQLite in DataDir.
	DatabaseURL string
	DataDir     string
	// API applies decisions. Required unless the queue only inserts.
	API *API
	// Workers is how many REST calls may run at once.
	Workers int
	// ReservationTimeout is how long after the callback a decision may still
	// be applied (the Workflow's TaskReservationTimeout).
	ReservationTimeout time.Duration
	Metrics            *Metrics
	// Fallback returns the policy's on_error decision in force (e.g.
	// policy.Guard.Fallback). Its instruction is stored with each decision
	// and applied over REST when Twilio refuses the decision's own update
	// while the reservation is still pending. Nil: a refusal is recorded as
	// failed and the reservation left to time out.
	Fallback func() policy.Decision
	// Now is the clock; tests may replace it. Default time.Now.
	Now func() time.Time
	// Middleware is added to River's client, e.g. TraceMiddleware.
	Middleware []rivertype.Middleware
}

// FileName is the SQLite queue's file in DATA_DIR.
const FileName = "queue.sqlite"

// Options' defaults, and ASYNC_WORKERS' and RESERVATION_TIMEOUT's (a config
// test keeps them equal).
const (
	DefaultWorkers            = 50
	DefaultReservationTimeout = 120 * time.Second // TaskRouter's own default
)

// Queue stores async decisions and works them off. Which store and River
// driver are in use is the store's business.
type Queue struct {
	log     zerolog.Logger
	timeout time.Duration
	now     func() time.Time
	seal    *sealer // nil when the queue only inserts: no credentials to key it
	// fallback is the policy's on_error decision in force, stored with each
	// decision for when Twilio refuses the decision's own update.
	fallback func() policy.Decision

	batch *batcher
	store store
}

// Open connects to the store, runs River's migrations and prepares the
// worker. Call Start to begin working jobs.
func Open(ctx context.Context, o Options) (*Queue, error) {
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	if o.ReservationTimeout <= 0 {
		o.ReservationTimeout = DefaultReservationTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	q := &Queue{log: o.Logger, timeout: o.ReservationTimeout, now: o.Now, fallback: o.Fallback}
	if o.API != nil {
		q.seal = newSealer(o.API.password)
	}
	var (
		s   store
		err error
	)
	if o.DatabaseURL != "" {
		s, err = openPostgres(ctx, o, q.seal)
	} else {
		s, err = openSQLite(ctx, o, q.seal)
	}
	if err != nil {
		return nil, err
	}
	q.store = s
	q.batch = newBatcher(s.insertMany)
	return q, nil
}

func openPostgres(ctx context.Context, o Options, seal *sealer) (*postgresStore, error) {
	pool, err := pgxpool.New(ctx, o.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &postgresStore{pool: pool}
	if o.API != nil {
		// Several instances share the queue. River's own rescuer only acts
		// after a job has run longer than any attempt can, and only on the
		// leader (which may be the instance that died): the sweeper finds the
		// jobs of an instance whose heartbeat stopped within seconds instead.
		s.sweeper, err = newSweeper(ctx, o.DatabaseURL, o.Logger, sweepOptions{})
		if err != nil {
			pool.Close()
			return nil, err
		}
	}
	var fence func() error
	if s.sweeper != nil {
		fence = s.sweeper.fence
	}
	client, err := newClient(ctx, riverpgxv5.New(pool), o, seal, fence, func(c *river.Config) {
		c.RescueStuckJobsAfter = jobTimeout + 5*time.Second // the backstop
		if s.sweeper != nil {
			c.ID = s.sweeper.id
		}
	})
	if err != nil {
		s.close()
		return nil, err
	}
	s.riverClient = riverClient[pgx.Tx]{client}
	return s, nil
}

func openSQLite(ctx context.Context, o Options, seal *sealer) (*sqliteStore, error) {
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: data dir: %w", err)
	}
	// The SQLite queue belongs to one process. The lock makes that true, and
	// is what lets start-up treat jobs still marked running as orphans.
	lock, err := lockDir(o.DataDir)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(o.DataDir, FileName)
	dsn := sqlitefile.DSN(path, "_pragma=foreign_keys(ON)")
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	db.SetMaxOpenConns(1) // SQLite takes one writer; River's own advice
	s := &sqliteStore{db: db, lock: lock}
	client, err := newClient(ctx, riversqlite.New(db), o, seal, nil, nil)
	if err != nil {
		s.close()
		return nil, err
	}
	// Jobs a killed predecessor was working are still marked running; River
	// would leave them until its rescuer's next pass. We hold the lock, so
	// nothing else is working them: make them available again now. Each
	// re-run is safe: the worker treats an attempt it has no record of as
	// ambiguous and verifies before updating again.
	res, err := db.ExecContext(ctx, `UPDATE river_job SET state = 'available' WHERE state = 'running'`)
	if err != nil {
		s.close()
		return nil, fmt.Errorf("sqlite: requeue orphaned jobs: %w", err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		o.Logger.Warn().Int64("jobs", n).Msg("requeued async decisions left running by a previous process")
	}
	s.riverClient = riverClient[*sql.Tx]{client}
	return s, nil
}

// newClient migrates the schema and builds a River client for either driver.
// fence, when set, is asked before each REST request (see sweeper.fence).
func newClient[TTx any](ctx context.Context, driver riverdriver.Driver[TTx], o Options, seal *sealer, fence func() error, tune func(*river.Config)) (*river.Client[TTx], error) {
	mig, err := rivermigrate.New(driver, &rivermigrate.Config{Logger: slogger(o.Logger)})
	if err != nil {
		return nil, fmt.Errorf("river migrate: %w", err)
	}
	if _, err := mig.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return nil, fmt.Errorf("river migrate: %w", err)
	}
	workers := river.NewWorkers()
	if o.API != nil {
		river.AddWorker(workers, &applyWorker{api: o.API, log: o.Logger, metrics: o.Metrics, now: o.Now, seal: seal, fence: fence})
	}
	cfg := &river.Config{
		Logger:     slogger(o.Logger),
		Workers:    workers,
		JobTimeout: jobTimeout,
		// Keep finished jobs at least as long as any reservation can live, so
		// uniqueness catches a duplicate callback however late it comes.
		CompletedJobRetentionPeriod: 25 * time.Hour,
		CancelledJobRetentionPeriod: 25 * time.Hour,
		DiscardedJobRetentionPeriod: 7 * 24 * time.Hour,
		// Decisions are due within seconds: poll often (SQLite has no
		// LISTEN/NOTIFY; on PostgreSQL this is only the fallback).
		FetchCooldown:     5 * time.Millisecond,
		FetchPollInterval: 50 * time.Millisecond,
	}
	if o.API != nil {
		cfg.Queues = map[string]river.QueueConfig{queueName: {MaxWorkers: o.Workers}}
	} else {
		cfg.SkipUnknownJobCheck = true // insert-only: another process works the jobs
	}
	cfg.Middleware = o.Middleware
	if tune != nil {
		tune(cfg)
	}
	client, err := river.NewClient(driver, cfg)
	if err != nil {
		return nil, fmt.Errorf("river client: %w", err)
	}
	return client, nil
}

// slogger routes River's logs into ours, warnings and up only: River is
// chatty at info and its news belongs in metrics.
func slogger(l zerolog.Logger) *slog.Logger {
	return slog.New(zerolog.NewSlogHandler(l.With().Str("component", "river").Logger().Level(max(l.GetLevel(), zerolog.WarnLevel))))
}

// Store names the backing store: "sqlite" or "postgres".
func (q *Queue) Store() string { return q.store.name() }

// Schedule stores d for r. When it returns nil the decision is committed to
// the store and will be applied (or its failure recorded). duplicate reports
// that r already had a stored decision, in which case nothing new is stored.
//
// Schedule honours ctx: if ctx ends before the decision is committed, it
// returns ctx's error and the decision is never stored, not even later, so
// the caller can answer its fallback without the decision also being applied.
func (q *Queue) Schedule(ctx context.Context, r *policy.Reservation, d policy.Decision) (duplicate bool, err error) {
	res, err := q.schedule(ctx, r, d)
	if err != nil {
		return false, err
	}
	return res.UniqueSkippedAsDuplicate, nil
}

// creationMargin is subtracted from the callback's Timestamp: it has whole
// seconds only, and Twilio's clock and ours differ.
const creationMargin = 2 * time.Second

// created is the earliest evidence of when TaskRouter created the
// reservation: the callback's Timestamp (minus a margin) when it is sent and
// plausible, else when we received the callback. A callback from the
// fallback URL arrives seconds after the reservation was created, so counting
// from its arrival would overrun the reservation's timeout. received is when
// the callback arrived, as schedule stores it.
func (q *Queue) created(r *policy.Reservation, received time.Time) time.Time {
	secs, err := strconv.ParseInt(r.Timestamp, 10, 64)
	if err != nil || secs <= 0 {
		return received
	}
	stamp := time.Unix(secs, 0)
	ts := stamp.Add(-creationMargin)
	switch {
	case ts.After(received):
		// Later than its own arrival: clock skew, not evidence.
		return received
	case received.Sub(stamp) > q.timeout:
		// TaskRouter calls within seconds of creating the reservation, so
		// a Timestamp older than the whole timeout says the clocks disagree
		// (or the callback is a replay); trusting it would expire every
		// decision without a call.
		q.log.Warn().Str("reservation", r.ReservationSid).Str("timestamp", r.Timestamp).Time("received", received).
			Msg("callback Timestamp is older than the reservation timeout: ignored, counting from its arrival (clock skew?)")
		return received
	}
	return ts
}

func (q *Queue) schedule(ctx context.Context, r *policy.Reservation, d policy.Decision) (*rivertype.JobInsertResult, error) {
	if d.Instruction == nil {
		return nil, errors.New("schedule: decision has no instruction")
	}
	ins, err := q.instructionJSON(d.Instruction)
	if err != nil {
		return nil, fmt.Errorf("schedule: %w", err)
	}
	var fallback json.RawMessage
	if q.fallback != nil {
		if f := q.fallback(); f.Instruction != nil {
			if fallback, err = q.instructionJSON(f.Instruction); err != nil {
				return nil, fmt.Errorf("schedule: on_error: %w", err)
			}
		}
	}
	received := r.ReceivedAt
	if received.IsZero() {
		received = q.now()
	}
	args := ApplyArgs{
		AccountSid: r.AccountSid, WorkspaceSid: r.WorkspaceSid, TaskSid: r.TaskSid, WorkerSid: r.WorkerSid,
		ReservationSid: r.ReservationSid, Instruction: ins, Fallback: fallback, Rule: d.Rule,
		ReceivedAt: received, Deadline: q.created(r, received).Add(q.timeout),
	}
	opts := args.InsertOpts()
	opts.Metadata = traceMetadata(ctx, opts.Metadata)
	if d.Delay > 0 {
		opts.ScheduledAt = received.Add(d.Delay)
	}
	res, err := q.batch.insert(ctx, args, &opts)
	if err != nil {
		return nil, fmt.Errorf("store async decision (%s): %w", q.store.name(), err)
	}
	return res, nil
}

// instructionJSON is the instruction as stored in the job's args, secrets
// sealed (see seal.go).
func (q *Queue) instructionJSON(ins policy.Instruction) (json.RawMessage, error) {
	b, err := json.Marshal(ins)
	if err != nil {
		return nil, err
	}
	return q.seal.sealInstruction(b)
}

// Start begins working stored decisions.
func (q *Queue) Start(ctx context.Context) error {
	if err := q.store.start(ctx); err != nil {
		return fmt.Errorf("start async worker: %w", err)
	}
	return nil
}

// Stop stops fetching new jobs and waits for running ones to finish; jobs
// not yet started stay stored for the next start.
func (q *Queue) Stop(ctx context.Context) error {
	if err := q.store.stop(ctx); err != nil {
		return fmt.Errorf("stop async worker: %w", err)
	}
	return nil
}

// Close releases the store. Call it after Stop.
func (q *Queue) Close() {
	q.batch.close()
	q.store.close()
}

// Ready reports whether the store answers.
func (q *Queue) Ready(ctx context.Context) error {
	if err := q.store.ping(ctx); err != nil {
		return fmt.Errorf("%s store: %w", q.store.name(), err)
	}
	return nil
}

// depthQuery counts unfinished jobs by state; it is the same SQL on both stores.
const depthQuery = `SELECT state, count(*) FROM river_job WHERE state IN ('available', 'scheduled', 'retryable', 'running', 'pending') GROUP BY state`

// countByState reads depthQuery's rows; *sql.Rows and pgx.Rows both fit.
func countByState(rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}) (map[string]int, error) {
	out := map[string]int{}
	for rows.Next() {
		var state string
		var n int
		if err := rows.Scan(&state, &n); err != nil {
			return nil, err
		}
		out[state] = n
	}
	return out, rows.Err()
}

// UnfinishedStates are the job states Depth reports.
var UnfinishedStates = []string{"available", "scheduled", "retryable", "running", "pending"}

// Depth counts decisions stored but not finished, by River job state.
func (q *Queue) Depth(ctx context.Context) (map[string]int, error) {
	counts, err := q.store.counts(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s store: queue depth: %w", q.store.name(), err)
	}
	return counts, nil
}

// Job returns a stored job's row, for tests and diagnostics.
func (q *Queue) Job(ctx context.Context, id int64) (*rivertype.JobRow, error) {
	return q.store.job(ctx, id)
}

// lockDir takes an exclusive lock on dir, failing at once if another process has it.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "queue.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("sqlite: %s is in use by another assignd process; stop it or choose another DATA_DIR", dir)
	}
	return f, nil
}
