package decisionlog

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/assignd/assignd/async/asynctest"
)

// TestInsertWritesEveryRowOfAnyBatchSize: a batch is split over the 64-row
// statement and the power-of-two ones; every size must store each entry
// once, in order, with its own values.
func TestInsertWritesEveryRowOfAnyBatchSize(t *testing.T) {
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			url := ""
			if name == "postgres" {
				url = asynctest.DatabaseURL(t)
			}
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
