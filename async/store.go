package async

import (
	"context"
	"database/sql"
	"os"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// store is what the Queue needs from a backing store and its River client.
// Each driver implements it once (as River does with its drivers), so the
// Queue never asks which store it has.
type store interface {
	name() string
	// insertMany stores params in one transaction. ctx bounds the inserts:
	// if it ends before the commit, the transaction is rolled back and
	// nothing is stored. The commit runs under commitCtx.
	insertMany(ctx, commitCtx context.Context, params []river.InsertManyParams) ([]*rivertype.JobInsertResult, error)
	start(ctx context.Context) error
	stop(ctx context.Context) error
	job(ctx context.Context, id int64) (*rivertype.JobRow, error)
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

// postgresStore is PostgreSQL through pgx, shared by several instances.
type postgresStore struct {
	riverClient[pgx.Tx]
	pool *pgxpool.Pool
	// sweeper requeues jobs of dead instances (see sweep.go); nil until started.
	sweeper *sweeper
}

func (s *postgresStore) insertMany(ctx, commitCtx context.Context, params []river.InsertManyParams) ([]*rivertype.JobInsertResult, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(commitCtx) //nolint:errcheck // a no-op after Commit
	res, err := s.client.InsertManyTx(ctx, tx, params)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, context.Cause(ctx)
	}
	if err := tx.Commit(commitCtx); err != nil {
		return nil, err
	}
	return res, nil
}

func (s *postgresStore) name() string                   { return "postgres" }
func (s *postgresStore) ping(ctx context.Context) error { return s.pool.Ping(ctx) }
func (s *postgresStore) close()                         { s.pool.Close() }
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

func (s *sqliteStore) insertMany(ctx, commitCtx context.Context, params []river.InsertManyParams) ([]*rivertype.JobInsertResult, error) {
	// database/sql rolls a transaction back when the context it began with
	// ends, so it begins under commitCtx; the inserts run under ctx.
	tx, err := s.db.BeginTx(commitCtx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	res, err := s.client.InsertManyTx(ctx, tx, params)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, context.Cause(ctx)
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
	return s.client.Start(ctx)
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
