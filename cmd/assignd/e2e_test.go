package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/assignd/assignd/emulator"
)

// End to end, the real service (serve, as `assignd dev` runs it) and the
// TaskRouter emulator in one process, over loopback HTTP: every
// callback is signed by the emulator and verified by the service, every
// decision is carried out by the emulator's lifecycle, every async
// decision goes through the emulator's REST API.

// tutorialSid is the SID the emulator gives a resource of the tutorial's
// workspace (stable: derived from the names).
func tutorialSid(prefix string, names ...string) string {
	return emulator.StableSid(prefix, append([]string{emulator.Tutorial().FriendlyName}, names...)...)
}

// workspaceFile writes the tutorial's workspace with edit applied.
func workspaceFile(t *testing.T, edit func(*emulator.WorkspaceSpec)) string {
	t.Helper()
	s := emulator.Tutorial()
	edit(&s)
	b, err := yaml.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, "workspace.yaml", string(b))
}

// A reservation the policy rejects goes back with the worker moved to the
// answer's activity, and is offered to the next eligible worker, who gets
// it.
func TestE2ERejectIsOfferedToTheNextWorker(t *testing.T) {
	t.Parallel()
	policy := writeFile(t, "policy.yaml", `rules:
  - name: not-for-spanish-speakers
    when: 'task.type == "picky" && "es" in worker.languages'
    then:
      instruction: reject
      activity_sid: `+tutorialSid("WA", "Offline")+`
default:
  instruction: accept
on_error:
  instruction: accept
`)
	d := startDev(t, []string{"POLICY_FILE=" + policy}, "", handedListeners{})
	d.setActivity("Alice", "Idle") // idle longest: offered first
	d.setActivity("Bob", "Idle")
	task := d.createTask("Tutorial Workflow", `{"type":"picky"}`)
	d.waitTask(task, "assigned")

	rs := d.reservations(task)
	if len(rs) != 2 {
		t.Fatalf("reservations %v, want Alice's then Bob's", rs)
	}
	if rs[0]["worker_name"] != "Alice" || rs[0]["reservation_status"] != "rejected" ||
		rs[1]["worker_name"] != "Bob" || rs[1]["reservation_status"] != "accepted" {
		t.Fatalf("reservations: %s %s, %s %s; want Alice rejected, Bob accepted",
			rs[0]["worker_name"], rs[0]["reservation_status"], rs[1]["worker_name"], rs[1]["reservation_status"])
	}
	alice := d.get("/v1/Workspaces/" + d.ws + "/Workers/" + d.sid("Workers", "Alice"))
	if alice["activity_name"] != "Offline" {
		t.Fatalf("Alice after rejecting: %v, want moved to Offline by the answer's activity_sid", alice["activity_name"])
	}
	d.logLine("callback answered", map[string]any{"reservation": rs[0]["sid"], "rule": "not-for-spanish-speakers", "instruction": "reject"})
	d.logLine("callback answered", map[string]any{"reservation": rs[1]["sid"], "rule": "default", "instruction": "accept"})
}

// A queue that reserves two workers at once: both callbacks are answered
// {} (email tasks are accepted over REST), both async accepts are sent; the
// first wins, the other reservation is rescinded, and the service records
// that one canceled, not failed, and nothing is applied twice.
func TestE2EMultiReservationRescinds(t *testing.T) {
	t.Parallel()
	ws := workspaceFile(t, func(s *emulator.WorkspaceSpec) {
		for i := range s.TaskQueues {
			s.TaskQueues[i].MaxReservedWorkers = 2
		}
	})
	d := startDev(t, nil, ws, handedListeners{})
	d.setActivity("Alice", "Idle")
	d.setActivity("Bob", "Idle")
	task := d.createTask("Tutorial Workflow", `{"type":"email"}`)
	d.waitTask(task, "assigned")

	var rs []map[string]any
	waitUntil(t, "the other reservation rescinded", func() bool {
		rs = d.reservations(task)
		return len(rs) == 2 && rs[0]["reservation_status"] != "pending" && rs[1]["reservation_status"] != "pending"
	}, func() string { return d.logs.String() })
	var accepted, rescinded map[string]any
	for _, r := range rs {
		switch r["reservation_status"] {
		case "accepted":
			accepted = r
		case "rescinded":
			rescinded = r
		}
	}
	if accepted == nil || rescinded == nil {
		t.Fatalf("reservations %v, want one accepted and one rescinded", rs)
	}
	d.logLine("async decision finished", map[string]any{"reservation": accepted["sid"], "outcome": "applied"})
	// Its accept may have been sent before or after the rescind: either way
	// the reservation no longer takes it, which is not a failure.
	l := d.logLine("async decision finished", map[string]any{"reservation": rescinded["sid"]})
	if l["outcome"] != "canceled" || l["reservation_status"] != "rescinded" {
		t.Fatalf("the rescinded reservation's decision: %v, want outcome canceled (rescinded)", l)
	}
	if st := d.emu.Stats(); st.AppliedTwice != 0 || st.Applied != 1 {
		t.Fatalf("emulator stats %+v, want exactly one update applied", st)
	}
}

