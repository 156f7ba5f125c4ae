package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// curlCmd is one curl line of the guide `assignd dev` prints.
type curlCmd struct {
	raw, url, user, pass string
	form                 url.Values
}

// guideCurls parses the curl lines (with their backslash continuations) of
// the printed guide, the way a shell would split them: the README tells
// people to paste them.
func guideCurls(t *testing.T, out string) []curlCmd {
	t.Helper()
	var cmds []curlCmd
	var cur []string
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if cur == nil && !strings.HasPrefix(line, "curl ") {
			continue
		}
		cont := strings.HasSuffix(line, "\\")
		cur = append(cur, strings.TrimSuffix(line, "\\"))
		if cont {
			continue
		}
		cmds = append(cmds, parseCurl(t, strings.Join(cur, " ")))
		cur = nil
	}
	return cmds
}

func parseCurl(t *testing.T, s string) curlCmd {
	t.Helper()
	var words []string
	var w strings.Builder
	inQuote, inWord := false, false
	for _, r := range s {
		switch {
		case r == '\'':
			inQuote, inWord = !inQuote, true
		case r == ' ' && !inQuote:
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	c := curlCmd{raw: s, form: url.Values{}}
	for i := 1; i < len(words); i++ {
		switch words[i] {
		case "-d", "--data-urlencode":
			k, v, _ := strings.Cut(words[i+1], "=")
			c.form.Add(k, v)
			i++
		case "-u":
			c.user, c.pass, _ = strings.Cut(words[i+1], ":")
			i++
		default:
			if c.url != "" {
				t.Fatalf("curl line %q: unexpected word %q", s, words[i])
			}
			c.url = words[i]
		}
	}
	return c
}

// run sends the command as curl would (POST when it has data) and decodes
// the JSON answer.
func (c curlCmd) run(t *testing.T) (int, map[string]any) {
	t.Helper()
	method, body := http.MethodGet, io.Reader(nil)
	if len(c.form) > 0 {
		method, body = http.MethodPost, strings.NewReader(c.form.Encode())
	}
	req, err := http.NewRequest(method, c.url, body)
	if err != nil {
		t.Fatalf("%s: %v", c.raw, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.SetBasicAuth(c.user, c.pass)
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s: %v", c.raw, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s: %d %s", c.raw, resp.StatusCode, b)
	}
	return resp.StatusCode, out
}

// find returns the one command whose line contains every part.
func find(t *testing.T, cmds []curlCmd, parts ...string) curlCmd {
	t.Helper()
	var found []curlCmd
	for _, c := range cmds {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(c.raw, p)
		}
		if all {
			found = append(found, c)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d curl lines contain %q, want 1", len(found), parts)
	}
	return found[0]
}

// The seed tutorial (shared/seed), offline, exactly as the README tells it:
// `assignd dev`, then the curl lines it prints. Alice is Offline; the
// Spanish task, created with the tutorial's curl (base URL swapped), waits
// pending; Alice goes Idle; the reservation, the signed callback, the
// service's answer and the assigned task show in the logs and over REST.
// Then the email path: `{}`, assignd's own REST accept, assigned.
func TestDevRunsTheTutorialOffline(t *testing.T) {
	t.Parallel()
	pub, port := listenLocal(t, "127.0.0.1")
	env := []string{"PORT=" + port, "DATA_DIR=" + filepath.Join(t.TempDir(), "data")}
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(withHandedListeners(context.Background(), handedListeners{public: pub}))
	done := make(chan error, 1)
	// The emulator takes any free port; the guide names the one it got.
	go func() { done <- run(ctx, []string{"dev", "-emulator-addr", "127.0.0.1:0"}, env, nil, logs, logs) }()
	var once sync.Once
	var stopErr error
	stop := func() error {
		once.Do(func() { cancel(); stopErr = <-done })
		return stopErr
	}
	t.Cleanup(func() { _ = stop() })
	waitHealthy(t, port, done, logs)
	d := &devRun{t: t, logs: logs}

	out := logs.String()
	emuAddr := boundEmulatorAddr(t, out)
	for _, want := range []string{"TaskRouter emulator on http://" + emuAddr, "worker     WK", "Alice", "Bob",
		"workflow \"Tutorial Workflow\" calls http://127.0.0.1:" + port + "/assignment"} {
		if !strings.Contains(out, want) {
			t.Fatalf("dev's guide lacks %q:\n%s", want, out)
		}
	}
	cmds := guideCurls(t, out)
	aliceSid := find(t, cmds, "/Workers/", "/Reservations").url
	aliceSid = strings.TrimSuffix(aliceSid[strings.Index(aliceSid, "/Workers/")+len("/Workers/"):], "/Reservations")

	// 1. Alice is Offline.
	if status, alice := find(t, cmds, "/Workers/"+aliceSid+" -u").run(t); status != http.StatusOK || alice["activity_name"] != "Offline" || alice["available"] != false {
		t.Fatalf("Alice: %d %v, want Offline", status, alice)
	}
	// 2. The tutorial's curl, base URL swapped: the task waits pending.
	create := find(t, cmds, `Attributes='{"selected_language": "es"}'`, "-d WorkflowSid=WW")
	if !strings.HasPrefix(create.url, "http://"+emuAddr+"/v1/Workspaces/WS") || !strings.HasSuffix(create.url, "/Tasks") {
		t.Fatalf("task creation line %q: not the tutorial's URL on the emulator", create.raw)
	}
	status, task := create.run(t)
	if status != http.StatusCreated || task["assignment_status"] != "pending" || task["task_queue_friendly_name"] != "Customer Care Requests - Spanish" {
		t.Fatalf("created task: %d %v, want pending in the Spanish queue", status, task)
	}
	taskSid := task["sid"].(string)
	ws := task["workspace_sid"].(string)
	d.api, d.ws, d.account, d.token, d.client = "http://"+emuAddr, ws, create.user, create.pass, &http.Client{Timeout: 30 * time.Second}
	if rs := d.reservations(taskSid); len(rs) != 0 {
		t.Fatalf("reservations with Alice Offline: %v", rs)
	}
	if got := d.task(taskSid)["assignment_status"]; got != "pending" {
		t.Fatalf("task with Alice Offline: %v, want pending", got)
	}
	// 3. Alice Idle: reservation, signed callback, the service's accept.
	idle := guideSid(t, out, "activity", "Idle")
	if status, alice := find(t, cmds, "/Workers/"+aliceSid+" -d ActivitySid="+idle).run(t); status != http.StatusOK || alice["activity_name"] != "Idle" {
		t.Fatalf("Alice Idle: %d %v", status, alice)
	}
	d.waitTask(taskSid, "assigned")
	// 4. Over REST: the reservation accepted by Alice.
	_, rs := find(t, cmds, "/Workers/"+aliceSid+"/Reservations").run(t)
	list := rs["reservations"].([]any)
	if len(list) != 1 {
		t.Fatalf("Alice's reservations: %v", rs)
	}
	res := list[0].(map[string]any)
	if res["reservation_status"] != "accepted" || res["task_sid"] != taskSid || res["worker_name"] != "Alice" {
		t.Fatalf("reservation: %v, want accepted by Alice", res)
	}
	resSid := res["sid"].(string)
	// In the logs: the emulator's callback and the service's answer to it
	// (result ok: the signature verified).
	d.logLine("reservation event", map[string]any{"event": "reservation.created", "reservation": resSid})
	d.logLine("callback answered", map[string]any{"reservation": resSid, "rule": "spanish-speaker", "instruction": "accept", "result": "ok", "async": false})
	d.logLine("assignment callback", map[string]any{"component": "emulator", "reservation": resSid, "status": float64(200),
		"answer": `{"instruction":"accept"}`, "url": "http://127.0.0.1:" + port + "/assignment"})

	// The email path: {} at once, then assignd's REST accept, then assigned.
	bobSid := guideSid(t, out, "worker", "Bob")
	if status, bob := find(t, cmds, "/Workers/"+bobSid+" -d ActivitySid="+idle).run(t); status != http.StatusOK || bob["friendly_name"] != "Bob" || bob["activity_name"] != "Idle" {
		t.Fatalf("Bob Idle: %d %v", status, bob)
	}
	status, email := find(t, cmds, `Attributes='{"type": "email"}'`).run(t)
	if status != http.StatusCreated {
		t.Fatalf("email task: %d %v", status, email)
	}
	emailSid := email["sid"].(string)
	d.waitTask(emailSid, "assigned")
	ers := d.reservations(emailSid)
	if len(ers) != 1 || ers[0]["reservation_status"] != "accepted" || ers[0]["worker_name"] != "Bob" {
		t.Fatalf("email reservations: %v, want one accepted by Bob", ers)
	}
	eres := ers[0]["sid"].(string)
	d.logLine("assignment callback", map[string]any{"component": "emulator", "reservation": eres, "status": float64(200), "answer": "{}"})
	d.logLine("callback answered", map[string]any{"reservation": eres, "rule": "email-accept-later", "async": true})
	d.logLine("async decision finished", map[string]any{"reservation": eres, "outcome": "applied"})
	// The callback's answer {} leaves a reservation pending (the emulator
	// applies nothing for it), so the accept that assigned the task is the
	// service's REST update logged above. The log lines' order is not
	// asserted: the update may finish before the emulator logs the answer.
	if err := stop(); err != nil || !strings.Contains(logs.String(), `"message":"stopped"`) {
		t.Fatalf("dev did not stop cleanly: %v\n%s", err, logs)
	}
}

// guideSid reads a SID from the guide's listing ("worker     WK…  Bob").
func guideSid(t *testing.T, out, kind, name string) string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == kind && strings.Join(f[2:], " ") == name {
			return f[1]
		}
	}
	t.Fatalf("the guide lists no %s %q:\n%s", kind, name, out)
	return ""
}

