package decisionlog

import (
	"context"
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"path/filepath"
)

// Reader reads a decision log another process writes (the service), for
// tools such as `assignd policy replay`: no writer, no pruner, so reading
// never changes what the log keeps.
type Reader struct {
	store *store
}

// ErrNoLog is returned by OpenReader when DATA_DIR holds no decision log.
var ErrNoLog = errors.New("no decision log")

// OpenReader opens the log in o.DatabaseURL or, when that is empty, in
// o.DataDir (which must hold one: a reader never creates it). Only those
// two options are read. It never writes: SQLite is opened read-only and
// PostgreSQL's sessions are read-only, the schema is not migrated, and a
// log at another schema version than this build's is refused (ErrSchema).
func OpenReader(ctx context.Context, o Options) (*Reader, error) {
	if o.DatabaseURL == "" {
		path := filepath.Join(o.DataDir, FileName)
		if _, err := os.Stat(path); errors.Is(err, iofs.ErrNotExist) {
			return nil, fmt.Errorf("%w at %s: run the service (assignd dev) with DATA_DIR=%s first, or set DATABASE_URL", ErrNoLog, path, o.DataDir)
		}
	}
	st, err := openStoreMode(ctx, o.DatabaseURL, o.DataDir, true)
	if err != nil {
		return nil, err
	}
	return &Reader{store: st}, nil
}

// Query returns the entries f selects, as Log.Query does.
func (r *Reader) Query(ctx context.Context, f Filter) ([]Entry, error) { return r.store.query(ctx, f) }

// Store names the backing store: "sqlite" or "postgres".
func (r *Reader) Store() string { return r.store.name }

// Close releases the store.
func (r *Reader) Close() error { return r.store.db.Close() }
