package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/assignd/assignd/config"
	"github.com/assignd/assignd/handlers"
)

func TestDefaults(t *testing.T) {
	t.Parallel()
	c, err := config.Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Mode != config.Development || c.Policy == nil || c.CallbackBudget != 4500*time.Millisecond || c.AdminAddr != "" {
		t.Fatalf("defaults: mode %v, policy %v, budget %v, admin %q", c.Mode, c.Policy, c.CallbackBudget, c.AdminAddr)
	}
	if c.Port != 8080 || c.CallbackPath != "/assignment" || c.ReservationTimeout != 120*time.Second ||
		c.DecisionDeadline != 3*time.Second || c.APIBaseURL != "https://taskrouter.twilio.com" || c.Public != nil {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestPublicURL(t *testing.T) {
	t.Parallel()
	c, err := config.Parse([]string{"PUBLIC_URL=https://abc.ngrok.app/"})
	if err != nil || c.Public.String() != "https://abc.ngrok.app" {
		t.Fatalf("got %v %v", c.Public, err)
	}
}

func TestErrorsNameTheVariable(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ env, varName string }{
		{"PORT=abc", "PORT"},
		{"PORT=70000", "PORT"},
		{"PUBLIC_URL=abc.ngrok.app", "PUBLIC_URL"},
		{"PUBLIC_URL=https://x.example/?a=1", "PUBLIC_URL"},
		{"TRUST_PROXY=maybe", "TRUST_PROXY"},
		{"RESERVATION_TIMEOUT=2minutes", "RESERVATION_TIMEOUT"},
		{"RESERVATION_TIMEOUT=100ms", "RESERVATION_TIMEOUT"},
		{"DECISION_DEADLINE=6s", "DECISION_DEADLINE"},
		{"LOG_LEVEL=loud", "LOG_LEVEL"},
		{"TWILIO_ACCOUNT_SID=AC123", "TWILIO_ACCOUNT_SID"},
		{"TWILIO_API_KEY=SK0123456789abcdef0123456789abcdef", "TWILIO_API_KEY"},
		{"TWILIO_AUTH_TOKEN_SECONDARY=0123456789abcdef0123456789abcdef", "TWILIO_AUTH_TOKEN_SECONDARY"},
		{"TWILIO_API_BASE_URL=taskrouter", "TWILIO_API_BASE_URL"},
		{"CALLBACK_PATH=assignment", "CALLBACK_PATH"},
		{"CALLBACK_BUDGET=5s", "CALLBACK_BUDGET"},
		{"ASSIGND_MODE=staging", "ASSIGND_MODE"},
		{"ADMIN_ADDR=9090", "ADMIN_ADDR"},
		{"ADMIN_ADDR=127.0.0.1:9090 ADMIN_PASSWORD=short", "ADMIN_PASSWORD"},
		{"TRUST_PROXY=true PUBLIC_HOSTS=https://x.example/", "PUBLIC_HOSTS"},
	} {
		_, err := config.Parse(strings.Fields(tt.env))
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Var != tt.varName || !strings.HasPrefix(err.Error(), tt.varName+": ") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: err = %v, want one line naming %s", tt.env, err, tt.varName)
		}
	}
}

func TestDevCredentialsAreStable(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	a, created, err := config.LoadOrCreateDevCredentials(dir)
	if err != nil || !created {
		t.Fatalf("first: %v %v", created, err)
	}
	b, created, err := config.LoadOrCreateDevCredentials(dir)
	if err != nil || created || a != b {
		t.Fatalf("second: %+v %v %v, want %+v", b, created, err, a)
	}
	fi, err := os.Stat(config.DevCredentialsPath(dir))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("file mode: %v %v", fi.Mode(), err)
	}
	if len(a.AuthToken) != 32 || !strings.HasPrefix(a.AccountSid, "AC") {
		t.Fatalf("credentials look wrong: %+v", a)
	}
}

// Processes starting together (serve and send) all end up with the same
// complete credentials.
func TestDevCredentialsRace(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	const n = 16
	got := make(chan config.DevCredentials, n)
	errs := make(chan error, n)
	for range n {
		go func() {
			c, _, err := config.LoadOrCreateDevCredentials(dir)
			errs <- err
			got <- c
		}()
	}
	first := <-got
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	for range n - 1 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		if c := <-got; c != first {
			t.Fatalf("credentials differ: %+v vs %+v", c, first)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("left behind: %v", entries)
	}
}

// The budget's default is the handler's: one number for "safely under
// Twilio's 5 s", whichever side reads it.
func TestCallbackBudgetDefaultIsTheHandlers(t *testing.T) {
	t.Parallel()
	c, err := config.Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.CallbackBudget != handlers.DefaultBudget {
		t.Fatalf("CALLBACK_BUDGET default %s, handlers.DefaultBudget %s", c.CallbackBudget, handlers.DefaultBudget)
	}
}
