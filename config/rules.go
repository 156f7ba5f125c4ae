package config

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/assignd/assignd/admin"
	"github.com/assignd/assignd/decisionlog"
	"github.com/assignd/assignd/handlers"
	"github.com/assignd/assignd/taskrouter"
)

// rule checks one concern of a normalised config and reports its problems,
// one per variable. It gets a copy: checking never changes the config.
type rule func(c Config) Errors

// checks are the rules in the order their problems are reported.
func checks() []rule {
	return []rule{
		checkModeSetting, checkDevelopmentOnPlatform,
		checkPort, checkCallbackPath, checkPublicURL, checkTrustProxyAlone, checkPublicHosts, checkPublicHostsNeedProxy,
		checkAuthTokens, checkSecondaryTokenAlone, checkAccountSid, checkAPIKeyPair, checkAPIKey, checkAPIBaseURL,
		checkDeadlines, checkReservationTimeout, checkMaxConnections, checkMemoryShare, checkAsyncWorkers, checkDataDir,
		checkAdminAddr, checkAdminPassword, checkAdminSettingsNeedAddr,
		checkLogLevel, checkDecisionLog, checkDecisionLogRetention, checkDecisionLogMaxRows,
	}
}

// check runs every rule over the normalised config, in either mode.
func (c *Config) check() Errors {
	var errs Errors
	for _, r := range checks() {
		errs = append(errs, r(*c)...)
	}
	return errs
}

// problem is a one-line report about the variable v.
func problem(v, format string, args ...any) Errors {
	return Errors{{Var: v, Msg: fmt.Sprintf(format, args...)}}
}

func checkModeSetting(c Config) Errors {
	switch c.ModeSetting {
	case "", "development", "production":
		return nil
	}
	return problem("ASSIGND_MODE", "want development or production (or leave it unset), got %q", c.ModeSetting)
}

// checkDevelopmentOnPlatform refuses an explicit development mode where a
// deployment platform says this is a real deployment.
func checkDevelopmentOnPlatform(c Config) Errors {
	if c.Mode != Development || c.ModeSetting != "development" {
		return nil
	}
	var errs Errors
	for _, p := range []struct{ name, value string }{{"FLY_APP_NAME", c.FlyAppName}, {"K_SERVICE", c.KService}} {
		if p.value != "" {
			errs.add("ASSIGND_MODE", "development mode on a deployment platform (%s is set) would route real reservations with stand-ins; unset ASSIGND_MODE", p.name)
		}
	}
	return errs
}

func checkPort(c Config) Errors {
	if c.Port < 1 || c.Port > 65535 {
		return problem("PORT", "want 1 to 65535, got %d", c.Port)
	}
	return nil
}

func checkCallbackPath(c Config) Errors {
	if !strings.HasPrefix(c.CallbackPath, "/") {
		return problem("CALLBACK_PATH", "want a path starting with /, got %q", c.CallbackPath)
	}
	cb := strings.TrimSuffix(c.CallbackPath, "/")
	for _, p := range ReservedPaths() {
		if cb == "" || cb == p || strings.HasPrefix(cb+"/", p+"/") {
			return problem("CALLBACK_PATH", "%q collides with assignd's own %s; choose another path such as /assignment", c.CallbackPath, p)
		}
	}
	return nil
}

// checkPublicURL refuses a PUBLIC_URL normalise could not use, and one that
// already ends in the callback path, which is added to it.
func checkPublicURL(c Config) Errors {
	if c.PublicURL == "" {
		return nil
	}
	u := c.Public
	if u == nil {
		return problem("PUBLIC_URL", "want the base URL Twilio calls, such as https://abc.ngrok.app, got %q", c.PublicURL)
	}
	if cb := strings.TrimSuffix(c.CallbackPath, "/"); cb != "" && strings.HasSuffix(u.Path, cb) {
		return problem("PUBLIC_URL", "%q ends in the callback path %s, which is added to it (the signature would be checked for %s%s); set PUBLIC_URL=%s://%s%s",
			c.PublicURL, cb, u.String(), cb, u.Scheme, u.Host, strings.TrimSuffix(u.Path, cb))
	}
	return nil
}

