package config

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/rs/zerolog"

	"github.com/assignd/assignd/admin"
	"github.com/assignd/assignd/decisionlog"
	"github.com/assignd/assignd/handlers"
)

// normalise derives what the checks and the service read from the raw
// settings: the mode, trimmed secrets, the public URL, lower-case hosts, the
// connection cap, the log level and the decision log's mode. It reports
// nothing: a value it cannot derive stays zero, and a rule says why.
func (c *Config) normalise(vars map[string]string) {
	c.Mode, c.ModeReason = decideMode(c.ModeSetting, vars)
	c.Public = publicURL(c.PublicURL)
	c.PublicHosts = lowerHosts(c.PublicHosts)
	c.AuthToken = c.trimSecret("TWILIO_AUTH_TOKEN", c.AuthToken)
	c.AuthTokenSecondary = c.trimSecret("TWILIO_AUTH_TOKEN_SECONDARY", c.AuthTokenSecondary)
	if w := foreignAPIWarning(c.APIBaseURL); w != "" {
		c.Warnings = append(c.Warnings, w)
	}
	if n, err := handlers.ConnectionCap(c.MaxConnections, openFileLimit()); err == nil {
		c.ConnectionCap = n
	}
	c.MemoryShare, _ = memoryShare(c.MemoryRatio, c.GoMemLimit)
	c.Level, _ = zerolog.ParseLevel(strings.ToLower(c.LogLevel))
	c.DecisionLogMode = decisionLogMode(c.DecisionLog, c.Mode)
}

// publicURL is PUBLIC_URL without its trailing slash, nil when unset or not
// a base URL (checkPublicURL says so).
func publicURL(raw string) *url.URL {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return u
}

// lowerHosts trims and lower-cases PUBLIC_HOSTS, as Host headers compare.
func lowerHosts(hosts []string) []string {
	if hosts == nil {
		return nil
	}
	out := make([]string, len(hosts))
	for i, h := range hosts {
		out[i] = strings.ToLower(strings.TrimSpace(h))
	}
	return out
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

// foreignAPIWarning is the warning for a usable TWILIO_API_BASE_URL that is
// not Twilio's, "" otherwise (an unusable one is checkAPIBaseURL's).
func foreignAPIWarning(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return ""
	}
	if u.Scheme == "http" && !admin.LoopbackHost(u.Hostname()) {
		return ""
	}
	if h := strings.ToLower(u.Hostname()); h == "twilio.com" || strings.HasSuffix(h, ".twilio.com") {
		return ""
	}
	return fmt.Sprintf("TWILIO_API_BASE_URL: REST calls, with their credentials, go to %s, which is not Twilio's", u.Host)
}

// decisionLogMode is DECISION_LOG or, unset, full in development and
// summary in production: attributes are customer data.
func decisionLogMode(setting string, mode Mode) decisionlog.Mode {
	switch {
	case setting != "":
		m, _ := decisionlog.ParseMode(setting)
		return m
	case mode == Development:
		return decisionlog.ModeFull
	}
	return decisionlog.ModeSummary
}
