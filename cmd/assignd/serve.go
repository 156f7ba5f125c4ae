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

	"github.com/assignd/assignd/async"
	"github.com/assignd/assignd/config"
	"github.com/assignd/assignd/decisionlog"
	"github.com/assignd/assignd/handlers"
	"github.com/assignd/assignd/inspect"
	"github.com/assignd/assignd/policy"
	"github.com/assignd/assignd/telemetry"
)

// serve runs the service. Configuration is the environment only; the mode
// (development or production) is config's decision, made once in Load. Each
// step registers how to undo itself on stack, which unwinds in reverse
// order on any return, exactly as defers would.
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
	var stack undoStack
	defer stack.unwind()
	clock := &shutdownClock{}
	rt, err := startInstruments(ctx, cfg, environ, stdout, clock, &stack)
	if err != nil {
		return err
	}
	tokens, err := signingTokens(cfg, rt.log)
	if err != nil {
		return err
	}
	st, err := openStores(ctx, cfg, rt, dev, clock, &stack)
	if err != nil {
		return err
	}
	h, err := buildHandlers(ctx, cfg, rt, st, tokens, &stack)
	if err != nil {
		return err
	}
	srv, err := listen(handed(ctx).public, cfg, rt, st, h)
	if err != nil {
		return err
	}
	if err := srv.runUntil(ctx); err != nil {
		return err
	}
	return shutDown(rt, st, h, srv, clock)
}

// undoStack holds what the steps of serve opened, to be closed in reverse.
type undoStack []func()

func (s *undoStack) push(undo func()) { *s = append(*s, undo) }

// unwind has a pointer receiver so that `defer stack.unwind()` sees what
// was pushed after the defer.
func (s *undoStack) unwind() {
	for i := len(*s) - 1; i >= 0; i-- {
		(*s)[i]()
	}
}

// instruments are what every later step logs, traces and counts with.
type instruments struct {
	log      zerolog.Logger
	tracing  *telemetry.Tracing
	reg      *prometheus.Registry
	memLimit int64
}

// startInstruments starts logging (with config's warnings), tracing, the
// metrics registry and the memory limit.
func startInstruments(ctx context.Context, cfg config.Config, environ []string, stdout io.Writer, clock *shutdownClock, stack *undoStack) (instruments, error) {
	log := newLogger(stdout, cfg.Level)
	for _, w := range cfg.Warnings {
		log.Warn().Msg(w)
	}
	tracing, log, err := setupTracing(ctx, environ, log)
	if err != nil {
		return instruments{}, err
	}
	stack.push(func() {
		tctx, cancel := clock.until(tracingFlushEnd)
		defer cancel()
		shutdownTracing(tctx, tracing, log)
	})
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return instruments{log: log, tracing: tracing, reg: reg, memLimit: sizeMemory(cfg.MemoryShare, log)}, nil
}

// signingTokens are the tokens callbacks are verified with: the account's
// (and a rotation's second), or in development a local token kept in
// DATA_DIR.
func signingTokens(cfg config.Config, log zerolog.Logger) ([]string, error) {
	if cfg.Mode == config.Development {
		log.Warn().Str("mode", cfg.Mode.String()).Str("policy", cfg.Policy.Source()).
			Msg("DEVELOPMENT MODE: not for real traffic. Set ASSIGND_MODE=production, or any Twilio variable, to have every production requirement checked")
	}
	if cfg.AuthToken != "" {
		return []string{cfg.AuthToken, cfg.AuthTokenSecondary}, nil
	}
	// Development only: Load requires the token in production.
	creds, created, err := config.LoadOrCreateDevCredentials(cfg.DataDir)
	if err != nil {
		return nil, &config.Error{Var: "DATA_DIR", Msg: err.Error()}
	}
	log.Warn().Str("token_file", config.DevCredentialsPath(cfg.DataDir)).Bool("created", created).
		Msg("DEVELOPMENT MODE: callbacks are verified with a local development token that real Twilio requests will never match; use `assignd send` to sign test callbacks")
	return []string{creds.AuthToken}, nil
}

// stores are the policy in force and what keeps state: the REST API (and
// development's in-process TaskRouter), the async queue, the decision log.
type stores struct {
	current   *policy.Current
	guard     *policy.Guard
	status    *inspect.PolicyStatus
	emu       *runningEmulator
	queue     *async.Queue
	scheduler handlers.Scheduler // nil without REST credentials
	dlog      *decisionlog.Log
}

// openStores compiles the policy's guard, starts its reloader and opens the
// queue and the decision log, registering their shutdown stages.
func openStores(ctx context.Context, cfg config.Config, rt instruments, dev devOptions, clock *shutdownClock, stack *undoStack) (*stores, error) {
	var err error
	st := &stores{current: policy.NewCurrent(cfg.Policy, cfg.Policy.Fallback())}
	if st.guard, err = policy.NewGuard(st.current, cfg.DecisionDeadline); err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	st.status = inspect.NewPolicyStatus(st.current)
	if cfg.PolicyFile != "" {
		go newReloader(cfg.PolicyFile, st.current, cfg.CheckAsync, rt.log, rt.reg, st.status).run(ctx)
	}
	if err := st.openQueue(ctx, cfg, rt, dev, clock, stack); err != nil {
		return nil, err
	}
	if st.dlog, err = openDecisionLog(ctx, cfg, rt.log, rt.reg); err != nil {
		return nil, err
	}
	// Pushed after the queue's: runs before it, once callbacks have
	// stopped, and commits the last batch.
	stack.push(func() {
		lctx, cancel := clock.until(logFlushEnd)
		defer cancel()
		closeDecisionLog(lctx, st.dlog, rt.log)
	})
	return st, nil
}

