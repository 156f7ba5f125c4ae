package emulator

import (
	"testing"
	"time"
)

// The statistics log stays bounded: past statsLogCap records it keeps the
// newest, in order, and a window counts nothing past retention.
func TestStatsLogIsBounded(t *testing.T) {
	t.Parallel()
	var l statsLog
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	const extra = 1000
	for i := range statsLogCap + extra {
		if i == statsLogCap && l.lost {
			t.Fatal("lost set while the log still held every record")
		}
		l.add(statRec{at: t0.Add(time.Duration(i) * time.Millisecond), kind: statTaskCreated})
	}
	if !l.lost {
		t.Fatal("lost not set once records were overwritten (StatisticsLost)")
	}
	last := t0.Add((statsLogCap + extra - 1) * time.Millisecond)
	all := l.window(t0, last, last)
	if all.j-all.i != statsLogCap || !l.rec(0).at.Equal(t0.Add(extra*time.Millisecond)) || !l.rec(statsLogCap-1).at.Equal(last) {
		t.Fatalf("after %d records: %d kept from %v to %v, want the newest %d", statsLogCap+extra, all.j-all.i,
			l.rec(0).at, l.rec(statsLogCap-1).at, statsLogCap)
	}
	if cap(l.ring) > statsLogCap+statsLogCap/2 {
		t.Errorf("ring capacity %d for a cap of %d", cap(l.ring), statsLogCap)
	}
	later := last.Add(statsRetention).Add(-time.Second) // retention reaches back to last-1s, included
	if got := l.window(t0, later, later); got.j-got.i != 1001 {
		t.Fatalf("window at 30 days later: %d records, want the last second's 1001, both ends included", got.j-got.i)
	}
}

// BenchmarkStatsLogRecord is the cost recording adds to one event: its
// kind looked up and its record appended (trimming included, past the cap).
func BenchmarkStatsLogRecord(b *testing.B) {
	var l statsLog
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	typ := "reservation.rejected" // among the last cases of statKindOf
	for i := range b.N {
		kind, _ := statKindOf(typ)
		l.add(statRec{at: t0.Add(time.Duration(i) * time.Microsecond), kind: kind,
			task: "WT1", queue: "WQ1", workflow: "WW1", worker: "WK1", channel: "TC1"})
	}
}

// A record whose time goes back (a wall clock stepped back) is kept at its
// predecessor's time, so the log stays in order and a window's binary
// search finds exactly the records inside it.
func TestStatsLogStaysInOrder(t *testing.T) {
	t.Parallel()
	var l statsLog
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, s := range []int{5, 1, 7} {
		l.add(statRec{at: t0.Add(time.Duration(s) * time.Second), kind: statTaskCreated})
	}
	for i := 1; i < len(l.ring); i++ {
		if l.rec(i).at.Before(l.rec(i - 1).at) {
			t.Fatalf("record %d at %v before record %d at %v", i, l.rec(i).at, i-1, l.rec(i-1).at)
		}
	}
	start, end := t0, t0.Add(3*time.Second)
	l.window(start, end, end).each(func(r *statRec) {
		if r.at.Before(start) || r.at.After(end) {
			t.Errorf("window %v-%v holds a record at %v", start, end, r.at)
		}
	})
}
