package handlers

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/assignd/assignd/internal/testwait"
)

// A slow store check never holds readiness probes: while one refresh is
// blocked, every probe is answered from the last result, only one check
// runs at a time, and its result is answered once it ends. Before any
// result, a probe waits at most `wait` and answers not ready.
//
// Nothing here depends on how fast goroutines run: the first probe may
// wait as long as it takes (wait is only a hang guard), and the counts are
// read once the blocked check has started, not when the probes return.
func TestCachedReadyDoesNotWaitOnASlowStore(t *testing.T) {
	t.Parallel()
	release, started := make(chan struct{}), make(chan struct{})
	var calls, inFlight, maxInFlight atomic.Int64
	down := errors.New("store down")
	c := &cachedReady{ttl: 10 * time.Millisecond, wait: time.Minute, check: func(ctx context.Context) error {
		call := calls.Add(1)
		if call == 1 {
			return nil
		}
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := maxInFlight.Load(); n > m && !maxInFlight.CompareAndSwap(m, n); m = maxInFlight.Load() {
		}
		if call == 2 {
			close(started)
		}
		<-release
		return down
	}}
	if err := c.err(context.Background()); err != nil {
		t.Fatalf("first probe: %v, want ready", err)
	}
	time.Sleep(30 * time.Millisecond) // past the ttl: the next probe starts a refresh

	var wg sync.WaitGroup
	results := make(chan error, 20)
	for range 20 {
		wg.Add(1)
		go func() { defer wg.Done(); results <- c.err(context.Background()) }()
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(30 * time.Second):
		t.Fatal("probes waited on the blocked store check")
	}
	close(results)
	for err := range results {
		if err != nil {
			t.Fatalf("probe during the refresh: %v, want the last result (ready)", err)
		}
	}
	select {
	case <-started: // the one refresh the probes started is blocked in the store
	case <-time.After(30 * time.Second):
		t.Fatal("no probe started a refresh of the stale result")
	}
	for range 20 { // more probes while it is blocked start no other check
		if err := c.err(context.Background()); err != nil {
			t.Fatalf("probe during the refresh: %v, want the last result (ready)", err)
		}
	}
	if calls.Load() != 2 || maxInFlight.Load() != 1 {
		t.Fatalf("%d checks, at most %d at once; want 2 and 1", calls.Load(), maxInFlight.Load())
	}
	close(release)
	testwait.For(t, "the refreshed result (store down) to be answered", 30*time.Second, func() bool {
		return errors.Is(c.err(context.Background()), down)
	})

	// No result yet and a check that hangs: not ready, without waiting for it.
	hang := make(chan struct{})
	defer close(hang)
	fresh := &cachedReady{ttl: time.Second, wait: 50 * time.Millisecond, check: func(ctx context.Context) error { <-hang; return nil }}
	if err := fresh.err(context.Background()); !errors.Is(err, errReadyPending) {
		t.Fatalf("before the first result: %v, want errReadyPending", err)
	}
}
