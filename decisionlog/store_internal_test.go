package decisionlog

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/assignd/assignd/async/asynctest"
)

// storeURL is openStore's database URL for the named store: PostgreSQL's
// test database, or "" for SQLite.
func storeURL(t *testing.T, name string) string {
	t.Helper()
	if name == "postgres" {
		return asynctest.DatabaseURL(t)
	}
	return ""
}

// TestInsertWritesEveryRowOfAnyBatchSize: a batch is split over the 64-row
// statement and the power-of-two ones; every size must store each entry
// once, in order, with its own values.
func TestInsertWritesEveryRowOfAnyBatchSize(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			url := storeURL(t, name)
			s, err := openStore(ctx, url, filepath.Join(t.TempDir(), "data"))
			if err != nil {
				t.Fatal(err)
			}
			defer s.db.Close()
			t0 := time.Now().UTC().Truncate(time.Microsecond)
			total := 0
			for _, n := range []int{1, 2, 3, 63, 64, 65, 127, 200} {
				batch := make([]row, n)
				for i := range batch {
					batch[i], _ = rowOf(&Entry{Time: t0.Add(time.Duration(total+i) * time.Microsecond), Result: "ok", Mode: ModeSummary,
						ReservationSid: fmt.Sprintf("WR%032d", total+i), Rule: fmt.Sprintf("rule-%d", n)}, nil)
				}
				if err := s.insert(ctx, batch); err != nil {
					t.Fatalf("batch of %d: %v", n, err)
				}
				total += n
			}
			got, err := s.query(ctx, Filter{Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != total {
				t.Fatalf("stored %d entries, want %d", len(got), total)
			}
			for j, e := range got { // newest first
				i := total - 1 - j
				if e.ReservationSid != fmt.Sprintf("WR%032d", i) || !e.Time.Equal(t0.Add(time.Duration(i)*time.Microsecond)) {
					t.Fatalf("entry %d: got %s at %s", i, e.ReservationSid, e.Time)
				}
			}
		})
	}
}

// TestTimeFiltersFollowIDs: on SQLite the time filters and pruning by age
// find their bounds by id; entries written with a clock that steps back
// are stored no earlier than the one before them, so every filter still
// selects exactly the entries of its window, on both stores, across a
// reopen, and with ids missing at the start (pruned).
func TestTimeFiltersFollowIDs(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			url := storeURL(t, name)
			dir := filepath.Join(t.TempDir(), "data")
			s, err := openStore(ctx, url, dir)
			if err != nil {
				t.Fatal(err)
			}
			t0 := time.Date(2026, 11, 29, 7, 0, 0, 0, time.UTC)
			// 1,000 entries a second apart, in batches of 37; every 10th
			// entry's clock is 5 s behind.
			var want []int64 // stored time of entry i
			write := func(s *store, from, to int) {
				t.Helper()
				var batch []row
				for i := from; i < to; i++ {
					at := t0.Add(time.Duration(i) * time.Second)
					if i%10 == 9 {
						at = at.Add(-5 * time.Second)
					}
					r, _ := rowOf(&Entry{Time: at, Result: "ok", Mode: ModeSummary, ReservationSid: fmt.Sprintf("WR%032d", i)}, nil)
					batch = append(batch, r)
					if len(batch) == 37 || i == to-1 {
						if err := s.insert(ctx, batch); err != nil {
							t.Fatal(err)
						}
						batch = batch[:0]
					}
					stored := at.UnixMicro()
					if len(want) > 0 {
						stored = max(stored, want[len(want)-1])
					}
					want = append(want, stored)
				}
			}
			write(s, 0, 600)
			s.db.Close()
			if s, err = openStore(ctx, url, dir); err != nil { // the order holds across a restart
				t.Fatal(err)
			}
			defer s.db.Close()
			write(s, 600, 1000)
			// Entries before t0+100s go by age (the newest is far younger).
			if n, err := s.prune(ctx, t0.Add(100*time.Second), 1_000_000, 1_000_000); err != nil || n != 100 {
				t.Fatalf("pruned %d (%v), want 100", n, err)
			}
			count := func(since, until int64) int {
				n := 0
				for _, at := range want {
					if at >= t0.Add(100*time.Second).UnixMicro() && (since == 0 || at >= since) && (until == 0 || at < until) {
						n++
					}
				}
				return n
			}
			for _, c := range []struct{ since, until time.Duration }{
				{0, 0}, {150 * time.Second, 0}, {0, 150 * time.Second}, {150 * time.Second, 450 * time.Second},
				{599 * time.Second, 601 * time.Second}, {-time.Hour, 0}, {0, -time.Hour}, {time.Hour, 0},
				{504 * time.Second, 505 * time.Second}, {999 * time.Second, 0}, {0, 100 * time.Second},
				{157 * time.Second, 0}, {0, 157 * time.Second}, {505 * time.Second, 508 * time.Second},
			} {
				f := Filter{Limit: 1000}
				var since, until int64
				if c.since != 0 {
					f.Since = t0.Add(c.since)
					since = f.Since.UnixMicro()
				}
				if c.until != 0 {
					f.Until = t0.Add(c.until)
					until = f.Until.UnixMicro()
				}
				got, err := s.query(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != count(since, until) {
					t.Errorf("since %v until %v: %d entries, want %d", c.since, c.until, len(got), count(since, until))
				}
				for _, e := range got {
					at := e.Time.UnixMicro()
					var i int
					if _, err := fmt.Sscanf(e.ReservationSid, "WR%d", &i); err != nil || at != want[i] {
						t.Fatalf("entry %s stored at %s, want %s (%v)", e.ReservationSid, e.Time, time.UnixMicro(want[i]).UTC(), err)
					}
					if (since != 0 && at < since) || (until != 0 && at >= until) {
						t.Errorf("since %v until %v: entry %d at %s is outside", c.since, c.until, e.ID, e.Time)
					}
				}
			}
		})
	}
}

