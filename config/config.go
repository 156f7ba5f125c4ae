// Package config reads assignd's settings from the environment, decides the
// mode (development or production) once, and checks everything that mode
// requires, so that a misconfiguration stops the process at start-up with
// every problem listed, one line each naming the variable, not at the first
// callback.
package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/rs/zerolog"

	"github.com/assignd/assignd/admin"
	"github.com/assignd/assignd/decisionlog"
	"github.com/assignd/assignd/handlers"
	"github.com/assignd/assignd/policy/examples"
	"github.com/assignd/assignd/policy/rules"
	"github.com/assignd/assignd/taskrouter"
)

// Config is every setting, with its variable, default and meaning. The
// `help` tag is the documentation: `assignd help env` and the README's
// configuration table are generated from it. `marks:"production"` makes a
// non-empty value switch to production mode.
type Config struct {
	ModeSetting string `env:"ASSIGND_MODE" help:"development or production; unset: production as soon as any variable marked (sets production) is set, development otherwise"`

	Port           int                   `env:"PORT" envDefault:"8080" help:"listen port for Twilio's callbacks"`
	PublicURL      string                `env:"PUBLIC_URL" marks:"production" help:"base URL Twilio calls (https://abc.ngrok.app, https://app.fly.dev), without the callback path; signatures are checked against it plus the request path. A path prefix your proxy strips may be included"`
	TrustProxy     handlers.ProxyHeaders `env:"TRUST_PROXY" envDefault:"false" help:"instead of PUBLIC_URL, rebuild the URL from the one header family the nearest proxy sets: x-forwarded (X-Forwarded-Proto/-Host; true means this) or forwarded (RFC 7239); the other family is ignored. Production requires PUBLIC_HOSTS with it; never together with PUBLIC_URL"`
	PublicHosts    []string              `env:"PUBLIC_HOSTS" envSeparator:"," help:"with TRUST_PROXY: comma-separated host[:port] values Twilio calls; a request naming another host is refused"`
	CallbackPath   string                `env:"CALLBACK_PATH" envDefault:"/assignment" help:"the callback route (served with and without a trailing slash); must not collide with /events, /healthz, /readyz, /metrics"`
	MaxConnections int                   `env:"MAX_CONNECTIONS" help:"cap on open connections to PORT; at the cap a new one replaces the oldest idle one (never one with a request in flight). Unset: 4096, lowered to fit the descriptor limit (ulimit -n) less 256 kept for the rest of the process; a value that does not fit is refused"`

	AccountSid         string `env:"TWILIO_ACCOUNT_SID" marks:"production" help:"account for REST calls (async decisions)"`
	AuthToken          string `env:"TWILIO_AUTH_TOKEN" marks:"production" help:"verifies callbacks' signatures (32 hex characters; required in production)"`
	AuthTokenSecondary string `env:"TWILIO_AUTH_TOKEN_SECONDARY" help:"also accepted during an auth token rotation"`
	APIKey             string `env:"TWILIO_API_KEY" marks:"production" help:"REST credentials (SK…), preferred over the auth token; never used for signatures; goes with TWILIO_API_SECRET"`
	APISecret          string `env:"TWILIO_API_SECRET" help:"the API key's secret"`
	APIBaseURL         string `env:"TWILIO_API_BASE_URL" envDefault:"https://taskrouter.twilio.com" help:"TaskRouter REST base; https, or http to loopback only (a local fake); a warning is logged when it is not Twilio's"`

	PolicyFile       string        `env:"POLICY_FILE" help:"rules file (required in production; development falls back to the embedded example); see assignd policy init"`
	DecisionDeadline time.Duration `env:"DECISION_DEADLINE" envDefault:"3s" help:"a slower policy gets the on_error decision; less than CALLBACK_BUDGET"`
	CallbackBudget   time.Duration `env:"CALLBACK_BUDGET" envDefault:"4.5s" help:"every callback is answered within this much of its arrival (decision and storing an async one); more than DECISION_DEADLINE, less than Twilio's 5s"`

	DataDir            string        `env:"DATA_DIR" envDefault:".assignd" help:"development credentials and the SQLite queue"`
	DatabaseURL        string        `env:"DATABASE_URL" marks:"production" help:"PostgreSQL for the async queue (several instances share it)"`
	ReservationTimeout time.Duration `env:"RESERVATION_TIMEOUT" envDefault:"120s" help:"the Workflow's TaskReservationTimeout: async decisions are not retried past it"`
	AsyncWorkers       int           `env:"ASYNC_WORKERS" envDefault:"50" help:"concurrent REST calls for async decisions"`

	AdminAddr       string `env:"ADMIN_ADDR" help:"host:port of the admin listener (/metrics, /readyz details, pprof, the inspector at /admin/, River UI at /admin/queue/); unset: 127.0.0.1:9090 in development, off in production. Not loopback: needs ADMIN_PASSWORD or ADMIN_OPEN_REASON"`
	AdminPassword   string `env:"ADMIN_PASSWORD" help:"Basic auth password for the admin listener, user name admin (at least 16 characters; production also refuses a guessable one: make it with openssl rand -base64 24)"`
	AdminOpenReason string `env:"ADMIN_OPEN_REASON" help:"why a non-loopback ADMIN_ADDR may go without a password (e.g. \"Fly private network\"); logged at start-up"`

	LogLevel      string `env:"LOG_LEVEL" envDefault:"info" help:"trace, debug, info, warn or error"`
	LogAttributes bool   `env:"LOG_ATTRIBUTES" envDefault:"false" help:"log task/worker attributes (may contain customer data)"`

	// Decision log: what each callback decided and why, for the inspector.
	DecisionLog          string        `env:"DECISION_LOG" help:"what the decision log keeps: full (attributes too), summary (no attribute values) or off; unset: full in development, summary in production"`
	DecisionLogRetention time.Duration `env:"DECISION_LOG_RETENTION" envDefault:"24h" help:"decision log rows older than this are pruned in the background (at least 1m; on SQLite the newest row always stays, so its id is never reused)"`
	DecisionLogMaxRows   int64         `env:"DECISION_LOG_MAX_ROWS" envDefault:"1000000" help:"the decision log keeps at most this many rows, the newest"`

	// Set by the platforms themselves; read only to recognise production.
	FlyAppName string `env:"FLY_APP_NAME" marks:"production" help:"set by Fly.io"`
	KService   string `env:"K_SERVICE" marks:"production" help:"set by Cloud Run"`

	// Derived by Load from the settings above.
	Mode            Mode             `env:"-"`
	ModeReason      string           `env:"-"` // why: "PUBLIC_URL is set", for the start-up log
	Public          *url.URL         `env:"-"`
	ConnectionCap   int              `env:"-"` // MAX_CONNECTIONS resolved against the descriptor limit
	Level           zerolog.Level    `env:"-"`
	DecisionLogMode decisionlog.Mode `env:"-"`
	Warnings        []string         `env:"-"` // for the log once it exists, e.g. a trimmed token
	// Policy is POLICY_FILE compiled (or, in development without it, the
	// embedded example); set by Load, not by Parse.
	Policy *rules.Policy `env:"-"`
}

