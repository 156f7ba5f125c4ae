package async

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"
)

// sweeper gets the decisions of a dead instance applied within seconds on a
// shared PostgreSQL queue. River's rescuer cannot: it runs on the leader
// only (and the dead instance may have been the leader: leadership moves
// after ~18 s), every 30 s, for jobs running longer than the job timeout.
//
// Every instance heartbeats a row of its own (keyed by its River client ID,
// which River writes last into a running job's attempted_by) and sweeps
// every heartbeat: a job still running for an instance whose heartbeat is
// older than the lease is made available again. A re-run job finds no
// record of the dead attempt and verifies by GET before doing anything (see
// the outcome table).
//
// A live instance must not lose its jobs to that sweep while it still works
// them, so the heartbeat has a connection of its own (a one-connection
// pool): River's fetches, inserts and LISTEN cannot starve it. And an
// instance that cannot beat (its database link is down, its process
// stalled) fences itself: before each REST request the worker asks fence,
// which refuses once the last successful beat is older than lease −
// heartbeat, the point from which other instances may take the job. The
// attempt then fails without sending and the job's next attempt verifies
// first. What remains is a request already on the wire when the beats stop
// and still running a lease later; the verifying GET of the job's other
// run, and Twilio's refusal of a second accept or reject, bound that case.
type sweeper struct {
	pool      *pgxpool.Pool // the heartbeat's own, one connection
	log       zerolog.Logger
	id        string
	heartbeat time.Duration
	lease     time.Duration
	cancel    context.CancelFunc
	done      chan struct{}
	lastBeat  atomic.Int64 // UnixNano of the last successful beat
	now       func() time.Time
}

type sweepOptions struct {
	Heartbeat time.Duration // default 1 s
	Lease     time.Duration // default 5 s: five missed heartbeats
}

const instanceTable = `CREATE TABLE IF NOT EXISTS assignd_instance (
	id      text PRIMARY KEY,
	seen_at timestamptz NOT NULL
)`

// newSweeper opens the heartbeat's own one-connection pool to databaseURL;
// close releases it.
func newSweeper(ctx context.Context, databaseURL string, log zerolog.Logger, o sweepOptions) (*sweeper, error) {
	if o.Heartbeat <= 0 {
		o.Heartbeat = time.Second
	}
	if o.Lease <= 0 {
		o.Lease = 5 * time.Second
	}
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("postgres: heartbeat connection: %w", err)
	}
	cfg.MaxConns, cfg.MinConns = 1, 1
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: heartbeat connection: %w", err)
	}
	if _, err := pool.Exec(ctx, instanceTable); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: instance heartbeat table: %w", err)
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	host, _ := os.Hostname()
	return &sweeper{pool: pool, log: log, id: "assignd_" + host + "_" + hex.EncodeToString(b),
		heartbeat: o.Heartbeat, lease: o.Lease, now: time.Now}, nil
}

// close releases the heartbeat's connection.
func (s *sweeper) close() { s.pool.Close() }

// errFenced refuses a REST request of an instance whose heartbeat is stale.
var errFenced = errors.New("this instance's heartbeat is stale, so other instances may have taken its decisions: not sending (the next attempt verifies first)")

// fence returns errFenced when other instances may already have taken this
// instance's running jobs, or will have before a request could begin:
// the last successful beat is older than lease − heartbeat.
func (s *sweeper) fence() error {
	last := s.lastBeat.Load()
	if last == 0 || s.now().Sub(time.Unix(0, last)) >= s.lease-s.heartbeat {
		return errFenced
	}
	return nil
}

// start writes the first heartbeat and keeps beating and sweeping until stop.
func (s *sweeper) start(ctx context.Context) error {
	if err := s.beat(ctx); err != nil {
		return fmt.Errorf("postgres: heartbeat: %w", err)
	}
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel, s.done = cancel, make(chan struct{})
	go s.loop(lctx)
	return nil
}

func (s *sweeper) loop(ctx context.Context) {
	defer close(s.done)
	t := time.NewTicker(s.heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.beat(ctx); err != nil && ctx.Err() == nil {
			s.log.Error().Err(err).Msg("instance heartbeat failed: after the lease other instances will re-run this instance's decisions")
		}
		if n, err := s.sweep(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn().Err(err).Msg("sweep for decisions of dead instances failed")
		} else if n > 0 {
			s.log.Warn().Int64("jobs", n).Msg("requeued async decisions of an instance that stopped heartbeating")
		}
	}
}

func (s *sweeper) beat(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.heartbeat)
	defer cancel()
	started := s.now()
	_, err := s.pool.Exec(ctx, `INSERT INTO assignd_instance (id, seen_at) VALUES ($1, now())
		ON CONFLICT (id) DO UPDATE SET seen_at = now()`, s.id)
	if err == nil {
		// From when the beat was sent: the row's seen_at is no older.
		s.lastBeat.Store(started.UnixNano())
	}
	return err
}

// sweep makes the running jobs of instances past their lease available.
func (s *sweeper) sweep(ctx context.Context) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, s.heartbeat)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `UPDATE river_job SET state = 'available', scheduled_at = now()
		WHERE state = 'running' AND queue = $1
		  AND attempted_by[array_length(attempted_by, 1)] IN (
		      SELECT id FROM assignd_instance WHERE seen_at < now() - make_interval(secs => $2))`,
		queueName, s.lease.Seconds())
	if err != nil {
		return 0, err
	}
	// Rows of instances gone for a day only take space.
	_, _ = s.pool.Exec(ctx, `DELETE FROM assignd_instance WHERE seen_at < now() - interval '1 day'`)
	return tag.RowsAffected(), nil
}

// stop ends the heartbeat. With gone it marks this instance gone at once
// (nothing of it is running any more), else its lease runs out.
func (s *sweeper) stop(ctx context.Context, gone bool) {
	if s.cancel == nil {
		return
	}
	s.cancel()
	<-s.done
	s.cancel = nil
	if !gone {
		return
	}
	_, _ = s.pool.Exec(ctx, `UPDATE assignd_instance SET seen_at = '-infinity' WHERE id = $1`, s.id)
}
