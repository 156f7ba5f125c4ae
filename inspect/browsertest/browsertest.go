// Package browsertest starts the real browser the inspector's tests drive:
// Debian's headless Chromium through chromedp, with the flags this
// network-less machine needs. Tests only.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Path is where Debian's chromium package puts the browser.
const Path = "/usr/bin/chromium"

// New returns a chromedp context for a fresh headless Chromium with a
// window of width×height, ended when the test ends. Without Chromium the
// test is skipped, unless CI is set: there .ci/run installs it, so a
// missing browser fails the test.
func New(t testing.TB, width, height int) context.Context {
	t.Helper()
	path := Path
	if _, err := os.Stat(path); err != nil {
		if p, lerr := exec.LookPath("chromium"); lerr == nil {
			path = p
		} else if os.Getenv("CI") == "" {
			t.Skip("chromium is not installed (CI installs it; apt-get install chromium)")
		} else {
			t.Fatalf("CI is set but chromium is missing: %v", err)
		}
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		// The machine has no network: without these Chromium keeps trying
		// to reach Google's services.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
	)
	ctx, cancelBrowser := chromedp.NewContext(actx)
	// Generous: a loaded 2-core machine starts Chromium slowly.
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() { cancel(); cancelBrowser(); cancelAlloc() })
	return ctx
}
