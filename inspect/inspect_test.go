package inspect_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/assignd/assignd/admin"
	"github.com/assignd/assignd/async"
	"github.com/assignd/assignd/decisionlog"
	"github.com/assignd/assignd/inspect"
	"github.com/assignd/assignd/internal/servicetest"
	"github.com/assignd/assignd/internal/testwait"
	"github.com/assignd/assignd/policy/rules"
)

type harness struct {
	*servicetest.Env
	Admin      string // inspector base URL, …/admin
	Status     *inspect.PolicyStatus
	PolicyFile string
	// Replays are the inspector's replay slots, so a test can see when
	// requests it holds open have taken theirs.
	Replays chan struct{}
}

// newHarness serves the inspector over loopback next to the callback server.
func newHarness(t *testing.T, store string, emu inspect.Emulator) *harness {
	t.Helper()
	return newHarnessWith(t, store, emu, decisionlog.Options{})
}

// newHarnessWith is newHarness with the decision log's options.
func newHarnessWith(t *testing.T, store string, emu inspect.Emulator, o decisionlog.Options) *harness {
	t.Helper()
	env := servicetest.New(t, store, decisionlog.ModeFull, o)
	h := &harness{Env: env, Status: inspect.NewPolicyStatus(env.Current), PolicyFile: filepath.Join(t.TempDir(), "policy.yaml")}
	if err := os.WriteFile(h.PolicyFile, []byte(servicetest.Policy), 0o600); err != nil {
		t.Fatal(err)
	}
	inspector, replays, err := inspect.NewWithReplaySlots(inspect.Options{Log: env.Log, Policy: h.Status, Jobs: env.Queue, Emulator: emu, Heartbeat: 200 * time.Millisecond, DecisionDeadline: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	h.Replays = replays
	// Behind the admin listener's handler, as the service mounts it: its
	// access rule, its headers, River UI next to it.
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	handler, err := admin.New(ctx, admin.Options{Inspector: inspector, Queue: env.Queue.UIEndpoints(), Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	h.Admin = srv.URL + "/admin"
	return h
}

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func postForm(t *testing.T, u string, form url.Values, header http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func post(t *testing.T, u, contentType string, body io.Reader) (int, string) {
	t.Helper()
	resp, err := http.Post(u, contentType, body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// multipartPolicy is a form uploading content as the file name, as the
// page's file input sends it.
func multipartPolicy(t *testing.T, name, content string) (string, io.Reader) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, err := mw.CreateFormFile("policy_file", name)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(fw, content)
	mw.Close()
	return mw.FormDataContentType(), &buf
}

// multipartValue is a form with one plain field.
func multipartValue(t *testing.T, field, value string) (string, io.Reader) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if err := mw.WriteField(field, value); err != nil {
		t.Fatal(err)
	}
	mw.Close()
	return mw.FormDataContentType(), &buf
}

func decode[T any](t *testing.T, body string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("decode %q: %v", body, err)
	}
	return v
}

// editedPolicy is Policy with the spanish rule now rejecting.
var editedPolicy = strings.Replace(servicetest.Policy,
	`when: 'task.selected_language == "es"'
    then: {instruction: accept}`,
	`when: 'task.selected_language == "es"'
    then: {instruction: reject, activity_sid: WA00000000000000000000000000000009}`, 1)

func TestAPIDetailAttemptsAndReplay(t *testing.T) {
	t.Parallel()
	if editedPolicy == servicetest.Policy {
		t.Fatal("the policy edit did not apply")
	}
	for _, store := range servicetest.Stores {
		t.Run(store, func(t *testing.T) {
			h := newHarness(t, store, nil)
			spanish := servicetest.Reservation(1, map[string]any{"selected_language": "es"}, nil)
			later := h.Pending(t, map[string]any{"type": "async"}, nil)
			if s, b := h.Post(t, spanish, servicetest.Token); s != 200 {
				t.Fatalf("%d %s", s, b)
			}
			if s, b := h.Post(t, later, servicetest.Token); s != 200 || b != "{}" {
				t.Fatalf("%d %s", s, b)
			}
			h.Flush(t)

			// The list, filtered by query parameters.
			s, body := get(t, h.Admin+"/api/decisions?reservation="+spanish.ReservationSid)
			list := decode[struct{ Decisions []decisionlog.Entry }](t, body)
			if s != 200 || len(list.Decisions) != 1 || list.Decisions[0].Rule != "spanish" || len(list.Decisions[0].Steps) != 2 {
				t.Fatalf("list: %d %s", s, body)
			}
			id := list.Decisions[0].ID
			if s, body := get(t, h.Admin+"/api/decisions?result=great"); s != 400 || !strings.Contains(body, "result: want one of") {
				t.Errorf("bad filter: %d %s", s, body)
			}
			// Malformed requests are counted, never recorded: not a filter.
			if s, body := get(t, h.Admin+"/api/decisions?result=malformed"); s != 400 || !strings.Contains(body, "result: want one of") {
				t.Errorf("malformed filter: %d %s", s, body)
			}
			if s, body := get(t, h.Admin+"/api/decisions?since=yesterday"); s != 400 || !strings.Contains(body, "since") {
				t.Errorf("bad time: %d %s", s, body)
			}
			if s, _ := get(t, h.Admin+"/api/decisions/999999"); s != 404 {
				t.Errorf("unknown decision: %d", s)
			}

			// The async decision's attempts, linked by ReservationSid, once
			// the worker has applied it to the emulated TaskRouter.
			asyncID := h.One(t, later.ReservationSid).ID
			var detail struct {
				Decision decisionlog.Entry
				Jobs     []async.JobReport
			}
			var detailBody string
			if !testwait.Until(30*time.Second, func() bool {
				_, detailBody = get(t, h.Admin+"/api/decisions/"+itoa(asyncID))
				detail = decode[struct {
					Decision decisionlog.Entry
					Jobs     []async.JobReport
				}](t, detailBody)
				return len(detail.Jobs) == 1 && len(detail.Jobs[0].Output) > 0
			}) {
				t.Fatalf("async job never finished: %s", detailBody)
			}
			out := decode[async.Output](t, string(detail.Jobs[0].Output))
			if got := h.TaskRouter.Get(later.ReservationSid); out.Outcome != async.OutcomeApplied || detail.Jobs[0].State != "completed" ||
				detail.Decision.Rule != "later-async" || got.Status != "accepted" || got.Applied != 1 {
				t.Fatalf("async detail: %+v output %+v", detail, out)
			}
			if s, page := get(t, h.Admin+"/decisions/"+itoa(asyncID)); s != 200 || !strings.Contains(page, "Async attempts") || !strings.Contains(page, `&#34;outcome&#34;: &#34;applied&#34;`) {
				t.Errorf("detail page: %d\n%s", s, page)
			}

			// Replay with the policy in force: nothing changed yet.
			s, body = postForm(t, h.Admin+"/api/decisions/"+itoa(id)+"/replay", nil, nil)
			rep := decode[inspect.Replay](t, body)
			if s != 200 || rep.Changed || rep.Rule != "spanish" {
				t.Fatalf("replay before the edit: %d %s", s, body)
			}

			// Edit the policy in force; the replay shows the difference.
			p, err := rules.Parse("edited.yaml", []byte(editedPolicy))
			if err != nil {
				t.Fatal(err)
			}
			h.Current.Store(p)
			h.Status.Reloaded("file change", nil)
			s, body = postForm(t, h.Admin+"/api/decisions/"+itoa(id)+"/replay", nil, nil)
			rep = decode[inspect.Replay](t, body)
			if s != 200 || !rep.Changed || rep.Policy != "edited.yaml" || rep.Instruction != "reject" ||
				!slices.Contains(rep.Differences, "instruction: accept → reject") {
				t.Fatalf("replay after the edit: %d %s", s, body)
			}
			// The HTML page says so too.
			s, page := postForm(t, h.Admin+"/decisions/"+itoa(id)+"/replay", nil, nil)
			if s != 200 || !strings.Contains(page, `id="replay-verdict">changed`) || !strings.Contains(page, "instruction: accept → reject") {
				t.Errorf("replay page: %d\n%s", s, page)
			}
			// Rules sent with the request, compiled in memory: the original
			// rules, so the same decision as stored; as the API's body, as a
			// file uploaded with the form, and as text pasted in the form.
			s, body = post(t, h.Admin+"/api/decisions/"+itoa(id)+"/replay", "application/yaml", strings.NewReader(servicetest.Policy))
			rep = decode[inspect.Replay](t, body)
			if s != 200 || rep.Changed || rep.Policy != "policy sent with the request" {
				t.Fatalf("replay with rules in the body: %d %s", s, body)
			}
			ct, mp := multipartPolicy(t, "policy.yaml", servicetest.Policy)
			s, page = post(t, h.Admin+"/decisions/"+itoa(id)+"/replay", ct, mp)
			if s != 200 || !strings.Contains(page, `id="replay-verdict">same decision`) || !strings.Contains(page, "uploaded policy.yaml") {
				t.Fatalf("replay with an uploaded file: %d\n%s", s, page)
			}
			s, body = postForm(t, h.Admin+"/api/decisions/"+itoa(id)+"/replay", url.Values{"policy": {servicetest.Policy}}, nil)
			if rep = decode[inspect.Replay](t, body); s != 200 || rep.Changed {
				t.Fatalf("replay with pasted rules: %d %s", s, body)
			}
			// A replayed conference's SIP password is not shown either.
			sip := strings.Replace(servicetest.Policy, "then: {instruction: accept}\n  - name: boom",
				"then: {instruction: conference, from: '+15005550006', to: 'sip:a@example.com', sip_auth_password: Replay-Sip-Pass}\n  - name: boom", 1)
			s, body = post(t, h.Admin+"/api/decisions/"+itoa(id)+"/replay", "application/yaml", strings.NewReader(sip))
			if rep = decode[inspect.Replay](t, body); s != 200 || rep.Instruction != "conference" || strings.Contains(body, "Replay-Sip-Pass") ||
				!strings.Contains(string(rep.Answer), `"sip_auth_password": "(redacted)"`) {
				t.Errorf("replay of a conference with a SIP password: %d %s", s, body)
			}
			// Never a path on the server: nothing of the file comes back.
			for _, path := range []string{"/etc/passwd", "../../../../etc/passwd", h.PolicyFile, "/dev/zero"} {
				s, body = postForm(t, h.Admin+"/api/decisions/"+itoa(id)+"/replay", url.Values{"policy_file": {path}}, nil)
				if s != 400 || !strings.Contains(body, "not a path") || strings.Contains(body, "root:") || strings.Contains(body, "later-async") {
					t.Errorf("replay naming %s: %d %s", path, s, body)
				}
			}
			ct, mp = multipartValue(t, "policy_file", "/etc/passwd")
			if s, body = post(t, h.Admin+"/api/decisions/"+itoa(id)+"/replay", ct, mp); s != 400 || strings.Contains(body, "root:") {
				t.Errorf("multipart replay naming /etc/passwd: %d %s", s, body)
			}
			// Bad rules and too much of them get a clear answer.
			s, body = post(t, h.Admin+"/api/decisions/"+itoa(id)+"/replay", "application/yaml", strings.NewReader("rules: [{name: x, when: 'nope ==', then: {instruction: accept}}]"))
			if s != 400 || !strings.Contains(body, "not a valid rules file") {
				t.Errorf("replay with bad rules: %d %s", s, body)
			}
			huge := strings.Repeat("# padding\n", inspect.MaxReplayPolicy/10+1)
			if s, body = post(t, h.Admin+"/api/decisions/"+itoa(id)+"/replay", "application/yaml", strings.NewReader(huge)); s != 413 || !strings.Contains(body, strconv.Itoa(inspect.MaxReplayPolicy>>10)+" KiB") {
				t.Errorf("replay with %d bytes of rules: %d %s", len(huge), s, body)
			}
			ct, mp = multipartPolicy(t, "huge.yaml", huge)
			if s, body = post(t, h.Admin+"/api/decisions/"+itoa(id)+"/replay", ct, mp); s != 413 || !strings.Contains(body, strconv.Itoa(inspect.MaxReplayPolicy>>10)+" KiB") {
				t.Errorf("replay with a %d-byte upload: %d %.200s", len(huge), s, body)
			}

			// The policy in force and its last reload.
			s, body = get(t, h.Admin+"/api/policy")
			pv := decode[struct {
				Source     string
				Rules      []string
				LastReload inspect.Reload `json:"last_reload"`
			}](t, body)
			if s != 200 || pv.Source != "edited.yaml" || len(pv.Rules) != 4 || !pv.LastReload.OK || pv.LastReload.Trigger != "file change" {
				t.Errorf("policy: %d %s", s, body)
			}
			h.Status.Reloaded("SIGHUP", errors.New("rule \"x\": when: undeclared reference"))
			if _, page := get(t, h.Admin+"/"); !strings.Contains(page, "rejected: rule &#34;x&#34;: when: undeclared reference") {
				t.Errorf("index lacks the rejected reload:\n%s", page)
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestLiveStream reads the server-sent events the page listens to.
func TestLiveStream(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "sqlite", nil)
	first := servicetest.Reservation(1, map[string]any{"selected_language": "es"}, nil)
	h.Post(t, first, servicetest.Token)
	h.Flush(t)
	firstID := h.One(t, first.ReservationSid).ID

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.Admin+"/events?after="+itoa(firstID)+"&result=bad_signature", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	// One that the filter excludes, then one it selects.
	h.Post(t, servicetest.Reservation(2, nil, nil), servicetest.Token)
	forged := servicetest.Reservation(3, nil, nil)
	h.Post(t, forged, "wrong")

	sc := bufio.NewScanner(resp.Body)
	var event []string
	for sc.Scan() {
		line := sc.Text()
		if line != "" {
			event = append(event, line)
			continue
		}
		if len(event) > 0 && event[0] != ": assignd decisions" && !strings.HasPrefix(event[0], ": keep-alive") {
			break
		}
		event = nil
	}
	got := strings.Join(event, "\n")
	if !strings.Contains(got, "event: decision") || !strings.Contains(got, "bad_signature") || !strings.Contains(got, forged.ReservationSid) {
		t.Fatalf("first event after %d:\n%s\n(scan error %v)", firstID, got, sc.Err())
	}
}

// emulator is a stand-in for the emulator `assignd dev` will run; here it
// only has to hold state the page shows and changes.
type emulator struct {
	mu       sync.Mutex
	activity string
}

func (e *emulator) State(context.Context) (inspect.EmulatorState, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	name := map[string]string{"WA1": "Offline", "WA2": "Idle"}[e.activity]
	return inspect.EmulatorState{
		Activities:   []inspect.EmulatorActivity{{Sid: "WA1", Name: "Offline"}, {Sid: "WA2", Name: "Idle", Available: true}},
		Workers:      []inspect.EmulatorWorker{{Sid: "WKalice", Name: "Alice", ActivitySid: e.activity, ActivityName: name, Available: e.activity == "WA2"}},
		Tasks:        []inspect.EmulatorTask{{Sid: "WTspanish", Status: "pending", Attributes: `{"selected_language":"es"}`}},
		Reservations: []inspect.EmulatorReservation{},
	}, nil
}

func (e *emulator) SetWorkerActivity(_ context.Context, worker, activity string) error {
	if worker != "WKalice" {
		return errors.New("no worker " + worker)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.activity = activity
	return nil
}

func TestEmulatorHook(t *testing.T) {
	t.Parallel()
	emu := &emulator{activity: "WA1"}
	h := newHarness(t, "sqlite", emu)
	if _, page := get(t, h.Admin+"/"); !strings.Contains(page, `id="emulator"`) || !strings.Contains(page, "Alice") || !strings.Contains(page, "WTspanish") {
		t.Fatalf("index without the emulator:\n%s", page)
	}
	// "Set Alice to Idle" with a click: the form posts the activity.
	if s, _ := postForm(t, h.Admin+"/emulator/workers/WKalice/activity", url.Values{"activity_sid": {"WA2"}}, nil); s != 200 {
		t.Fatalf("set activity: %d", s) // after the redirect to the page
	}
	if _, page := get(t, h.Admin+"/"); !strings.Contains(page, "Idle <span class=\"badge\">available</span>") {
		t.Errorf("Alice is not Idle on the page:\n%s", page)
	}
	if s, body := postForm(t, h.Admin+"/emulator/workers/WKbob/activity", url.Values{"activity_sid": {"WA2"}}, nil); s != 400 || !strings.Contains(body, "no worker WKbob") {
		t.Errorf("unknown worker: %d %s", s, body)
	}
	// The section alone, which the page fetches to stay current, and the
	// same state as JSON.
	if s, section := get(t, h.Admin+"/emulator"); s != 200 || !strings.HasPrefix(section, `<section id="emulator"`) ||
		!strings.Contains(section, `id="emu-worker-WKalice"`) || strings.Contains(section, "<html") {
		t.Errorf("emulator section: %d\n%s", s, section)
	}
	var st struct {
		Workers []struct {
			Sid          string `json:"sid"`
			ActivityName string `json:"activity_name"`
			Available    bool   `json:"available"`
		} `json:"workers"`
	}
	if s, body := get(t, h.Admin+"/api/emulator"); s != 200 || json.Unmarshal([]byte(body), &st) != nil ||
		len(st.Workers) != 1 || st.Workers[0].Sid != "WKalice" || st.Workers[0].ActivityName != "Idle" || !st.Workers[0].Available {
		t.Errorf("api/emulator: %d %s", s, body)
	}
	// Without an emulator there is no section and the API says why.
	plain := newHarness(t, "sqlite", nil)
	if _, page := get(t, plain.Admin+"/"); strings.Contains(page, `id="emulator"`) {
		t.Error("emulator section without an emulator")
	}
	if s, _ := get(t, plain.Admin+"/api/emulator"); s != 404 {
		t.Errorf("api/emulator without one: %d", s)
	}
	if s, _ := get(t, plain.Admin+"/emulator"); s != 404 {
		t.Errorf("emulator section without one: %d", s)
	}
}

// TestLiveStreamEndsOnDone: closing Options.Done ends open streams, so the
// admin server's graceful shutdown is not held up by an open page.
func TestLiveStreamEndsOnDone(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "sqlite", nil)
	done := make(chan struct{})
	handler, err := inspect.New(inspect.Options{Log: h.Log, Policy: h.Status, Done: done, DecisionDeadline: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(handler)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/admin/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	close(done)
	if _, err := io.ReadAll(resp.Body); err != nil {
		t.Fatalf("the stream did not end cleanly: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatal("the stream outlived Done")
	}
}

// A policy never reloaded since start has no reload to report: the page and
// the API say so, rather than a zero time and ok:false, which read as a
// failed reload.
func TestPolicyNeverReloaded(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "sqlite", nil)
	s, body := get(t, h.Admin+"/api/policy")
	var pv struct {
		LastReload map[string]any `json:"last_reload"`
	}
	if err := json.Unmarshal([]byte(body), &pv); err != nil || s != 200 {
		t.Fatalf("policy: %d %v %s", s, err, body)
	}
	if want := map[string]any{"status": inspect.NotReloaded}; !reflect.DeepEqual(pv.LastReload, want) {
		t.Errorf("last_reload before any reload: %v, want %v", pv.LastReload, want)
	}
	if _, page := get(t, h.Admin+"/"); !strings.Contains(page, inspect.NotReloaded) || strings.Contains(page, "0001-01-01") {
		t.Errorf("index does not say %q:\n%s", inspect.NotReloaded, page)
	}
	h.Status.Reloaded("SIGHUP", nil)
	s, body = get(t, h.Admin+"/api/policy")
	if err := json.Unmarshal([]byte(body), &pv); err != nil || pv.LastReload["status"] != "ok" || pv.LastReload["ok"] != true || pv.LastReload["trigger"] != "SIGHUP" {
		t.Errorf("last_reload after a reload: %d %v %s", s, err, body)
	}
}
