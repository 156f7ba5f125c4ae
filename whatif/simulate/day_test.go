package simulate

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// busyWorkspace is the tutorial's workspace whose Spanish queue moves its
// agents to Busy when offered and assigned a task (single-task only).
const busyWorkspace = `friendly_name: Busy
multi_task_enabled: false
default_activity: Offline
timeout_activity: Offline
activities:
  - {name: Offline, available: false}
  - {name: Idle, available: true}
  - {name: Busy, available: false}
task_queues:
  - name: Spanish
    target_workers: languages HAS "es"
    reservation_activity: Busy
    assignment_activity: Busy
workflows:
  - name: W
    task_reservation_timeout: 120
    default_queue: Spanish
`

// busyDay runs one day of a single agent always in demand (60 tasks an
// hour of 600 s each) in the Busy workspace and returns the run, its
// emulator still open.
func busyDay(t *testing.T, extra string) *run {
	t.Helper()
	return dayIn(t, busyWorkspace, `duration: 2h
seed: 7
`+extra+`arrivals:
  - name: spanish
    rate_per_hour: 60
    attributes: {selected_language: es}
    handle_time: {distribution: fixed, mean: 600s}
workers:
  - count: 1
    attributes: {languages: [es]}
`)
}

// dayIn runs one day of scenario (less its workspace key) in workspace,
// every reservation accepted, and returns the run, its emulator still open.
func dayIn(t *testing.T, workspace, scenario string) *run {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ws.yaml"), []byte(workspace), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Parse(filepath.Join(dir, "s.yaml"), []byte("workspace: ws.yaml\n"+scenario))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := acceptService(t)(context.Background(), "accept", Env{})
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Scenario: s, Policies: []string{"accept"}, MaxCallbacksPerInstant: MaxCallbacksPerInstant, ServiceLevels: []int{20}}
	r, err := newRun(o, 0, svc.CallbackURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.emu.Close() })
	if _, err := r.day(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	return r
}

// answered counts r's tasks an agent answered.
func answered(r *run) int {
	n := 0
	for _, tk := range r.order {
		if tk.answered >= 0 {
			n++
		}
	}
	return n
}

// An agent a queue's assignment_activity moved to Busy is back in their
// available activity once the task is done (as a softphone puts them), so
// they answer task after task all day, not one.
func TestBusyActivityAgentAnswersAllDay(t *testing.T) {
	// 2 h of 600 s tasks, the first arriving within minutes: about 11.
	if n := answered(busyDay(t, "")); n < 10 {
		t.Errorf("the agent answered %d tasks in 2 h of 600 s tasks, want at least 10", n)
	}
}

// after_reject.back_after brings back an agent a reject made unavailable;
// the emulator's move to Busy on accept is no reject, so the agent is
// never put back to Idle while still on a task.
func TestBackAfterNotMidTask(t *testing.T) {
	r := busyDay(t, "after_reject: {back_after: 30s}\n")
	status, body := r.rest(http.MethodGet, "/Events", url.Values{"EventType": {"worker.activity.update"}, "PageSize": {"1000"}})
	if status != http.StatusOK {
		t.Fatalf("list events: %d %s", status, body)
	}
	var list struct {
		Events []struct {
			Date int64             `json:"event_date_ms"`
			Data map[string]string `json:"event_data"`
		} `json:"events"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatal(err)
	}
	answered, idle := 0, 0
	for _, ev := range list.Events {
		if ev.Data["worker_activity_name"] != "Idle" {
			continue
		}
		idle++
		// Event dates are to the millisecond: one at a task's end may read
		// a little before it.
		at := time.UnixMilli(ev.Date).Sub(epoch)
		for _, tk := range r.order {
			if tk.answered >= 0 && tk.answered < at && (tk.ended < 0 || at+time.Millisecond < tk.ended) {
				t.Errorf("the agent was moved to Idle at %v while on task %s (answered %v, ended %v)", at, tk.sid, tk.answered, tk.ended)
			}
		}
	}
	for _, tk := range r.order {
		if tk.answered >= 0 {
			answered++
		}
	}
	if answered < 10 || idle == 0 {
		t.Errorf("answered %d tasks, %d moves to Idle; want at least 10 and some", answered, idle)
	}
}

// A reservation's timeout moves the agent to the timeout activity and the
// driver puts them straight back: that is no reject, so back_after adds
// no second return of its own.
func TestTimeoutIsNoReject(t *testing.T) {
	// An answer with no instruction leaves every reservation to time out.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"note":"no instruction"}`))
	}))
	t.Cleanup(srv.Close)
	// In the Busy workspace an offer moves the agent to Busy, so a second
	// return would put them in Idle under a pending offer.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ws.yaml"), []byte(busyWorkspace), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Parse(filepath.Join(dir, "s.yaml"), []byte("workspace: ws.yaml\nafter_reject: {back_after: 30s}\n"+
		strings.NewReplacer("duration: 8h", "duration: 1h", "rate_per_hour: 100", "rate_per_hour: 10", "count: 7", "count: 1").Replace(minimal)))
	if err != nil {
		t.Fatal(err)
	}
	r, err := newRun(Options{Scenario: s, Policies: []string{"none"}, MaxCallbacksPerInstant: MaxCallbacksPerInstant, ServiceLevels: []int{20}}, 0, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.emu.Close() })
	if _, err := r.day(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	count := func(typ, activity string) int {
		status, body := r.rest(http.MethodGet, "/Events", url.Values{"EventType": {typ}, "PageSize": {"1000"}})
		if status != http.StatusOK {
			t.Fatalf("list events: %d %s", status, body)
		}
		var list struct {
			Events []struct {
				Data map[string]string `json:"event_data"`
			} `json:"events"`
		}
		if err := json.Unmarshal(body, &list); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, ev := range list.Events {
			if activity == "" || ev.Data["worker_activity_name"] == activity {
				n++
			}
		}
		return n
	}
	timeouts, backs := count("reservation.timeout", ""), count("worker.activity.update", "Idle")
	if timeouts == 0 || backs != timeouts {
		t.Errorf("%d reservations timed out, %d moves back to Idle; want one each", timeouts, backs)
	}
}

// An agent whose shift ends during a task finishes it and logs off: they
// answer no further task, though the queue is full when they finish.
func TestShiftEndsAfterTheTaskInHand(t *testing.T) {
	ws := strings.NewReplacer("    reservation_activity: Busy\n", "", "    assignment_activity: Busy\n", "").Replace(busyWorkspace)
	r := dayIn(t, ws, `duration: 2h
seed: 3
arrivals:
  - name: spanish
    rate_per_hour: 200
    attributes: {selected_language: es}
    handle_time: {distribution: fixed, mean: 3000s}
workers:
  - count: 5
    attributes: {languages: [es]}
    shift: {start: 0h, end: 10m}
`)
	if n := answered(r); n != 5 {
		t.Errorf("5 agents on a 10-minute shift with 50-minute tasks answered %d tasks, want one each", n)
	}
}
