package inspect_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/assignd/assignd/decisionlog"
	"github.com/assignd/assignd/internal/servicetest"
)

// TestShowsSampledRefusals: the log keeps a sampled trickle of refusals;
// the list, the page and the JSON API of a kept one say how many it
// stands for.
func TestShowsSampledRefusals(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	h := newHarnessWith(t, "sqlite", nil, decisionlog.Options{Now: clock})
	for i := range 3 { // the first is kept, the next two skipped
		h.Post(t, servicetest.Reservation(10+i, nil, nil), "wrong")
	}
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	last := servicetest.Reservation(20, nil, nil)
	h.Post(t, last, "wrong")
	h.Flush(t)

	got, err := h.Log.Query(context.Background(), decisionlog.Filter{Result: "bad_signature"})
	if err != nil || len(got) != 2 || got[0].ReservationSid != last.ReservationSid {
		t.Fatalf("stored refusals: %+v (%v), want 2, the newest %s", got, err, last.ReservationSid)
	}
	id := itoa(got[0].ID)
	if _, page := get(t, h.Admin+"/"); !strings.Contains(page, "+2 skipped") {
		t.Errorf("the list does not show the skipped refusals:\n%s", page)
	}
	if _, page := get(t, h.Admin+"/decisions/"+id); !strings.Contains(page, `<dd id="skipped">2 more`) {
		t.Errorf("the decision page does not show the skipped refusals:\n%s", page)
	}
	if _, body := get(t, h.Admin+"/api/decisions/"+id); !strings.Contains(body, `"skipped": 2,`) {
		t.Errorf("the API does not show the skipped refusals: %s", body)
	}
}
