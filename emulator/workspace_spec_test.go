package emulator_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	openapi "github.com/twilio/twilio-go/rest/taskrouter/v1"

	"github.com/assignd/assignd/emulator"
)

func TestTutorialWorkspace(t *testing.T) {
	spec := emulator.Tutorial()
	if len(spec.Workers) != 2 || spec.Workers[0].Name != "Alice" || spec.Workers[1].Name != "Bob" {
		t.Fatalf("tutorial workers: %+v", spec.Workers)
	}
	spec.Workers[0].Name = "changed"
	if emulator.Tutorial().Workers[0].Name != "Alice" {
		t.Fatal("Tutorial returned shared state")
	}
	load := func() emulator.Loaded {
		e, err := emulator.New(emulator.Options{AccountSid: accountSid, AuthToken: authToken})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(e.Close)
		l, err := e.Load(emulator.Tutorial())
		if err != nil {
			t.Fatalf("Load(Tutorial()): %v", err)
		}
		if _, err := e.Load(emulator.Tutorial()); err == nil {
			t.Fatal("loading the same workspace twice succeeded")
		}
		return l
	}
	a, b := load(), load()
	if a.String() != b.String() {
		t.Fatalf("SIDs differ between loads:\n%s\n%s", a, b)
	}
	if a.Workspace != emulator.StableSid("WS", "TaskRouter Tutorial") || a.Workers["Alice"] != emulator.StableSid("WK", "TaskRouter Tutorial", "Alice") {
		t.Fatalf("SIDs are not derived from the names: %s", a)
	}
	for _, want := range []string{"Alice", "Bob", "Offline", "Idle", "Busy", "Customer Care Requests - Spanish",
		"Customer Care Requests - English", "Tutorial Workflow", a.Workspace, a.Workflows["Tutorial Workflow"]} {
		if !strings.Contains(a.String(), want) {
			t.Errorf("printed SIDs lack %q:\n%s", want, a)
		}
	}
}

func TestWorkspaceFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", `
friendly_name: Mine
default_activity: Away
timeout_activity: Away
activities: [{name: Away}, {name: Here, available: true}]
workers: [{name: Zoe, activity: Here, attributes: {skills: [billing], level: 2}}]
task_queues: [{name: Billing, target_workers: 'skills HAS "billing"', max_reserved_workers: 2, task_order: LIFO}]
workflows:
  - name: Main
    assignment_callback_url: http://localhost:9/assignment
    filters:
      - name: billing
        expression: 'topic == "billing"'
        targets:
          - {queue: Billing, timeout: 30, order_by: worker.level DESC, skip_if: 'workers.available == 0'}
          - {queue: Billing, known_worker_friendly_name: task.agent}
    default_queue: Billing
`)
	spec, err := emulator.LoadWorkspaceFile(good)
	if err != nil {
		t.Fatalf("LoadWorkspaceFile: %v", err)
	}
	h := newHarness(t, emulator.Options{})
	l, err := h.emu.Load(spec)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	q, err := h.api.FetchTaskQueue(l.Workspace, l.TaskQueues["Billing"])
	if err != nil || q.MaxReservedWorkers != 2 || str(q.TaskOrder) != "LIFO" {
		t.Fatalf("queue from YAML: %+v %v", q, err)
	}
	w, err := h.api.FetchWorker(l.Workspace, l.Workers["Zoe"])
	if err != nil || str(w.ActivityName) != "Here" || !*w.Available || str(w.Attributes) != `{"level":2,"skills":["billing"]}` {
		t.Fatalf("worker from YAML: %+v %v", w, err)
	}
	wf, err := h.api.FetchWorkflow(l.Workspace, l.Workflows["Main"])
	if err != nil {
		t.Fatalf("FetchWorkflow: %v", err)
	}
	for _, want := range []string{`"order_by":"worker.level DESC"`, `"skip_if":"workers.available == 0"`, `"known_worker_friendly_name":"task.agent"`} {
		if !strings.Contains(str(wf.Configuration), want) {
			t.Errorf("workflow configuration from YAML lacks %s: %s", want, str(wf.Configuration))
		}
	}

	target := func(t string) string {
		return "friendly_name: X\ndefault_activity: A\ntimeout_activity: A\nactivities: [{name: A}]\ntask_queues: [{name: Q}]\n" +
			"workflows: [{name: W, filters: [{name: F, targets: [" + t + "]}]}]\n"
	}
	for name, body := range map[string]string{
		"unknown target key": target("{queue: Q, order: worker.level DESC}"),
		"bad order_by":       target("{queue: Q, order_by: worker.level UP}"),
		"bad skip_if":        target("{queue: Q, skip_if: 'workers.available =='}"),
		"bad known worker":   target("{queue: Q, known_worker_sid: agent_sid}"),
		"unknown key":        "friendly_name: X\nworkerz: []\n",
		"no such activity":   "friendly_name: X\ndefault_activity: Nope\ntimeout_activity: Nope\n",
		"bad expression":     "friendly_name: X\ndefault_activity: A\ntimeout_activity: A\nactivities: [{name: A}]\ntask_queues: [{name: Q, target_workers: 'a =='}]\n",
		"no such queue":      "friendly_name: X\ndefault_activity: A\ntimeout_activity: A\nactivities: [{name: A}]\nworkflows: [{name: W, default_queue: Nope}]\n",
	} {
		spec, err := emulator.LoadWorkspaceFile(write(strings.ReplaceAll(name, " ", "_")+".yaml", body))
		if err == nil {
			_, err = h.emu.Load(spec)
		}
		if err == nil {
			t.Errorf("%s: loaded", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	if _, err := emulator.LoadWorkspaceFile(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("a missing file loaded")
	}
}

// The file's channel keys: task_channels beyond Twilio's defaults, a
// worker's capacities by channel name, multi_task_enabled and the queue's
// activity moves; an unknown channel or key is refused.
func TestWorkspaceFileChannels(t *testing.T) {
	spec, err := emulator.ParseWorkspace([]byte(`
