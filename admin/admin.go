// Package admin builds the private admin listener's handler: Prometheus
// metrics, readiness with details, the runtime profiles, River's queue UI
// and the decision inspector, all behind one access rule. None of it belongs
// on the public port, which serves only what Twilio needs.
package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync"

	"github.com/rs/zerolog"
	"riverqueue.com/riverui"
	"riverqueue.com/riverui/uiendpoints"
)

// User is the HTTP Basic user name the admin listener expects with
// ADMIN_PASSWORD. Fixed, so there is one secret to configure, not two.
const User = "admin"

// Paths the admin listener serves. QueuePrefix is where River's UI lives
// (its API under QueuePrefix+"/api/"); InspectorPrefix catches the rest of
// /admin/ for the decision inspector.
const (
	MetricsPath     = "/metrics"
	ReadyPath       = "/readyz"
	PprofPrefix     = "/debug/pprof/"
	QueuePrefix     = "/admin/queue"
	InspectorPrefix = "/admin/"
)

// Options are the admin handler's dependencies. Every handler is optional:
// a missing one is simply not mounted (404).
type Options struct {
	Logger zerolog.Logger
	// Password turns on HTTP Basic auth (user User) for every client,
	// loopback included. Empty: only loopback clients are served.
	Password string
	// AllowRemote serves non-loopback clients without credentials. Only for
	// an operator's explicit opt-in naming the exposure (ADMIN_OPEN_REASON:
	// a private network such as Fly's 6PN, whose metrics scraper cannot
	// send credentials); the default refuses them with 403.
	AllowRemote bool
	// Addr is the listener's address (ADMIN_ADDR). Without a password its
	// host is accepted in the Host header, besides loopback names.
	Addr string

	// Metrics serves /metrics (Prometheus), Ready /readyz with details
	// (store errors included, which is why it lives here and not on the
	// public port). handlers.NewOps serves both.
	Metrics http.Handler
	Ready   http.Handler
	// Queue is River's UI API bound to the queue's client and store
	// (async.Queue.UIEndpoints); River's UI is served at QueuePrefix.
	Queue uiendpoints.Bundle
	// Inspector serves the decision inspector at InspectorPrefix.
	Inspector http.Handler
}

// New returns the admin handler. River's UI, started on its first request,
// runs background services that stop when ctx ends.
func New(ctx context.Context, o Options) (http.Handler, error) {
	mux := http.NewServeMux()
	if o.Metrics != nil {
		mux.Handle(MetricsPath, o.Metrics)
	}
	if o.Ready != nil {
		mux.Handle(ReadyPath, o.Ready)
	}
	mux.HandleFunc(PprofPrefix, pprof.Index)
	mux.HandleFunc(PprofPrefix+"cmdline", pprof.Cmdline)
	mux.HandleFunc(PprofPrefix+"profile", pprof.Profile)
	mux.HandleFunc(PprofPrefix+"symbol", pprof.Symbol)
	mux.HandleFunc(PprofPrefix+"trace", pprof.Trace)
	if o.Queue != nil {
		ui, err := queueUI(ctx, o.Queue, o.Logger)
		if err != nil {
			return nil, err
		}
		mux.Handle(QueuePrefix+"/", ui)
	}
	if o.Inspector != nil {
		mux.Handle(InspectorPrefix, o.Inspector)
	}
	// The admin pages act (River's UI retries and cancels jobs) and browsers
	// resend Basic credentials to any page that links here: refuse
	// cross-origin state-changing requests.
	h := http.NewCrossOriginProtection().Handler(mux)
	throttle, err := newLoginThrottle(o.Logger)
	if err != nil {
		return nil, err
	}
	return securityHeaders(&access{next: h, log: o.Logger, password: digest(o.Password), hasPassword: o.Password != "",
		allowRemote: o.AllowRemote, listenHost: hostOnly(o.Addr), throttle: throttle}), nil
}

// queueUI builds River's UI for the queue's driver, under QueuePrefix.
func queueUI(ctx context.Context, endpoints uiendpoints.Bundle, log zerolog.Logger) (http.Handler, error) {
	ui, err := riverui.NewHandler(&riverui.HandlerOpts{
		Endpoints: endpoints,
		Logger:    slog.New(zerolog.NewSlogHandler(log.With().Str("component", "riverui").Logger())),
		Prefix:    QueuePrefix,
	})
	if err != nil {
		return nil, fmt.Errorf("river UI: %w", err)
	}
	return &lazyStart{ctx: ctx, ui: ui}, nil
}

