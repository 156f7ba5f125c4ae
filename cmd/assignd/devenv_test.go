package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/assignd/assignd/config"
	"github.com/assignd/assignd/emulator"
	"github.com/assignd/assignd/internal/testwait"
)

// devRun is `assignd dev` running in-process: the real service and its
// TaskRouter emulator, driven over loopback HTTP the way the tutorial's curl
// lines drive Twilio.
type devRun struct {
	t       testing.TB
	port    string // the service's
	api     string // the emulator's base URL
	ws      string // the workspace SID, found over the API
	account string
	token   string
	logs    *syncBuffer
	stop    func() error
	client  *http.Client
	emu     *emulator.Emulator // for scripting faults
}

// startDev runs the service as `assignd dev` does (serve in development
// mode with the in-process emulator on a free port), with environ (PORT and
// DATA_DIR are added unless given; a given PORT's listener comes in h, as
// does ADMIN_ADDR's) and the workspace file (the tutorial's when ""), and
// finds the workspace over REST.
func startDev(t testing.TB, environ []string, workspace string, h handedListeners) *devRun {
	t.Helper()
	d := &devRun{t: t, logs: &syncBuffer{}, client: &http.Client{Timeout: 30 * time.Second}}
	dataDir := ""
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, "PORT="); ok {
			d.port = v
		}
		if v, ok := strings.CutPrefix(kv, "DATA_DIR="); ok {
			dataDir = v
		}
	}
	if d.port == "" { // a caller giving PORT hands its listener in h
		h.public, d.port = listenLocal(t, "127.0.0.1")
		environ = append(environ, "PORT="+d.port)
	}
	if dataDir == "" {
		dataDir = filepath.Join(t.TempDir(), "data")
		environ = append(environ, "DATA_DIR="+dataDir)
	}
	environ = append(environ, "ASSIGND_MODE=development") // what `assignd dev` adds
	ctx, cancel := context.WithCancel(withHandedListeners(context.Background(), h))
	done := make(chan error, 1)
	started := make(chan *runningEmulator, 1)
	// The emulator takes any free port and reports its base URL.
	dev := devOptions{EmulatorAddr: "127.0.0.1:0", AddrSet: true, Workspace: workspace, Out: d.logs,
		started: func(r *runningEmulator) { started <- r }}
	go func() { done <- serve(ctx, environ, d.logs, dev) }()
	t.Cleanup(cancel)
	waitHealthy(t, d.port, done, d.logs)
	emu := <-started
	d.emu, d.api = emu.Emu, emu.Base
	var once sync.Once
	var stopErr error
	d.stop = func() error {
		once.Do(func() { cancel(); stopErr = <-done })
		return stopErr
	}
	t.Cleanup(func() { _ = d.stop() })

	creds, _, err := config.LoadOrCreateDevCredentials(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	d.account, d.token = creds.AccountSid, creds.AuthToken
	for _, kv := range environ { // TWILIO_AUTH_TOKEN, when set, is the account's
		if v, ok := strings.CutPrefix(kv, "TWILIO_AUTH_TOKEN="); ok {
			d.token = v
		}
	}
	list := d.get("/v1/Workspaces")
	wss, _ := list["workspaces"].([]any)
	if len(wss) != 1 {
		t.Fatalf("the emulator lists %d workspaces, want 1: %v", len(wss), list)
	}
	d.ws = wss[0].(map[string]any)["sid"].(string)
	return d
}