friendly_name: Channels
default_activity: Away
timeout_activity: Away
multi_task_enabled: false
task_channels: [{unique_name: email, friendly_name: Email}]
activities: [{name: Away}, {name: Here, available: true}, {name: Busy}]
workers: [{name: Zoe, activity: Here, channels: {voice: 2, email: 4}}]
task_queues: [{name: All, reservation_activity: Here, assignment_activity: Busy}]
workflows: [{name: Main, default_queue: All}]
`))
	if err != nil {
		t.Fatalf("ParseWorkspace: %v", err)
	}
	h := newHarness(t, emulator.Options{})
	l, err := h.emu.Load(spec)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	ws, err := h.api.FetchWorkspace(l.Workspace)
	if err != nil || ws.MultiTaskEnabled == nil || *ws.MultiTaskEnabled {
		t.Fatalf("multi_task_enabled from YAML: %+v %v, want false", ws, err)
	}
	email, err := h.api.FetchTaskChannel(l.Workspace, "email")
	if err != nil || str(email.FriendlyName) != "Email" || str(email.Sid) != emulator.StableSid("TC", l.Workspace, "email") {
		t.Fatalf("email channel from YAML: %+v %v", email, err)
	}
	for ch, want := range map[string]int{"voice": 2, "email": 4, "chat": 1} {
		if wc := h.workerChannel(l.Workspace, l.Workers["Zoe"], ch); wc.ConfiguredCapacity != want {
			t.Errorf("Zoe's %s capacity %d, want %d", ch, wc.ConfiguredCapacity, want)
		}
	}
	q, err := h.api.FetchTaskQueue(l.Workspace, l.TaskQueues["All"])
	if err != nil || str(q.ReservationActivitySid) != l.Activities["Here"] || str(q.AssignmentActivitySid) != l.Activities["Busy"] {
		t.Fatalf("queue activities from YAML: %+v %v", q, err)
	}

	for name, body := range map[string]string{
		"unknown channel":     "friendly_name: X\ndefault_activity: A\ntimeout_activity: A\nactivities: [{name: A}]\nworkers: [{name: W, channels: {fax: 1}}]\n",
		"repeated channel":    "friendly_name: X\ndefault_activity: A\ntimeout_activity: A\nactivities: [{name: A}]\ntask_channels: [{unique_name: voice}]\n",
		"unknown channel key": "friendly_name: X\ntask_channels: [{unique_name: fax, capacity: 2}]\n",
	} {
		spec, err := emulator.ParseWorkspace([]byte(body))
		if err == nil {
			_, err = h.emu.Load(spec)
		}
		if err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
}

// In a multitasking workspace a worker's activity does not change as they
// take tasks, so a queue's reservation_activity or assignment_activity
// would do nothing: a workspace file is refused naming the queue and why,
// unless multi_task_enabled is false. Over REST Twilio accepts them there
// (they apply once multitasking is off), so the emulator does too, with a
// warning that they have no effect, and Alice's activity stays as it was.
func TestQueueActivitiesNeedSingleTasking(t *testing.T) {
	body := func(multi string) string {
		return "friendly_name: Q\ndefault_activity: Away\ntimeout_activity: Away\n" + multi +
			"activities: [{name: Away}, {name: Here, available: true}, {name: Busy}]\n" +
			"task_queues: [{name: Sales, assignment_activity: Busy}]\n"
	}
	for multi, refused := range map[string]bool{"": true, "multi_task_enabled: true\n": true, "multi_task_enabled: false\n": false} {
		spec, err := emulator.ParseWorkspace([]byte(body(multi)))
		if err != nil {
			t.Fatalf("ParseWorkspace: %v", err)
		}
		_, err = newHarness(t, emulator.Options{}).emu.Load(spec)
		switch {
		case refused && (err == nil || !strings.Contains(err.Error(), `"Sales"`) || !strings.Contains(err.Error(), "multi_task_enabled")):
			t.Errorf("%q: Load: %v, want refused naming the queue and multi_task_enabled", multi, err)
		case !refused && err != nil:
			t.Errorf("%q: Load: %v", multi, err)
		}
	}

	buf := &lockedBuffer{}
	log := zerolog.New(buf)
	h := newHarness(t, emulator.Options{Log: &log})
	l := tutorial(t, h, newApp(t, answerAlways(`{"instruction":"accept"}`)), nil)
	q := l.TaskQueues["Customer Care Requests - Spanish"]
	if _, err := h.api.UpdateTaskQueue(l.Workspace, q, (&openapi.UpdateTaskQueueParams{}).
		SetReservationActivitySid(l.Activities["Busy"]).SetAssignmentActivitySid(l.Activities["Offline"])); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "no effect in a multitasking workspace") {
		t.Errorf("no warning that queue activities have no effect in a multitasking workspace: %s", buf.String())
	}
	task := h.spanishTaskForAlice(l)
	h.waitTask(l.Workspace, *task.Sid, "assigned")
	if alice, _ := h.api.FetchWorker(l.Workspace, l.Workers["Alice"]); str(alice.ActivitySid) != l.Activities["Idle"] {
		t.Errorf("Alice assigned in a multitasking workspace: %s, want Idle unchanged", str(alice.ActivityName))
	}
}
