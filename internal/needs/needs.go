// Package needs is where tests ask for what a clone of this repository
// alone does not have: Twilio's OpenAPI files, a PostgreSQL server,
// Chromium. Each helper finds its need or skips the test with one line
// saying how to provide it; under CI (CI=true, as .ci/run sets), which
// provides them all, a missing need fails the test instead. Tests only.
package needs

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// The variables that point the tests at what they need.
const (
	TwilioOAIEnv   = "TWILIO_OAI_DIR"
	DatabaseURLEnv = "DATABASE_URL"
	ChromiumEnv    = "CHROMIUM_PATH"
)

// Where the needs are when their variable is unset: Twilio's OpenAPI
// files in a checkout of twilio-oai beside the repository (so relative to
// its root), Chromium where Debian's package puts it.
const (
	defaultTwilioOAI = "../shared/twilio-oai"
	defaultChromium  = "/usr/bin/chromium"
)

// CI reports whether the tests run under CI, where a missing need fails.
func CI() bool {
	ci, _ := strconv.ParseBool(os.Getenv("CI"))
	return ci
}

// missing skips t with msg, or fails it under CI.
func missing(t testing.TB, msg string) {
	t.Helper()
	if CI() {
		t.Fatal("CI=true, but this test " + msg)
	}
	t.Skip(msg)
}

// taskRouterSpec is Twilio's OpenAPI description of TaskRouter.
const taskRouterSpec = "twilio_taskrouter_v1.json"

// TaskRouterSpec returns the path of Twilio's OpenAPI description of
// TaskRouter, or skips the test without it.
func TaskRouterSpec(t testing.TB) string {
	t.Helper()
	path, err := twilioOAI(taskRouterSpec)
	if err != nil {
		missing(t, err.Error())
	}
	return path
}

// TaskRouterSpecIfPresent is TaskRouterSpec for a test that runs without
// the file, checking less: it logs that instead of skipping, and returns "".
func TaskRouterSpecIfPresent(t testing.TB) string {
	t.Helper()
	path, err := twilioOAI(taskRouterSpec)
	if err != nil {
		if CI() {
			t.Fatal("CI=true, but this test " + err.Error())
		}
		t.Log(err)
		return ""
	}
	return path
}

func twilioOAI(name string) (string, error) {
	dir := os.Getenv(TwilioOAIEnv)
	if dir == "" {
		root, err := repoRoot()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(root, defaultTwilioOAI)
	}
	path := filepath.Join(dir, name)
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("needs Twilio's OpenAPI description %s: not found; set %s to a checkout of github.com/twilio/twilio-oai's spec/json (default %s beside the repository)",
			name, TwilioOAIEnv, defaultTwilioOAI)
	}
	return path, nil
}

// repoRoot is the directory holding go.mod, above the test's package.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("repository root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("repository root: no go.mod above the test's directory")
		}
		dir = parent
	}
}

// DatabaseURL returns DATABASE_URL, a PostgreSQL server where the tests
// may create databases, or skips the test without it.
func DatabaseURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(DatabaseURLEnv)
	if u == "" {
		missing(t, "needs PostgreSQL: set "+DatabaseURLEnv+" to a server where the tests may create databases (postgres://user:pass@127.0.0.1:5432/postgres?sslmode=disable)")
	}
	return u
}

// Chromium returns the path of a Chromium to drive, or skips the test
// without one.
func Chromium(t testing.TB) string {
	t.Helper()
	path, err := chromium()
	if err != nil {
		missing(t, err.Error())
	}
	return path
}

func chromium() (string, error) {
	if p := os.Getenv(ChromiumEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("needs Chromium: %s=%s is not there; point %s at a Chromium binary (or unset it for %s)", ChromiumEnv, p, ChromiumEnv, defaultChromium)
		}
		return p, nil
	}
	if _, err := os.Stat(defaultChromium); err == nil {
		return defaultChromium, nil
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("needs Chromium: not at %s nor on PATH; install it (apt-get install chromium) or set %s", defaultChromium, ChromiumEnv)
}