// The callback answers {} and the service's accept arrives after the
// workflow's task_reservation_timeout (a slow REST answer, scripted): the
// reservation times out, the worker moves to the timeout activity, the task
// waits again, and the service records its decision expired.
func TestE2EReservationTimeout(t *testing.T) {
	t.Parallel()
	ws := workspaceFile(t, func(s *emulator.WorkspaceSpec) { s.Workflows[0].TaskReservationTimeout = 1 })
	d := startDev(t, nil, ws, handedListeners{})
	d.emu.Script(emulator.UpdateTaskReservation, "", emulator.Fault{Delay: 3 * time.Second})
	d.setActivity("Bob", "Idle")
	task := d.createTask("Tutorial Workflow", `{"type":"email"}`)

	var rs []map[string]any
	waitUntil(t, "the reservation timed out", func() bool {
		rs = d.reservations(task)
		return len(rs) == 1 && rs[0]["reservation_status"] == "timeout"
	}, func() string { return d.logs.String() })
	if got := d.task(task)["assignment_status"]; got != "pending" {
		t.Fatalf("task after the timeout: %v, want pending again (Bob is Offline, Alice too)", got)
	}
	bob := d.get("/v1/Workspaces/" + d.ws + "/Workers/" + d.sid("Workers", "Bob"))
	if bob["activity_name"] != "Offline" {
		t.Fatalf("Bob after the timeout: %v, want the timeout activity Offline", bob["activity_name"])
	}
	l := d.logLine("async decision finished", map[string]any{"reservation": rs[0]["sid"]})
	if l["outcome"] != "expired" || l["reservation_status"] != "timeout" {
		t.Fatalf("the late decision: %v, want outcome expired (timeout)", l)
	}
	d.logLine("reservation event", map[string]any{"event": "reservation.timeout", "reservation": rs[0]["sid"]})
}

// The workflow's primary callback URL answers 500: the emulator posts the
// same signed callback to the fallback URL, the service, which answers it.
func TestE2EFallbackURL(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var primary []*http.Request
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		primary = append(primary, r)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, `{"error":"down"}`)
	}))
	t.Cleanup(broken.Close)
	d := startDev(t, nil, "", handedListeners{})
	service := "http://127.0.0.1:" + d.port + "/assignment"
	d.post("/v1/Workspaces/"+d.ws+"/Workflows/"+d.sid("Workflows", "Tutorial Workflow"), url.Values{
		"AssignmentCallbackUrl": {broken.URL + "/assignment"}, "FallbackAssignmentCallbackUrl": {service}})

	task := d.createTask("Tutorial Workflow", `{"selected_language":"es"}`)
	d.setActivity("Alice", "Idle")
	d.waitTask(task, "assigned")
	res := d.reservations(task)[0]["sid"]
	mu.Lock()
	n := len(primary)
	signed := n == 1 && primary[0].Header.Get("X-Twilio-Signature") != ""
	mu.Unlock()
	if n != 1 || !signed {
		t.Fatalf("the primary URL got %d callbacks (signed: %v), want one signed", n, signed)
	}
	d.logLine("assignment callback", map[string]any{"reservation": res, "fallback": false, "status": float64(500)})
	d.logLine("assignment callback", map[string]any{"reservation": res, "fallback": true, "status": float64(200), "url": service,
		"answer": `{"instruction":"accept"}`})
	d.logLine("callback answered", map[string]any{"reservation": res, "rule": "spanish-speaker", "result": "ok"})
}

