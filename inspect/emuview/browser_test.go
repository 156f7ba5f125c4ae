package emuview_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/assignd/assignd/emulator"
	"github.com/assignd/assignd/inspect"
	"github.com/assignd/assignd/inspect/browsertest"
)

// TestBrowser is the tutorial's "set Alice to Idle" with a click, in a real
// Chromium: the inspector page backed by the emulator shows Alice Offline
// and the Spanish task (created over REST after the page opened) pending;
// a click on Alice's Idle button reserves the task for her, the real
// service accepts it, and the page shows the reservation accepted, the
// task assigned and the callback's row, all without a reload. It saves a
// screenshot to /tmp/inspector-emulator.png.
func TestBrowser(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	handler, err := inspect.New(inspect.Options{Log: w.env.Log, Policy: inspect.NewPolicyStatus(w.env.Current),
		Jobs: w.env.Queue, Emulator: w.view, Heartbeat: 200 * time.Millisecond, DecisionDeadline: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	admin := httptest.NewServer(handler)
	t.Cleanup(admin.Close)

	ctx := browsertest.New(t, 1400, 1100)

	// The emulator section is replaced as it refreshes: read it in one
	// script, never through a node handle that may go stale.
	read := func(js string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("read %s: %v", js, err)
		}
		return strings.TrimSpace(v)
	}
	// waitFor polls a JavaScript condition in the page.
	waitFor := func(what, js string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(60*time.Second))); err != nil {
			t.Fatalf("waiting for %s (%s): %v", what, js, err)
		}
	}
	cell := func(id, class string) string {
		return fmt.Sprintf(`((document.querySelector('#%s .%s') || {}).textContent || '')`, id, class)
	}

	alice := w.sids.Workers["Alice"]
	if err := chromedp.Do(ctx,
		chromedp.Navigate(admin.URL+"/admin/"),
		chromedp.WaitVisible(chromedp.CSS("#emu-worker-"+alice)),
	); err != nil {
		t.Fatalf("open the inspector: %v", err)
	}
	if got := read(cell("emu-worker-"+alice, "activity")); got != "Offline" {
		t.Fatalf("Alice shows %q, want Offline", got)
	}
	// Mark this page load: a reload would lose the mark.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.assigndMarker = 'same page'; true`)); err != nil {
		t.Fatal(err)
	}

	// The tutorial's task, created over REST while the page is open: it
	// appears by itself and waits, as nobody is available.
	taskSid := w.createSpanishTask(t)
	waitFor("the pending task on the page", cell("emu-task-"+taskSid, "status")+` === 'pending'`)
	// While nothing else changes, the ticking age is updated in place: the
	// row (and a button about to be clicked) is not replaced every second.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.assigndTaskRow = document.getElementById('emu-task-`+taskSid+`');
		window.assigndAge = window.assigndTaskRow.querySelector('.age').textContent; true`)); err != nil {
		t.Fatal(err)
	}
	waitFor("the age to tick", `document.getElementById('emu-task-`+taskSid+`').querySelector('.age').textContent !== window.assigndAge`)
	if same, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.assigndTaskRow.isConnected`)); err != nil || !same {
		t.Errorf("the task's row was replaced although only its age changed (%v)", err)
	}
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('tr[id^="emu-res-"]').length`)); err != nil || n != 0 {
		t.Fatalf("reservations before the click: %d (%v)", n, err)
	}

	// Set Alice to Idle with a click. The first click meets a scripted 429,
	// as any REST client would: the page says so and Alice stays Offline.
	idle := chromedp.CSS(`#emu-worker-` + alice + ` button[data-activity="Idle"]:not([disabled])`)
	w.emu.Script(emulator.UpdateWorker, alice, emulator.Fault{Status: http.StatusTooManyRequests, RetryAfter: "1"})
	if err := chromedp.Do(ctx, chromedp.Click(idle)); err != nil {
		t.Fatalf("click Idle: %v", err)
	}
	waitFor("the refusal on the page", `!document.getElementById('emulator-message').hidden &&
		document.getElementById('emulator-message').textContent.includes('429')`)
	if got := read(cell("emu-worker-"+alice, "activity")); got != "Offline" {
		t.Fatalf("after a refused click Alice shows %q", got)
	}
	if err := chromedp.Do(ctx, chromedp.Click(idle)); err != nil {
		t.Fatalf("click Idle again: %v", err)
	}
	waitFor("Alice Idle", cell("emu-worker-"+alice, "activity")+`.startsWith('Idle')`)
	waitFor("the task assigned", cell("emu-task-"+taskSid, "status")+` === 'assigned'`)
	waitFor("the reservation accepted", `Array.from(document.querySelectorAll('tr[id^="emu-res-"]')).some(function(r){
		return r.querySelector('.status').textContent === 'accepted' && r.querySelector('.instruction').textContent === 'accept' && r.textContent.includes('Alice') })`)
	waitFor("the callback's row", `Array.from(document.querySelectorAll('#rows tr[id^="d-"]')).some(function(r){
		return r.textContent.includes('spanish') && r.textContent.includes('accept') })`)

	marker, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.assigndMarker || ''`))
	if err != nil || marker != "same page" {
		t.Fatalf("the page reloaded instead of updating in place (%q, %v)", marker, err)
	}
	if msg, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('emulator-message').textContent`)); err != nil || msg != "" {
		t.Errorf("error shown on the page: %q (%v)", msg, err)
	}
	// What the page shows is what the emulator holds.
	st := w.state(t)
	if tk, _ := task(st, taskSid); tk.Status != "assigned" || len(st.Reservations) != 1 || st.Reservations[0].WorkerSid != alice {
		t.Errorf("emulator state after the click: %+v", st)
	}

	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile("/tmp/inspector-emulator.png", shot, 0o644); err != nil {
		t.Logf("screenshot not saved: %v", err)
	}
}
