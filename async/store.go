package async

import (
	"context"
	"database/sql"
	"fmt"
	"os"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"riverqueue.com/riverui/uiendpoints"
)

// store is what the Queue needs from a backing store and its River client.
// Each driver implements it once (as River does with its drivers), so the
// Queue never asks which store it has.
type store interface {
	name() string
	// insertMany stores params in one transaction. Just before the commit
	// it calls beforeCommit with the results and deletes the jobs whose IDs
	// that returns, inside the transaction: they are never stored.
	insertMany(ctx context.Context, params []river.InsertManyParams, beforeCommit func([]*rivertype.JobInsertResult) []int64) ([]*rivertype.JobInsertResult, error)
	start(ctx context.Context) error
	stop(ctx context.Context) error
	job(ctx context.Context, id int64) (*rivertype.JobRow, error)
	list(ctx context.Context, params *river.JobListParams) (*river.JobListResult, error) // see inspect.go
	ui() uiendpoints.Bundle                                                              // River's UI API, see ui.go
	ping(ctx context.Context) error
	counts(ctx context.Context) (map[string]int, error)
	close()
}

// riverClient is the part of store that only depends on River's client.
type riverClient[TTx any] struct{ client *river.Client[TTx] }

func (c riverClient[TTx]) start(ctx context.Context) error { return c.client.Start(ctx) }
func (c riverClient[TTx]) stop(ctx context.Context) error  { return c.client.Stop(ctx) }
func (c riverClient[TTx]) job(ctx context.Context, id int64) (*rivertype.JobRow, error) {
	return c.client.JobGet(ctx, id)
}
func (c riverClient[TTx]) list(ctx context.Context, params *river.JobListParams) (*river.JobListResult, error) {
	return c.client.JobList(ctx, params)
}

// postgresStore is PostgreSQL through pgx, shared by several instances.
type postgresStore struct {
	riverClient[pgx.Tx]
	pool *pgxpool.Pool
	// sweeper requeues jobs of dead instances (see sweep.go); nil until started.
	sweeper *sweeper
}

func (s *postgresStore) insertMany(ctx context.Context, params []river.InsertManyParams, beforeCommit func([]*rivertype.JobInsertResult) []int64) ([]*rivertype.JobInsertResult, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	res, err := s.client.InsertManyTx(ctx, tx, params)
	if err != nil {
		return nil, err
	}
	if drop := beforeCommit(res); len(drop) > 0 {
		if _, err := tx.Exec(ctx, `DELETE FROM river_job WHERE id = ANY($1)`, drop); err != nil {
			return nil, fmt.Errorf("drop abandoned decisions: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, err
	}
	return res, nil
}

func (s *postgresStore) name() string                   { return "postgres" }
func (s *postgresStore) ping(ctx context.Context) error { return s.pool.Ping(ctx) }
func (s *postgresStore) close() {
	if s.sweeper != nil {
		s.sweeper.close()
	}
	s.pool.Close()
}
func (s *postgresStore) counts(ctx context.Context) (map[string]int, error) {
	rows, err := s.pool.Query(ctx, depthQuery)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return countByState(rows)
}

// sqliteStore is one process's SQLite file, guarded by a lock file.
type sqliteStore struct {
	riverClient[*sql.Tx]
	db   *sql.DB
	lock *os.File
}

func (s *sqliteStore) insertMany(ctx context.Context, params []river.InsertManyParams, beforeCommit func([]*rivertype.JobInsertResult) []int64) ([]*rivertype.JobInsertResult, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	res, err := s.client.InsertManyTx(ctx, tx, params)
	if err != nil {
		return nil, err
	}
	for _, id := range beforeCommit(res) {
		if _, err := tx.ExecContext(ctx, `DELETE FROM river_job WHERE id = ?`, id); err != nil {
			return nil, fmt.Errorf("drop abandoned decision: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return res, nil
}

func (s *sqliteStore) name() string                   { return "sqlite" }
func (s *sqliteStore) ping(ctx context.Context) error { return s.db.PingContext(ctx) }
func (s *sqliteStore) close()                         { s.db.Close(); s.lock.Close() }
func (s *sqliteStore) counts(ctx context.Context) (map[string]int, error) {
	rows, err := s.db.QueryContext(ctx, depthQuery)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return countByState(rows)
}

// start starts the sweeper before River, so that the heartbeat is fresh
// before this instance takes any job.
func (s *postgresStore) start(ctx context.Context) error {
	if s.sweeper != nil {
		if err := s.sweeper.start(ctx); err != nil {
			return err
		}
	}
	if err := s.client.Start(ctx); err != nil {
		if s.sweeper != nil {
			// Nothing of this instance runs: stop beating, and say so.
			s.sweeper.stop(context.WithoutCancel(ctx), true)
		}
		return err
	}
	return nil
}

// stop stops River first: the heartbeat must outlive every running job.
// If River could not finish its jobs in time they may still be running
// here, so the instance is not marked gone: its lease runs out instead.
func (s *postgresStore) stop(ctx context.Context) error {
	err := s.client.Stop(ctx)
	if s.sweeper != nil {
		s.sweeper.stop(context.WithoutCancel(ctx), err == nil)
	}
	return err
}
