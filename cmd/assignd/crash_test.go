package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/assignd/assignd/async/asynctest"
	"github.com/assignd/assignd/emulator"
	"github.com/assignd/assignd/emulator/emulatortest"
	"github.com/assignd/assignd/handlers"
	"github.com/assignd/assignd/internal/testwait"
	"github.com/assignd/assignd/policy"
	"github.com/assignd/assignd/taskrouter"
)

const (
	crashAccount = "AC00000000000000000000000000000abc"
	crashToken   = "c0ffee0123456789abcdef0123456789"
)

// buildBinary builds the real assignd once per test, static as the Dockerfile builds it.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "assignd")
	staticBuild(t, bin)
	return bin
}

type proc struct {
	cmd   *exec.Cmd
	logs  *syncBuffer
	port  string
	admin string // the admin listener's port, from its log line: /metrics lives there
}

func startBinary(t *testing.T, bin string, env []string, port string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin), logs: &syncBuffer{}, port: port}
	// The admin listener takes any free port and logs it (read once ready).
	p.cmd.Env = append(append(os.Environ(), env...), "ADMIN_ADDR=127.0.0.1:0")
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.cmd.Process.Kill(); _ = p.cmd.Wait() })
	if !testwait.Until(30*time.Second, func() bool {
		resp, err := http.Get("http://127.0.0.1:" + port + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}) {
		t.Fatalf("assignd never became ready:\n%s", p.logs)
	}
	p.admin = loggedAdminPort(t, p.logs.String())
	return p
}

// loggedAdminPort is the port the admin listener's start-up line reports.
func loggedAdminPort(t *testing.T, logs string) string {
	t.Helper()
	for _, line := range strings.Split(logs, "\n") {
		var l struct{ Addr, Message string }
		if json.Unmarshal([]byte(line), &l) == nil && strings.HasPrefix(l.Message, "admin listener:") {
			if _, port, err := net.SplitHostPort(l.Addr); err == nil && port != "0" {
				return port
			}
		}
	}
	t.Fatalf("no admin listener address in the logs:\n%s", logs)
	return ""
}

// callback posts a signed callback for reservation r and wants {}.
func (p *proc) callback(t *testing.T, r emulatortest.Reservation) {
	t.Helper()
	if err := p.tryCallback(r); err != nil {
		t.Fatalf("%v\n%s", err, p.logs)
	}
}

// newTaskRouter serves a TaskRouter emulator for the crash account with n
// pending reservations (tasks routed to workers, waiting for assignd's
// update); updateFaults are scripted, in order, for the reservation
// updates that follow.
func newTaskRouter(t *testing.T, n int, updateFaults ...emulator.Fault) (*emulatortest.Env, []emulatortest.Reservation) {
	t.Helper()
	env := emulatortest.New(t, emulator.Options{AccountSid: crashAccount, AuthToken: crashToken})
	rs := env.Pending(t, n, map[string]any{"type": "email"})
	env.Emu.Script(emulator.UpdateTaskReservation, "", updateFaults...)
	return env, rs
}

// TestCrashAndRestart runs the real binary: it stores async decisions, is
// killed with SIGKILL mid-queue, restarted, drained with SIGTERM mid-queue,
// and restarted again. Every reservation must end accepted exactly once.
func TestCrashAndRestart(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	for _, store := range []string{"sqlite", "postgres"} {
		t.Run(store, func(t *testing.T) {
			t.Parallel() // each has its own binary's data, port and TaskRouter
			// DATABASE_URL is always set explicitly: the test's own environment
			// may name the admin database, which the binary must not use.
			env := []string{"DATA_DIR=" + filepath.Join(t.TempDir(), "data"), "DATABASE_URL="}
			if store == "postgres" {
				env = append(env, "DATABASE_URL="+asynctest.DatabaseURL(t))
			}
			crashAndRestart(t, bin, env)
		})
	}
}

