package handlers

import (
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
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
	timer      *time.Timer // non-nil while a summary is due at the end of the current interval
	closed     bool
}

func newRefusalLog(log zerolog.Logger, burst int, interval time.Duration) *refusalLog {
	return &refusalLog{
		log:      log,
		limiter:  rate.NewLimiter(rate.Every(interval/time.Duration(burst)), burst),
		interval: interval,
	}
}

// refusal says which check refused a request, or none did.
type refusal int

const (
	notRefused       refusal = iota
	refusedBody              // too large or unreadable
	refusedShape             // not a form TaskRouter would send (CheckShape)
	refusedSignature         // the signature did not hold
	refusedParams            // signed, but its parameters cannot be acted on (callback only)
)

// result is the refusal's result, as counted, logged and recorded.
func (r refusal) result() string {
	switch r {
	case refusedShape:
		return ResultMalformed
	case refusedSignature:
		return ResultBadSignature
	case notRefused:
		return ResultOK
	default:
		return ResultBadRequest
	}
}

// beforeSignature reports whether anyone could have sent the request: its
// line goes to the sampled refusal log.
func (r refusal) beforeSignature() bool {
	return r == refusedBody || r == refusedShape || r == refusedSignature
}

// answer writes the refusal's status and plain-text body; err is why.
func (r refusal) answer(c echo.Context, err error) error {
	switch r {
	case refusedBody:
		return refuseBody(c, err)
	case refusedShape:
		return c.String(http.StatusBadRequest, err.Error()+"\n")
	case refusedSignature:
		return c.String(http.StatusForbidden, "invalid Twilio signature\n")
	default:
		return c.String(http.StatusBadRequest, "bad request: "+err.Error()+"\n")
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
	if l.closed {
		// The server has shut down; a stray late line is written rather
		// than left for a summary that will never come.
		return l.log.Warn()
	}
	l.suppressed++
	if l.timer == nil {
		// A timer rather than a goroutine: the summary comes even when the
		// flood ends with this very request, and close stops it.
		l.timer = time.AfterFunc(l.interval, l.summarize)
	}
	return nil
}

// summarize writes the summary line for the lines suppressed so far.
func (l *refusalLog) summarize() {
	l.mu.Lock()
	n := l.suppressed
	l.suppressed, l.timer = 0, nil
	l.mu.Unlock()
	if n == 0 {
		return
	}
	l.log.Warn().Int("suppressed", n).Str("interval", l.interval.String()).
		Msg("refused requests: log lines suppressed (every refusal is counted: the callback's in assignd_callbacks_total, /events' in assignd_events_total)")
}

// close stops the pending summary's timer and writes the summary now, so
// that the last interval's count reaches the log before the process exits
// and nothing fires after shutdown.
func (l *refusalLog) close() {
	l.mu.Lock()
	l.closed = true
	if l.timer != nil {
		l.timer.Stop()
	}
	l.mu.Unlock()
	l.summarize()
}
