package async

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
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
// older than the lease is made available again. A live instance keeps its
// heartbeat fresh while its REST calls run, so a decision in flight is never
// taken from it; a re-run job finds no record of the dead attempt and
// verifies by GET before doing anything (see the outcome table).
type sweeper struct {
	pool      *pgxpool.Pool
	log       zerolog.Logger
	id        string
	heartbeat time.Duration
	lease     time.Duration
	cancel    context.CancelFunc
	done      chan struct{}
}

type sweepOptions struct {
	Heartbeat time.Duration // default 1 s
	Lease     time.Duration // default 5 s: five missed heartbeats
}

const instanceTable = `CREATE TABLE IF NOT EXISTS assignd_instance (
	id      text PRIMARY KEY,
	seen_at timestamptz NOT NULL
)`

func newSweeper(ctx context.Context, pool *pgxpool.Pool, log zerolog.Logger, o sweepOptions) (*sweeper, error) {
	if o.Heartbeat <= 0 {
		o.Heartbeat = time.Second
	}
	if o.Lease <= 0 {
		o.Lease = 5 * time.Second
	}
	if _, err := pool.Exec(ctx, instanceTable); err != nil {
		return nil, fmt.Errorf("postgres: instance heartbeat table: %w", err)
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	host, _ := os.Hostname()
	return &sweeper{pool: pool, log: log, id: "assignd_" + host + "_" + hex.EncodeToString(b),
		heartbeat: o.Heartbeat, lease: o.Lease}, nil
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
	_, err := s.pool.Exec(ctx, `INSERT INTO assignd_instance (id, seen_at) VALUES ($1, now())
		ON CONFLICT (id) DO UPDATE SET seen_at = now()`, s.id)
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
