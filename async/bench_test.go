package async

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/assignd/assignd/async/asynctest"
	"github.com/assignd/assignd/policy"
)

// BenchmarkSchedule measures storing async decisions from 32 concurrent
// callbacks, without workers, on each store.
func BenchmarkSchedule(b *testing.B) {
	for _, store := range []string{"sqlite", "postgres"} {
		b.Run(store, func(b *testing.B) {
			o := Options{Logger: zerolog.Nop(), DataDir: filepath.Join(b.TempDir(), "data"), ReservationTimeout: time.Minute}
			if store == "postgres" {
				o.DatabaseURL = asynctest.DatabaseURL(b)
			}
			q, err := Open(context.Background(), o)
			if err != nil {
				b.Fatal(err)
			}
			defer q.Close()
			var n atomic.Int64
			d := policy.Decision{Instruction: policy.Accept{}, Async: true, Rule: "bench"}
			b.SetParallelism(16) // 32 concurrent callbacks on 2 cores
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					r := &policy.Reservation{AccountSid: testAccount, WorkspaceSid: workspace, TaskSid: task, WorkerSid: worker,
						ReservationSid: fmt.Sprintf("WR%032d", i), ReceivedAt: time.Now()}
					if _, err := q.Schedule(context.Background(), r, d); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
