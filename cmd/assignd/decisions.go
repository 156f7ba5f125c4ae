package main

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/assignd/assignd/admin"
	"github.com/assignd/assignd/async"
	"github.com/assignd/assignd/config"
	"github.com/assignd/assignd/decisionlog"
	"github.com/assignd/assignd/handlers"
	"github.com/assignd/assignd/inspect"
	"github.com/assignd/assignd/inspect/emuview"
)

// openDecisionLog opens the decision log in the store the queue uses
// (DATA_DIR/decisions.sqlite or DATABASE_URL), or returns nil when
// DECISION_LOG=off.
func openDecisionLog(ctx context.Context, cfg config.Config, log zerolog.Logger, reg prometheus.Registerer) (*decisionlog.Log, error) {
	if cfg.DecisionLogMode == decisionlog.ModeOff {
		return nil, nil
	}
	dl, err := decisionlog.Open(ctx, decisionlog.Options{
		Logger: log, DatabaseURL: cfg.DatabaseURL, DataDir: cfg.DataDir, Mode: cfg.DecisionLogMode,
		Retention: cfg.DecisionLogRetention, MaxRows: cfg.DecisionLogMaxRows, Registerer: reg,
	})
	if err != nil {
		return nil, &config.Error{Var: "DECISION_LOG", Msg: err.Error()}
	}
	log.Info().Str("mode", string(dl.Mode())).Str("store", dl.Store()).Dur("retention", cfg.DecisionLogRetention).
		Int64("max_rows", cfg.DecisionLogMaxRows).Msg("decision log on")
	return dl, nil
}

// recorder is dl as a handlers.Recorder: nil (no interface holding a nil
// pointer) when the log is off, so the handler skips recording entirely.
func recorder(dl *decisionlog.Log) handlers.Recorder {
	if dl == nil {
		return nil
	}
	return dl
}

// closeDecisionLog commits what is queued and closes the log, giving up
// when ctx ends (its shutdown stage): the process is about to exit, and a
// store that hangs must not eat the time of the stages after it.
func closeDecisionLog(ctx context.Context, dl *decisionlog.Log, log zerolog.Logger) {
	if dl == nil {
		return
	}
	if err := dl.Flush(ctx); err != nil {
		log.Warn().Err(err).Msg("decision log: the last batch may be lost")
	}
	closed := make(chan error, 1)
	go func() { closed <- dl.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			log.Warn().Err(err).Msg("decision log: close")
		}
	case <-ctx.Done():
		log.Warn().Msg("decision log: close did not finish within its shutdown stage; exiting without it")
	}
}

// inspectorHandler is the inspector for the admin listener to mount at
// /admin/ (everything under it but /admin/queue/), behind its access rule.
// Without a decision log there is nothing to inspect: nil.
// Its live streams end when done is closed (the admin server's shutdown).
func inspectorHandler(dl *decisionlog.Log, status *inspect.PolicyStatus, queue *async.Queue, emu *runningEmulator, deadline time.Duration, log zerolog.Logger, done <-chan struct{}) (http.Handler, error) {
	if dl == nil {
		return nil, nil
	}
	o := inspect.Options{Log: dl, Policy: status, DecisionDeadline: deadline, Logger: log, Done: done, Prefix: admin.InspectorPrefix}
	if queue != nil {
		o.Jobs = queue
	}
	if emu != nil {
		// Development's in-process TaskRouter: its workers, tasks and
		// reservations on the page, and "set Alice to Idle" with a click.
		o.Emulator = emuview.New(emu.Emu, emu.Loaded.Workspace)
	}
	return inspect.New(o)
}
