// Package config reads assignd's settings from the environment and checks
// them, so that a misconfiguration stops the process at start-up with one
// line naming the variable, not at the first callback.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/rs/zerolog"

	"github.com/assignd/assignd/decisionlog"
	"github.com/assignd/assignd/policy"
)

// Config is every setting, with its variable and default.
type Config struct {
	Port         int    `env:"PORT" envDefault:"8080"`
	PublicURL    string `env:"PUBLIC_URL"`
	TrustProxy   bool   `env:"TRUST_PROXY" envDefault:"false"`
	CallbackPath string `env:"CALLBACK_PATH" envDefault:"/assignment"`

	AccountSid         string `env:"TWILIO_ACCOUNT_SID"`
	AuthToken          string `env:"TWILIO_AUTH_TOKEN"`
	AuthTokenSecondary string `env:"TWILIO_AUTH_TOKEN_SECONDARY"`
	APIKey             string `env:"TWILIO_API_KEY"`
	APISecret          string `env:"TWILIO_API_SECRET"`
	APIBaseURL         string `env:"TWILIO_API_BASE_URL" envDefault:"https://taskrouter.twilio.com"`

	PolicyFile       string        `env:"POLICY_FILE"`
	DecisionDeadline time.Duration `env:"DECISION_DEADLINE" envDefault:"3s"`

	DataDir            string        `env:"DATA_DIR" envDefault:".assignd"`
	DatabaseURL        string        `env:"DATABASE_URL"`
	ReservationTimeout time.Duration `env:"RESERVATION_TIMEOUT" envDefault:"120s"`
	AsyncWorkers       int           `env:"ASYNC_WORKERS" envDefault:"50"`

	// DebugAddr serves net/http/pprof when set (e.g. 127.0.0.1:6060); keep
	// it off public interfaces.
	DebugAddr string `env:"DEBUG_ADDR"`

	LogLevel      string `env:"LOG_LEVEL" envDefault:"info"`
	LogAttributes bool   `env:"LOG_ATTRIBUTES" envDefault:"false"`

	// Decision log (issue 10): what each callback decided and why, for the
	// inspector. DECISION_LOG is full, summary or off; unset, it is full in
	// development mode (no TWILIO_AUTH_TOKEN) and summary otherwise, since
	// attributes are customer data.
	DecisionLog          string        `env:"DECISION_LOG"`
	DecisionLogRetention time.Duration `env:"DECISION_LOG_RETENTION" envDefault:"24h"`
	DecisionLogMaxRows   int64         `env:"DECISION_LOG_MAX_ROWS" envDefault:"1000000"`

	// Parsed forms of the strings above, filled by Load.
	Public          *url.URL         `env:"-"`
	Level           zerolog.Level    `env:"-"`
	DecisionLogMode decisionlog.Mode `env:"-"`
}

// Error is a configuration error about one variable.
type Error struct {
	Var string
	Msg string
}

func (e *Error) Error() string { return e.Var + ": " + e.Msg }

// Load reads the configuration from environ (as os.Environ gives it) and
// validates it. The error, if any, names the first offending variable.
func Load(environ []string) (Config, error) {
	vars := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	var c Config
	if err := env.ParseWithOptions(&c, env.Options{Environment: vars}); err != nil {
		return c, translate(err, vars)
	}
	return c, c.validate()
}

// translate turns env's errors, which name Go fields, into ones that name
// the variable and its value.
func translate(err error, vars map[string]string) error {
	var agg env.AggregateError
	if errors.As(err, &agg) && len(agg.Errors) > 0 {
		err = agg.Errors[0]
	}
	var pe env.ParseError
	if errors.As(err, &pe) {
		name := varName(pe.Name)
		return &Error{Var: name, Msg: fmt.Sprintf("cannot parse %q as %s: %v", vars[name], pe.Type, errors.Unwrap(pe.Err))}
	}
	return fmt.Errorf("config: %w", err)
}

func varName(field string) string {
	f, ok := reflect.TypeFor[Config]().FieldByName(field)
	if !ok {
		return field
	}
	return f.Tag.Get("env")
}

