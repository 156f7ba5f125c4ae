package inspect_test

import (
	"database/sql"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/assignd/assignd/decisionlog"
	"github.com/assignd/assignd/inspect"
	"github.com/assignd/assignd/internal/servicetest"
	"github.com/assignd/assignd/internal/testwait"
	"github.com/assignd/assignd/policy/rules"
	"github.com/assignd/assignd/whatif/replay"

	_ "modernc.org/sqlite"
)

// rejectSpanish is the harness's policy with spanish turned from accept to
// reject, reading a misspelt attribute in vip.
var rejectSpanish = strings.NewReplacer(`when: 'task.selected_language == "es"'
    then: {instruction: accept}`, `when: 'task.selected_language == "es"'
    then: {instruction: reject, activity_sid: WA00000000000000000000000000000009}`,
	`task.vip == true`, `task.vipp == true`).Replace(servicetest.Policy)

// recordSpanish records n Spanish callbacks the policy in force accepts.
func recordSpanish(t *testing.T, h *harness, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		r := servicetest.Reservation(i, map[string]any{"selected_language": "es", "vip": false}, map[string]any{"languages": []any{"es"}})
		if s, b := h.Post(t, r, servicetest.Token); s != 200 {
			t.Fatalf("callback: %d %s", s, b)
		}
	}
	h.Flush(t)
}

// The API decides the recent callbacks again with the rules file it is
// sent, or a shipped example it is asked for, and answers what would change.
func TestTryAPI(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "sqlite", nil)
	recordSpanish(t, h, 3)
	s, body := post(t, h.Admin+"/api/try", "application/yaml", strings.NewReader(rejectSpanish))
	res := decode[replay.Result](t, body)
	if s != 200 || res.Checked != 3 || res.Changed != 3 || len(res.Examples) != 3 || res.Examples[0].New.Instruction != "reject" {
		t.Fatalf("try: %d %s", s, body)
	}
	if len(res.Lint.UnseenAttributes) == 0 || res.Lint.UnseenAttributes[0].Attribute != "task.vipp" || res.Lint.UnseenAttributes[0].DidYouMean != "task.vip" {
		t.Errorf("lint: %+v", res.Lint)
	}
	// The policy in force itself, as plain text: nothing changes.
	s, body = post(t, h.Admin+"/api/try", "text/plain", strings.NewReader(servicetest.Policy))
	if res := decode[replay.Result](t, body); s != 200 || res.Checked != 3 || res.Changed != 0 {
		t.Fatalf("try the policy in force: %d %s", s, body)
	}
	// A shipped example, picked by name.
	s, body = post(t, h.Admin+"/api/try?example=assignment.yaml", "application/yaml", strings.NewReader(""))
	if res := decode[replay.Result](t, body); s != 200 || res.Candidate != "shipped example assignment.yaml" || res.Checked != 3 {
		t.Fatalf("try a shipped example: %d %s", s, body)
	}
}

// Every way a try can be wrong has its own clear answer: a form body 415,
// a file over the bound 413, rules that do not compile 400 naming the
// line, no policy at all 400.
func TestTryRefuses(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "sqlite", nil)
	recordSpanish(t, h, 1)
	api := h.Admin + "/api/try"
	if s, body := postForm(t, api, url.Values{"policy": {servicetest.Policy}}, nil); s != http.StatusUnsupportedMediaType || !strings.Contains(body, "not a form") {
		t.Errorf("form body: %d %s", s, body)
	}
	ct, mp := multipartPolicy(t, "p.yaml", servicetest.Policy)
	if s, body := post(t, api, ct, mp); s != http.StatusUnsupportedMediaType {
		t.Errorf("multipart body: %d %s", s, body)
	}
	huge := strings.Repeat("# padding\n", inspect.MaxReplayPolicy/10+1)
	if s, body := post(t, api, "application/yaml", strings.NewReader(huge)); s != http.StatusRequestEntityTooLarge || !strings.Contains(body, "larger than "+strconv.Itoa(inspect.MaxReplayPolicy>>10)+" KiB") {
		t.Errorf("body of %d bytes: %d %s", len(huge), s, body)
	}
	broken := "rules:\n  - name: r\n    when: 'task.x =='\n    then: {instruction: accept}\ndefault: {instruction: accept}\non_error: {instruction: accept}\n"
	if s, body := post(t, api, "application/yaml", strings.NewReader(broken)); s != http.StatusBadRequest || !strings.Contains(body, `policy sent with the request:3: rule \"r\": when`) {
		t.Errorf("broken rules: %d %s", s, body)
	}
	if s, body := post(t, api, "application/yaml", strings.NewReader("")); s != http.StatusBadRequest || !strings.Contains(body, "no policy") {
		t.Errorf("empty body: %d %s", s, body)
	}
	if s, body := post(t, api+"?example=nope.yaml", "application/yaml", strings.NewReader("")); s != http.StatusBadRequest || !strings.Contains(body, "assignment.yaml") {
		t.Errorf("unknown example: %d %s", s, body)
	}
	// The page: the same bounds, as a page.
	ct, mp = multipartPolicy(t, "huge.yaml", huge)
	if s, body := post(t, h.Admin+"/try", ct, mp); s != http.StatusRequestEntityTooLarge || !strings.Contains(body, `id="try-error"`) {
		t.Errorf("page upload of %d bytes: %d %.300s", len(huge), s, body)
	}
}

