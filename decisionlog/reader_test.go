package decisionlog_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/assignd/assignd/decisionlog"
	"github.com/assignd/assignd/internal/servicetest"
)

// dirState is every file in dir with its bytes and modification time.
func dirState(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = info.ModTime().Format(time.RFC3339Nano) + " " + string(b)
	}
	return out
}

// sameState fails unless every file of before is unchanged in after and
// no log file was created. The -shm file is SQLite's shared-memory index
// of the WAL, where every reader marks what it reads: it is no part of
// the log, and a read-only reader writes it too.
func sameState(t *testing.T, what string, before, after map[string]string) {
	t.Helper()
	for name, b := range before {
		if strings.HasSuffix(name, "-shm") {
			continue
		}
		if after[name] != b {
			t.Errorf("%s: %s changed", what, name)
		}
	}
	for name := range after {
		if _, ok := before[name]; !ok && strings.HasPrefix(name, decisionlog.FileName) && !strings.HasSuffix(name, "-shm") && !strings.HasSuffix(name, "-wal") {
			t.Errorf("%s: %s created", what, name)
		}
	}
}

// A reader reads what the service wrote and changes nothing: not the
// file's bytes, not its time; it migrates nothing and prepares no insert.
func TestReaderNeverWrites(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := servicetest.New(t, "sqlite", decisionlog.ModeFull, decisionlog.Options{})
	for n := 1; n <= 3; n++ {
		if s, b := env.Post(t, servicetest.Reservation(n, map[string]any{"type": "chat"}, nil), servicetest.Token); s != 200 {
			t.Fatalf("callback: %d %s", s, b)
		}
	}
	env.Flush(t)
	before := dirState(t, env.DataDir)
	r, err := decisionlog.OpenReader(ctx, decisionlog.Options{DataDir: env.DataDir})
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.Query(ctx, decisionlog.Filter{})
	if err != nil || len(got) != 3 {
		t.Fatalf("query: %d entries, %v", len(got), err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	sameState(t, "a read", before, dirState(t, env.DataDir))
}

// A log that is absent, empty or at another schema version is refused
// with one line, and left as it was: a reader creates nothing, migrates
// nothing.
func TestReaderRefusesWhatItCannotRead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	absent := filepath.Join(t.TempDir(), "data")
	if _, err := decisionlog.OpenReader(ctx, decisionlog.Options{DataDir: absent}); !errors.Is(err, decisionlog.ErrNoLog) {
		t.Errorf("absent: %v, want ErrNoLog", err)
	}
	if _, err := os.Stat(absent); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("absent: the reader created %s", absent)
	}

	empty := t.TempDir()
	if err := os.WriteFile(filepath.Join(empty, decisionlog.FileName), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	before := dirState(t, empty)
	if _, err := decisionlog.OpenReader(ctx, decisionlog.Options{DataDir: empty}); err == nil || strings.Contains(err.Error(), "\n") {
		t.Errorf("empty file: %v, want one line", err)
	}
	sameState(t, "an empty file", before, dirState(t, empty))

	// A log written before the last migration: the reader does not
	// upgrade it, the service does.
	old := t.TempDir()
	db, err := sql.Open("sqlite", filepath.Join(old, decisionlog.FileName))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`PRAGMA journal_mode=WAL`, `CREATE TABLE assignd_decision_migration (version BIGINT PRIMARY KEY, applied_us BIGINT NOT NULL)`,
		`INSERT INTO assignd_decision_migration VALUES (1, 0)`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	before = dirState(t, old)
	_, err = decisionlog.OpenReader(ctx, decisionlog.Options{DataDir: old})
	if !errors.Is(err, decisionlog.ErrSchema) || !strings.Contains(err.Error(), "version 1, older than") || strings.Contains(err.Error(), "\n") {
		t.Errorf("older schema: %v, want ErrSchema in one line", err)
	}
	sameState(t, "an older log", before, dirState(t, old))
}