func checkTrustProxyAlone(c Config) Errors {
	if c.TrustProxy != handlers.ProxyNone && c.PublicURL != "" {
		return problem("TRUST_PROXY", "set PUBLIC_URL or TRUST_PROXY, not both (TRUST_PROXY=%s given): PUBLIC_URL names the URL Twilio calls and needs no proxy headers; unset TRUST_PROXY", c.TrustProxy)
	}
	return nil
}

func checkPublicHosts(c Config) Errors {
	var errs Errors
	for _, h := range c.PublicHosts {
		if u, err := url.Parse("//" + h); h == "" || err != nil || u.Host != h || u.Hostname() == "" {
			errs.add("PUBLIC_HOSTS", "want comma-separated host or host:port values such as assignd-abc.a.run.app, got %q", h)
		}
	}
	return errs
}

func checkPublicHostsNeedProxy(c Config) Errors {
	if len(c.PublicHosts) > 0 && c.TrustProxy == handlers.ProxyNone {
		return problem("PUBLIC_HOSTS", "only used with TRUST_PROXY (with PUBLIC_URL the host is known); unset it or set TRUST_PROXY=x-forwarded (or forwarded)")
	}
	return nil
}

var hex32 = regexp.MustCompile(`^[0-9a-fA-F]{32}$`)

func checkAuthTokens(c Config) Errors {
	var errs Errors
	for _, tok := range []struct{ name, value string }{{"TWILIO_AUTH_TOKEN", c.AuthToken}, {"TWILIO_AUTH_TOKEN_SECONDARY", c.AuthTokenSecondary}} {
		if tok.value != "" && !hex32.MatchString(tok.value) {
			errs.add(tok.name, "want the account's auth token, 32 hex characters (Console → Account → API keys & tokens), got %d characters", len(tok.value))
		}
	}
	return errs
}

func checkSecondaryTokenAlone(c Config) Errors {
	if c.AuthTokenSecondary != "" && c.AuthToken == "" {
		return problem("TWILIO_AUTH_TOKEN_SECONDARY", "set only during a rotation, together with TWILIO_AUTH_TOKEN")
	}
	return nil
}

func checkAccountSid(c Config) Errors {
	return sidProblem("TWILIO_ACCOUNT_SID", taskrouter.PrefixAccount, c.AccountSid)
}

// sidProblem refuses a set value that is not a SID of the given kind, in
// taskrouter's one wording.
func sidProblem(name, prefix, value string) Errors {
	if value != "" && !taskrouter.ValidSid(prefix, value) {
		return problem(name, "%s, got %q", taskrouter.WantSid(prefix), value)
	}
	return nil
}

func checkAPIKeyPair(c Config) Errors {
	if (c.APIKey == "") != (c.APISecret == "") {
		return problem("TWILIO_API_KEY", "TWILIO_API_KEY and TWILIO_API_SECRET go together; set both or neither")
	}
	return nil
}

func checkAPIKey(c Config) Errors {
	return sidProblem("TWILIO_API_KEY", taskrouter.PrefixAPIKey, c.APIKey)
}

// checkAPIBaseURL refuses a base that is not a URL, and plain http beyond
// loopback (credentials in the clear). A foreign host is only a warning
// (normalise's).
func checkAPIBaseURL(c Config) Errors {
	u, err := url.Parse(c.APIBaseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return problem("TWILIO_API_BASE_URL", "want an absolute URL such as https://taskrouter.twilio.com, got %q", c.APIBaseURL)
	}
	if u.Scheme == "http" && !admin.LoopbackHost(u.Hostname()) {
		return problem("TWILIO_API_BASE_URL", "plain http would send credentials unencrypted to %s; use https (http is allowed only to loopback, for a local fake)", u.Host)
	}
	return nil
}

// checkDeadlines keeps DECISION_DEADLINE < CALLBACK_BUDGET < Twilio's
// timeout; the budget is checked only against a sound deadline.
func checkDeadlines(c Config) Errors {
	if c.DecisionDeadline <= 0 || c.DecisionDeadline >= handlers.TwilioTimeout {
		return problem("DECISION_DEADLINE", "want more than 0 and less than Twilio's %s, got %s", handlers.TwilioTimeout, c.DecisionDeadline)
	}
	if c.CallbackBudget >= handlers.TwilioTimeout || c.CallbackBudget <= c.DecisionDeadline {
		return problem("CALLBACK_BUDGET", "want more than DECISION_DEADLINE (%s) and less than Twilio's %s, got %s", c.DecisionDeadline, handlers.TwilioTimeout, c.CallbackBudget)
	}
	return nil
}

