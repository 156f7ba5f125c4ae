package main

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river/rivertype"
	"github.com/rs/zerolog"

	"github.com/assignd/assignd/async"
	"github.com/assignd/assignd/config"
	"github.com/assignd/assignd/policy"
)

// restAPI decides where async decisions go. With Twilio credentials: the
// real API (or TWILIO_API_BASE_URL). In production without them: nowhere
// (config refuses a policy with async rules then). In development: a
// TaskRouter emulator, either the one TWILIO_API_BASE_URL names (assignd
// emulator) or one started in this process and wired to this service
// (startDevEmulator), returned as emu (nil otherwise) for serve to quiesce
// and close.
func restAPI(ctx context.Context, cfg config.Config, log zerolog.Logger, transport http.RoundTripper, dev devOptions) (api *async.API, emu *runningEmulator, err error) {
	if cfg.HasTwilioCredentials() {
		user, pass := cfg.AccountSid, cfg.AuthToken
		if cfg.APIKey != "" {
			user, pass = cfg.APIKey, cfg.APISecret
		}
		api, err = async.NewAPI(cfg.APIBaseURL, cfg.AccountSid, user, pass, transport)
		return api, nil, err
	}
	if cfg.Mode == config.Production {
		return nil, nil, nil
	}
	// The development account: the in-process emulator's, or the one an
	// `assignd emulator` elsewhere serves.
	acct, err := emulatorAccount(cfg)
	if err != nil {
		return nil, nil, err
	}
	base := cfg.APIBaseURL
	if base == config.Default("TWILIO_API_BASE_URL") {
		if emu, err = startDevEmulator(cfg, acct, log, dev); err != nil {
			return nil, nil, err
		}
		base = emu.Base
	}
	log.Warn().Str("taskrouter_api", base).
		Msg("DEVELOPMENT MODE: no Twilio credentials, so the REST API and the assignment callbacks are a local TaskRouter emulator's, not Twilio's")
	api, err = async.NewAPI(base, acct.Sid, acct.Sid, acct.Token, transport)
	if err != nil {
		emu.Close()
		return nil, nil, err
	}
	return api, emu, nil
}

// openQueue opens the durable queue and registers its metrics.
// fallback is the policy's on_error in force: a decision Twilio refuses
// while the reservation is still pending gets it over REST instead.
func openQueue(ctx context.Context, cfg config.Config, log zerolog.Logger, api *async.API, reg prometheus.Registerer, mw []rivertype.Middleware, fallback func() policy.Decision) (*async.Queue, error) {
	q, err := async.Open(ctx, async.Options{
		Logger:             log,
		DatabaseURL:        cfg.DatabaseURL,
		DataDir:            cfg.DataDir,
		API:                api,
		Workers:            cfg.AsyncWorkers,
		ReservationTimeout: cfg.ReservationTimeout,
		Metrics:            async.NewMetrics(reg),
		Middleware:         mw,
		Fallback:           fallback,
	})
	if err != nil {
		name := "DATA_DIR"
		if cfg.DatabaseURL != "" {
			name = "DATABASE_URL"
		}
		return nil, &config.Error{Var: name, Msg: err.Error()}
	}
	reg.MustRegister(depthCollector{q: q, desc: prometheus.NewDesc("assignd_async_queue_depth",
		"Async decisions stored and not yet finished, by River job state.", []string{"state"}, nil)})
	return q, nil
}

// depthCollector reads the queue depth from the store at scrape time.
type depthCollector struct {
	q    *async.Queue
	desc *prometheus.Desc
}

func (c depthCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c depthCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	counts, err := c.q.Depth(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	for _, state := range async.UnfinishedStates {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(counts[state]), state)
	}
}