// TestPruneNeverReusesIDs: SQLite hands out the largest id + 1, so prune
// spares the newest entry even when everything is past retention; the
// next entry then gets a new id, which the live view (following ids)
// needs. PostgreSQL's identity never reuses ids and prunes everything.
func TestPruneNeverReusesIDs(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			url := storeURL(t, name)
			s, err := openStore(ctx, url, filepath.Join(t.TempDir(), "data"))
			if err != nil {
				t.Fatal(err)
			}
			defer s.db.Close()
			old := time.Now().Add(-48 * time.Hour)
			add := func(sid string) int64 {
				t.Helper()
				r, _ := rowOf(&Entry{Time: old, Result: "ok", Mode: ModeSummary, ReservationSid: sid}, nil)
				if err := s.insert(ctx, []row{r, r, r}); err != nil {
					t.Fatal(err)
				}
				got, err := s.query(ctx, Filter{ReservationSid: sid, Limit: 1})
				if err != nil || len(got) != 1 {
					t.Fatalf("%s: %v %v", sid, got, err)
				}
				return got[0].ID
			}
			first := add("WR1")
			n, err := s.prune(ctx, time.Now().Add(-time.Hour), 1_000_000, 1_000_000)
			if err != nil {
				t.Fatal(err)
			}
			left, _ := s.query(ctx, Filter{})
			if wantLeft := map[string]int{"sqlite": 1, "postgres": 0}[name]; len(left) != wantLeft || n != int64(3-wantLeft) {
				t.Fatalf("pruned %d, %d left; want %d left", n, len(left), wantLeft)
			}
			if next := add("WR2"); next <= first {
				t.Fatalf("after pruning, new entry got id %d, not above %d", next, first)
			}
		})
	}
}

// TestSQLiteIndexesOnlyRefusals: every index on SQLite's table is paid for
// by every insert; the table keeps only the refusals' partial index, which
// a genuine row does not enter (see migrations 2 and 3).
func TestSQLiteIndexesOnlyRefusals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := openStore(ctx, "", filepath.Join(t.TempDir(), "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.db.Close()
	rows, err := s.db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'assignd_decision' AND sql IS NOT NULL ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	if fmt.Sprint(names) != "[assignd_decision_refusal]" {
		t.Errorf("indexes on assignd_decision: %v, want only assignd_decision_refusal", names)
	}
}

// TestRefusalIndexAgreesWithRefused: migration 2's partial index is
// written literally (migrations are history), so this is what keeps it
// the condition prune's queries use, taken from the one definition of
// answered results: change one without the other and the index no longer
// serves prune (or a new migration is needed).
func TestRefusalIndexAgreesWithRefused(t *testing.T) {
	t.Parallel()
	want := "CREATE INDEX assignd_decision_refusal ON assignd_decision (id) WHERE " + refusalSQL()
	for _, m := range migrations {
		if m.version != 2 {
			continue
		}
		for dialect, got := range map[string]string{"sqlite": m.sqlite, "postgres": m.postgres} {
			if got != want {
				t.Errorf("migration 2 (%s):\n%s\nwant\n%s", dialect, got, want)
			}
		}
		return
	}
	t.Fatal("no migration 2")
}

// A reader's store cannot write, on either store, whatever it is asked:
// SQLite is opened read-only, PostgreSQL's sessions are read-only; and it
// refuses a schema newer than this build's rather than misread it.
func TestReadOnlyStoreCannotWrite(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			url, dir := storeURL(t, name), filepath.Join(t.TempDir(), "data")
			w, err := openStore(ctx, url, dir)
			if err != nil {
				t.Fatal(err)
			}
			defer w.db.Close()
			if err := w.insert(ctx, []row{{at: 1, result: "ok", data: `{"mode":"full","steps":[]}`}}); err != nil {
				t.Fatal(err)
			}
			r, err := openStoreMode(ctx, url, dir, true)
			if err != nil {
				t.Fatal(err)
			}
			defer r.db.Close()
			if got, err := r.query(ctx, Filter{}); err != nil || len(got) != 1 {
				t.Fatalf("read: %d entries, %v", len(got), err)
			}
			if _, err := r.db.ExecContext(ctx, `DELETE FROM assignd_decision`); err == nil {
				t.Error("a read-only store deleted entries")
			}
			if r.inserts[0] != nil {
				t.Error("a read-only store prepared inserts")
			}
			if _, err := w.db.ExecContext(ctx, `INSERT INTO assignd_decision_migration (version, applied_us) VALUES (999, 0)`); err != nil {
				t.Fatal(err)
			}
			if _, err := openStoreMode(ctx, url, dir, true); !errors.Is(err, ErrSchema) || !strings.Contains(err.Error(), "version 999, newer than") {
				t.Errorf("newer schema: %v, want ErrSchema", err)
			}
		})
	}
}
