package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rs/zerolog"

	"github.com/assignd/assignd/config"
	"github.com/assignd/assignd/handlers"
	"github.com/assignd/assignd/policy"
	"github.com/assignd/assignd/policy/examples"
	"github.com/assignd/assignd/policy/rules"
)

// shutdownGrace bounds how long in-flight callbacks may take after SIGTERM;
// Twilio has given up on any callback older than 5 s anyway.
const shutdownGrace = 10 * time.Second

// queueDrainGrace bounds how long REST calls in flight may take to finish on
// shutdown (one attempt is bounded by the worker's job timeout).
const queueDrainGrace = 30 * time.Second

func serve(ctx context.Context, args, environ []string, stdout io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("serve takes no arguments (configure it with environment variables), got %q", args)
	}
	cfg, err := config.Load(environ)
	if err != nil {
		return err
	}
	log := newLogger(stdout, cfg.Level)
	gcPercent := tuneGC(environ)

	tokens := []string{cfg.AuthToken, cfg.AuthTokenSecondary}
	if cfg.AuthToken == "" {
		creds, created, err := config.LoadOrCreateDevCredentials(cfg.DataDir)
		if err != nil {
			return &config.Error{Var: "DATA_DIR", Msg: err.Error()}
		}
		tokens = []string{creds.AuthToken}
		log.Warn().Str("token_file", config.DevCredentialsPath(cfg.DataDir)).Bool("created", created).
			Msg("DEVELOPMENT MODE: TWILIO_AUTH_TOKEN is not set, so callbacks are verified with a local development token that real Twilio requests will never match; use `assignd send` to sign test callbacks, and set TWILIO_AUTH_TOKEN before pointing a Workflow here")
	}

	pol, err := loadPolicy(cfg)
	if err != nil {
		return err
	}
	current := policy.NewCurrent(pol, pol.Fallback())
	guard, err := policy.NewGuard(current, pol.Fallback(), cfg.DecisionDeadline)
	if err != nil {
		return fmt.Errorf("policy: %w", err)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if cfg.PolicyFile != "" {
		go newReloader(cfg.PolicyFile, current, log, reg).run(ctx)
	}

	api, stopFake, err := restAPI(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer stopFake()
	if api == nil && pol.HasAsync() {
		return &config.Error{Var: "TWILIO_ACCOUNT_SID", Msg: "the policy has async rules, which call the REST API: set TWILIO_ACCOUNT_SID (and TWILIO_API_KEY/TWILIO_API_SECRET or rely on TWILIO_AUTH_TOKEN)"}
	}
	queue, err := openQueue(ctx, cfg, log, api, reg, guard.Fallback)
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
			sctx, cancel := context.WithTimeout(context.Background(), queueDrainGrace)
			defer cancel()
			_ = queue.Stop(sctx)
		}()
	} else {
		log.Warn().Msg("no REST credentials (TWILIO_ACCOUNT_SID): async decisions will get the on_error decision")
	}

	h, err := handlers.New(handlers.Options{
		Logger:        log,
		Verifier:      handlers.NewVerifier(tokens, cfg.Public, cfg.TrustProxy),
		Decider:       guard,
		Scheduler:     scheduler,
		Metrics:       handlers.NewMetrics(reg),
		Gatherer:      reg,
		Ready:         queue.Ready,
		CallbackPath:  cfg.CallbackPath,
		LogAttributes: cfg.LogAttributes,
	})
	if err != nil {
		return err
	}

	if cfg.DebugAddr != "" {
		dln, err := net.Listen("tcp", cfg.DebugAddr)
		if err != nil {
			return &config.Error{Var: "DEBUG_ADDR", Msg: err.Error()}
		}
		dbg := &http.Server{Handler: debugMux(), ReadHeaderTimeout: 5 * time.Second}
		go dbg.Serve(dln)
		defer dbg.Close()
		log.Warn().Str("addr", dln.Addr().String()).Msg("pprof debug endpoints enabled (DEBUG_ADDR)")
	}

	ln, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(cfg.Port)))
	if err != nil {
		return &config.Error{Var: "PORT", Msg: err.Error()}
	}
	srv := &http.Server{
		Handler: h,
		// Slow or stalled clients must not hold connections: Twilio sends a
		// small body at once and waits at most 5 s for the answer.
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
	}
	log.Info().Str("addr", ln.Addr().String()).Str("callback", cfg.CallbackPath).
		Str("public_url", publicURLForLog(cfg)).Bool("trust_proxy", cfg.TrustProxy).
		Str("policy", pol.Source()).Int("rules", len(pol.Rules())).Str("queue", queue.Store()).Int("gc_percent", gcPercent).Msg("assignd listening")

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	// Drain in order: stop taking callbacks and answer the ones in flight,
	// then let REST calls in flight finish; stored decisions not yet
	// started stay in the queue for the next start.
	log.Info().Msg("shutting down: finishing in-flight callbacks")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	if scheduler != nil {
		log.Info().Msg("shutting down: finishing in-flight REST calls")
		qctx, qcancel := context.WithTimeout(context.Background(), queueDrainGrace)
		defer qcancel()
		if err := queue.Stop(qctx); err != nil {
			return fmt.Errorf("shutdown: %w", err)
		}
	}
	log.Info().Msg("stopped")
	return nil
}

func publicURLForLog(cfg config.Config) string {
	if cfg.Public != nil {
		return cfg.Public.String()
	}
	return "(from each request; set PUBLIC_URL behind ngrok or a proxy)"
}

// defaultGCPercent replaces Go's GOGC=100. assignd's live heap is a few MB
// while each callback allocates tens of KB, so at 100 the collector runs
// every few hundred callbacks; measured on 2 cores, 400 serves about a third
// more callbacks per second for a heap of a few tens of MB. GOGC overrides it.
const defaultGCPercent = 400

func tuneGC(environ []string) int {
	for _, kv := range environ {
		if strings.HasPrefix(kv, "GOGC=") {
			p := debug.SetGCPercent(100) // read the runtime's value (from GOGC)…
			debug.SetGCPercent(p)        // …and put it back
			return p
		}
	}
	debug.SetGCPercent(defaultGCPercent)
	return defaultGCPercent
}

// debugMux serves the runtime profiles, for DEBUG_ADDR only.
func debugMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// loadPolicy loads POLICY_FILE, or the embedded example when it is unset.
func loadPolicy(cfg config.Config) (*rules.Policy, error) {
	if cfg.PolicyFile == "" {
		p, err := rules.Parse("embedded:"+examples.Name, examples.Assignment())
		if err != nil {
			return nil, fmt.Errorf("embedded policy: %w", err)
		}
		return p, nil
	}
	p, err := rules.LoadFile(cfg.PolicyFile)
	if err != nil {
		return nil, &config.Error{Var: "POLICY_FILE", Msg: err.Error()}
	}
	return p, nil
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
