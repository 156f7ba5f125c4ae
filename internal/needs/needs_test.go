package needs

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// helperEnv runs the needs in TestAskForEveryNeed instead of skipping it.
const helperEnv = "NEEDS_TEST_HELPER"

// TestAskForEveryNeed is run by TestMissingNeedsSkipOrFail in a child
// process whose environment lacks every need.
func TestAskForEveryNeed(t *testing.T) {
	if os.Getenv(helperEnv) == "" {
		t.Skip("run by TestMissingNeedsSkipOrFail")
	}
	for name, ask := range map[string]func(testing.TB){
		"spec":     func(t testing.TB) { TaskRouterSpec(t) },
		"postgres": func(t testing.TB) { DatabaseURL(t) },
		"chromium": func(t testing.TB) { Chromium(t) },
	} {
		t.Run(name, func(t *testing.T) { ask(t) })
	}
}

// Outside CI a missing need skips its test with one line naming the
// variable that provides it; under CI=true it fails the test.
func TestMissingNeedsSkipOrFail(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		ci   string
		want string
	}{{"", "--- SKIP"}, {"true", "--- FAIL"}} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestAskForEveryNeed$", "-test.v")
		cmd.Env = append(os.Environ(), helperEnv+"=1", "CI="+c.ci, DatabaseURLEnv+"=",
			TwilioOAIEnv+"="+filepath.Join(t.TempDir(), "none"), ChromiumEnv+"="+filepath.Join(t.TempDir(), "none"))
		out, _ := cmd.CombinedOutput()
		for _, v := range []string{TwilioOAIEnv, DatabaseURLEnv, ChromiumEnv} {
			line := regexp.MustCompile(`(?m)^\s+\w+\.go:\d+: (CI=true, but this test )?needs .*` + v + `.*$`)
			if !line.Match(out) {
				t.Errorf("CI=%q: no one-line message naming %s:\n%s", c.ci, v, out)
			}
		}
		if n := strings.Count(string(out), c.want+": TestAskForEveryNeed/"); n != 3 {
			t.Errorf("CI=%q: %d of 3 needs gave %s:\n%s", c.ci, n, c.want, out)
		}
	}
}

// Tests ask this package for their needs and look for them nowhere else:
// one definition of where they are and of what CI changes.
func TestNeedsAreAskedHereOnly(t *testing.T) {
	t.Parallel()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	own, _ := os.Getwd()
	stray := regexp.MustCompile(`twilio-oai|twilio_taskrouter_v1\.json|/usr/bin/chromium|LookPath\("chromium"\)|Getenv\("(CI|DATABASE_URL)"\)`)
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && path == own:
			return filepath.SkipDir
		case d.IsDir() || !strings.HasSuffix(path, ".go"):
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if !strings.HasSuffix(path, "_test.go") && !strings.Contains(string(b), `"testing"`) {
			return nil // the service's own code reads DATABASE_URL
		}
		if m := stray.Find(b); m != nil {
			t.Errorf("%s looks for %q itself: ask package needs", path, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The README tells a newcomer each need's variable and default.
func TestREADMENamesEveryNeed(t *testing.T) {
	t.Parallel()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{TwilioOAIEnv, defaultTwilioOAI, DatabaseURLEnv, ChromiumEnv, defaultChromium} {
		if !strings.Contains(string(readme), "`"+s+"`") {
			t.Errorf("README.md does not name `%s`", s)
		}
	}
}
