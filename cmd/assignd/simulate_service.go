package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/assignd/assignd/async"
	"github.com/assignd/assignd/config"
	"github.com/assignd/assignd/handlers"
	"github.com/assignd/assignd/policy"
	"github.com/assignd/assignd/policy/rules"
	"github.com/assignd/assignd/whatif/simulate"
)

// simService starts the service for `assignd simulate` the way serve
// composes it: the policy behind policy.Guard, the public handler with
// signature checking served over loopback HTTP, async decisions stored in
// River on SQLite (in a temporary directory) and applied over the REST API
// of the simulator's emulator. No decision log, inspector, admin listener
// or tracing: they would measure nothing the report shows.
//
// The service keeps the wall clock: one service decides for every run at
// once, each run on its own virtual clock. A callback's Timestamp is
// virtual (the simulated day), so the async queue finds it older than the
// reservation timeout and counts the decision's deadline from the
// callback's arrival in wall time, which is right here (the virtual clock
// stands still until the decision is applied). It warns each time that it
// does; the simulate command's logger is zerolog.Nop, whose disabled
// events cost nothing, so the warnings are silenced on purpose, not lost.
func simService(log zerolog.Logger) func(ctx context.Context, policyFile string, env simulate.Env) (simulate.Service, error) {
	return func(ctx context.Context, policyFile string, env simulate.Env) (svc simulate.Service, err error) {
		pol, err := rules.LoadFile(policyFile)
		if err != nil {
			return svc, err
		}
		deadline, _ := time.ParseDuration(config.Default("DECISION_DEADLINE"))
		budget, _ := time.ParseDuration(config.Default("CALLBACK_BUDGET"))
		path := config.Default("CALLBACK_PATH")
		guard, err := policy.NewGuard(policy.NewCurrent(pol, pol.Fallback()), deadline)
		if err != nil {
			return svc, fmt.Errorf("policy: %w", err)
		}
		// undo takes down, last first, what is up so far: on a failure here,
		// or when the simulator closes the service.
		var undo []func() error
		takeDown := func() error {
			var errs error
			for i := len(undo) - 1; i >= 0; i-- {
				errs = errors.Join(errs, undo[i]())
			}
			return errs
		}
		defer func() {
			if err != nil {
				_ = takeDown()
			}
		}()
		dir, err := os.MkdirTemp("", "assignd-simulate-")
		if err != nil {
			return svc, err
		}
		undo = append(undo, func() error { return os.RemoveAll(dir) })
		api, err := async.NewAPI(env.APIBase, env.AccountSid, env.AccountSid, env.AuthToken, nil)
		if err != nil {
			return svc, err
		}
		reg := prometheus.NewRegistry()
		queue, err := async.Open(ctx, async.Options{Logger: log, DataDir: dir, API: api, Workers: async.DefaultWorkers,
			ReservationTimeout: async.DefaultReservationTimeout, Metrics: async.NewMetrics(reg), Fallback: guard.Fallback})
		if err != nil {
			return svc, fmt.Errorf("async queue: %w", err)
		}
		undo = append(undo, func() error { queue.Close(); return nil })
		if err := queue.Start(context.WithoutCancel(ctx)); err != nil {
			return svc, fmt.Errorf("async queue: %w", err)
		}
		undo = append(undo, func() error {
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return queue.Stop(sctx)
		})
		h, err := handlers.New(handlers.Options{
			Logger:       log,
			Verifier:     handlers.NewVerifier([]string{env.AuthToken}, nil, handlers.ProxyNone),
			Decider:      guard,
			Scheduler:    queue,
			Metrics:      handlers.NewMetrics(reg),
			Recorder:     decidedRecorder(env.Decided),
			Gatherer:     reg,
			Ready:        queue.Ready,
			CallbackPath: path,
			Budget:       budget,
		})
		if err != nil {
			return svc, err
		}
		undo = append(undo, func() error { h.Close(); return nil })
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return svc, err
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		undo = append(undo, func() error {
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return srv.Shutdown(sctx)
		})
		return simulate.Service{CallbackURL: "http://" + ln.Addr().String() + path, Close: takeDown}, nil
	}
}

// decidedRecorder tells the simulator each decision's rule and instruction.
type decidedRecorder func(simulate.Decision)

func (f decidedRecorder) Record(c handlers.CallbackRecord) {
	if c.Reservation == nil || f == nil {
		return
	}
	f(simulate.Decision{ReservationSid: c.Reservation.ReservationSid, Rule: c.Decision.Rule,
		Instruction: c.Decision.InstructionName()})
}
