package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/riverqueue/river/rivertype"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/assignd/assignd/admin"
	"github.com/assignd/assignd/async"
	"github.com/assignd/assignd/config"
	"github.com/assignd/assignd/handlers"
	"github.com/assignd/assignd/telemetry"
)

// startAdmin serves h on addr, or on ln when one was handed over (nil:
// none), the private admin listener. stop closes it at once: nothing on it
// is worth a share of the platform's shutdown budget (a scrape retries, a
// profile or live page is restarted by hand).
func startAdmin(ln net.Listener, addr string, anyPortIfTaken bool, h http.Handler, log zerolog.Logger) (stop func(), err error) {
	if ln == nil {
		var err error
		if ln, err = listenOrFreePort(addr, anyPortIfTaken, nil); err != nil {
			return nil, &config.Error{Var: "ADMIN_ADDR", Msg: err.Error()}
		}
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		// No WriteTimeout: pprof's profile and trace stream for as long as
		// asked (30 s by default) and live pages stream events; the
		// listener is loopback or behind credentials, and slow readers of
		// the request are bounded above.
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error().Err(err).Msg("admin listener stopped")
		}
	}()
	log.Info().Str("addr", ln.Addr().String()).Str("inspector", "http://"+ln.Addr().String()+admin.InspectorPrefix).
		Msg("admin listener: /metrics, /readyz, /debug/pprof/, /admin/queue/ (River UI), /admin/ (inspector)")
	return func() { srv.Close() }, nil
}

// setupTracing configures OpenTelemetry from the OTEL_* variables. When
// tracing is on it also becomes OTel's global provider (for any library
// that reads it) and log lines get trace_id; when off nothing is installed.
func setupTracing(ctx context.Context, environ []string, log zerolog.Logger) (*telemetry.Tracing, zerolog.Logger, error) {
	tr, err := telemetry.Setup(ctx, environ, buildVersion())
	if err != nil {
		return nil, log, err
	}
	if !tr.Enabled {
		return tr, log, nil
	}
	otel.SetTracerProvider(tr.Provider)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	log = log.Hook(telemetry.LogHook{})
	log.Info().Str("endpoint", tr.Endpoint).Msg("tracing: exporting spans over OTLP/HTTP")
	return tr, log, nil
}

// withTracingProblems adds the OTEL_* problems to config's refusal, so that
// start-up lists every problem at once rather than tracing's only after
// config's are fixed. An error that is no configuration problem (a policy
// file that cannot be read) is returned as it is.
func withTracingProblems(err error, tracing config.Errors) error {
	if len(tracing) == 0 {
		return err
	}
	if err == nil {
		return tracing
	}
	var ce config.Errors
	if errors.As(err, &ce) {
		return append(ce[:len(ce):len(ce)], tracing...)
	}
	return err
}

// shutdownTracing flushes the last spans by ctx's deadline (its shutdown
// stage, the last one).
func shutdownTracing(ctx context.Context, tr *telemetry.Tracing, log zerolog.Logger) {
	if err := tr.Shutdown(ctx); err != nil {
		log.Warn().Err(err).Msg("tracing: could not flush the last spans")
	}
}

// buildVersion is the module version from the build info, for traces.
func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// restTransport makes each REST call to TaskRouter a client span when
// tracing is on; nil (http.DefaultTransport) otherwise.
func restTransport(tr *telemetry.Tracing) http.RoundTripper {
	if !tr.Enabled {
		return nil
	}
	return telemetry.Transport(http.DefaultTransport, tr.Provider)
}

// queueMiddleware traces River's inserts and jobs when tracing is on.
func queueMiddleware(tr *telemetry.Tracing) []rivertype.Middleware {
	if !tr.Enabled {
		return nil
	}
	return async.TraceMiddleware(tr.Provider)
}

// serveAdmin starts the admin listener when ADMIN_ADDR is set (config has
// already refused an exposed address without a password or a stated reason).
func serveAdmin(ctx context.Context, cfg config.Config, log zerolog.Logger, metrics, ready http.Handler, queue *async.Queue, inspector http.Handler) (stop func(), err error) {
	addr, anyPort := cfg.AdminAddr, false
	if addr == "" && cfg.Mode == config.Development {
		// Development has the inspector on by default, on loopback (a
		// taken port falls back to a free one, so two dev runs coexist).
		addr, anyPort = devAdminAddr, true
	}
	if addr == "" {
		log.Info().Msg("admin listener off: set ADMIN_ADDR (e.g. 127.0.0.1:9090) for /metrics, /readyz, pprof, the inspector and the queue UI")
		return func() {}, nil
	}
	h, err := admin.New(ctx, admin.Options{
		Logger:      log,
		Password:    cfg.AdminPassword,
		AllowRemote: cfg.AdminOpenReason != "",
		Addr:        addr,
		Metrics:     metrics,
		Ready:       ready,
		Queue:       queue.UIEndpoints(),
		Inspector:   inspector,
	})
	if err != nil {
		return nil, err
	}
	if cfg.AdminPassword == "" && cfg.AdminOpenReason != "" {
		log.Warn().Str("addr", cfg.AdminAddr).Str("reason", cfg.AdminOpenReason).
			Msg("admin listener serves any client without credentials (ADMIN_OPEN_REASON)")
	}
	return startAdmin(handed(ctx).admin, addr, anyPort, h, log)
}

// devAdminAddr is the admin listener's address in development mode when
// ADMIN_ADDR is unset.
const devAdminAddr = "127.0.0.1:9090"

// callbackTracer is the handlers' tracer when tracing is on; nil (no spans,
// no cost) otherwise.
func callbackTracer(tr *telemetry.Tracing) trace.Tracer {
	if !tr.Enabled {
		return nil
	}
	return tr.Provider.Tracer(handlers.TracerName)
}
