package emulatortest_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/assignd/assignd/emulator"
	"github.com/assignd/assignd/emulator/emulatortest"
)

const (
	account = "AC0123456789abcdef0123456789abcdef"
	token   = "0123456789abcdef0123456789abcdef"
)

func update(t *testing.T, env *emulatortest.Env, r emulatortest.Reservation, f url.Values) int {
	t.Helper()
	u := env.URL + "/v1/Workspaces/" + r.WorkspaceSid + "/Tasks/" + r.TaskSid + "/Reservations/" + r.Sid
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(account, token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Pending reservations are real ones, each its own task and worker, and
// what happens to one leaves the others alone.
func TestPendingReservations(t *testing.T) {
	env := emulatortest.New(t, emulator.Options{AccountSid: account, AuthToken: token})
	rs := env.Pending(t, 4, map[string]any{"type": "email"})
	seen := map[string]bool{}
	for _, r := range rs {
		info := env.Get(r.Sid)
		task, _ := env.Emu.Task(r.TaskSid)
		if info.Status != "pending" || info.WorkerSid != r.WorkerSid || info.TaskSid != r.TaskSid || task.Status != "reserved" ||
			!strings.Contains(task.Attributes, `"type":"email"`) || seen[r.WorkerSid] || seen[r.TaskSid] {
			t.Fatalf("reservation %+v: %+v, task %+v", r, info, task)
		}
		seen[r.WorkerSid], seen[r.TaskSid] = true, true
	}

	// A reject with the Offline activity puts the task back in the queue;
	// no other worker is paired with it, so no new reservation appears.
	if s := update(t, env, rs[0], url.Values{"ReservationStatus": {"rejected"}, "WorkerActivitySid": {env.Offline}}); s != 200 {
		t.Fatalf("reject: %d", s)
	}
	if got := env.Get(rs[0].Sid); got.Status != "rejected" || got.Applied != 1 {
		t.Fatalf("rejected: %+v", got)
	}
	if task, _ := env.Emu.Task(rs[0].TaskSid); task.Status != "pending" || task.Reservations != 1 {
		t.Fatalf("task after the reject: %+v", task)
	}
	if s := update(t, env, rs[1], url.Values{"ReservationStatus": {"accepted"}}); s != 200 || env.Get(rs[1].Sid).Status != "accepted" {
		t.Fatalf("accept: %d %+v", s, env.Get(rs[1].Sid))
	}

	env.CancelTask(t, rs[2].TaskSid)
	if got := env.Get(rs[2].Sid); got.Status != "canceled" {
		t.Fatalf("after CancelTask: %+v", got)
	}
	env.TimeOut(t)
	if got := env.Get(rs[3].Sid); got.Status != "timeout" || env.Get(rs[1].Sid).Status != "accepted" {
		t.Fatalf("after TimeOut: %+v", got)
	}
	if st := env.Emu.Stats(); st.Reservations != 4 || env.CountStatus("timeout") != 1 {
		t.Fatalf("stats %+v", st)
	}
}
