package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/assignd/assignd/async/asynctest"
	"github.com/assignd/assignd/async/fake"
	"github.com/assignd/assignd/handlers"
	"github.com/assignd/assignd/policy"
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
	admin string // the admin listener's port: /metrics lives there
}

func startBinary(t *testing.T, bin string, env []string, port string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin), logs: &syncBuffer{}, port: port, admin: freePort(t)}
	p.cmd.Env = append(append(os.Environ(), env...), "ADMIN_ADDR=127.0.0.1:"+p.admin)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.cmd.Process.Kill(); _ = p.cmd.Wait() })
	for i := 0; ; i++ {
		resp, err := http.Get("http://127.0.0.1:" + port + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		if i > 1000 {
			t.Fatalf("assignd never became ready:\n%s", p.logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// callback posts a signed callback for reservation n and wants {}.
func (p *proc) callback(t *testing.T, n int) {
	t.Helper()
	if err := p.tryCallback(n); err != nil {
		t.Fatalf("%v\n%s", err, p.logs)
	}
}

func reservationSid(n int) string { return fmt.Sprintf("WR%032d", n) }

// TestCrashAndRestart runs the real binary: it stores async decisions, is
// killed with SIGKILL mid-queue, restarted, drained with SIGTERM mid-queue,
// and restarted again. Every reservation must end accepted exactly once.
func TestCrashAndRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	for _, store := range []string{"sqlite", "postgres"} {
		t.Run(store, func(t *testing.T) {
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
	api := fake.New(fake.Options{Credentials: map[string]string{crashAccount: crashToken}, AutoCreate: true, Latency: 150 * time.Millisecond})
	srv := httptest.NewServer(api)
	defer srv.Close()
	policyFile := filepath.Join(t.TempDir(), "async.yaml")
	if err := os.WriteFile(policyFile, []byte("rules: []\ndefault: {instruction: accept, async: true}\non_error: {instruction: accept}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	env = append(env, "PORT="+port, "TWILIO_ACCOUNT_SID="+crashAccount, "TWILIO_AUTH_TOKEN="+crashToken,
		"TWILIO_API_BASE_URL="+srv.URL, "POLICY_FILE="+policyFile, "PUBLIC_URL=http://127.0.0.1:"+port, "ASYNC_WORKERS=2", "LOG_LEVEL=debug",
		"TWILIO_EDGE=", "TWILIO_REGION=")
	const batch = 30

	// Run 1: store a batch, then SIGKILL while the queue is working.
	p := startBinary(t, bin, env, port)
	for n := 1; n <= batch; n++ {
		p.callback(t, n)
	}
	time.Sleep(200 * time.Millisecond) // let a REST call or two be in flight
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
	pendingAfterKill := batch - countStatus(api, "accepted")
	if pendingAfterKill == 0 {
		t.Fatalf("the queue had drained before the kill; the test proves nothing")
	}

	// Run 2: a second batch and SIGTERM at once: in-flight REST calls finish,
	// the rest stays stored, and the process exits cleanly.
	p = startBinary(t, bin, env, port)
	for n := batch + 1; n <= 2*batch; n++ {
		p.callback(t, n)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("SIGTERM exit: %v\n%s", err, p.logs)
	}
	for _, r := range api.All() {
		n := 0
		fmt.Sscanf(r.Sid[2:], "%d", &n)
		if n > batch && r.Updates != r.Applied {
			t.Fatalf("SIGTERM cut a REST call short: %+v", r)
		}
	}
	if !strings.Contains(p.logs.String(), "finishing in-flight REST calls") {
		t.Errorf("no drain log line:\n%s", p.logs)
	}

	// Run 3: everything stored is applied, exactly once, and duplicate
	// callbacks for already-handled reservations change nothing.
	p = startBinary(t, bin, env, port)
	for n := 1; n <= 2*batch; n += 7 {
		p.callback(t, n)
	}
	deadline := time.Now().Add(150 * time.Second) // a hang guard (River's rescuer, the backstop, runs every 30 s)
	for countStatus(api, "accepted") < 2*batch && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	// And the store drains: jobs orphaned by the SIGKILL are re-run (at start
	// on SQLite; on PostgreSQL by the sweeper once the dead instance's
	// heartbeat lease ran out), find their update already applied, and
	// finish without a second one.
	drainStart := time.Now()
	for queueDepth(t, p) != 0 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	if d := queueDepth(t, p); d != 0 {
		t.Fatalf("queue depth %d after waiting", d)
	}
	t.Logf("queue drained %s after all reservations were accepted", time.Since(drainStart).Round(100*time.Millisecond))
	all := api.All()
	if len(all) != 2*batch {
		t.Fatalf("fake saw %d reservations, want %d", len(all), 2*batch)
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

func countStatus(api *fake.Server, status string) int {
	n := 0
	for _, r := range api.All() {
		if r.Status == status {
			n++
		}
	}
	return n
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
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	db := asynctest.DatabaseURL(t)
	bin := buildBinary(t)
	api := fake.New(fake.Options{Credentials: map[string]string{crashAccount: crashToken}, AutoCreate: true})
	const n = 40
	// Every update waits 1 s before it applies: a killed instance's calls
	// are then cut before they apply, and only a re-run can apply them.
	for range 4 * n {
		api.Script("", fake.Fault{Delay: time.Second})
	}
	srv := httptest.NewServer(api)
	defer srv.Close()
	policyFile := filepath.Join(t.TempDir(), "async.yaml")
	if err := os.WriteFile(policyFile, []byte("rules: []\ndefault: {instruction: accept, async: true}\non_error: {instruction: accept}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	start := func() *proc {
		port := freePort(t)
		return startBinary(t, bin, []string{"DATA_DIR=" + filepath.Join(t.TempDir(), "data"), "DATABASE_URL=" + db,
			"PORT=" + port, "PUBLIC_URL=http://127.0.0.1:" + port, "TWILIO_ACCOUNT_SID=" + crashAccount, "TWILIO_AUTH_TOKEN=" + crashToken,
			"TWILIO_API_BASE_URL=" + srv.URL, "POLICY_FILE=" + policyFile, "ASYNC_WORKERS=8", "LOG_LEVEL=info",
			"TWILIO_EDGE=", "TWILIO_REGION="}, port)
	}
	a, b := start(), start()

	errs := make(chan error, 2*n)
	var wg sync.WaitGroup
	for i := 1; i <= n; i++ {
		for _, p := range []*proc{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- p.tryCallback(i)
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
	if c := countStatus(api, "accepted"); c == n {
		t.Fatalf("all %d accepted before the kill took effect; the test proves nothing", n)
	}
	for countStatus(api, "accepted") < n && time.Since(killed) < 90*time.Second { // a hang guard
		time.Sleep(50 * time.Millisecond)
	}
	rescue := time.Since(killed)
	for queueDepth(t, b) != 0 && time.Since(killed) < 90*time.Second {
		time.Sleep(100 * time.Millisecond)
	}
	drained := time.Since(killed)
	for _, r := range api.All() {
		if r.Status != "accepted" || r.Applied != 1 {
			t.Errorf("%s: status %s applied %d times (updates %d, fetches %d)", r.Sid, r.Status, r.Applied, r.Updates, r.Fetches)
		}
	}
	if got := len(api.All()); got != n {
		t.Errorf("fake saw %d reservations, want %d", got, n)
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
func (p *proc) tryCallback(n int) error {
	r := policy.Reservation{
		AccountSid: crashAccount, WorkspaceSid: fmt.Sprintf("WS%032d", 1), WorkflowSid: fmt.Sprintf("WW%032d", 1),
		TaskQueueSid: fmt.Sprintf("WQ%032d", 1), WorkerSid: fmt.Sprintf("WK%032d", n), TaskSid: fmt.Sprintf("WT%032d", n),
		ReservationSid: reservationSid(n), TaskAttributes: map[string]any{"type": "email"},
	}
	form, _ := handlers.EncodeForm(&r)
	u := "http://127.0.0.1:" + p.port + "/assignment"
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", handlers.Sign(crashToken, u, form))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("callback %d: %w", n, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "{}" {
		return fmt.Errorf("callback %d: %d %s", n, resp.StatusCode, body)
	}
	return nil
}
