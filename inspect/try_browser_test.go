package inspect_test

import (
	"os"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/assignd/assignd/inspect/browsertest"
)

// TestBrowserTryAPolicy drives "Try a policy" in a real Chromium: from the
// header's link, rules pasted in the form are tried against the recorded
// callbacks, and the page shows the changed decisions, the rules table and
// the lint naming the misspelt attribute; picking a shipped example works
// too. No page violates the admin listener's Content-Security-Policy. It
// saves a screenshot to /tmp/inspector-try.png.
func TestBrowserTryAPolicy(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "sqlite", nil)
	recordSpanish(t, h, 3)

	ctx := browsertest.New(t, 1400, 1000)
	seen := watch(t, ctx)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(css(sel)))
		if err != nil {
			t.Fatalf("read %s: %v", sel, err)
		}
		return strings.TrimSpace(v)
	}
	if err := chromedp.Do(ctx,
		chromedp.Navigate(h.Admin+"/"),
		chromedp.Click(css("#try-link")),
		chromedp.WaitVisible(css("#try-form")),
		chromedp.SetValue(css("#try-rules"), rejectSpanish),
		chromedp.Click(css("#try-button")),
		chromedp.WaitVisible(css("#try-result")),
	); err != nil {
		t.Fatalf("try pasted rules: %v", err)
	}
	if checked, changed := text("#try-checked"), text("#try-changed"); checked != "3" || changed != "3" {
		t.Errorf("checked %q changed %q, want 3 and 3", checked, changed)
	}
	if ex := text("#try-examples tbody"); strings.Count(ex, "spanish reject") != 3 || strings.Count(ex, "spanish accept") != 3 ||
		strings.Count(ex, `instruction accept→reject; activity_sid —→"WA00000000000000000000000000000009"`) != 3 {
		t.Errorf("examples: %q, want three accept → reject with the differences", ex)
	}
	if lint := text("#try-lint"); !strings.Contains(lint, "task.vipp is on no recorded callback") || !strings.Contains(lint, "did you mean task.vip?") {
		t.Errorf("lint: %q", lint)
	}
	if rules := text("#try-rules-table"); !strings.Contains(rules, "spanish") || !strings.Contains(rules, "100.0%") {
		t.Errorf("rules table: %q", rules)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile("/tmp/inspector-try.png", shot, 0o644); err != nil {
		t.Logf("screenshot not saved: %v", err)
	}

	// A shipped example, picked from the list (the pasted rules cleared).
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById('try-result').remove();
		document.getElementById('try-rules').value = '';
		document.getElementById('try-example').value = 'assignment.yaml'; true`)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx,
		chromedp.Click(css("#try-button")),
		chromedp.WaitVisible(css("#try-result")),
	); err != nil {
		t.Fatalf("try a shipped example: %v", err)
	}
	if h2 := text("#try-result h2"); !strings.Contains(h2, "shipped example assignment.yaml") {
		t.Errorf("result heading %q, want the shipped example", h2)
	}
	seen.mu.Lock()
	defer seen.mu.Unlock()
	for _, v := range seen.violations {
		t.Errorf("CSP violation: %s", v)
	}
	if len(seen.pages) < 2 {
		t.Errorf("saw %d pages, want the index and the try page", len(seen.pages))
	}
}
