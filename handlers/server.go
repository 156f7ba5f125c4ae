// Package handlers is where a request comes in: the echo routes, signature
// verification against the public URL, the callback's wire format, and the
// answer. It asks the policy for a decision and hands async decisions to a
// Scheduler; it knows nothing of how either works.
package handlers

import (
	"context"
	"fmt"
	"net/http"
	"runtime/debug"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
)

// DefaultBodyLimit bounds a callback body. Twilio's own limits (two 4 KiB
// attribute strings and a dozen SIDs) keep real callbacks far below it.
const DefaultBodyLimit = 64 << 10

// Options are the handler's dependencies.
type Options struct {
	Logger    zerolog.Logger
	Verifier  *Verifier
	Decider   Decider
	Scheduler Scheduler // optional: without it async decisions get the fallback
	Metrics   *Metrics  // optional
	// Recorder, when set, is told about every callback (the decision log).
	Recorder Recorder
	// Gatherer serves /metrics when set.
	Gatherer prometheus.Gatherer
	// Ready reports whether the service can take callbacks (policy loaded,
	// store reachable); /readyz answers 503 with its error.
	Ready func(ctx context.Context) error

	CallbackPath  string // default /assignment
	EventsPath    string // default /events
	BodyLimit     int64  // default DefaultBodyLimit
	LogAttributes bool
}

// New returns the HTTP handler serving the callback, health and metrics.
func New(o Options) (*echo.Echo, error) {
	if o.Verifier == nil || o.Decider == nil {
		return nil, fmt.Errorf("handlers: Verifier and Decider are required")
	}
	if o.CallbackPath == "" {
		o.CallbackPath = "/assignment"
	}
	if o.EventsPath == "" {
		o.EventsPath = "/events"
	}
	if o.BodyLimit <= 0 {
		o.BodyLimit = DefaultBodyLimit
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Use(recoverer(o.Logger))

	cb := &callback{
		log: o.Logger, verifier: o.Verifier, decider: o.Decider, scheduler: o.Scheduler,
		metrics: o.Metrics, bodyLimit: o.BodyLimit, logAttrs: o.LogAttributes,
		recorder: o.Recorder,
	}
	// Twilio signs the URL as configured, with or without a trailing slash;
	// serve both rather than redirect (a redirect loses the POST).
	base := strings.TrimSuffix(o.CallbackPath, "/")
	e.POST(base, cb.serve)
	e.POST(base+"/", cb.serve)

	ev := &events{log: o.Logger, verifier: o.Verifier, metrics: o.Metrics, bodyLimit: o.BodyLimit}
	e.POST(o.EventsPath, ev.serve)

	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	e.GET("/readyz", func(c echo.Context) error {
		if o.Ready != nil {
			if err := o.Ready(c.Request().Context()); err != nil {
				return c.String(http.StatusServiceUnavailable, "not ready: "+err.Error()+"\n")
			}
		}
		return c.String(http.StatusOK, "ready\n")
	})
	if o.Gatherer != nil {
		e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(o.Gatherer, promhttp.HandlerOpts{})))
	}
	return e, nil
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
