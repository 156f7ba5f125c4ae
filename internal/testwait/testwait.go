// Package testwait is the tests' one way to wait for a condition: poll it
// with a growing pause, up to a bound. The bound is a hang guard, not a
// speed assertion, so callers give generous ones (a loaded machine is slow).
package testwait

import (
	"testing"
	"time"
)

// Pauses between polls start short, so a condition that holds soon is seen
// soon, and grow to maxPause, so a long wait does not spin.
const (
	firstPause = 5 * time.Millisecond
	maxPause   = 200 * time.Millisecond
)

// Until polls cond until it holds or within has passed, and reports
// whether it held. For callers that fail with their own, fuller message.
func Until(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for pause := firstPause; ; pause = min(2*pause, maxPause) {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pause)
	}
}

// For polls cond until it holds, failing t (from the test's goroutine) with
// what it waited for if within passes first.
func For(t testing.TB, what string, within time.Duration, cond func() bool) {
	t.Helper()
	if !Until(within, cond) {
		t.Fatalf("waited %s for %s, in vain", within, what)
	}
}