// The README's "Run the tutorial offline" quotes the tutorial workspace's
// SIDs: they must be the ones the emulator gives it.
func TestReadmeTutorialSids(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for what, sid := range map[string]string{
		"workspace":       tutorialSid("WS"),
		"worker Alice":    tutorialSid("WK", "Alice"),
		"worker Bob":      tutorialSid("WK", "Bob"),
		"activity Idle":   tutorialSid("WA", "Idle"),
		"the workflow":    tutorialSid("WW", "Tutorial Workflow"),
		"emulator's port": "127.0.0.1" + defaultEmulatorAddr[strings.Index(defaultEmulatorAddr, ":"):],
	} {
		if !strings.Contains(readme, sid) {
			t.Errorf("README lacks %s's %s", what, sid)
		}
	}
	for _, sid := range regexp.MustCompile(`\b(WS|WK|WA|WW)[0-9a-f]{32}\b`).FindAllString(readme, -1) {
		known := false
		for _, want := range []string{tutorialSid("WS"), tutorialSid("WK", "Alice"), tutorialSid("WK", "Bob"),
			tutorialSid("WA", "Idle"), tutorialSid("WA", "Offline"), tutorialSid("WW", "Tutorial Workflow")} {
			known = known || sid == want
		}
		if !known {
			t.Errorf("README quotes %s, which is no SID of the tutorial workspace", sid)
		}
	}
}
