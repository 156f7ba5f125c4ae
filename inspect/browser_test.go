package inspect_test

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/assignd/assignd/admin"
	"github.com/assignd/assignd/inspect/browsertest"
	"github.com/assignd/assignd/internal/servicetest"
	"github.com/assignd/assignd/policy/rules"
)

// TestBrowser drives the inspector in a real Chromium: the page is open,
// a signed callback arrives, its row appears without a reload, the detail
// view names the matched rule, replay after a policy edit says what
// changed, and replay with the original rules file uploaded says it is the
// same. Every page came with the admin listener's security headers, and
// with them in force the pages, River UI's too, work and the browser
// reports no Content-Security-Policy violation. It saves a screenshot to
// /tmp/inspector.png.
func TestBrowser(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "sqlite", nil)

	ctx := browsertest.New(t, 1400, 1000)
	seen := watch(t, ctx)
	defer seen.check(t)

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
		chromedp.WaitVisible(css("#rows")),
	); err != nil {
		t.Fatalf("open the inspector: %v", err)
	}
	// Wait for the live stream to be open, then mark this page load: a
	// reload would lose the mark.
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById('live').textContent.startsWith('live:')`,
		chromedp.WithPollingTimeout(60*time.Second))); err != nil {
		t.Fatalf("live stream never opened: %v", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.assigndMarker = 'same page'; true`)); err != nil {
		t.Fatal(err)
	}

	r := servicetest.Reservation(1, map[string]any{"selected_language": "es"}, map[string]any{"languages": []any{"es"}})
	if s, b := h.Post(t, r, servicetest.Token); s != 200 {
		t.Fatalf("callback: %d %s", s, b)
	}

	if err := chromedp.Do(ctx, chromedp.WaitVisible(css(`#rows tr[id^="d-"]`))); err != nil {
		t.Fatalf("wait for the row: %v", err)
	}
	row := text(`#rows tr[id^="d-"]`)
	if !strings.Contains(row, "spanish") || !strings.Contains(row, "accept") || !strings.Contains(row, "ok") {
		t.Fatalf("row: %q", row)
	}
	marker, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.assigndMarker || ''`))
	if err != nil || marker != "same page" {
		t.Fatalf("the row appeared through a reload, not the live stream (%q, %v)", marker, err)
	}

	// Edit the policy in force, then open the decision and press replay.
	p, err := rules.Parse("edited.yaml", []byte(editedPolicy))
	if err != nil {
		t.Fatal(err)
	}
	h.Current.Store(p)
	h.Status.Reloaded("file change", nil)

	if err := chromedp.Do(ctx,
		chromedp.Click(css(`#rows tr[id^="d-"] a`)),
		chromedp.WaitVisible(css("#matched-rule")),
	); err != nil {
		t.Fatalf("open the decision: %v", err)
	}
	if matched := text("#matched-rule"); matched != "spanish" {
		t.Errorf("matched rule %q, want spanish", matched)
	}
	if err := chromedp.Do(ctx,
		chromedp.Click(css("#replay-button")),
		chromedp.WaitVisible(css("#replay-verdict")),
	); err != nil {
		t.Fatalf("replay: %v", err)
	}
	if verdict, rule := text("#replay-verdict"), text("#replay-rule"); verdict != "changed" || rule != "spanish" {
		t.Errorf("replay verdict %q rule %q, want changed by spanish", verdict, rule)
	}
	// Pick the original rules file in the file input: it is uploaded and
	// compiled in memory, and decides as the stored decision did.
	// The previous result is removed first, so the one waited for is new.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById('replay-result').remove(); true`)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx,
		chromedp.SetUploadFiles(css("#replay-file"), []string{h.PolicyFile}),
		chromedp.Click(css("#replay-button")),
		chromedp.WaitVisible(css("#replay-verdict")),
	); err != nil {
		t.Fatalf("replay with an uploaded file: %v", err)
	}
	if by := text("#replay-result code"); by != "uploaded policy.yaml" {
		t.Errorf("replay decided by %q, want the uploaded policy.yaml", by)
	}
	if verdict := text("#replay-verdict"); verdict != "same decision" {
		t.Errorf("replay with the original rules uploaded: verdict %q, want same decision", verdict)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile("/tmp/inspector.png", shot, 0o644); err != nil {
		t.Logf("screenshot not saved: %v", err)
	}

	// River UI, one click away, works under its policy.
	if resp, err := chromedp.RunResponse(ctx, chromedp.Click(css(`header a[href$="/queue/"]`))); err != nil || resp.Status != 200 {
		t.Fatalf("open River UI: %v", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`(document.getElementById('root')?.innerText || '').includes('Jobs')`,
		chromedp.WithPollingTimeout(60*time.Second))); err != nil {
		t.Fatalf("River UI never showed its job list: %v", err)
	}
}

// pageWatch is what the browser saw: each page's response headers, and
// every message it logged about a Content-Security-Policy.
type pageWatch struct {
	mu         sync.Mutex
	pages      map[string]network.Headers // by URL
	violations []string
}

// watch records the pages ctx's tab loads and its CSP messages.
func watch(t *testing.T, ctx context.Context) *pageWatch {
	t.Helper()
	w := &pageWatch{pages: map[string]network.Headers{}}
	err := chromedp.Listen(ctx, func(ev any) {
		w.mu.Lock()
		defer w.mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventResponseReceived:
			if ev.Type == network.ResourceTypeDocument {
				w.pages[ev.Response.URL] = ev.Response.Headers
			}
		case *cdplog.EventEntryAdded:
			if strings.Contains(ev.Entry.Text, "Content Security Policy") {
				w.violations = append(w.violations, ev.Entry.URL+": "+ev.Entry.Text)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// check asserts every page carried the admin headers and nothing
// violated its policy.
func (w *pageWatch) check(t *testing.T) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, v := range w.violations {
		t.Errorf("CSP violation: %s", v)
	}
	queue := 0
	for url, h := range w.pages {
		csp := admin.ContentSecurityPolicy
		if strings.Contains(url, admin.QueuePrefix+"/") {
			csp, queue = admin.QueueContentSecurityPolicy, queue+1
		}
		for k, want := range map[string]string{"Content-Security-Policy": csp, "X-Frame-Options": "DENY",
			"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"} {
			if got, _ := header(h, k).(string); got != want {
				t.Errorf("%s: %s = %q, want %q", url, k, got, want)
			}
		}
	}
	if len(w.pages) < 4 || queue == 0 {
		t.Errorf("saw %d pages (%d of River UI), want the index, the detail, two replays and River UI: %v", len(w.pages), queue, w.pages)
	}
}

// header reads a header whatever case the browser reports it in.
func header(h network.Headers, name string) any {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return nil
}
