package emulator

import (
	"testing"
	"time"
)

// The statistics log stays bounded: past statsLogCap records it keeps the
// newest, and a record statsRetention after the others drops them all.
func TestStatsLogIsBounded(t *testing.T) {
	t.Parallel()
	var l statsLog
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	const extra = 1000
	for i := range statsLogCap + extra {
		l.add(statRec{at: t0.Add(time.Duration(i) * time.Millisecond), kind: statTaskCreated})
	}
	if len(l.recs) != statsLogCap || !l.recs[0].at.Equal(t0.Add(extra*time.Millisecond)) {
		t.Fatalf("after %d records: %d kept from %v, want the newest %d", statsLogCap+extra, len(l.recs), l.recs[0].at, statsLogCap)
	}
	last := l.recs[len(l.recs)-1].at
	l.add(statRec{at: last.Add(statsRetention + time.Millisecond), kind: statTaskCreated})
	if len(l.recs) != 1 {
		t.Fatalf("a record past retention after the others: %d kept, want 1", len(l.recs))
	}
	if got := l.window(t0, last); len(got) != 0 {
		t.Fatalf("window over the dropped records: %d, want 0", len(got))
	}
}