// lazyStart starts River's UI on its first request. Once started, the UI
// counts jobs by state in the background, periodically, whether anyone
// looks or not; on SQLite that takes the queue's one connection from the
// callbacks' inserts. Nobody who never opens the UI should pay for it.
type lazyStart struct {
	ctx  context.Context // the listener's lifetime, which the UI's services share
	ui   *riverui.Handler
	once sync.Once
	err  error
}

func (l *lazyStart) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.once.Do(func() { l.err = l.ui.Start(l.ctx) })
	if l.err != nil {
		http.Error(w, "river UI did not start: "+l.err.Error(), http.StatusInternalServerError)
		return
	}
	l.ui.ServeHTTP(w, r)
}

// access is the admin listener's one access rule.
type access struct {
	next        http.Handler
	log         zerolog.Logger
	password    [sha256.Size]byte
	hasPassword bool
	allowRemote bool
	listenHost  string // ADMIN_ADDR's host
	throttle    *loginThrottle
}

func (a *access) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case a.hasPassword:
		if !a.passwordAccepted(w, r) {
			return
		}
	case !a.allowRemote && !loopbackClient(r.RemoteAddr):
		a.log.Debug().Str("remote", r.RemoteAddr).Str("path", r.URL.Path).Msg("admin: refused a non-loopback client (no ADMIN_PASSWORD)")
		http.Error(w, "admin: only loopback clients are served without ADMIN_PASSWORD", http.StatusForbidden)
		return
	case !a.hostAllowed(r.Host):
		a.log.Debug().Str("host", r.Host).Str("path", r.URL.Path).Msg("admin: refused a request for a foreign host name (no ADMIN_PASSWORD)")
		http.Error(w, "admin: without ADMIN_PASSWORD only requests addressed to localhost, a loopback IP or ADMIN_ADDR's host are served", http.StatusMisdirectedRequest)
		return
	}
	a.next.ServeHTTP(w, r)
}

// passwordAccepted checks r's Basic credentials within its address's
// failed-login allowance, answering 401 or 429 itself when it refuses.
func (a *access) passwordAccepted(w http.ResponseWriter, r *http.Request) bool {
	if _, _, tried := r.BasicAuth(); !tried {
		askForCredentials(w) // a browser asking, not a guess: nothing spent
		return false
	}
	refused := false
	ok := a.throttle.admit(w, r, func() bool {
		if a.authorized(r) {
			return true
		}
		refused = true
		return false
	})
	if refused {
		a.throttle.failedLogin(r)
		askForCredentials(w)
	}
	return ok
}

func askForCredentials(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Basic realm="assignd admin", charset="UTF-8"`)
	http.Error(w, "admin: credentials required (HTTP Basic, user "+User+", password ADMIN_PASSWORD)", http.StatusUnauthorized)
}

// hostAllowed guards the password-less listener against DNS rebinding: a
// page at evil.example that re-resolves its name to 127.0.0.1 is
// same-origin for the browser, and its requests come from a loopback peer,
// but they still carry Host: evil.example. Only names the attacker cannot
// control pass: localhost, ADMIN_ADDR's own host, and IP literals (loopback
// ones; any, when AllowRemote serves the network on purpose), since a
// request addressed to an IP was not steered there by anyone's DNS.
func (a *access) hostAllowed(hostport string) bool {
	h := hostOnly(hostport)
	switch {
	case LoopbackHost(h):
		return true
	case a.listenHost != "" && strings.EqualFold(h, a.listenHost):
		return true
	case a.allowRemote && net.ParseIP(h) != nil:
		return true
	}
	return false
}

// authorized compares fixed-size digests in constant time, so neither the
// password's content nor its length leaks through timing; both comparisons
// always run.
func (a *access) authorized(r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return false
	}
	wantUser := digest(User)
	gotUser, gotPass := digest(user), digest(pass)
	userOK := subtle.ConstantTimeCompare(gotUser[:], wantUser[:])
	passOK := subtle.ConstantTimeCompare(gotPass[:], a.password[:])
	return userOK&passOK == 1
}

func digest(s string) [sha256.Size]byte { return sha256.Sum256([]byte(s)) }
