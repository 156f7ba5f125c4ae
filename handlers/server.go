// Package handlers is where a request comes in: the echo routes, signature
// verification against the public URL, the callback's wire format, and the
// answer. It asks the policy for a decision and hands async decisions to a
// Scheduler; it knows nothing of how either works.
package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/trace"
)

// DefaultBodyLimit bounds a callback body. Twilio's own limits (two 4 KiB
// attribute strings and a dozen SIDs) keep real callbacks far below it.
const DefaultBodyLimit = 64 << 10

// TwilioTimeout is how long TaskRouter waits for the Assignment Callback's
// answer before it calls the fallback URL (or gives up on the reservation).
const TwilioTimeout = 5 * time.Second

// DefaultBudget is how long a callback may take from receipt to answer,
// decision and storing an async decision included: safely under
// TwilioTimeout, leaving room for the network both ways.
const DefaultBudget = 4500 * time.Millisecond

// Options are the handler's dependencies.
type Options struct {
	Logger    zerolog.Logger
	Verifier  *Verifier
	Decider   Decider
	Scheduler Scheduler // optional: without it async decisions get the fallback
	Metrics   *Metrics  // optional
	// Recorder, when set, is told about every callback (the decision log).
	Recorder Recorder
	// Gatherer is served at /metrics by NewOps (the admin listener), never
	// on the public handler.
	Gatherer prometheus.Gatherer
	// Ready reports whether the service can take callbacks (policy loaded,
	// store reachable). NewOps's /readyz answers 503 with its error; the
	// public /readyz answers 503 without it.
	Ready func(ctx context.Context) error

	CallbackPath  string // default DefaultCallbackPath
	EventsPath    string // default DefaultEventsPath
	BodyLimit     int64  // default DefaultBodyLimit
	LogAttributes bool
	// Budget bounds a callback from receipt to answer (CALLBACK_BUDGET):
	// the decision and storing an async decision get a context that ends
	// by then, and an async decision not stored in time is answered with
	// the fallback. Default DefaultBudget; must be below TwilioTimeout.
	Budget time.Duration
	// About RefusalLogBurst lines per RefusalLogInterval are logged for
	// requests refused before their signature holds; the rest are summed
	// in one line per interval. Defaults DefaultRefusalLogBurst and
	// DefaultRefusalLogInterval.
	RefusalLogBurst    int
	RefusalLogInterval time.Duration
	// Tracer makes each callback a server span with child spans for the
	// signature check, the decision and the store insert. Nil: no spans, at
	// no cost (serve passes nil unless OTEL_* turns tracing on).
	Tracer trace.Tracer
}

// Handler is the public HTTP handler. Close it once the server using it has
// shut down.
type Handler struct {
	*echo.Echo
	refusals *refusalLog
}

// Close writes the pending summary of suppressed refusal lines and stops its
// timer, so nothing outlives the server and the last count is not lost.
func (h *Handler) Close() { h.refusals.close() }