func crashAndRestart(t *testing.T, bin string, env []string) {
	// Each update is applied at once but answered 150 ms later: a kill in
	// that window leaves an applied update the process never heard about.
	const batch = 30
	held := make([]emulator.Fault, 4*batch) // more than the updates the test makes
	for i := range held {
		held[i] = emulator.Fault{AfterApply: 150 * time.Millisecond}
	}
	api, rs := newTaskRouter(t, 2*batch, held...)
	policyFile := filepath.Join(t.TempDir(), "async.yaml")
	if err := os.WriteFile(policyFile, []byte("rules: []\ndefault: {instruction: accept, async: true}\non_error: {instruction: accept}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t) // the restarted binary must answer on the same port (and PUBLIC_URL)
	env = append(env, "PORT="+port, "TWILIO_ACCOUNT_SID="+crashAccount, "TWILIO_AUTH_TOKEN="+crashToken,
		"TWILIO_API_BASE_URL="+api.URL, "POLICY_FILE="+policyFile, "PUBLIC_URL=http://127.0.0.1:"+port, "ASYNC_WORKERS=2", "LOG_LEVEL=debug",
		"TWILIO_EDGE=", "TWILIO_REGION=")

	// Run 1: store a batch, then SIGKILL while the queue is working.
	p := startBinary(t, bin, env, port)
	for _, r := range rs[:batch] {
		p.callback(t, r)
	}
	time.Sleep(200 * time.Millisecond) // let a REST call or two be in flight
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
	pendingAfterKill := batch - api.CountStatus("accepted")
	if pendingAfterKill == 0 {
		t.Fatalf("the queue had drained before the kill; the test proves nothing")
	}

	// Run 2: a second batch and SIGTERM at once: in-flight REST calls finish,
	// the rest stays stored, and the process exits cleanly.
	p = startBinary(t, bin, env, port)
	for _, r := range rs[batch:] {
		p.callback(t, r)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("SIGTERM exit: %v\n%s", err, p.logs)
	}
	for _, r := range rs[batch:] {
		if got := api.Get(r.Sid); got.Updates != got.Applied {
			t.Fatalf("SIGTERM cut a REST call short: %+v", got)
		}
	}
	if !strings.Contains(p.logs.String(), "finishing in-flight REST calls") {
		t.Errorf("no drain log line:\n%s", p.logs)
	}

	// Run 3: everything stored is applied, exactly once, and duplicate
	// callbacks for already-handled reservations change nothing.
	p = startBinary(t, bin, env, port)
	for n := 0; n < 2*batch; n += 7 {
		p.callback(t, rs[n])
	}
	deadline := time.Now().Add(150 * time.Second) // a hang guard (River's rescuer, the backstop, runs every 30 s)
	testwait.Until(time.Until(deadline), func() bool { return api.CountStatus("accepted") >= 2*batch })
	// And the store drains: jobs orphaned by the SIGKILL are re-run (at start
	// on SQLite; on PostgreSQL by the sweeper once the dead instance's
	// heartbeat lease ran out), find their update already applied, and
	// finish without a second one.
	drainStart := time.Now()
	testwait.Until(time.Until(deadline), func() bool { return queueDepth(t, p) == 0 })
	if d := queueDepth(t, p); d != 0 {
		t.Fatalf("queue depth %d after waiting", d)
	}
	t.Logf("queue drained %s after all reservations were accepted", time.Since(drainStart).Round(100*time.Millisecond))
	all := api.Emu.Reservations()
	if len(all) != 2*batch {
		t.Fatalf("the emulator holds %d reservations, want %d", len(all), 2*batch)
	}
	for _, r := range all {
		if r.Status != "accepted" || r.Applied != 1 {
			t.Errorf("%s: status %s applied %d times (updates %d, fetches %d)", r.Sid, r.Status, r.Applied, r.Updates, r.Fetches)
		}
	}
	if t.Failed() {
		t.Logf("logs of the last run:\n%s", p.logs)
	}
	t.Logf("pending after SIGKILL: %d of %d; verified by fetch after restart: %d", pendingAfterKill, batch,
		strings.Count(p.logs.String(), `"verified_by_fetch":true`))
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	_ = p.cmd.Wait()
}

// queueDepth sums assignd_async_queue_depth over states from the admin
// listener's /metrics.
func queueDepth(t *testing.T, p *proc) int {
	t.Helper()
	resp, err := http.Get("http://127.0.0.1:" + p.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	total, seen := 0, false
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "assignd_async_queue_depth{") {
			var n int
			fmt.Sscanf(line[strings.LastIndexByte(line, ' ')+1:], "%d", &n)
			total += n
			seen = true
			if n > 0 {
				t.Logf("%s", line)
			}
		}
	}
	if !seen {
		t.Fatalf("no queue depth in /metrics")
	}
	return total
}

// TestTwoInstancesCrash runs two instances of the real binary on one
// PostgreSQL database. Every callback goes to both at once (TaskRouter's
// fallback URL landing on the other instance), then one instance is
// SIGKILLed while its REST calls are in flight. Wanted: no callback answered
// with anything but {}, every reservation accepted exactly once, and the
// dead instance's decisions applied within 15 s of its death.
func TestTwoInstancesCrash(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	db := asynctest.DatabaseURL(t)
	bin := buildBinary(t)
	const n = 40
	// Every update waits 1 s before it applies: a killed instance's calls
	// are then cut before they apply, and only a re-run can apply them.
	slow := make([]emulator.Fault, 4*n)
	for i := range slow {
		slow[i] = emulator.Fault{Delay: time.Second}
	}
	api, rs := newTaskRouter(t, n, slow...)
	policyFile := filepath.Join(t.TempDir(), "async.yaml")
	if err := os.WriteFile(policyFile, []byte("rules: []\ndefault: {instruction: accept, async: true}\non_error: {instruction: accept}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	start := func() *proc {
		port := freePort(t) // a built binary binds PORT itself; PUBLIC_URL must name it up front
		return startBinary(t, bin, []string{"DATA_DIR=" + filepath.Join(t.TempDir(), "data"), "DATABASE_URL=" + db,
			"PORT=" + port, "PUBLIC_URL=http://127.0.0.1:" + port, "TWILIO_ACCOUNT_SID=" + crashAccount, "TWILIO_AUTH_TOKEN=" + crashToken,
			"TWILIO_API_BASE_URL=" + api.URL, "POLICY_FILE=" + policyFile, "ASYNC_WORKERS=8", "LOG_LEVEL=info",
			"TWILIO_EDGE=", "TWILIO_REGION="}, port)
	}
	a, b := start(), start()

	errs := make(chan error, 2*n)
	var wg sync.WaitGroup
	for _, r := range rs {
		for _, p := range []*proc{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- p.tryCallback(r)
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err) // a fallback, or no answer
		}
	}
	time.Sleep(300 * time.Millisecond) // both instances have calls in flight
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	_ = a.cmd.Wait()
	if c := api.CountStatus("accepted"); c == n {
		t.Fatalf("all %d accepted before the kill took effect; the test proves nothing", n)
	}
	testwait.Until(90*time.Second, func() bool { return api.CountStatus("accepted") >= n }) // a hang guard
	rescue := time.Since(killed)
	testwait.Until(90*time.Second-time.Since(killed), func() bool { return queueDepth(t, b) == 0 })
	drained := time.Since(killed)
	for _, r := range api.Emu.Reservations() {
		if r.Status != "accepted" || r.Applied != 1 {
			t.Errorf("%s: status %s applied %d times (updates %d, fetches %d)", r.Sid, r.Status, r.Applied, r.Updates, r.Fetches)
		}
	}
	if got := len(api.Emu.Reservations()); got != n {
		t.Errorf("the emulator holds %d reservations, want %d", got, n)
	}
	if !strings.Contains(b.logs.String(), "requeued async decisions of an instance that stopped heartbeating") {
		t.Errorf("the surviving instance never requeued the dead one's decisions:\n%s", b.logs)
	}
	t.Logf("last reservation accepted %s after the SIGKILL; queue drained after %s", rescue.Round(100*time.Millisecond), drained.Round(100*time.Millisecond))
	if rescue > 15*time.Second {
		t.Errorf("the dead instance's decisions were applied %s after its death, want ≤ 15 s", rescue.Round(100*time.Millisecond))
	}
	if t.Failed() {
		t.Logf("surviving instance's logs:\n%s", b.logs)
	}
}

// tryCallback is callback for goroutines: it reports instead of failing.
// It sends what TaskRouter would for the emulator's pending reservation pr.
func (p *proc) tryCallback(pr emulatortest.Reservation) error {
	r := policy.Reservation{
		AccountSid: crashAccount, WorkspaceSid: pr.WorkspaceSid, WorkflowSid: pr.WorkflowSid,
		TaskQueueSid: pr.TaskQueueSid, WorkerSid: pr.WorkerSid, TaskSid: pr.TaskSid,
		ReservationSid: pr.Sid, TaskAttributes: map[string]any{"type": "email"},
	}
	form, _ := handlers.EncodeForm(&r)
	u := "http://127.0.0.1:" + p.port + "/assignment"
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", taskrouter.Sign(crashToken, u, form))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("callback %s: %w", pr.Sid, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "{}" {
		return fmt.Errorf("callback %s: %d %s", pr.Sid, resp.StatusCode, body)
	}
	return nil
}
