package inspect_test

import (
	"os"
	"path/filepath"
	"slices"
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
	type drawn struct {
		ID     string   `json:"id"`
		Lines  int      `json:"lines"`
		Drawn  int      `json:"drawn"`
		Legend []string `json:"legend"`
		Colors []string `json:"colors"`
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[[]drawn](`[...document.querySelectorAll('#simulation-report figure.report-chart')].map(f => {
	  const paths = [...f.querySelectorAll('svg .lines path')];
	  return {
	    id: f.id,
	    lines: paths.length,
	    drawn: paths.filter(p => p.getTotalLength() > 100 && p.getBBox().width > 100).length,
	    legend: [...f.querySelectorAll('svg .legend text')].map(t => t.textContent),
	    colors: [...new Set(paths.map(p => getComputedStyle(p).stroke))],
	  };
	})`))
	if err != nil {
		t.Fatalf("read the charts: %v", err)
	}
	if len(got) != 3 {
		t.Fatalf("%d charts, want 3: %+v", len(got), got)
	}
	for _, c := range got {
		if c.Lines == 0 || c.Drawn != c.Lines {
			t.Errorf("%s: %d of %d lines drawn", c.ID, c.Drawn, c.Lines)
		}
		if !slices.Contains(c.Legend, "A old.yaml") || !slices.Contains(c.Legend, "B new.yaml") {
			t.Errorf("%s: legend %q does not name both policies", c.ID, c.Legend)
		}
		if !slices.Contains(c.Colors, "rgb(37, 99, 235)") || !slices.Contains(c.Colors, "rgb(234, 88, 12)") {
			t.Errorf("%s: line colours %q, want A's blue and B's orange from report.css", c.ID, c.Colors)
		}
	}
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
