package admin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/assignd/assignd/admin"
	"github.com/assignd/assignd/async"
	"github.com/assignd/assignd/async/asynctest"
	"github.com/assignd/assignd/policy"
)

// jobList is River UI's job list answer.
type jobList struct {
	Data []struct {
		ID    json.Number `json:"id"`
		Kind  string      `json:"kind"`
		State string      `json:"state"`
		Args  string      `json:"args"` // the job's args JSON, as text
	} `json:"data"`
}

func reservationOf(t *testing.T, args string) string {
	t.Helper()
	var a async.ApplyArgs
	if err := json.Unmarshal([]byte(args), &a); err != nil {
		t.Fatalf("job args %q: %v", args, err)
	}
	return a.ReservationSid
}

// River's UI on the admin listener, on both stores: the page and its API
// answer with credentials only, list a stored decision, and cancel it.
func TestQueueUI(t *testing.T) {
	t.Parallel()
	for _, store := range []string{"sqlite", "postgres"} {
		t.Run(store, func(t *testing.T) {
			o := async.Options{Logger: zerolog.Nop(), DataDir: filepath.Join(t.TempDir(), "data")}
			if store == "postgres" {
				o.DatabaseURL = asynctest.DatabaseURL(t)
			}
			ctx := context.Background()
			// Insert-only (no API, not started): the job stays available
			// for the UI to show and cancel.
			q, err := async.Open(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(q.Close)
			const wr = "WR0123456789abcdef0123456789abcdef"
			r := &policy.Reservation{
				AccountSid: "AC0123456789abcdef0123456789abcdef", WorkspaceSid: "WS0123456789abcdef0123456789abcdef",
				TaskSid: "WT0123456789abcdef0123456789abcdef", WorkerSid: "WK0123456789abcdef0123456789abcdef",
				ReservationSid: wr, ReceivedAt: time.Now(),
			}
			if _, err := q.Schedule(ctx, r, policy.Decision{Instruction: policy.Accept{}, Async: true, Rule: "ui-test"}); err != nil {
				t.Fatal(err)
			}

			port := serve(t, "127.0.0.1:0", newAdmin(t, admin.Options{Password: password, Queue: q.UIEndpoints()}))
			base := "http://127.0.0.1:" + port + admin.QueuePrefix
			auth := basic(admin.User, password)

			for _, path := range []string{"/", "/api/jobs?state=available"} {
				if r := get(t, base+path, nil); r.status != http.StatusUnauthorized {
					t.Fatalf("%s without credentials: got %d, want 401", path, r.status)
				}
			}
			page := get(t, base+"/", auth)
			if page.status != http.StatusOK || !strings.Contains(page.header.Get("Content-Type"), "text/html") || !strings.Contains(page.body, "River") {
				t.Fatalf("UI page: got %d %s %.200q, want River's HTML", page.status, page.header.Get("Content-Type"), page.body)
			}
			// The page's asset URLs carry the prefix, or the browser would
			// ask the inspector for them.
			if !strings.Contains(page.body, admin.QueuePrefix+"/") {
				t.Fatalf("UI page does not refer to its assets under %s: %.400q", admin.QueuePrefix, page.body)
			}

			list := listJobs(t, base+"/api/jobs?state=available", auth)
			if len(list.Data) != 1 || list.Data[0].Kind != (async.ApplyArgs{}).Kind() || reservationOf(t, list.Data[0].Args) != wr {
				t.Fatalf("available jobs = %+v, want the stored decision for %s", list.Data, wr)
			}

			// Cancel it through the UI's API, as an operator's click does.
			req, _ := http.NewRequest(http.MethodPost, base+"/api/jobs/cancel", strings.NewReader(fmt.Sprintf(`{"ids":["%s"]}`, list.Data[0].ID)))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			auth(req)
			if r := do(t, req); r.status != http.StatusOK {
				t.Fatalf("cancel: got %d %q", r.status, r.body)
			}
			id, _ := list.Data[0].ID.Int64()
			row, err := q.Job(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if row.State != "cancelled" {
				t.Fatalf("job state after cancel = %s, want cancelled", row.State)
			}
			if left := listJobs(t, base+"/api/jobs?state=available", auth); len(left.Data) != 0 {
				t.Fatalf("available jobs after cancel = %+v, want none", left.Data)
			}
		})
	}
}

func listJobs(t *testing.T, url string, auth func(*http.Request)) jobList {
	t.Helper()
	r := get(t, url, auth)
	if r.status != http.StatusOK {
		t.Fatalf("GET %s: %d %q", url, r.status, r.body)
	}
	var l jobList
	if err := json.Unmarshal([]byte(r.body), &l); err != nil {
		t.Fatalf("GET %s: %v in %q", url, err, r.body)
	}
	return l
}
