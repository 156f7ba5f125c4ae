package config_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/assignd/assignd/config"
	"github.com/assignd/assignd/handlers"
)

const (
	token   = "0123456789abcdef0123456789abcdef"
	account = "AC0123456789abcdef0123456789abcdef"
	apiKey  = "SK0123456789abcdef0123456789abcdef"
)

func TestModeDecisionTable(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		env  []string
		want config.Mode
	}{
		{nil, config.Development},
		{[]string{"PORT=9000", "LOG_LEVEL=debug", "DATA_DIR=/tmp/x", "POLICY_FILE=p.yaml"}, config.Development},
		{[]string{"DATABASE_URL="}, config.Development}, // empty is unset
		{[]string{"ASSIGND_MODE=development"}, config.Development},
		{[]string{"ASSIGND_MODE=development", "TWILIO_AUTH_TOKEN=" + token}, config.Development},
		{[]string{"ASSIGND_MODE=production"}, config.Production},
		{[]string{"TWILIO_AUTH_TOKEN=" + token}, config.Production},
		{[]string{"TWILIO_ACCOUNT_SID=" + account}, config.Production},
		{[]string{"TWILIO_API_KEY=" + apiKey, "TWILIO_API_SECRET=s"}, config.Production},
		{[]string{"PUBLIC_URL=https://abc.ngrok.app"}, config.Production},
		{[]string{"DATABASE_URL=postgres://db/x"}, config.Production},
		{[]string{"FLY_APP_NAME=assignd"}, config.Production},
		{[]string{"K_SERVICE=assignd"}, config.Production},
	} {
		c, _ := config.Parse(tt.env)
		if c.Mode != tt.want || c.ModeReason == "" {
			t.Errorf("%v: mode %v (%s), want %v", tt.env, c.Mode, c.ModeReason, tt.want)
		}
	}
}

func TestModeReason(t *testing.T) {
	t.Parallel()
	c, _ := config.Parse([]string{"K_SERVICE=assignd"})
	if c.ModeReason != "K_SERVICE is set" {
		t.Fatalf("reason %q", c.ModeReason)
	}
}

// Every variable that switches to production is one the table above covers
// (the list is read from the struct's tags; this pins it).
func TestProductionMarkers(t *testing.T) {
	t.Parallel()
	var got []string
	for _, v := range config.Variables() {
		if v.MarksProduction {
			got = append(got, v.Name)
		}
	}
	want := "PUBLIC_URL TWILIO_ACCOUNT_SID TWILIO_AUTH_TOKEN TWILIO_API_KEY DATABASE_URL FLY_APP_NAME K_SERVICE"
	if strings.Join(got, " ") != want {
		t.Fatalf("production markers %v, want %s", got, want)
	}
}

func TestEveryVariableHasHelp(t *testing.T) {
	t.Parallel()
	vars := config.Variables()
	if len(vars) < 20 {
		t.Fatalf("only %d variables found", len(vars))
	}
	for _, v := range vars {
		if strings.TrimSpace(v.Help) == "" {
			t.Errorf("%s has no help tag", v.Name)
		}
	}
}

