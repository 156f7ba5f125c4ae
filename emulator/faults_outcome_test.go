package emulator_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/assignd/assignd/emulator"
)

// The faults the async worker's outcome tests need: each one is checked
// here against what the emulator's state shows afterwards. The faulted
// requests go to the emulator without the spec validator, since a broken
// body is meant not to match anything.
func TestFaultsForOutcomes(t *testing.T) {
	accept := url.Values{"ReservationStatus": {"accepted"}}
	// Each case has its own emulator (one tutorial workspace each).
	var h *harness
	var raw *httptest.Server
	fresh := func(t *testing.T) {
		h = newHarness(t, emulator.Options{})
		raw = httptest.NewServer(h.emu)
		t.Cleanup(raw.Close)
	}
	resURL := func(ws, task, res string) string {
		return raw.URL + "/v1/Workspaces/" + ws + "/Tasks/" + task + "/Reservations/" + res
	}
	info := func(sid string) emulator.ReservationInfo {
		r, ok := h.emu.Reservation(sid)
		if !ok {
			t.Fatalf("no reservation %s", sid)
		}
		return r
	}

	t.Run("refusal with a code and message leaves the reservation pending", func(t *testing.T) {
		fresh(t)
		ws, task, res := pendingReservation(t, h)
		h.emu.Script(emulator.UpdateTaskReservation, res, emulator.Fault{Status: 400, Code: 20001, Message: "Invalid parameter DequeueFrom"})
		resp, body, err := postForm(t, http.DefaultClient, resURL(ws, task, res), url.Values{"Instruction": {"dequeue"}, "DequeueFrom": {"+15005550006"}})
		if err != nil {
			t.Fatal(err)
		}
		var e struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Status  int    `json:"status"`
			More    string `json:"more_info"`
		}
		if resp.StatusCode != 400 || json.Unmarshal([]byte(body), &e) != nil || e.Code != 20001 || e.Status != 400 ||
			e.Message != "Invalid parameter DequeueFrom" || !strings.HasSuffix(e.More, "/20001") {
			t.Fatalf("answer %d %s", resp.StatusCode, body)
		}
		if r := info(res); r.Status != "pending" || r.Applied != 0 || r.Updates != 1 {
			t.Fatalf("after a refusal: %+v", r)
		}
	})

	for _, moved := range []string{"wrapping", "completed"} {
		t.Run("applied, then the task moves on to "+moved, func(t *testing.T) {
			fresh(t)
			ws, task, res := pendingReservation(t, h)
			h.emu.Script(emulator.UpdateTaskReservation, res, emulator.Fault{Status: 500, Apply: true, ThenStatus: moved})
			resp, _, err := postForm(t, http.DefaultClient, resURL(ws, task, res), accept)
			if err != nil || resp.StatusCode != 500 {
				t.Fatalf("answer %v %v", resp, err)
			}
			r := info(res)
			tk, _ := h.emu.Task(task)
			if r.Status != moved || r.Applied != 1 || r.Instruction != "accept" || tk.Status != moved {
				t.Fatalf("reservation %+v, task %+v", r, tk)
			}
			// A retried accept now meets Twilio's "not in expected state".
			resp, body, _ := postForm(t, http.DefaultClient, resURL(ws, task, res), accept)
			if resp.StatusCode != 400 || !strings.Contains(body, "not in expected state") || info(res).Applied != 1 {
				t.Fatalf("retry: %d %s", resp.StatusCode, body)
			}
		})
	}

	t.Run("ThenStatus after a reject moves nothing on", func(t *testing.T) {
		fresh(t)
		ws, task, res := pendingReservation(t, h)
		h.emu.Script(emulator.UpdateTaskReservation, res, emulator.Fault{ThenStatus: "completed"})
		resp, _, _ := postForm(t, http.DefaultClient, resURL(ws, task, res), url.Values{"ReservationStatus": {"rejected"}})
		if r := info(res); resp.StatusCode != 200 || r.Status != "rejected" {
			t.Fatalf("%d %+v", resp.StatusCode, r)
		}
	})

	t.Run("2xx with a body that is not JSON: applied", func(t *testing.T) {
		fresh(t)
		ws, task, res := pendingReservation(t, h)
		h.emu.Script(emulator.UpdateTaskReservation, res, emulator.Fault{BrokenBody: true})
		resp, body, err := postForm(t, http.DefaultClient, resURL(ws, task, res), accept)
		if err != nil || resp.StatusCode != 200 || json.Valid([]byte(body)) {
			t.Fatalf("answer %v %q %v", resp, body, err)
		}
		if r := info(res); r.Status != "accepted" || r.Applied != 1 {
			t.Fatalf("%+v", r)
		}
	})

	t.Run("2xx cut in half: applied, the client never gets the rest", func(t *testing.T) {
		fresh(t)
		ws, task, res := pendingReservation(t, h)
		h.emu.Script(emulator.UpdateTaskReservation, res, emulator.Fault{CutBody: true})
		c := &http.Client{Timeout: 500 * time.Millisecond}
		start := time.Now()
		resp, body, err := postForm(t, c, resURL(ws, task, res), accept)
		if err == nil && (resp.StatusCode != 200 || json.Valid([]byte(body)) || !strings.HasPrefix(body, `{`) || time.Since(start) < 500*time.Millisecond) {
			t.Fatalf("want half a JSON body held until the client gives up: %v %q", resp, body)
		}
		if r := info(res); r.Status != "accepted" || r.Applied != 1 {
			t.Fatalf("%+v", r)
		}
	})

	t.Run("AfterApply: applied, the client gives up before the answer", func(t *testing.T) {
		fresh(t)
		ws, task, res := pendingReservation(t, h)
		h.emu.Script(emulator.UpdateTaskReservation, res, emulator.Fault{AfterApply: 10 * time.Second})
		c := &http.Client{Timeout: 300 * time.Millisecond}
		if _, _, err := postForm(t, c, resURL(ws, task, res), accept); err == nil {
			t.Fatal("answered before AfterApply")
		}
		if r := info(res); r.Status != "accepted" || r.Applied != 1 {
			t.Fatalf("%+v", r)
		}
	})

	t.Run("faults on the GET, and GETs counted", func(t *testing.T) {
		fresh(t)
		ws, task, res := pendingReservation(t, h)
		h.emu.Script(emulator.FetchTaskReservation, res, emulator.Fault{Status: 409, Code: 20409, Message: "Conflict"})
		get := func() (*http.Response, string) { return rawGet(t, resURL(ws, task, res)) }
		if resp, body := get(); resp.StatusCode != 409 || !strings.Contains(body, `"code":20409`) || !strings.Contains(body, "Conflict") {
			t.Fatalf("faulted GET: %d %s", resp.StatusCode, body)
		}
		if resp, body := get(); resp.StatusCode != 200 || !strings.Contains(body, `"reservation_status":"pending"`) {
			t.Fatalf("GET: %d %s", resp.StatusCode, body)
		}
		if r := info(res); r.Fetches != 2 || r.Updates != 0 {
			t.Fatalf("%+v", r)
		}
	})

	t.Run("update times and calls placed", func(t *testing.T) {
		fresh(t)
		ws, task, res := pendingReservation(t, h)
		call := url.Values{"Instruction": {"call"}, "CallFrom": {"+15005550006"}, "CallUrl": {"https://example.com/twiml"}}
		h.emu.Script(emulator.UpdateTaskReservation, res, emulator.Fault{Status: 500, Apply: true})
		before := time.Now()
		if resp, _, _ := postForm(t, http.DefaultClient, resURL(ws, task, res), call); resp.StatusCode != 500 {
			t.Fatalf("want the scripted 500, got %d", resp.StatusCode)
		}
		// Without CallAccept the reservation is still pending: a retry
		// places a second call, which is what a client must avoid.
		if resp, _, _ := postForm(t, http.DefaultClient, resURL(ws, task, res), call); resp.StatusCode != 200 {
			t.Fatalf("second call: %d", resp.StatusCode)
		}
		r := info(res)
		if r.Status != "pending" || r.CallsPlaced != 2 || r.Updates != 2 || len(r.UpdateTimes) != 2 ||
			r.UpdateTimes[0].Before(before) || r.UpdateTimes[1].Before(r.UpdateTimes[0]) {
			t.Fatalf("%+v", r)
		}
		if st := h.emu.Stats(); st.CallsPlaced != 2 || st.Updates != 2 {
			t.Fatalf("stats %+v", st)
		}
	})
}

func TestScriptRefusesImpossibleFaults(t *testing.T) {
	h := newHarness(t, emulator.Options{})
	for name, f := range map[string]emulator.Fault{
		"ThenStatus canceled":     {ThenStatus: "canceled"},
		"broken body with a 500":  {BrokenBody: true, Status: 500},
		"a code without a status": {Code: 20001, Message: "Invalid parameter"},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: Script accepted it", name)
				}
			}()
			h.emu.Script(emulator.UpdateTaskReservation, "", f)
		}()
	}
}
