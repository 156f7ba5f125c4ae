package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rs/zerolog"

	"github.com/assignd/assignd/config"
	"github.com/assignd/assignd/handlers"
	"github.com/assignd/assignd/inspect"
	"github.com/assignd/assignd/policy"
	"github.com/assignd/assignd/telemetry"
)

// serve runs the service. Configuration is the environment only; the mode
// (development or production) is config's decision, made once in Load.
func serve(ctx context.Context, environ []string, stdout io.Writer, dev devOptions) error {
	cfg, err := config.Load(environ)
	if err := withTracingProblems(err, telemetry.Check(environ)); err != nil {
		return refusal(cfg, err)
	}
	release, err := lockDataDir(cfg) // before the banner: a second instance says only why it stops
	if err != nil {
		return err
	}
	defer release()
	log := newLogger(stdout, cfg.Level)
	for _, w := range cfg.Warnings {
		log.Warn().Msg(w)
	}
	tracing, log, err := setupTracing(ctx, environ, log)
	if err != nil {
		return err
	}
	clock := &shutdownClock{}
	defer func() {
		tctx, cancel := clock.until(tracingFlushEnd)
		defer cancel()
		shutdownTracing(tctx, tracing, log)
	}()
	memLimit := sizeMemory(cfg.MemoryShare, log)

	tokens := []string{cfg.AuthToken, cfg.AuthTokenSecondary}
	if cfg.Mode == config.Development {
		log.Warn().Str("mode", cfg.Mode.String()).Str("policy", cfg.Policy.Source()).
			Msg("DEVELOPMENT MODE: not for real traffic. Set ASSIGND_MODE=production, or any Twilio variable, to have every production requirement checked")
	}
	if cfg.AuthToken == "" { // development only: Load requires it in production
		creds, created, err := config.LoadOrCreateDevCredentials(cfg.DataDir)
		if err != nil {
			return &config.Error{Var: "DATA_DIR", Msg: err.Error()}
		}
		tokens = []string{creds.AuthToken}
		log.Warn().Str("token_file", config.DevCredentialsPath(cfg.DataDir)).Bool("created", created).
			Msg("DEVELOPMENT MODE: callbacks are verified with a local development token that real Twilio requests will never match; use `assignd send` to sign test callbacks")
	}

	pol := cfg.Policy
	current := policy.NewCurrent(pol, pol.Fallback())
	guard, err := policy.NewGuard(current, cfg.DecisionDeadline)
	if err != nil {
		return fmt.Errorf("policy: %w", err)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	policyStatus := inspect.NewPolicyStatus(current)
	if cfg.PolicyFile != "" {
		go newReloader(cfg.PolicyFile, current, cfg.CheckAsync, log, reg, policyStatus).run(ctx)
	}

	api, emu, err := restAPI(ctx, cfg, log, restTransport(tracing), dev)
	if err != nil {
		return err
	}
	defer emu.Close() // development's in-process TaskRouter, if any
	queue, err := openQueue(ctx, cfg, log, api, reg, queueMiddleware(tracing), guard.Fallback)
	if err != nil {
		return err
	}
	defer queue.Close()
	var scheduler handlers.Scheduler
	if api != nil {
		scheduler = queue
		// Not ctx: River hard-stops, cancelling REST calls in flight, when
		// Start's context ends. SIGTERM goes through queue.Stop instead.
		if err := queue.Start(context.WithoutCancel(ctx)); err != nil {
			return err
		}
		// On an early return (the port is taken, say) stop the worker before
		// the deferred Close takes its store away; after a normal drain below
		// this Stop is a no-op.
		defer func() {
			sctx, cancel := clock.until(queueDrainEnd)
			defer cancel()
			_ = queue.Stop(sctx)
		}()
	} else {
		log.Warn().Msg("no REST credentials (TWILIO_ACCOUNT_SID): the policy has no async rules, and a reload adding one is refused")
	}

	dlog, err := openDecisionLog(ctx, cfg, log, reg)
	if err != nil {
		return err
	}
	// Deferred after the queue's: runs before it, once callbacks have
	// stopped, and commits the last batch.
	defer func() {
		lctx, cancel := clock.until(logFlushEnd)
		defer cancel()
		closeDecisionLog(lctx, dlog, log)
	}()
	// The admin listener (ADMIN_ADDR) mounts this at /admin/.
	inspector, err := inspectorHandler(dlog, policyStatus, queue, emu, cfg.DecisionDeadline, log, ctx.Done())
	if err != nil {
		return err
	}

	hopts := handlers.Options{
		Logger:        log,
		Verifier:      handlers.NewVerifier(tokens, cfg.Public, cfg.TrustProxy, cfg.PublicHosts...),
		Decider:       guard,
		Scheduler:     scheduler,
		Metrics:       handlers.NewMetrics(reg),
		Recorder:      recorder(dlog),
		Gatherer:      reg,
		Ready:         queue.Ready,
		CallbackPath:  cfg.CallbackPath,
		Budget:        cfg.CallbackBudget,
		LogAttributes: cfg.LogAttributes,
		Tracer:        callbackTracer(tracing),
	}
	h, err := handlers.New(hopts)
	if err != nil {
		return err
	}
	ops := handlers.NewOps(hopts)
	stopAdmin, err := serveAdmin(ctx, cfg, log, ops, ops, queue, inspector)
	if err != nil {
		return err
	}
	defer stopAdmin()

	ln, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(cfg.Port)))
	if err != nil {
		return &config.Error{Var: "PORT", Msg: err.Error()}
	}
	conns, err := handlers.NewConnLimiter(cfg.ConnectionCap, reg)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler: h,
		// Slow or stalled clients must not hold connections: Twilio sends a
		// small body at once and waits at most 5 s for the answer, and
		// reuses a connection only for callbacks close together.
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       publicIdleTimeout,
		MaxHeaderBytes:    32 << 10,
	}
	log.Info().Str("mode", cfg.Mode.String()).Str("mode_reason", cfg.ModeReason).Str("addr", ln.Addr().String()).Str("callback", cfg.CallbackPath).
		Str("public_url", publicURLForLog(cfg)).Str("trust_proxy", string(cfg.TrustProxy)).
		Str("policy", pol.Source()).Int("rules", len(pol.Rules())).Str("queue", queue.Store()).Int("gc_percent", gcPercent()).Int64("memory_limit_bytes", memLimit).Int("max_connections", cfg.ConnectionCap).Msg("assignd listening")

	errc := make(chan error, 1)
	go func() { errc <- conns.Serve(srv, ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	emu.Quiesce() // an in-process TaskRouter stops calling before we stop listening
	// Drain in order: stop taking callbacks and answer the ones in flight,
	// then let REST calls in flight finish; stored decisions not yet
	// started stay in the queue for the next start; then the deferred
	// stages. All within drainBudget (see shutdownClock).
	log.Info().Msg("shutting down: finishing in-flight callbacks")
	clock.begin()
	sctx, cancel := clock.until(httpDrainEnd)
	defer cancel()
	err = srv.Shutdown(sctx)
	h.Close() // the refusal log's last summary, and no timer left behind
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	if scheduler != nil {
		log.Info().Msg("shutting down: finishing in-flight REST calls")
		qctx, qcancel := clock.until(queueDrainEnd)
		defer qcancel()
		if err := queue.Stop(qctx); err != nil {
			return fmt.Errorf("shutdown: %w", err)
		}
	}
	log.Info().Msg("stopped")
	return nil
}

// publicIdleTimeout closes a kept-alive public connection nobody uses:
// idle connections are what a flood holds, and Twilio reuses one only for
// callbacks close together.
const publicIdleTimeout = 15 * time.Second

func publicURLForLog(cfg config.Config) string {
	if cfg.Public != nil {
		return cfg.Public.String()
	}
	return "(from each request; set PUBLIC_URL behind ngrok or a proxy)"
}

// sizeMemory sets the Go runtime's soft memory limit to share of the
// container's (cgroup) memory limit or, where there is none (a Fly Machine is
// a VM: its memory is the machine's), of the machine's memory, so the
// collector works harder as the heap nears what there is instead of the
// process being OOM-killed. share 0 (GOMEMLIMIT set, or AUTOMEMLIMIT=off)
// leaves it to Go, as is GOGC. It returns the limit in force, 0 for none.
func sizeMemory(share float64, log zerolog.Logger) int64 {
	if share > 0 {
		provider := memlimit.ApplyFallback(memlimit.FromCgroup, memlimit.FromSystem)
		if _, err := memlimit.Set(memlimit.WithRatio(share), memlimit.WithProvider(provider)); err != nil {
			log.Warn().Err(err).Msg("could not read the container's or the machine's memory: Go's memory limit left unset")
		}
	}
	limit := debug.SetMemoryLimit(-1)
	if limit == math.MaxInt64 {
		return 0
	}
	return limit
}

// gcPercent reads the collector's target (GOGC), for the start-up log.
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// newLogger logs JSON, or readable console lines when w is a terminal.
func newLogger(w io.Writer, level zerolog.Level) zerolog.Logger {
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			w = zerolog.ConsoleWriter{Out: f, TimeFormat: time.TimeOnly}
		}
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
}
