package inspect_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/assignd/assignd/admin"
	"github.com/assignd/assignd/inspect/browsertest"
	"github.com/assignd/assignd/whatif/report/reporttest"
)

// TestSimulationsInBrowser: from the inspector's header to the Simulations
// page, a `simulate -json` file picked in the form and uploaded comes back
// drawn: three charts whose lines the browser drew in each policy's colour
// (the served report.css applied under the admin CSP, with no violation),
// and legends naming both policies. It saves a screenshot to
// /tmp/inspector-simulations.png.
func TestSimulationsInBrowser(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "sqlite", nil)
	file := filepath.Join(t.TempDir(), "day.json")
	if err := os.WriteFile(file, simulateJSON(t, reporttest.TwoPolicies(10)...), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := browsertest.New(t, 1400, 1000)
	seen := watch(t, ctx)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(h.Admin+"/"),
		chromedp.Click(chromedp.CSS(`header a[href$="/simulations"]`)),
		chromedp.WaitVisible(chromedp.CSS("#simulation-upload")),
		chromedp.SetUploadFiles(chromedp.CSS("#simulation-file"), []string{file}),
		chromedp.Click(chromedp.CSS("#simulation-button")),
		chromedp.WaitVisible(chromedp.CSS("#simulation-report #chart-occupancy svg")),
	); err != nil {
		t.Fatalf("upload the report: %v", err)
	}
	reporttest.CheckChartsDrawn(t, ctx, "#simulation-report", "A old.yaml", "B new.yaml")
	name, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#simulation-name")))
	if err != nil || strings.TrimSpace(name) != "day.json" {
		t.Errorf("uploaded file named %q (%v), want day.json", name, err)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile("/tmp/inspector-simulations.png", shot, 0o644); err != nil {
		t.Logf("screenshot not saved: %v", err)
	}

	seen.mu.Lock()
	defer seen.mu.Unlock()
	for _, v := range seen.violations {
		t.Errorf("CSP violation: %s", v)
	}
	pages := 0
	for url, hd := range seen.pages {
		if strings.Contains(url, "/simulations") {
			pages++
			if got, _ := header(hd, "Content-Security-Policy").(string); got != admin.ContentSecurityPolicy {
				t.Errorf("%s: CSP %q", url, got)
			}
		}
	}
	if pages == 0 {
		t.Errorf("saw no Simulations page: %v", seen.pages)
	}
}
