package async

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/assignd/assignd/emulator"
	"github.com/assignd/assignd/emulator/emulatortest"
	"github.com/assignd/assignd/internal/testwait"
	"github.com/assignd/assignd/policy"
)

// A run of 404s leaves no goroutine behind (issue 15 #5). What this holds is
// the per-call deadline being a context, not http.Client.Timeout, whose
// goroutine waits for a Close twilio-go never makes on an error body;
// TestErrorAnswersKeepTheirConnection holds the body wrapper. Not parallel:
// it counts the process's goroutines.
func TestErrorAnswersHoldNoGoroutines(t *testing.T) {
	env := emulatortest.New(t, emulator.Options{AccountSid: testAccount, AuthToken: testToken})
	r := env.One(t)
	tr := &http.Transport{}
	api, err := NewAPI(env.URL, testAccount, testAccount, testToken, tr)
	if err != nil {
		t.Fatal(err)
	}
	api.timeout = time.Minute // far past the wait below: what is held is held
	const n = 200
	faults := make([]emulator.Fault, n)
	for i := range faults {
		faults[i] = emulator.Fault{Status: http.StatusNotFound}
	}
	env.Emu.Script(emulator.UpdateTaskReservation, r.Sid, faults...)

	baseline := runtime.NumGoroutine()
	for range n {
		if res := api.Update(context.Background(), r.WorkspaceSid, r.TaskSid, r.Sid, policy.Accept{}); res.Class != Missing {
			t.Fatalf("got %v (%v), want missing", res.Class, res.Err)
		}
	}
	tr.CloseIdleConnections()
	const slack = 5 // the emulator's and the test's own comings and goings
	got := waitGoroutines(baseline + slack)
	if got > baseline+slack {
		t.Fatalf("%d goroutines after %d 404s, %d before: error answers hold goroutines", got, n, baseline)
	}
}

// waitGoroutines waits, boundedly, for the goroutine count to fall to want
// and returns the last count.
func waitGoroutines(want int) int {
	var got int
	testwait.Until(10*time.Second, func() bool { got = runtime.NumGoroutine(); return got <= want })
	return got
}

// An error answer whose body twilio-go stops reading before its end (its
// JSON, then padding) still frees its connection for the next call.
func TestErrorAnswersKeepTheirConnection(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"code":20404,"message":"not found","status":404}`)
		fmt.Fprint(w, strings.Repeat(" ", 16<<10)) // the decoder stops at the value's end
	}))
	t.Cleanup(srv.Close)
	var dials atomic.Int32
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	api, err := NewAPI(srv.URL, testAccount, testAccount, testToken, tr)
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	for range n {
		if res := api.Update(context.Background(), workspace, task, "WR0123456789abcdef0123456789abcdef", policy.Accept{}); res.Class != Missing {
			t.Fatalf("got %v (%v), want missing", res.Class, res.Err)
		}
	}
	if d := dials.Load(); d != 1 {
		t.Fatalf("%d connections for %d sequential calls, want 1: error answers are not drained", d, n)
	}
}