// do sends one request to the emulator with the account's Basic auth and
// decodes the JSON answer.
func (d *devRun) do(method, path string, form url.Values) (int, map[string]any) {
	d.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, d.api+path, body)
	if err != nil {
		d.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.SetBasicAuth(d.account, d.token)
	resp, err := d.client.Do(req)
	if err != nil {
		d.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &out); err != nil {
			d.t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode, out
}

func (d *devRun) get(path string) map[string]any {
	d.t.Helper()
	status, out := d.do(http.MethodGet, path, nil)
	if status != http.StatusOK {
		d.t.Fatalf("GET %s: %d %v", path, status, out)
	}
	return out
}

func (d *devRun) post(path string, form url.Values) map[string]any {
	d.t.Helper()
	status, out := d.do(http.MethodPost, path, form)
	if status != http.StatusOK && status != http.StatusCreated {
		d.t.Fatalf("POST %s %v: %d %v", path, form, status, out)
	}
	return out
}

// sid finds a resource of the workspace by friendly name, as a Twilio
// client would: kind is Workers, Activities, TaskQueues or Workflows.
func (d *devRun) sid(kind, name string) string {
	d.t.Helper()
	list := d.get("/v1/Workspaces/" + d.ws + "/" + kind + "?FriendlyName=" + url.QueryEscape(name))
	key := map[string]string{"Workers": "workers", "Activities": "activities", "TaskQueues": "task_queues", "Workflows": "workflows"}[kind]
	items, _ := list[key].([]any)
	if len(items) != 1 {
		d.t.Fatalf("%s named %q: %d found", kind, name, len(items))
	}
	return items[0].(map[string]any)["sid"].(string)
}

// setActivity moves a worker (by name) to an activity (by name).
func (d *devRun) setActivity(worker, activity string) {
	d.t.Helper()
	d.post("/v1/Workspaces/"+d.ws+"/Workers/"+d.sid("Workers", worker), url.Values{"ActivitySid": {d.sid("Activities", activity)}})
}

// createTask creates a task with the tutorial's parameters (Attributes,
// WorkflowSid) in the named workflow and returns its SID.
func (d *devRun) createTask(workflow, attributes string) string {
	d.t.Helper()
	out := d.post("/v1/Workspaces/"+d.ws+"/Tasks", url.Values{"Attributes": {attributes}, "WorkflowSid": {d.sid("Workflows", workflow)}})
	return out["sid"].(string)
}

func (d *devRun) task(sid string) map[string]any {
	d.t.Helper()
	return d.get("/v1/Workspaces/" + d.ws + "/Tasks/" + sid)
}

// reservations lists the task's reservations.
func (d *devRun) reservations(task string) []map[string]any {
	d.t.Helper()
	list := d.get("/v1/Workspaces/" + d.ws + "/Tasks/" + task + "/Reservations")
	var out []map[string]any
	for _, r := range list["reservations"].([]any) {
		out = append(out, r.(map[string]any))
	}
	return out
}

// waitTask waits until the task's assignment_status is status.
func (d *devRun) waitTask(sid, status string) map[string]any {
	d.t.Helper()
	var last map[string]any
	waitUntil(d.t, fmt.Sprintf("task %s %s", sid, status), func() bool {
		last = d.task(sid)
		return last["assignment_status"] == status
	}, func() string { return fmt.Sprintf("task: %v\nlogs:\n%s", last, d.logs) })
	return last
}

// logLines returns the JSON log lines whose message is msg.
func (d *devRun) logLines(msg string) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(d.logs.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) == nil && line["message"] == msg {
			out = append(out, line)
		}
	}
	return out
}

// logLine waits for a log line with message msg whose fields include
// every key/value of want, and returns it.
func (d *devRun) logLine(msg string, want map[string]any) map[string]any {
	d.t.Helper()
	var found map[string]any
	waitUntil(d.t, fmt.Sprintf("log %q %v", msg, want), func() bool {
		for _, l := range d.logLines(msg) {
			ok := true
			for k, v := range want {
				if l[k] != v {
					ok = false
				}
			}
			if ok {
				found = l
				return true
			}
		}
		return false
	}, func() string { return d.logs.String() })
	return found
}

// waitUntil polls cond for up to a minute: generous, for a loaded machine.
func waitUntil(t testing.TB, what string, cond func() bool, detail func() string) {
	t.Helper()
	if !testwait.Until(time.Minute, cond) {
		t.Fatalf("never: %s\n%s", what, detail())
	}
}

// writeFile writes content to a new file in a test directory.
func writeFile(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