// A try takes its slot only once its body is in: a sender that never
// finishes holds none. Beyond MaxTries running, a try is refused with 429
// and Retry-After, and served again once the slot is free.
func TestConcurrentTriesAreLimited(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "sqlite", nil)
	recordItems(t, h)
	api := h.Admin + "/api/try"
	holdReplay(t, api) // its body never completes
	if s, body := post(t, api, "application/yaml", strings.NewReader(servicetest.Policy)); s != 200 {
		t.Fatalf("with a body still arriving: %d %s, want 200 (no slot taken yet)", s, body)
	}

	// A policy in force that the deadline has to stop makes a try last
	// seconds; tries are sent one after another until one is refused.
	p, err := rules.Parse("in-force.yaml", []byte(pathological))
	if err != nil {
		t.Fatal(err)
	}
	h.Current.Store(p)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			resp, err := http.Post(api, "application/yaml", strings.NewReader(pathological))
			if err == nil {
				resp.Body.Close()
			}
		}
	}()
	var status int
	var body, retry string
	if !testwait.Until(time.Minute, func() bool {
		resp, err := http.Post(api, "application/yaml", strings.NewReader(servicetest.Policy))
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 4096)
		n, _ := resp.Body.Read(b)
		resp.Body.Close()
		status, body, retry = resp.StatusCode, string(b[:n]), resp.Header.Get("Retry-After")
		return status == http.StatusTooManyRequests
	}) {
		t.Fatalf("with a try running: %d %s, want 429", status, body)
	}
	close(stop)
	wg.Wait()
	if retry != strconv.Itoa(int(inspect.TryBudget.Seconds())) || !strings.Contains(body, "1 try of a policy runs at a time") {
		t.Errorf("refused try: Retry-After %q, %s", retry, body)
	}
	h.Current.Store(mustParse(t, servicetest.Policy))
	// The last try's slot is released just after its answer is sent.
	if !testwait.Until(time.Minute, func() bool {
		status, body = post(t, api, "application/yaml", strings.NewReader(servicetest.Policy))
		return status == 200
	}) {
		t.Errorf("after the running try ended: %d %s", status, body)
	}
}

func mustParse(t *testing.T, src string) *rules.Policy {
	t.Helper()
	p, err := rules.Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A decision log that cannot be read is the server's failure, 500, not a
// bad request: the same policy sent again may well succeed.
func TestTryLogFailureIsServerError(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "sqlite", nil)
	recordSpanish(t, h, 1)
	db, err := sql.Open("sqlite", filepath.Join(h.DataDir, decisionlog.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`ALTER TABLE assignd_decision RENAME TO assignd_decision_gone`); err != nil {
		t.Fatal(err)
	}
	if s, body := post(t, h.Admin+"/api/try", "application/yaml", strings.NewReader(rejectSpanish)); s != http.StatusInternalServerError || !strings.Contains(body, "decision log") {
		t.Errorf("API, log unreadable: %d %s, want 500", s, body)
	}
	if s, body := postForm(t, h.Admin+"/try", url.Values{"policy": {rejectSpanish}}, nil); s != http.StatusInternalServerError || !strings.Contains(body, "decision log") {
		t.Errorf("page, log unreadable: %d, want 500", s)
	}
}

// The page shows what changed in each example, field by field, as the
// API's differences say it: a change of a field alone is not hidden
// behind the same rule and instruction on both sides.
func TestTryPageShowsDifferences(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "sqlite", nil)
	recordSpanish(t, h, 1)
	otherActivity := strings.Replace(rejectSpanish, "WA00000000000000000000000000000009", "WA00000000000000000000000000000008", 1)
	s, body := postForm(t, h.Admin+"/try", url.Values{"policy": {otherActivity}}, nil)
	if s != 200 || !strings.Contains(body, `instruction accept→reject; activity_sid —→&#34;WA00000000000000000000000000000008&#34;`) {
		t.Errorf("page: %d, differences not shown:\n%s", s, body)
	}
}
