package emulator

import (
	"sync"
	"time"
)

// Clock is the emulator's source of time. Reservation timeouts, task
// timeouts and workflow target timeouts are timers on it, so a test can
// drive them with a ManualClock instead of waiting.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine (RealClock) or from Advance
	// (ManualClock) once d has passed.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc.
type Timer interface {
	// Stop prevents the call; it reports whether it did.
	Stop() bool
}

// RealClock is the wall clock.
type RealClock struct{}

// Now returns time.Now.
func (RealClock) Now() time.Time { return time.Now() }

// AfterFunc is time.AfterFunc.
func (RealClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// ManualClock is a Clock that moves only when Advance is called.
type ManualClock struct {
	mu     sync.Mutex
	now    time.Time
	seq    int
	timers map[int]*manualTimer
}

type manualTimer struct {
	c   *ManualClock
	id  int
	at  time.Time
	f   func()
	off bool
}

// NewManualClock returns a clock standing at start.
func NewManualClock(start time.Time) *ManualClock {
	return &ManualClock{now: start, timers: map[int]*manualTimer{}}
}

// Now returns the clock's current time.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc schedules f at Now()+d.
func (c *ManualClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &manualTimer{c: c, id: c.seq, at: c.now.Add(d), f: f}
	c.timers[t.id] = t
	return t
}

func (t *manualTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if _, ok := t.c.timers[t.id]; !ok {
		return false
	}
	delete(t.c.timers, t.id)
	return true
}

// Advance moves the clock forward by d, calling every timer that falls due
// in time order, each with the clock standing at its due time. Timers set by
// those calls run too when they fall within d. The calls run synchronously,
// so when Advance returns their effects (state changes) are visible.
func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		// The earliest due timer; of those due at the same time, the one set first.
		var t *manualTimer
		for _, u := range c.timers {
			if u.at.After(end) {
				continue
			}
			if t == nil || u.at.Before(t.at) || u.at.Equal(t.at) && u.id < t.id {
				t = u
			}
		}
		if t == nil {
			c.now = end
			c.mu.Unlock()
			return
		}
		delete(c.timers, t.id)
		if t.at.After(c.now) {
			c.now = t.at
		}
		c.mu.Unlock()
		t.f()
	}
}

// Next is when the earliest pending timer falls due; ok is false when none
// is pending. A virtual-time driver advances to the earlier of it and its
// own next event, so no timer is skipped over.
func (c *ManualClock) Next() (at time.Time, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range c.timers {
		if !ok || t.at.Before(at) {
			at, ok = t.at, true
		}
	}
	return at, ok
}
