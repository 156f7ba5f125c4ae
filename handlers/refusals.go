package handlers

import (
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/time/rate"
)

// Defaults for the refusal log: a misconfigured PUBLIC_URL or token shows
// within the first callbacks, while a flood of forged requests costs a few
// lines a minute.
const (
	DefaultRefusalLogBurst    = 10
	DefaultRefusalLogInterval = time.Minute
)

// refusalLog writes the warning for a request refused before its signature
// holds (bad or missing signature, disallowed host, oversized body). Anyone
// can send such requests, so the lines are rate-limited: about burst per
// interval are written, and the rest are counted and reported in one summary
// line per interval. Metrics count every refusal regardless
// (assignd_callbacks_total and assignd_events_total, by result).
type refusalLog struct {
	log      zerolog.Logger
	limiter  *rate.Limiter
	interval time.Duration

	mu         sync.Mutex
	suppressed int
	scheduled  bool // a summary is due at the end of the current interval
}

func newRefusalLog(log zerolog.Logger, burst int, interval time.Duration) *refusalLog {
	return &refusalLog{
		log:      log,
		limiter:  rate.NewLimiter(rate.Every(interval/time.Duration(burst)), burst),
		interval: interval,
	}
}

// Warn returns the event to log one refusal on, or nil when the line is
// suppressed; zerolog's *Event methods do nothing on nil, so callers build
// the line the same way in both cases.
func (l *refusalLog) Warn() *zerolog.Event {
	if l.limiter.Allow() {
		return l.log.Warn()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.suppressed++
	if !l.scheduled {
		// A timer rather than a goroutine: nothing to stop, and the summary
		// comes even when the flood ends with this very request.
		l.scheduled = true
		time.AfterFunc(l.interval, l.summarize)
	}
	return nil
}

func (l *refusalLog) summarize() {
	l.mu.Lock()
	n := l.suppressed
	l.suppressed, l.scheduled = 0, false
	l.mu.Unlock()
	l.log.Warn().Int("suppressed", n).Str("interval", l.interval.String()).
		Msg("refused requests: log lines suppressed (every refusal is counted: the callback's in assignd_callbacks_total, /events' in assignd_events_total)")
}
