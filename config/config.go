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
	"net/url"
	"reflect"
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
	CallbackPath   string                `env:"CALLBACK_PATH" envDefault:"/assignment" help:"the callback route (served with and without a trailing slash); must not collide with /events, /healthz, /readyz, /metrics, /debug/pprof"`
	MemoryRatio    string                `env:"AUTOMEMLIMIT" help:"share of the container's memory limit (else the machine's memory) that assignd serve sets as Go's soft memory limit, more than 0 and at most 1; off leaves Go's default. Unset: 0.9. GOMEMLIMIT set in the environment wins"`
	GoMemLimit     string                `env:"GOMEMLIMIT" help:"Go's own soft memory limit (such as 400MiB); when set, assignd leaves the limit to Go and AUTOMEMLIMIT is not used"`
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
	MemoryShare     float64          `env:"-"` // AUTOMEMLIMIT resolved; 0: leave Go's memory limit alone
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
	return []string{handlers.DefaultEventsPath, handlers.HealthPath, handlers.ReadyPath, admin.MetricsPath, strings.TrimSuffix(admin.PprofPrefix, "/")}
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
	c.normalise(vars)
	// A variable that did not parse has its zero value: checking it again
	// would only repeat the problem less clearly.
	for _, e := range c.check() {
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

// DefaultMemoryShare is the share of the machine's memory Go may plan its
// heap to (AUTOMEMLIMIT unset): the rest is stacks, SQLite and the kernel's.
const DefaultMemoryShare = 0.9

// memoryShare reads AUTOMEMLIMIT. GOMEMLIMIT set, or "off", leaves the
// limit to Go (0); Go itself refuses a malformed GOMEMLIMIT at start.
func memoryShare(setting, goMemLimit string) (float64, error) {
	setting = strings.TrimSpace(setting)
	share := DefaultMemoryShare
	switch setting {
	case "":
	case "off":
		share = 0
	default:
		var err error
		if share, err = strconv.ParseFloat(setting, 64); err != nil || !(share > 0 && share <= 1) {
			return 0, fmt.Errorf("want a share of the memory limit above 0 and at most 1 (such as 0.9), or off, got %q", setting)
		}
	}
	if goMemLimit != "" {
		return 0, nil
	}
	return share, nil
}