// policyFile writes a rules file; async adds an async rule.
func policyFile(t *testing.T, async bool) string {
	t.Helper()
	body := "rules:\n  - name: r\n    when: 'true'\n    then: {instruction: accept, async: " + map[bool]string{true: "true", false: "false"}[async] + "}\ndefault: {instruction: accept}\non_error: {instruction: accept}\n"
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// good is a complete production configuration; each refusal test breaks one thing.
func good(t *testing.T) []string {
	return []string{"TWILIO_AUTH_TOKEN=" + token, "TWILIO_ACCOUNT_SID=" + account,
		"PUBLIC_URL=https://abc.ngrok.app", "POLICY_FILE=" + policyFile(t, true)}
}

func TestCompleteProductionLoads(t *testing.T) {
	t.Parallel()
	c, err := config.Load(good(t))
	if err != nil || c.Mode != config.Production || c.Policy == nil || !c.Policy.HasAsync() {
		t.Fatalf("mode %v policy %v err %v", c.Mode, c.Policy, err)
	}
	if len(c.Warnings) != 0 {
		t.Fatalf("warnings: %v", c.Warnings)
	}
}

// without returns env minus the variables named.
func without(env []string, names ...string) []string {
	var out []string
next:
	for _, kv := range env {
		for _, n := range names {
			if strings.HasPrefix(kv, n+"=") {
				continue next
			}
		}
		out = append(out, kv)
	}
	return out
}

// One test case per refusal: the error has a line naming the variable.
func TestProductionRefusals(t *testing.T) {
	t.Parallel()
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("rules: [{name: r, when: 'task.x ==', then: {instruction: accept}}]\n"), 0o600)
	for _, tt := range []struct {
		name string
		env  []string
		want string // the line's prefix
	}{
		{"no token", without(good(t), "TWILIO_AUTH_TOKEN"), "TWILIO_AUTH_TOKEN: required"},
		{"token placeholder", append(good(t), "TWILIO_AUTH_TOKEN=…"), "TWILIO_AUTH_TOKEN: want the account's auth token, 32 hex"},
		{"token too short", append(good(t), "TWILIO_AUTH_TOKEN=0123456789abcdef"), "TWILIO_AUTH_TOKEN: want"},
		{"secondary malformed", append(good(t), "TWILIO_AUTH_TOKEN_SECONDARY=nope"), "TWILIO_AUTH_TOKEN_SECONDARY: want"},
		{"no policy", without(good(t), "POLICY_FILE"), "POLICY_FILE: required in production"},
		{"broken policy", append(good(t), "POLICY_FILE="+bad), "POLICY_FILE: " + bad},
		{"no public URL", without(good(t), "PUBLIC_URL"), "PUBLIC_URL: required in production"},
		{"public URL with callback path", append(good(t), "PUBLIC_URL=https://x.ngrok.app/assignment"), "PUBLIC_URL: \"https://x.ngrok.app/assignment\" ends in the callback path"},
		{"public URL with custom callback path", append(good(t), "CALLBACK_PATH=/tr/cb", "PUBLIC_URL=https://x.ngrok.app/tr/cb/"), "PUBLIC_URL: "},
		{"trust proxy with public URL", append(good(t), "TRUST_PROXY=true", "PUBLIC_HOSTS=abc.ngrok.app"), "TRUST_PROXY: set PUBLIC_URL or TRUST_PROXY, not both (TRUST_PROXY=x-forwarded given)"},
		{"trust proxy without hosts", append(without(good(t), "PUBLIC_URL"), "TRUST_PROXY=true"), "PUBLIC_HOSTS: TRUST_PROXY=x-forwarded needs"},
		{"forwarded without hosts", append(without(good(t), "PUBLIC_URL"), "TRUST_PROXY=forwarded"), "PUBLIC_HOSTS: TRUST_PROXY=forwarded needs"},
		{"hosts without trust proxy", append(good(t), "PUBLIC_HOSTS=abc.ngrok.app"), "PUBLIC_HOSTS: only used with TRUST_PROXY"},
		{"async without account", without(good(t), "TWILIO_ACCOUNT_SID"), "TWILIO_ACCOUNT_SID: the policy has async rules"},
		{"api key without secret", append(good(t), "TWILIO_API_KEY="+apiKey), "TWILIO_API_KEY: TWILIO_API_KEY and TWILIO_API_SECRET go together"},
		{"http API base", append(good(t), "TWILIO_API_BASE_URL=http://taskrouter.example.com"), "TWILIO_API_BASE_URL: plain http"},
		{"callback path /events", append(good(t), "CALLBACK_PATH=/events"), "CALLBACK_PATH: \"/events\" collides"},
		{"callback path /healthz/", append(good(t), "CALLBACK_PATH=/healthz/"), "CALLBACK_PATH: \"/healthz/\" collides"},
		{"callback path /metrics", append(good(t), "CALLBACK_PATH=/metrics"), "CALLBACK_PATH: \"/metrics\" collides"},
		{"callback path /readyz", append(good(t), "CALLBACK_PATH=/readyz"), "CALLBACK_PATH: \"/readyz\" collides"},
		{"callback path /", append(good(t), "CALLBACK_PATH=/"), "CALLBACK_PATH: \"/\" collides"},
		{"public admin without password", append(good(t), "ADMIN_ADDR=0.0.0.0:9090"), "ADMIN_ADDR: \"0.0.0.0:9090\" is reachable"},
		{"admin on all interfaces", append(good(t), "ADMIN_ADDR=:9090"), "ADMIN_ADDR: \":9090\" is reachable"},
		{"admin password without addr", append(good(t), "ADMIN_PASSWORD=0123456789abcdefgh"), "ADMIN_PASSWORD: only used with ADMIN_ADDR"},
		{"retired DEBUG_ADDR", append(good(t), "DEBUG_ADDR=0.0.0.0:6060"), "DEBUG_ADDR: removed"},
		{"development on Fly", append(good(t), "ASSIGND_MODE=development", "FLY_APP_NAME=assignd"), "ASSIGND_MODE: development mode on a deployment platform (FLY_APP_NAME"},
		{"budget under deadline", append(good(t), "DECISION_DEADLINE=4s", "CALLBACK_BUDGET=3s"), "CALLBACK_BUDGET: want more than DECISION_DEADLINE (4s)"},
		{"unparsable duration", append(good(t), "DECISION_DEADLINE=abc"), `DECISION_DEADLINE: want a duration such as 3s, 500ms or 2m, got "abc"`},
	} {
		_, err := config.Load(tt.env)
		found := false
		for _, line := range strings.Split(errString(err), "\n") {
			found = found || strings.HasPrefix(line, tt.want)
		}
		if !found {
			t.Errorf("%s: error\n%v\nhas no line starting %q", tt.name, err, tt.want)
		}
		var ce *config.Error
		if !errors.As(err, &ce) {
			t.Errorf("%s: %T is not a *config.Error", tt.name, err)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// The same checks are fine when the configuration allows them.
func TestAcceptedVariants(t *testing.T) {
	t.Parallel()
	for _, env := range [][]string{
		append(without(good(t), "PUBLIC_URL"), "TRUST_PROXY=true", "PUBLIC_HOSTS=assignd-abc.a.run.app, Example.com:8443"),
		append(without(good(t), "POLICY_FILE"), "POLICY_FILE="+policyFile(t, false), "TWILIO_ACCOUNT_SID="),
		append(good(t), "TWILIO_API_KEY="+apiKey, "TWILIO_API_SECRET=secret"),
		append(good(t), "ADMIN_ADDR=127.0.0.1:9090"),
		append(good(t), "ADMIN_ADDR=localhost:9090"),
		append(good(t), "ADMIN_ADDR=[::1]:9090"),
		append(good(t), "ADMIN_ADDR=0.0.0.0:9090", "ADMIN_PASSWORD=correct-horse-battery"),
		append(good(t), "ADMIN_ADDR=fly-local-6pn:9090", "ADMIN_OPEN_REASON=Fly private network"),
		append(good(t), "TWILIO_API_BASE_URL=http://127.0.0.1:8081"),
		append(good(t), "CALLBACK_PATH=/eventsink"),
	} {
		c, err := config.Load(env)
		if err != nil {
			t.Errorf("%v: %v", env, err)
		}
		if strings.Contains(strings.Join(env, " "), "PUBLIC_HOSTS") && strings.Join(c.PublicHosts, ",") != "assignd-abc.a.run.app,example.com:8443" {
			t.Errorf("PUBLIC_HOSTS parsed as %q", c.PublicHosts)
		}
	}
}

// Every problem is reported at once, one line each, each naming its variable.
func TestEveryProblemAtOnce(t *testing.T) {
	t.Parallel()
	_, err := config.Load([]string{"FLY_APP_NAME=assignd", "PORT=abc", "DECISION_DEADLINE=abc", "CALLBACK_PATH=/events"})
	var errs config.Errors
	if !errors.As(err, &errs) {
		t.Fatalf("%T %v", err, err)
	}
	var names []string
	for _, e := range errs {
		names = append(names, e.Var)
	}
	want := "PORT DECISION_DEADLINE CALLBACK_PATH TWILIO_AUTH_TOKEN POLICY_FILE PUBLIC_URL"
	if strings.Join(names, " ") != want {
		t.Fatalf("problems for %v, want %s:\n%v", names, want, err)
	}
	if lines := strings.Split(err.Error(), "\n"); len(lines) != len(errs) {
		t.Fatalf("%d lines for %d problems:\n%v", len(lines), len(errs), err)
	}
}

func TestWarnings(t *testing.T) {
	t.Parallel()
	c, err := config.Load(append(good(t), "TWILIO_AUTH_TOKEN="+token+"\n", "TWILIO_API_BASE_URL=https://proxy.example.com"))
	if err != nil {
		t.Fatal(err)
	}
	if c.AuthToken != token {
		t.Fatalf("token not trimmed: %q", c.AuthToken)
	}
	w := strings.Join(c.Warnings, "\n")
	if !strings.Contains(w, "TWILIO_AUTH_TOKEN: surrounding whitespace removed") || !strings.Contains(w, "TWILIO_API_BASE_URL: REST calls, with their credentials, go to proxy.example.com, which is not Twilio's") {
		t.Fatalf("warnings:\n%s", w)
	}
}

// A reload adding async rules to a production service without credentials
// is refused; development has the fake API.
func TestCheckAsync(t *testing.T) {
	t.Parallel()
	prod, _ := config.Parse([]string{"TWILIO_AUTH_TOKEN=" + token})
	if err := prod.CheckAsync(true); err == nil || !strings.HasPrefix(err.Error(), "TWILIO_ACCOUNT_SID: ") {
		t.Fatalf("production without account: %v", err)
	}
	if err := prod.CheckAsync(false); err != nil {
		t.Fatal(err)
	}
	dev, _ := config.Parse(nil)
	if err := dev.CheckAsync(true); err != nil {
		t.Fatal(err)
	}
}

// TRUST_PROXY names the one header family the proxy sets; true keeps its
// old meaning (X-Forwarded-*), and anything else names the accepted values.
func TestTrustProxyFamily(t *testing.T) {
	t.Parallel()
	for value, want := range map[string]handlers.ProxyHeaders{
		"true": handlers.ProxyXForwarded, "x-forwarded": handlers.ProxyXForwarded, "forwarded": handlers.ProxyForwarded,
	} {
		env := append(without(good(t), "PUBLIC_URL"), "TRUST_PROXY="+value, "PUBLIC_HOSTS=assignd-abc.a.run.app")
		c, err := config.Load(env)
		if err != nil || c.TrustProxy != want {
			t.Errorf("TRUST_PROXY=%s: got %q, %v; want %q", value, c.TrustProxy, err, want)
		}
	}
	c, err := config.Load(good(t))
	if err != nil || c.TrustProxy != handlers.ProxyNone {
		t.Errorf("TRUST_PROXY unset: got %q, %v; want none", c.TrustProxy, err)
	}
	_, err = config.Load(append(without(good(t), "PUBLIC_URL"), "TRUST_PROXY=both", "PUBLIC_HOSTS=assignd-abc.a.run.app"))
	if msg := errString(err); !strings.Contains(msg, "TRUST_PROXY: want false, x-forwarded (or true) or forwarded") {
		t.Errorf("TRUST_PROXY=both: %q, want a line naming the accepted values", msg)
	}
}

// MAX_CONNECTIONS is resolved against the descriptor limit at start-up: a
// bad value is one line naming it, unset gives a cap that fits, and the
// help states the defaults the code uses.
func TestMaxConnections(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ value, want string }{
		{"-1", "MAX_CONNECTIONS: want at least 1"},
		{"2000000000", "MAX_CONNECTIONS: 2000000000 does not fit the descriptor limit"},
		{"many", "MAX_CONNECTIONS: want"},
	} {
		_, err := config.Load(append(good(t), "MAX_CONNECTIONS="+tt.value))
		found := false
		for _, line := range strings.Split(fmt.Sprint(err), "\n") {
			found = found || strings.HasPrefix(line, tt.want)
		}
		if !found {
			t.Errorf("MAX_CONNECTIONS=%s: err = %v, want a line starting %q", tt.value, err, tt.want)
		}
	}
	c, err := config.Load(good(t))
	if err != nil || c.ConnectionCap < 1 || c.ConnectionCap > handlers.DefaultMaxConnections {
		t.Fatalf("unset: cap %d, err %v", c.ConnectionCap, err)
	}
	if c, err := config.Load(append(good(t), "MAX_CONNECTIONS=100")); err != nil || c.ConnectionCap != 100 {
		t.Fatalf("MAX_CONNECTIONS=100: cap %d, err %v", c.ConnectionCap, err)
	}
	for _, v := range config.Variables() {
		if v.Name == "MAX_CONNECTIONS" && (!strings.Contains(v.Help, fmt.Sprint(handlers.DefaultMaxConnections)) || !strings.Contains(v.Help, fmt.Sprint(handlers.FDReserve))) {
			t.Errorf("MAX_CONNECTIONS's help %q does not state the code's defaults %d and %d", v.Help, handlers.DefaultMaxConnections, handlers.FDReserve)
		}
	}
}
