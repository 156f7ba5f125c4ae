package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river/rivertype"
	"github.com/rs/zerolog"

	"github.com/assignd/assignd/async"
	"github.com/assignd/assignd/async/fake"
	"github.com/assignd/assignd/config"
	"github.com/assignd/assignd/policy"
)

// restAPI decides where async decisions go. With Twilio credentials: the
// real API (or TWILIO_API_BASE_URL). In production without them: nowhere
// (config refuses a policy with async rules then). In development: a fake
// API, either the one TWILIO_API_BASE_URL names or one started in this
// process. stop shuts down an in-process fake.
func restAPI(ctx context.Context, cfg config.Config, log zerolog.Logger, transport http.RoundTripper) (api *async.API, stop func(), err error) {
	stop = func() {}
	if cfg.HasTwilioCredentials() {
		user, pass := cfg.AccountSid, cfg.AuthToken
		if cfg.APIKey != "" {
			user, pass = cfg.APIKey, cfg.APISecret
		}
		api, err = async.NewAPI(cfg.APIBaseURL, cfg.AccountSid, user, pass, transport)
		return api, stop, err
	}
	if cfg.Mode == config.Production {
		return nil, stop, nil
	}
	creds, _, err := config.LoadOrCreateDevCredentials(cfg.DataDir)
	if err != nil {
		return nil, stop, &config.Error{Var: "DATA_DIR", Msg: err.Error()}
	}
	base := cfg.APIBaseURL
	if base == config.Default("TWILIO_API_BASE_URL") {
		base, stop, err = startDevFake(creds)
		if err != nil {
			return nil, func() {}, err
		}
	}
	log.Warn().Str("taskrouter_api", base).
		Msg("DEVELOPMENT MODE: no Twilio credentials, so async decisions are applied to a local fake TaskRouter API, not to Twilio")
	api, err = async.NewAPI(base, creds.AccountSid, creds.AccountSid, creds.AuthToken, transport)
	if err != nil {
		stop()
		return nil, func() {}, err
	}
	return api, stop, nil
}

// startDevFake is development mode's stand-in for TaskRouter's REST API,
// served in this process on a loopback port: the one place it is built.
func startDevFake(creds config.DevCredentials) (base string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("dev fake TaskRouter: %w", err)
	}
	f := fake.New(fake.Options{Credentials: map[string]string{creds.AccountSid: creds.AuthToken}, AutoCreate: true})
	srv := &http.Server{Handler: f, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
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

// fakeTaskRouter serves the fake Reservations API on its own, for a dev
// setup where serve points TWILIO_API_BASE_URL at it.
func fakeTaskRouter(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	cfg, err := config.Parse(environ)
	if err != nil {
		return err
	}
	fs := newFlagSet("fake-taskrouter", "usage: assignd fake-taskrouter [flags]\n\nServes a fake of TaskRouter's Reservations API for development.\n")
	addr := fs.String("addr", "127.0.0.1:8081", "listen address")
	latency := fs.Duration("latency", 0, "delay every update's answer by this much")
	faultRate := fs.Float64("fault-rate", 0, "share of updates answered 429 or 500 at random (soak tests)")
	if ok, err := parseFlags(fs, args, stdout, stderr); !ok {
		return err
	}
	creds, _, err := config.LoadOrCreateDevCredentials(cfg.DataDir)
	if err != nil {
		return &config.Error{Var: "DATA_DIR", Msg: err.Error()}
	}
	users := map[string]string{creds.AccountSid: creds.AuthToken}
	if cfg.AccountSid != "" && cfg.AuthToken != "" {
		users[cfg.AccountSid] = cfg.AuthToken
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("-addr: %w", err)
	}
	srv := &http.Server{
		Handler:           fake.New(fake.Options{Credentials: users, AutoCreate: true, Latency: *latency, FaultRate: *faultRate}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	fmt.Fprintf(stdout, "fake TaskRouter API on http://%s (accounts %v); run serve with TWILIO_API_BASE_URL=http://%s\n", ln.Addr(), keys(users), ln.Addr())
	go func() { <-ctx.Done(); srv.Close() }()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
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
