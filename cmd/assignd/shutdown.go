package main

import (
	"context"
	"sync"
	"time"
)

// Shutdown runs in stages after SIGTERM, each ending at a fixed offset from
// one start, so a stage that finishes early leaves its time to the next and
// none can push the total past drainBudget: answering the callbacks in
// flight (each is answered within CALLBACK_BUDGET < 5 s, and Twilio has given
// up on any callback older than 5 s anyway), letting REST calls in flight
// finish (decisions not started stay in the queue for the next start),
// committing the decision log's last batch, flushing the last spans.
const (
	httpDrain    = 5 * time.Second
	queueDrain   = 2500 * time.Millisecond
	logFlush     = time.Second
	tracingFlush = 500 * time.Millisecond
)

// shutdownStages are the stages' slots in order; their sum is drainBudget.
func shutdownStages() []time.Duration {
	return []time.Duration{httpDrain, queueDrain, logFlush, tracingFlush}
}

// Where each stage ends, from the start of shutdown.
const (
	httpDrainEnd    = httpDrain
	queueDrainEnd   = httpDrainEnd + queueDrain
	logFlushEnd     = queueDrainEnd + logFlush
	tracingFlushEnd = logFlushEnd + tracingFlush
)

// drainBudget is how long shutdown may take from SIGTERM, every stage
// included: where the last one ends. It fits inside Cloud Run's fixed 10 s
// between SIGTERM and SIGKILL and inside fly.toml's kill_timeout, which a
// test compares with it.
const drainBudget = tracingFlushEnd

// shutdownClock is the one start every stage's deadline derives from. It
// starts at SIGTERM, or at the first stage that asks (an early return
// unwinding its defers).
type shutdownClock struct {
	once  sync.Once
	start time.Time
}

func (c *shutdownClock) begin() time.Time {
	c.once.Do(func() { c.start = time.Now() })
	return c.start
}

// until returns a context that ends at offset from the start of shutdown.
func (c *shutdownClock) until(offset time.Duration) (context.Context, context.CancelFunc) {
	return context.WithDeadline(context.Background(), c.begin().Add(offset))
}