func checkReservationTimeout(c Config) Errors {
	if c.ReservationTimeout < time.Second || c.ReservationTimeout > 24*time.Hour {
		return problem("RESERVATION_TIMEOUT", "want 1s to 24h (the Workflow's TaskReservationTimeout), got %s", c.ReservationTimeout)
	}
	return nil
}

func checkMaxConnections(c Config) Errors {
	if _, err := handlers.ConnectionCap(c.MaxConnections, openFileLimit()); err != nil {
		return problem("MAX_CONNECTIONS", "%s", err.Error())
	}
	return nil
}

func checkMemoryShare(c Config) Errors {
	if _, err := memoryShare(c.MemoryRatio, c.GoMemLimit); err != nil {
		return problem("AUTOMEMLIMIT", "%s", err.Error())
	}
	return nil
}

func checkAsyncWorkers(c Config) Errors {
	if c.AsyncWorkers < 1 || c.AsyncWorkers > 10_000 {
		return problem("ASYNC_WORKERS", "want 1 to 10000, got %d", c.AsyncWorkers)
	}
	return nil
}

func checkDataDir(c Config) Errors {
	if c.DataDir == "" {
		return problem("DATA_DIR", "must not be empty")
	}
	return nil
}

// checkAdminAddr wants host:port, and a way to keep strangers out of a
// listener other machines can reach.
func checkAdminAddr(c Config) Errors {
	if c.AdminAddr == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(c.AdminAddr)
	if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 0 || n > 65535 {
		return problem("ADMIN_ADDR", "want host:port such as 127.0.0.1:9090, got %q", c.AdminAddr)
	}
	if !admin.LoopbackHost(host) && c.AdminPassword == "" && c.AdminOpenReason == "" {
		return problem("ADMIN_ADDR", "%q is reachable from other machines and serves pprof and metrics: set ADMIN_PASSWORD, or ADMIN_OPEN_REASON saying why the network is private, or listen on 127.0.0.1", c.AdminAddr)
	}
	return nil
}

// checkAdminPassword wants 16 characters, and in production one that is
// hard to guess.
func checkAdminPassword(c Config) Errors {
	switch {
	case c.AdminPassword != "" && len(c.AdminPassword) < 16:
		return problem("ADMIN_PASSWORD", "want at least 16 characters, got %d", len(c.AdminPassword))
	case c.Mode == Production && c.AdminPassword != "":
		return adminPasswordStrength(c.AdminPassword)
	}
	return nil
}

func checkAdminSettingsNeedAddr(c Config) Errors {
	if (c.AdminPassword == "" && c.AdminOpenReason == "") || c.AdminAddr != "" {
		return nil
	}
	name := "ADMIN_PASSWORD"
	if c.AdminPassword == "" {
		name = "ADMIN_OPEN_REASON"
	}
	return problem(name, "only used with ADMIN_ADDR; set ADMIN_ADDR (e.g. 127.0.0.1:9090) or unset it")
}

func checkLogLevel(c Config) Errors {
	if _, err := zerolog.ParseLevel(strings.ToLower(c.LogLevel)); err != nil || c.LogLevel == "" {
		return problem("LOG_LEVEL", "want trace, debug, info, warn or error, got %q", c.LogLevel)
	}
	return nil
}

func checkDecisionLog(c Config) Errors {
	if c.DecisionLog == "" {
		return nil
	}
	if _, err := decisionlog.ParseMode(c.DecisionLog); err != nil {
		return problem("DECISION_LOG", "%s", err.Error())
	}
	return nil
}

func checkDecisionLogRetention(c Config) Errors {
	if c.DecisionLogRetention < time.Minute {
		return problem("DECISION_LOG_RETENTION", "want at least 1m (e.g. 24h), got %s", c.DecisionLogRetention)
	}
	return nil
}

func checkDecisionLogMaxRows(c Config) Errors {
	if c.DecisionLogMaxRows < 1 {
		return problem("DECISION_LOG_MAX_ROWS", "want at least 1, got %d", c.DecisionLogMaxRows)
	}
	return nil
}