// Mode is how the service treats missing settings. Decided once, by Load.
type Mode int

const (
	// Development fills gaps with local stand-ins: a generated signing
	// token, the embedded example policy, a fake REST API.
	Development Mode = iota + 1
	// Production requires every setting a real deployment needs.
	Production
)

func (m Mode) String() string {
	switch m {
	case Development:
		return "development"
	case Production:
		return "production"
	}
	return "unknown"
}

// retired are variables that no longer exist, with what replaced them, so an
// old deployment file gets an answer instead of silently losing a setting.
func retired() map[string]string {
	return map[string]string{
		"DEBUG_ADDR": "removed: pprof is served on the admin listener; set ADMIN_ADDR instead",
	}
}

// ReservedPaths are served by assignd itself, on the public or the admin
// listener, so CALLBACK_PATH must not take them.
func ReservedPaths() []string {
	return []string{"/events", "/healthz", "/readyz", "/metrics", "/debug/pprof"}
}

// Error is a configuration error about one variable.
type Error struct {
	Var string
	Msg string
}

func (e *Error) Error() string { return e.Var + ": " + e.Msg }

// Errors is every configuration problem found, one line each.
type Errors []*Error

func (e Errors) Error() string {
	lines := make([]string, len(e))
	for i, err := range e {
		lines[i] = err.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As find each *Error.
func (e Errors) Unwrap() []error {
	out := make([]error, len(e))
	for i, err := range e {
		out[i] = err
	}
	return out
}

func (e *Errors) add(v, format string, args ...any) {
	*e = append(*e, &Error{Var: v, Msg: fmt.Sprintf(format, args...)})
}

func (e Errors) err() error {
	if len(e) == 0 {
		return nil
	}
	return e
}

// Parse reads the configuration from environ (as os.Environ gives it), checks
// each value's form and decides the mode. It does not require anything: tools
// such as `assignd send` use it. The error lists every problem.
func Parse(environ []string) (Config, error) {
	vars := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	var c Config
	var errs Errors
	bad := map[string]bool{}
	if err := env.ParseWithOptions(&c, env.Options{Environment: vars}); err != nil {
		for _, e := range translate(err, vars) {
			errs = append(errs, e)
			bad[e.Var] = true
		}
	}
	gone := retired()
	for _, name := range slices.Sorted(maps.Keys(gone)) {
		if vars[name] != "" {
			errs.add(name, "%s", gone[name])
		}
	}
	// A variable that did not parse has its zero value: checking it again
	// would only repeat the problem less clearly.
	for _, e := range c.check(vars) {
		if !bad[e.Var] {
			errs = append(errs, e)
		}
	}
	return c, errs.err()
}

// Load is Parse plus everything the mode requires of a running service: in
// production a signing token, a policy file, a public URL source and, when
// the policy has async rules, REST credentials. Every problem is listed.
func Load(environ []string) (Config, error) {
	c, err := Parse(environ)
	var errs Errors
	if err != nil {
		errs = err.(Errors)
	}
	if c.Mode == Production {
		errs = append(errs, c.require()...)
	}
	if c.PolicyFile != "" || c.Mode == Development {
		p, perr := c.LoadPolicy()
		var ce *Error
		switch {
		case errors.As(perr, &ce):
			errs = append(errs, ce)
		case perr != nil:
			return c, perr
		default:
			c.Policy = p
			if aerr := c.CheckAsync(p.HasAsync()); aerr != nil {
				errs = append(errs, aerr.(*Error))
			}
		}
	}
	return c, errs.err()
}

// LoadPolicy compiles POLICY_FILE or, when it is unset, the embedded example
// (which production never gets: Load requires POLICY_FILE there).
func (c *Config) LoadPolicy() (*rules.Policy, error) {
	if c.PolicyFile == "" {
		p, err := rules.Parse("embedded:"+examples.Name, examples.Assignment())
		if err != nil {
			return nil, fmt.Errorf("embedded policy: %w", err)
		}
		return p, nil
	}
	p, err := rules.LoadFile(c.PolicyFile)
	if err != nil {
		return nil, &Error{Var: "POLICY_FILE", Msg: err.Error()}
	}
	return p, nil
}

// translate turns env's errors, which name Go fields and types, into ones
// that name the variable and say what it wants.
func translate(err error, vars map[string]string) Errors {
	var list []error
	var agg env.AggregateError
	if errors.As(err, &agg) {
		list = agg.Errors
	} else {
		list = []error{err}
	}
	var out Errors
	for _, e := range list {
		var pe env.ParseError
		if errors.As(e, &pe) {
			name := varName(pe.Name)
			out.add(name, "want %s, got %q", describe(pe.Type), vars[name])
			continue
		}
		out.add("environment", "%v", e)
	}
	return out
}

// describe says in words what a value of type t looks like.
func describe(t reflect.Type) string {
	switch t {
	case reflect.TypeFor[time.Duration]():
		return "a duration such as 3s, 500ms or 2m"
	case reflect.TypeFor[handlers.ProxyHeaders]():
		return "false, x-forwarded (or true) or forwarded"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "a whole number"
	}
	return "a " + t.String()
}

func varName(field string) string {
	f, ok := reflect.TypeFor[Config]().FieldByName(field)
	if !ok {
		return field
	}
	return f.Tag.Get("env")
}

// productionMarkers are the variables whose presence means production,
// read from the struct's `marks` tags.
func productionMarkers() []string {
	var out []string
	for _, v := range Variables() {
		if v.MarksProduction {
			out = append(out, v.Name)
		}
	}
	return out
}

// decideMode is the mode decision table: an explicit ASSIGND_MODE wins;
// otherwise any production marker means production.
func decideMode(setting string, vars map[string]string) (Mode, string) {
	switch setting {
	case "development":
		return Development, "ASSIGND_MODE=development"
	case "production":
		return Production, "ASSIGND_MODE=production"
	}
	var set []string
	for _, name := range productionMarkers() {
		if vars[name] != "" {
			set = append(set, name)
		}
	}
	switch len(set) {
	case 0:
		return Development, "no Twilio or deployment variable is set"
	case 1:
		return Production, set[0] + " is set"
	}
	// Every one of them: unsetting the first alone would not change the mode.
	return Production, strings.Join(set[:len(set)-1], ", ") + " and " + set[len(set)-1] + " are set"
}

var hex32 = regexp.MustCompile(`^[0-9a-fA-F]{32}$`)

// check validates each value's form, in either mode.
func (c *Config) check(vars map[string]string) Errors {
	var errs Errors
	switch c.ModeSetting {
	case "", "development", "production":
	default:
		errs.add("ASSIGND_MODE", "want development or production (or leave it unset), got %q", c.ModeSetting)
	}
	c.Mode, c.ModeReason = decideMode(c.ModeSetting, vars)
	if c.Mode == Development && c.ModeSetting == "development" {
		for _, platform := range []string{"FLY_APP_NAME", "K_SERVICE"} {
			if vars[platform] != "" {
				errs.add("ASSIGND_MODE", "development mode on a deployment platform (%s is set) would route real reservations with stand-ins; unset ASSIGND_MODE", platform)
			}
		}
	}

	if c.Port < 1 || c.Port > 65535 {
		errs.add("PORT", "want 1 to 65535, got %d", c.Port)
	}
	if !strings.HasPrefix(c.CallbackPath, "/") {
		errs.add("CALLBACK_PATH", "want a path starting with /, got %q", c.CallbackPath)
	} else {
		cb := strings.TrimSuffix(c.CallbackPath, "/")
		for _, p := range ReservedPaths() {
			if cb == "" || cb == p || strings.HasPrefix(cb+"/", p+"/") {
				errs.add("CALLBACK_PATH", "%q collides with assignd's own %s; choose another path such as /assignment", c.CallbackPath, p)
				break
			}
		}
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			errs.add("PUBLIC_URL", "want the base URL Twilio calls, such as https://abc.ngrok.app, got %q", c.PublicURL)
		} else {
			u.Path = strings.TrimSuffix(u.Path, "/")
			u.RawPath = ""
			c.Public = u
			if cb := strings.TrimSuffix(c.CallbackPath, "/"); cb != "" && strings.HasSuffix(u.Path, cb) {
				errs.add("PUBLIC_URL", "%q ends in the callback path %s, which is added to it (the signature would be checked for %s%s); set PUBLIC_URL=%s://%s%s",
					c.PublicURL, cb, u.String(), cb, u.Scheme, u.Host, strings.TrimSuffix(u.Path, cb))
			}
		}
	}
	if c.TrustProxy != handlers.ProxyNone && c.PublicURL != "" {
		errs.add("TRUST_PROXY", "set PUBLIC_URL or TRUST_PROXY, not both (TRUST_PROXY=%s given): PUBLIC_URL names the URL Twilio calls and needs no proxy headers; unset TRUST_PROXY", c.TrustProxy)
	}
	for i, h := range c.PublicHosts {
		h = strings.ToLower(strings.TrimSpace(h))
		c.PublicHosts[i] = h
		if u, err := url.Parse("//" + h); h == "" || err != nil || u.Host != h || u.Hostname() == "" {
			errs.add("PUBLIC_HOSTS", "want comma-separated host or host:port values such as assignd-abc.a.run.app, got %q", h)
		}
	}
	if len(c.PublicHosts) > 0 && c.TrustProxy == handlers.ProxyNone {
		errs.add("PUBLIC_HOSTS", "only used with TRUST_PROXY (with PUBLIC_URL the host is known); unset it or set TRUST_PROXY=x-forwarded (or forwarded)")
	}

	c.AuthToken = c.trimSecret("TWILIO_AUTH_TOKEN", c.AuthToken)
	c.AuthTokenSecondary = c.trimSecret("TWILIO_AUTH_TOKEN_SECONDARY", c.AuthTokenSecondary)
	for _, tok := range []struct{ name, value string }{{"TWILIO_AUTH_TOKEN", c.AuthToken}, {"TWILIO_AUTH_TOKEN_SECONDARY", c.AuthTokenSecondary}} {
		if tok.value != "" && !hex32.MatchString(tok.value) {
			errs.add(tok.name, "want the account's auth token, 32 hex characters (Console → Account → API keys & tokens), got %d characters", len(tok.value))
		}
	}
	if c.AuthTokenSecondary != "" && c.AuthToken == "" {
		errs.add("TWILIO_AUTH_TOKEN_SECONDARY", "set only during a rotation, together with TWILIO_AUTH_TOKEN")
	}
	if c.AccountSid != "" && !taskrouter.ValidSid(taskrouter.PrefixAccount, c.AccountSid) {
		errs.add("TWILIO_ACCOUNT_SID", "%s, got %q", taskrouter.WantSid(taskrouter.PrefixAccount), c.AccountSid)
	}
	if (c.APIKey == "") != (c.APISecret == "") {
		errs.add("TWILIO_API_KEY", "TWILIO_API_KEY and TWILIO_API_SECRET go together; set both or neither")
	}
	if c.APIKey != "" && !taskrouter.ValidSid(taskrouter.PrefixAPIKey, c.APIKey) {
		errs.add("TWILIO_API_KEY", "%s, got %q", taskrouter.WantSid(taskrouter.PrefixAPIKey), c.APIKey)
	}
	if u, err := url.Parse(c.APIBaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs.add("TWILIO_API_BASE_URL", "want an absolute URL such as https://taskrouter.twilio.com, got %q", c.APIBaseURL)
	} else if u.Scheme == "http" && !admin.LoopbackHost(u.Hostname()) {
		errs.add("TWILIO_API_BASE_URL", "plain http would send credentials unencrypted to %s; use https (http is allowed only to loopback, for a local fake)", u.Host)
	} else if h := strings.ToLower(u.Hostname()); h != "twilio.com" && !strings.HasSuffix(h, ".twilio.com") {
		c.Warnings = append(c.Warnings, fmt.Sprintf("TWILIO_API_BASE_URL: REST calls, with their credentials, go to %s, which is not Twilio's", u.Host))
	}

	if c.DecisionDeadline <= 0 || c.DecisionDeadline >= handlers.TwilioTimeout {
		errs.add("DECISION_DEADLINE", "want more than 0 and less than Twilio's %s, got %s", handlers.TwilioTimeout, c.DecisionDeadline)
	} else if c.CallbackBudget >= handlers.TwilioTimeout || c.CallbackBudget <= c.DecisionDeadline {
		errs.add("CALLBACK_BUDGET", "want more than DECISION_DEADLINE (%s) and less than Twilio's %s, got %s", c.DecisionDeadline, handlers.TwilioTimeout, c.CallbackBudget)
	}
	if c.ReservationTimeout < time.Second || c.ReservationTimeout > 24*time.Hour {
		errs.add("RESERVATION_TIMEOUT", "want 1s to 24h (the Workflow's TaskReservationTimeout), got %s", c.ReservationTimeout)
	}
	if n, err := handlers.ConnectionCap(c.MaxConnections, openFileLimit()); err != nil {
		errs.add("MAX_CONNECTIONS", "%s", err.Error())
	} else {
		c.ConnectionCap = n
	}
	if c.AsyncWorkers < 1 || c.AsyncWorkers > 10_000 {
		errs.add("ASYNC_WORKERS", "want 1 to 10000, got %d", c.AsyncWorkers)
	}
	if c.DataDir == "" {
		errs.add("DATA_DIR", "must not be empty")
	}

	if c.AdminAddr != "" {
		host, port, err := net.SplitHostPort(c.AdminAddr)
		if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 0 || n > 65535 {
			errs.add("ADMIN_ADDR", "want host:port such as 127.0.0.1:9090, got %q", c.AdminAddr)
		} else if !admin.LoopbackHost(host) && c.AdminPassword == "" && c.AdminOpenReason == "" {
			errs.add("ADMIN_ADDR", "%q is reachable from other machines and serves pprof and metrics: set ADMIN_PASSWORD, or ADMIN_OPEN_REASON saying why the network is private, or listen on 127.0.0.1", c.AdminAddr)
		}
	}
	if c.AdminPassword != "" && len(c.AdminPassword) < 16 {
		errs.add("ADMIN_PASSWORD", "want at least 16 characters, got %d", len(c.AdminPassword))
	} else if c.Mode == Production && c.AdminPassword != "" {
		checkAdminPassword(c.AdminPassword, &errs)
	}
	if (c.AdminPassword != "" || c.AdminOpenReason != "") && c.AdminAddr == "" {
		name := "ADMIN_PASSWORD"
		if c.AdminPassword == "" {
			name = "ADMIN_OPEN_REASON"
		}
		errs.add(name, "only used with ADMIN_ADDR; set ADMIN_ADDR (e.g. 127.0.0.1:9090) or unset it")
	}

	lvl, err := zerolog.ParseLevel(strings.ToLower(c.LogLevel))
	if err != nil || c.LogLevel == "" {
		errs.add("LOG_LEVEL", "want trace, debug, info, warn or error, got %q", c.LogLevel)
	}
	c.Level = lvl
	c.checkDecisionLog(&errs)
	return errs
}

// require lists what production needs and is missing.
func (c *Config) require() Errors {
	var errs Errors
	if c.AuthToken == "" {
		errs.add("TWILIO_AUTH_TOKEN", "required in production: callbacks are verified with it (Console → Account → API keys & tokens)")
	}
	if c.PolicyFile == "" {
		errs.add("POLICY_FILE", "required in production (the embedded example is for development): write one with `assignd policy init policy.yaml` and set POLICY_FILE")
	}
	if c.PublicURL == "" && c.TrustProxy == handlers.ProxyNone {
		errs.add("PUBLIC_URL", "required in production: the base URL Twilio calls (such as https://APP.fly.dev), which signatures are checked against; or TRUST_PROXY=x-forwarded (or forwarded) with PUBLIC_HOSTS behind a proxy you trust")
	}
	if c.TrustProxy != handlers.ProxyNone && len(c.PublicHosts) == 0 {
		errs.add("PUBLIC_HOSTS", "TRUST_PROXY=%s needs the host[:port] values Twilio calls, so a forged forwarded host is refused; or use PUBLIC_URL instead", c.TrustProxy)
	}
	return errs
}

// trimSecret removes whitespace a secret store or a shell may add, with a
// warning: a token with a trailing newline never verifies anything.
func (c *Config) trimSecret(name, v string) string {
	t := strings.TrimSpace(v)
	if t != v {
		c.Warnings = append(c.Warnings, name+": surrounding whitespace removed (a trailing newline from a secret store?)")
	}
	return t
}

// checkDecisionLog checks the decision log's block. Unset, DECISION_LOG is
// full in development and summary in production: attributes are customer
// data.
func (c *Config) checkDecisionLog(errs *Errors) {
	switch {
	case c.DecisionLog != "":
		m, err := decisionlog.ParseMode(c.DecisionLog)
		if err != nil {
			errs.add("DECISION_LOG", "%s", err.Error())
		}
		c.DecisionLogMode = m
	case c.Mode == Development:
		c.DecisionLogMode = decisionlog.ModeFull
	default:
		c.DecisionLogMode = decisionlog.ModeSummary
	}
	if c.DecisionLogRetention < time.Minute {
		errs.add("DECISION_LOG_RETENTION", "want at least 1m (e.g. 24h), got %s", c.DecisionLogRetention)
	}
	if c.DecisionLogMaxRows < 1 {
		errs.add("DECISION_LOG_MAX_ROWS", "want at least 1, got %d", c.DecisionLogMaxRows)
	}
}

// HasTwilioCredentials reports whether the REST API can be called for real.
func (c *Config) HasTwilioCredentials() bool {
	return c.AccountSid != "" && (c.APIKey != "" || c.AuthToken != "")
}

// CheckAsync refuses a policy with async rules when production has no REST
// credentials: its async decisions could never be applied. Start-up and
// every reload ask it.
func (c *Config) CheckAsync(hasAsync bool) error {
	if !hasAsync || c.Mode != Production || c.HasTwilioCredentials() {
		return nil
	}
	name := "TWILIO_ACCOUNT_SID"
	if c.AccountSid != "" {
		name = "TWILIO_API_KEY"
	}
	return &Error{Var: name, Msg: "the policy has async rules, which call the REST API: set TWILIO_ACCOUNT_SID and TWILIO_API_KEY/TWILIO_API_SECRET (or TWILIO_AUTH_TOKEN), or remove async: true"}
}
