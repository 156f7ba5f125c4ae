package emulator_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/assignd/assignd/emulator"
)

// TestQuietAndObservers drives a task through a signed callback on a
// ManualClock: after Quiet the callback's accept has been carried out, and
// OnEvent and OnCallback saw it; Next names the reservation timeout once
// the reservation is pending, and no timer before.
func TestQuietAndObservers(t *testing.T) {
	release := make(chan struct{})
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release // Quiet must wait for this answer
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"instruction":"accept"}`))
	}))
	defer svc.Close()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := emulator.NewManualClock(start)
	var mu sync.Mutex
	var events []string
	var attempts []emulator.CallbackAttempt
	emu, err := emulator.New(emulator.Options{AccountSid: accountSid, AuthToken: authToken, Clock: clock,
		OnEvent: func(ev emulator.Event) {
			mu.Lock()
			events = append(events, ev.Type)
			mu.Unlock()
		},
		OnCallback: func(a emulator.CallbackAttempt) {
			mu.Lock()
			attempts = append(attempts, a)
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	spec := emulator.Tutorial()
	spec.Workers[0].Activity = "Idle"
	spec.Workflows[0].AssignmentCallbackURL = svc.URL
	ld, err := emu.Load(spec)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := clock.Next(); ok {
		t.Fatal("Next: a timer pending before any task")
	}
	form := url.Values{"WorkflowSid": {ld.Workflows["Tutorial Workflow"]}, "Attributes": {`{"selected_language":"es"}`}}
	req := httptest.NewRequest(http.MethodPost, "/v1/Workspaces/"+ld.Workspace+"/Tasks", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(accountSid, authToken)
	rec := httptest.NewRecorder()
	emu.ServeHTTP(rec, req)
	if rec.Code != http.StatusCreated {
		t.Fatalf("create task: %d %s", rec.Code, rec.Body)
	}
	at, ok := clock.Next()
	if !ok || !at.Equal(start.Add(120*time.Second)) {
		t.Fatalf("Next = %v %v, want the reservation timeout at +120s", at, ok)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	if err := emu.Quiet(ctx); err == nil {
		t.Fatal("Quiet returned while the callback was unanswered")
	}
	cancel()
	close(release)
	if err := emu.Quiet(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(attempts) != 1 || attempts[0].Status != http.StatusOK || attempts[0].Err != "" {
		t.Fatalf("attempts = %+v", attempts)
	}
	joined := strings.Join(events, " ")
	if !strings.Contains(joined, "reservation.created") || !strings.Contains(joined, "reservation.accepted") {
		t.Fatalf("events = %s", joined)
	}
	if emu.StatisticsLost(ld.Workspace) {
		t.Fatal("StatisticsLost after a handful of records")
	}
}