// The service's async accept is applied but answered 500 (scripted: "500
// after applying"); before the service's verifying read arrives the task
// moves on to wrapping, or completed. The reservation shows it was accepted
// and moved on (only an accept leads there), so the service must record the
// decision applied, not failed, and send no second update.
func TestE2ERetriedUpdateAfterTheTaskMovedOn(t *testing.T) {
	t.Parallel()
	d := startDev(t, nil, "", handedListeners{})
	for _, next := range []string{"wrapping", "completed"} {
		// The update applies then fails (500). An accept can be verified,
		// so the worker reads the reservation before it would send another;
		// that read waits 3 s before reaching the emulator, time enough to
		// move the task on.
		d.emu.Script(emulator.UpdateTaskReservation, "", emulator.Fault{Status: http.StatusInternalServerError, Apply: true})
		d.emu.Script(emulator.FetchTaskReservation, "", emulator.Fault{Delay: 3 * time.Second})
		d.setActivity("Bob", "Idle")
		task := d.createTask("Tutorial Workflow", `{"type":"email"}`)
		d.waitTask(task, "assigned")
		d.post("/v1/Workspaces/"+d.ws+"/Tasks/"+task, url.Values{"AssignmentStatus": {next}})
		res := d.reservations(task)[0]
		if res["reservation_status"] != next {
			t.Fatalf("reservation after the task moved to %s: %v", next, res["reservation_status"])
		}
		l := d.logLine("async decision finished", map[string]any{"reservation": res["sid"]})
		if l["outcome"] != "applied" || l["reservation_status"] != next {
			t.Errorf("task moved on to %s before the verifying read: the service recorded %v (%v, %v), want applied (%s)",
				next, l["outcome"], l["reservation_status"], l["detail"], next)
		}
		if info, _ := d.emu.Reservation(res["sid"].(string)); info.Applied != 1 || info.Updates != 1 || info.Fetches < 1 {
			t.Fatalf("emulator: reservation applied %d times from %d updates and %d reads, want once from 1 update, verified by a read",
				info.Applied, info.Updates, info.Fetches)
		}
		if next == "wrapping" {
			d.post("/v1/Workspaces/"+d.ws+"/Tasks/"+task, url.Values{"AssignmentStatus": {"completed"}})
		}
	}
}

// The emulator's events reach /events signed (the service verifies them)
// and are counted in assignd_reservation_events_total on the admin
// listener's /metrics.
func TestE2EEventsReachTheService(t *testing.T) {
	t.Parallel()
	adm, adminPort := listenLocal(t, "127.0.0.1")
	admin := "127.0.0.1:" + adminPort
	d := startDev(t, []string{"ADMIN_ADDR=" + admin}, "", handedListeners{admin: adm})
	task := d.createTask("Tutorial Workflow", `{"selected_language":"es"}`)
	d.setActivity("Alice", "Idle")
	d.waitTask(task, "assigned")
	waitUntil(t, "the events counted", func() bool {
		_, body := adminGet(t, "http://"+admin+"/metrics", "")
		return strings.Contains(body, `assignd_reservation_events_total{event="reservation.created"} 1`) &&
			strings.Contains(body, `assignd_reservation_events_total{event="reservation.accepted"} 1`)
	}, func() string {
		_, body := adminGet(t, "http://"+admin+"/metrics", "")
		return strings.Join(regexp.MustCompile(`(?m)^assignd_reservation_events.*$`).FindAllString(body, -1), "\n") + "\n" + d.logs.String()
	})
	deliveries := d.emu.EventDeliveries()
	if len(deliveries) == 0 {
		t.Fatal("the emulator delivered no events")
	}
	for _, ev := range deliveries {
		if ev.Status/100 != 2 || ev.URL != "http://127.0.0.1:"+d.port+"/events" {
			t.Fatalf("event %s to %s: status %d (%s), want 2xx from the service's /events (a bad signature gets 403)", ev.EventType, ev.URL, ev.Status, ev.Err)
		}
	}
}
