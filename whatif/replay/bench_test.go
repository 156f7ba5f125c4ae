package replay_test

import (
	"context"
	"testing"
	"time"

	"github.com/assignd/assignd/decisionlog"
	"github.com/assignd/assignd/internal/servicetest"
	"github.com/assignd/assignd/whatif/replay"
)

// benchEntries is the size of the recorded log: two pages of the store.
const benchEntries = 2000

// BenchmarkReplay measures callbacks decided again per second against a
// baseline measured in the same run on the same log: reading the entries
// alone (the paging Run does). The ratio is what deciding costs on top of
// reading: twice per callback, candidate and policy in force.
func BenchmarkReplay(b *testing.B) {
	env := servicetest.New(b, "sqlite", decisionlog.ModeFull, decisionlog.Options{})
	for i := range benchEntries {
		task := map[string]any{"selected_language": "es", "vip": false}
		if i%3 == 0 {
			task = map[string]any{"type": "chat", "vip": false}
		}
		if s, body := env.Post(b, servicetest.Reservation(i+1, task, map[string]any{"languages": []any{"es", "en"}}), servicetest.Token); s != 200 {
			b.Fatalf("callback: %d %s", s, body)
		}
	}
	env.Flush(b)
	ctx := context.Background()

	b.Run("read", func(b *testing.B) {
		for b.Loop() {
			n := 0
			f := decisionlog.Filter{Limit: 1000}
			for {
				page, err := env.Log.Query(ctx, f)
				if err != nil {
					b.Fatal(err)
				}
				for i := range page {
					if _, err := page[i].Reservation(); err != nil {
						b.Fatal(err)
					}
				}
				n += len(page)
				if len(page) < f.Limit {
					break
				}
				f.BeforeID = page[len(page)-1].ID
			}
			if n != benchEntries {
				b.Fatalf("read %d entries, want %d", n, benchEntries)
			}
		}
		b.ReportMetric(float64(b.N*benchEntries)/b.Elapsed().Seconds(), "callbacks/s")
	})
	b.Run("replay", func(b *testing.B) {
		o := replay.Options{Log: env.Log, Candidate: parse(b, "new.yaml", rejectSpanish), InForce: parse(b, "test.yaml", servicetest.Policy), Deadline: time.Second}
		for b.Loop() {
			res, err := replay.Run(ctx, o)
			if err != nil {
				b.Fatal(err)
			}
			if res.Checked != benchEntries {
				b.Fatalf("checked %d, want %d", res.Checked, benchEntries)
			}
		}
		b.ReportMetric(float64(b.N*benchEntries)/b.Elapsed().Seconds(), "callbacks/s")
	})
}
