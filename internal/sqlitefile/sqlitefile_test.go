package sqlitefile_test

import (
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/assignd/assignd/internal/sqlitefile"
)

// A path holding URI syntax opens the file at exactly that path, with the
// shared settings and the extra ones applied.
func TestDSNOpensThePathItNames(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	dir := filepath.Join(parent, "a?b#c% 2f d")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "x.sqlite")
	db, err := sql.Open("sqlite", sqlitefile.DSN(path, "_pragma=foreign_keys(ON)"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var journal string
	var fk int
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&journal); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`PRAGMA foreign_keys`).Scan(&fk); err != nil {
		t.Fatal(err)
	}
	if journal != "wal" || fk != 1 {
		t.Errorf("journal_mode %q, foreign_keys %d: want wal and 1", journal, fk)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("the file is not where the DSN names it: %v", err)
	}
	if entries, _ := os.ReadDir(parent); len(entries) != 1 {
		t.Errorf("%d entries beside the directory, want it alone", len(entries))
	}
}