func (c *Config) validate() error {
	if c.Port < 1 || c.Port > 65535 {
		return &Error{"PORT", fmt.Sprintf("want 1 to 65535, got %d", c.Port)}
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return &Error{"PUBLIC_URL", fmt.Sprintf("want the base URL Twilio calls, such as https://abc.ngrok.app, got %q", c.PublicURL)}
		}
		u.Path = strings.TrimSuffix(u.Path, "/")
		u.RawPath = ""
		c.Public = u
	}
	if !strings.HasPrefix(c.CallbackPath, "/") {
		return &Error{"CALLBACK_PATH", fmt.Sprintf("want a path starting with /, got %q", c.CallbackPath)}
	}
	if c.AuthTokenSecondary != "" && c.AuthToken == "" {
		return &Error{"TWILIO_AUTH_TOKEN_SECONDARY", "set only during a rotation, together with TWILIO_AUTH_TOKEN"}
	}
	if c.AccountSid != "" && !policy.ValidSid("AC", c.AccountSid) {
		return &Error{"TWILIO_ACCOUNT_SID", fmt.Sprintf("want AC followed by 32 hex digits, got %q", c.AccountSid)}
	}
	if (c.APIKey == "") != (c.APISecret == "") {
		return &Error{"TWILIO_API_KEY", "TWILIO_API_KEY and TWILIO_API_SECRET go together"}
	}
	if c.APIKey != "" && !policy.ValidSid("SK", c.APIKey) {
		return &Error{"TWILIO_API_KEY", fmt.Sprintf("want SK followed by 32 hex digits, got %q", c.APIKey)}
	}
	if u, err := url.Parse(c.APIBaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return &Error{"TWILIO_API_BASE_URL", fmt.Sprintf("want an absolute URL such as https://taskrouter.twilio.com, got %q", c.APIBaseURL)}
	}
	if c.DecisionDeadline <= 0 || c.DecisionDeadline >= 5*time.Second {
		return &Error{"DECISION_DEADLINE", fmt.Sprintf("want more than 0 and less than Twilio's 5s, got %s", c.DecisionDeadline)}
	}
	if c.ReservationTimeout < time.Second || c.ReservationTimeout > 24*time.Hour {
		return &Error{"RESERVATION_TIMEOUT", fmt.Sprintf("want 1s to 24h (the Workflow's TaskReservationTimeout), got %s", c.ReservationTimeout)}
	}
	if c.AsyncWorkers < 1 || c.AsyncWorkers > 10_000 {
		return &Error{"ASYNC_WORKERS", fmt.Sprintf("want 1 to 10000, got %d", c.AsyncWorkers)}
	}
	if c.DataDir == "" {
		return &Error{"DATA_DIR", "must not be empty"}
	}
	lvl, err := zerolog.ParseLevel(strings.ToLower(c.LogLevel))
	if err != nil || c.LogLevel == "" {
		return &Error{"LOG_LEVEL", fmt.Sprintf("want trace, debug, info, warn or error, got %q", c.LogLevel)}
	}
	c.Level = lvl
	return c.validateDecisionLog()
}

// validateDecisionLog checks the decision log's block.
func (c *Config) validateDecisionLog() error {
	switch {
	case c.DecisionLog != "":
		m, err := decisionlog.ParseMode(c.DecisionLog)
		if err != nil {
			return &Error{"DECISION_LOG", err.Error()}
		}
		c.DecisionLogMode = m
	case c.AuthToken == "":
		c.DecisionLogMode = decisionlog.ModeFull
	default:
		c.DecisionLogMode = decisionlog.ModeSummary
	}
	if c.DecisionLogRetention < time.Minute {
		return &Error{"DECISION_LOG_RETENTION", fmt.Sprintf("want at least 1m (e.g. 24h), got %s", c.DecisionLogRetention)}
	}
	if c.DecisionLogMaxRows < 1 {
		return &Error{"DECISION_LOG_MAX_ROWS", fmt.Sprintf("want at least 1, got %d", c.DecisionLogMaxRows)}
	}
	return nil
}

// HasTwilioCredentials reports whether the REST API can be called for real.
func (c *Config) HasTwilioCredentials() bool {
	return c.AccountSid != "" && (c.APIKey != "" || c.AuthToken != "")
}
