package emulator_test

import (
	"bytes"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"
	openapi "github.com/twilio/twilio-go/rest/taskrouter/v1"

	"github.com/assignd/assignd/emulator"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// The log shows the lifecycle (events and callbacks with the answer), and
// history is bounded by Options.History.
func TestLogAndBoundedHistory(t *testing.T) {
	var out lockedBuffer
	log := zerolog.New(&out)
	h := newHarness(t, emulator.Options{Log: &log, History: 5})
	a := newApp(t, answerAlways(`{"instruction":"accept"}`))
	l := tutorial(t, h, a, nil)
	ws := l.Workspace
	task := h.spanishTaskForAlice(l)
	h.waitTask(ws, *task.Sid, "assigned")
	for _, want := range []string{`"event":"reservation.created"`, `"message":"assignment callback"`,
		`"answer":"{\"instruction\":\"accept\"}"`, `"event":"reservation.accepted"`} {
		waitFor(t, "log "+want, func() bool { return strings.Contains(out.String(), want) })
	}
	for range 12 {
		if _, err := h.api.UpdateWorker(ws, l.Workers["Bob"], (&openapi.UpdateWorkerParams{}).SetAttributes(`{"languages":["en"]}`)); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := h.api.ListEvent(ws, &openapi.ListEventParams{})
	if err != nil || len(evs) < 5 || len(evs) >= 10 {
		t.Fatalf("events kept: %d (%v), want between History and twice it", len(evs), err)
	}
	if last := evs[len(evs)-1]; str(last.EventType) != "worker.attributes.update" {
		t.Fatalf("newest event kept: %s", str(last.EventType))
	}
}
