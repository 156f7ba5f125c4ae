package emulator_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/assignd/assignd/emulator"
)

// TestSetWorkerActivityGivesUp: like a client whose request times out
// during the emulator's Latency, the caller learns nothing while the change
// was applied — the view shows it.
func TestSetWorkerActivityGivesUp(t *testing.T) {
	emu, err := emulator.New(emulator.Options{AccountSid: accountSid, AuthToken: authToken, Latency: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emu.Close)
	sids, err := emu.Load(emulator.Tutorial())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := emu.Workspace("WS00000000000000000000000000000000"); ok {
		t.Error("a view of a workspace that does not exist")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err = emu.SetWorkerActivity(ctx, sids.Workspace, sids.Workers["Bob"], sids.Activities["Busy"])
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want the deadline, got %v", err)
	}
	v, ok := emu.Workspace(sids.Workspace)
	if !ok {
		t.Fatal("no view of the loaded workspace")
	}
	for _, w := range v.Workers {
		if want := map[string]string{"Alice": "Offline", "Bob": "Busy"}[w.Name]; w.ActivityName != want || w.Available {
			t.Errorf("%s is %s (available %v), want %s", w.Name, w.ActivityName, w.Available, want)
		}
	}
	if err := emu.SetWorkerActivity(context.Background(), sids.Workspace, "", sids.Activities["Idle"]); err == nil {
		t.Error("no worker SID accepted")
	}
}
