// Package browsertest starts the real browser the inspector's tests drive:
// Debian's headless Chromium through chromedp, with the flags this
// network-less machine needs. Tests only.
package browsertest

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/assignd/assignd/internal/needs"
)

// New returns a chromedp context for a fresh headless Chromium with a
// window of width×height, ended when the test ends. Without Chromium the
// test is skipped, except under CI (needs.Chromium).
func New(t testing.TB, width, height int) context.Context {
	t.Helper()
	path := needs.Chromium(t)
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
