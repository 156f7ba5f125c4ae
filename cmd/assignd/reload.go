package main

import (
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/assignd/assignd/inspect"
	"github.com/assignd/assignd/policy"
	"github.com/assignd/assignd/policy/rules"
)

// reloader reloads POLICY_FILE on SIGHUP and when the file changes. A file
// that does not compile, or that the configuration cannot run (async rules
// without REST credentials), is rejected with a log line and the policy in
// force stays, so a bad edit can never take routing down.
type reloader struct {
	path       string
	current    *policy.Current
	checkAsync func(hasAsync bool) error
	log        zerolog.Logger
	reloads    *prometheus.CounterVec
	status     *inspect.PolicyStatus // the inspector shows the last reload
}

func newReloader(path string, current *policy.Current, checkAsync func(hasAsync bool) error, log zerolog.Logger, reg prometheus.Registerer, status *inspect.PolicyStatus) *reloader {
	r := &reloader{path: path, current: current, checkAsync: checkAsync, log: log, status: status,
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "assignd_policy_reloads_total",
			Help: "Policy reloads, by result: ok or rejected (the old policy stayed in force).",
		}, []string{"result"})}
	reg.MustRegister(r.reloads)
	r.reloads.WithLabelValues("ok")
	r.reloads.WithLabelValues("rejected")
	return r
}

// run reloads until ctx ends.
func (r *reloader) run(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	// Watch the directory, not the file: editors save by renaming a new
	// file over the old one, and Kubernetes swaps a symlink.
	var events <-chan fsnotify.Event
	var errs <-chan error
	w, err := fsnotify.NewWatcher()
	if err == nil {
		err = w.Add(filepath.Dir(r.path))
	}
	if err != nil {
		r.log.Warn().Err(err).Msg("cannot watch the policy file; reload with SIGHUP")
	} else {
		defer w.Close()
		events, errs = w.Events, w.Errors
	}

	// Changes come in bursts (write, chmod, rename): reload once they settle.
	var settle <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			r.reload("SIGHUP")
		case ev := <-events:
			if filepath.Clean(ev.Name) == filepath.Clean(r.path) || filepath.Base(ev.Name) == "..data" {
				settle = time.After(100 * time.Millisecond)
			}
		case err := <-errs:
			r.log.Warn().Err(err).Msg("policy file watch error")
		case <-settle:
			settle = nil
			r.reload("file change")
		}
	}
}

func (r *reloader) reload(why string) {
	p, err := rules.LoadFile(r.path)
	if err == nil {
		err = r.checkAsync(p.HasAsync())
	}
	r.status.Reloaded(why, err)
	if err != nil {
		r.reloads.WithLabelValues("rejected").Inc()
		r.log.Error().Str("trigger", why).Str("policy", r.path).Err(err).
			Msg("policy reload rejected: the previous policy stays in force")
		return
	}
	r.current.Store(p)
	r.reloads.WithLabelValues("ok").Inc()
	r.log.Info().Str("trigger", why).Str("policy", r.path).Strs("rules", p.Rules()).Msg("policy reloaded")
}