// New returns the public HTTP handler: only what Twilio needs (the callback,
// with and without a trailing slash, and the events path) and what a
// platform probes (/healthz, and /readyz without details). Metrics and
// readiness details are on NewOps, for a private listener.
func New(o Options) (*Handler, error) {
	if o.Verifier == nil || o.Decider == nil {
		return nil, fmt.Errorf("handlers: Verifier and Decider are required")
	}
	if o.Budget == 0 {
		o.Budget = DefaultBudget
	}
	if o.Budget <= answerMargin || o.Budget >= TwilioTimeout {
		return nil, fmt.Errorf("handlers: callback budget %s must be above %s and below Twilio's %s", o.Budget, answerMargin, TwilioTimeout)
	}
	if o.RefusalLogBurst <= 0 {
		o.RefusalLogBurst = DefaultRefusalLogBurst
	}
	if o.RefusalLogInterval <= 0 {
		o.RefusalLogInterval = DefaultRefusalLogInterval
	}
	if o.CallbackPath == "" {
		o.CallbackPath = DefaultCallbackPath
	}
	if o.EventsPath == "" {
		o.EventsPath = DefaultEventsPath
	}
	if o.BodyLimit <= 0 {
		o.BodyLimit = DefaultBodyLimit
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Use(recoverer(o.Logger))

	refusals := newRefusalLog(o.Logger, o.RefusalLogBurst, o.RefusalLogInterval)
	checks := gate{verifier: o.Verifier, bodyLimit: o.BodyLimit, refusals: refusals}
	cb := &callback{
		gate: checks, log: o.Logger, decider: o.Decider, scheduler: o.Scheduler,
		metrics: o.Metrics, logAttrs: o.LogAttributes, tracer: o.Tracer,
		budget: o.Budget, overdue: fmt.Errorf("callback budget of %s used up", o.Budget),
		recorder: o.Recorder,
	}
	// Twilio signs the URL as configured, with or without a trailing slash;
	// serve both rather than redirect (a redirect loses the POST).
	base := strings.TrimSuffix(o.CallbackPath, "/")
	e.POST(base, cb.serve)
	e.POST(base+"/", cb.serve)

	ev := &events{gate: checks, log: o.Logger, metrics: o.Metrics}
	e.POST(o.EventsPath, ev.serve)

	e.GET(HealthPath, func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	// Platforms probe the public port (Cloud Run's startup probe can only
	// reach the container port), so /readyz stays here, but says nothing
	// about why, and anyone hammering it costs one store check a second.
	ready := &cachedReady{check: o.Ready, ttl: time.Second, wait: 800 * time.Millisecond}
	e.GET(ReadyPath, func(c echo.Context) error {
		if ready.err(c.Request().Context()) != nil {
			return c.String(http.StatusServiceUnavailable, "not ready\n")
		}
		return c.String(http.StatusOK, "ready\n")
	})
	return &Handler{Echo: e, refusals: refusals}, nil
}

// NewOps returns the operator's handler, for a private listener (ADMIN_ADDR):
// /metrics from o.Gatherer and /readyz with the readiness error's text, which
// may name hosts and databases and so never goes to the public port.
func NewOps(o Options) http.Handler {
	mux := http.NewServeMux()
	if o.Gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(o.Gatherer, promhttp.HandlerOpts{}))
	}
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if o.Ready != nil {
			if err := o.Ready(r.Context()); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprintf(w, "not ready: %s\n", err)
				return
			}
		}
		fmt.Fprint(w, "ready\n")
	})
	return mux
}

// cachedReady answers readiness from the last result of a store check, so
// that probes from anyone cannot turn into a store query each, and a slow
// store cannot hold probes: a stale result starts one refresh in the
// background and is answered meanwhile. Only before the first result does a
// probe wait, for at most wait (below Cloud Run's default 1 s probe timeout).
type cachedReady struct {
	check func(context.Context) error
	ttl   time.Duration
	wait  time.Duration

	mu      sync.Mutex
	at      time.Time // when lastErr was found; zero before the first result
	lastErr error
	running chan struct{} // closed when the refresh in flight ends; nil when none runs
}

// errReadyPending answers a probe that came before the first check ended.
var errReadyPending = errors.New("readiness: the first store check has not finished")

// readyCheckTimeout bounds one store check.
const readyCheckTimeout = 2 * time.Second

func (c *cachedReady) err(ctx context.Context) error {
	if c.check == nil {
		return nil
	}
	c.mu.Lock()
	if !c.at.IsZero() && time.Since(c.at) < c.ttl {
		defer c.mu.Unlock()
		return c.lastErr
	}
	done := c.running
	if done == nil {
		done = make(chan struct{})
		c.running = done
		go c.refresh(done)
	}
	known, last := !c.at.IsZero(), c.lastErr
	c.mu.Unlock()
	if known {
		return last // stale while the refresh runs: never wait on the store
	}
	t := time.NewTimer(c.wait)
	defer t.Stop()
	select {
	case <-done:
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.lastErr
	case <-t.C:
		return errReadyPending
	case <-ctx.Done():
		return errReadyPending
	}
}

// refresh runs one check, not under the probe's context: a probe that gives
// up must not be cached as the store being down.
func (c *cachedReady) refresh(done chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), readyCheckTimeout)
	err := c.check(ctx)
	cancel()
	c.mu.Lock()
	c.lastErr, c.at, c.running = err, time.Now(), nil
	c.mu.Unlock()
	close(done)
}

// recoverer turns a panic in a handler into a 500 and an error log line,
// keeping the process alive for the other callbacks.
func recoverer(log zerolog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) (err error) {
			defer func() {
				if v := recover(); v != nil {
					if v == http.ErrAbortHandler {
						panic(v)
					}
					log.Error().Interface("panic", v).Bytes("stack", debug.Stack()).Str("path", c.Request().URL.Path).Msg("handler panicked")
					err = c.String(http.StatusInternalServerError, "internal error\n")
				}
			}()
			return next(c)
		}
	}
}