// openQueue opens the REST API and the async queue and, with REST
// credentials, starts the queue's workers.
func (st *stores) openQueue(ctx context.Context, cfg config.Config, rt instruments, dev devOptions, clock *shutdownClock, stack *undoStack) error {
	api, emu, err := restAPI(ctx, cfg, rt.log, restTransport(rt.tracing), dev)
	if err != nil {
		return err
	}
	st.emu = emu
	stack.push(func() { emu.Close() }) // development's in-process TaskRouter, if any
	queue, err := openQueue(ctx, cfg, rt.log, api, rt.reg, queueMiddleware(rt.tracing), st.guard.Fallback)
	if err != nil {
		return err
	}
	st.queue = queue
	stack.push(func() { queue.Close() })
	if api == nil {
		rt.log.Warn().Msg("no REST credentials (TWILIO_ACCOUNT_SID): the policy has no async rules, and a reload adding one is refused")
		return nil
	}
	st.scheduler = queue
	// Not ctx: River hard-stops, cancelling REST calls in flight, when
	// Start's context ends. SIGTERM goes through queue.Stop instead.
	if err := queue.Start(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	// On an early return (the port is taken, say) stop the worker before
	// Close takes its store away; after a normal drain this Stop is a no-op.
	stack.push(func() {
		sctx, cancel := clock.until(queueDrainEnd)
		defer cancel()
		_ = queue.Stop(sctx)
	})
	return nil
}

// buildHandlers builds the public handler and starts the admin listener
// (ADMIN_ADDR) with the operations handlers and the inspector at /admin/.
func buildHandlers(ctx context.Context, cfg config.Config, rt instruments, st *stores, tokens []string, stack *undoStack) (*handlers.Handler, error) {
	inspector, err := inspectorHandler(st.dlog, st.status, st.queue, st.emu, cfg.DecisionDeadline, rt.log, ctx.Done())
	if err != nil {
		return nil, err
	}
	hopts := handlers.Options{
		Logger:        rt.log,
		Verifier:      handlers.NewVerifier(tokens, cfg.Public, cfg.TrustProxy, cfg.PublicHosts...),
		Decider:       st.guard,
		Scheduler:     st.scheduler,
		Metrics:       handlers.NewMetrics(rt.reg),
		Recorder:      recorder(st.dlog),
		Gatherer:      rt.reg,
		Ready:         st.queue.Ready,
		CallbackPath:  cfg.CallbackPath,
		Budget:        cfg.CallbackBudget,
		LogAttributes: cfg.LogAttributes,
		Tracer:        callbackTracer(rt.tracing),
	}
	h, err := handlers.New(hopts)
	if err != nil {
		return nil, err
	}
	ops := handlers.NewOps(hopts)
	stopAdmin, err := serveAdmin(ctx, cfg, rt.log, ops, ops, st.queue, inspector)
	if err != nil {
		return nil, err
	}
	stack.push(stopAdmin)
	return h, nil
}

// publicServer is the public listener and the server answering on it.
type publicServer struct {
	ln    net.Listener
	conns *handlers.ConnLimiter
	srv   *http.Server
	errc  chan error
}

// listen takes PORT, or the listener handed over (nil: none), and logs the
// start-up line; serving starts in runUntil.
func listen(ln net.Listener, cfg config.Config, rt instruments, st *stores, h *handlers.Handler) (*publicServer, error) {
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(cfg.Port))); err != nil {
			return nil, &config.Error{Var: "PORT", Msg: err.Error()}
		}
	}
	conns, err := handlers.NewConnLimiter(cfg.ConnectionCap, rt.reg)
	if err != nil {
		return nil, err
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
	pol := cfg.Policy
	rt.log.Info().Str("mode", cfg.Mode.String()).Str("mode_reason", cfg.ModeReason).Str("addr", ln.Addr().String()).Str("callback", cfg.CallbackPath).
		Str("public_url", publicURLForLog(cfg)).Str("trust_proxy", string(cfg.TrustProxy)).
		Str("policy", pol.Source()).Int("rules", len(pol.Rules())).Str("queue", st.queue.Store()).Int("gc_percent", gcPercent()).Int64("memory_limit_bytes", rt.memLimit).Int("max_connections", cfg.ConnectionCap).Msg("assignd listening")
	return &publicServer{ln: ln, conns: conns, srv: srv, errc: make(chan error, 1)}, nil
}

// runUntil serves until ctx ends (SIGTERM), or returns why serving stopped.
func (p *publicServer) runUntil(ctx context.Context) error {
	go func() { p.errc <- p.conns.Serve(p.srv, p.ln) }()
	select {
	case err := <-p.errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
		return nil
	}
}

// shutDown drains in order: stop taking callbacks and answer the ones in
// flight, then let REST calls in flight finish; stored decisions not yet
// started stay in the queue for the next start; then the stack's stages.
// All within drainBudget (see shutdownClock).
func shutDown(rt instruments, st *stores, h *handlers.Handler, p *publicServer, clock *shutdownClock) error {
	st.emu.Quiesce() // an in-process TaskRouter stops calling before we stop listening
	rt.log.Info().Msg("shutting down: finishing in-flight callbacks")
	clock.begin()
	sctx, cancel := clock.until(httpDrainEnd)
	defer cancel()
	err := p.srv.Shutdown(sctx)
	h.Close() // the refusal log's last summary, and no timer left behind
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-p.errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	if st.scheduler != nil {
		rt.log.Info().Msg("shutting down: finishing in-flight REST calls")
		qctx, qcancel := clock.until(queueDrainEnd)
		defer qcancel()
		if err := st.queue.Stop(qctx); err != nil {
			return fmt.Errorf("shutdown: %w", err)
		}
	}
	rt.log.Info().Msg("stopped")
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
