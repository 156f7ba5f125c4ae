package decisionlog_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/assignd/assignd/decisionlog"
	"github.com/assignd/assignd/handlers"
	"github.com/assignd/assignd/internal/servicetest"
	"github.com/assignd/assignd/internal/testwait"
	"github.com/assignd/assignd/policy"
)

func stepsString(steps []policy.Step) string {
	var b strings.Builder
	for _, s := range steps {
		b.WriteString(s.Rule)
		switch {
		case s.Matched:
			b.WriteString(":match ")
		case s.Err != "":
			b.WriteString(":error ")
		case s.Missing != "":
			b.WriteString(":missing ")
		default:
			b.WriteString(":no ")
		}
	}
	return strings.TrimSpace(b.String())
}

// TestRecordsEveryKindOfCallback drives the real handlers over loopback and
// reads back what the log stored for each kind of callback.
func TestRecordsEveryKindOfCallback(t *testing.T) {
	t.Parallel()
	for _, store := range servicetest.Stores {
		t.Run(store, func(t *testing.T) {
			env := servicetest.New(t, store, decisionlog.ModeFull, decisionlog.Options{})

			ok := servicetest.Reservation(1, map[string]any{"selected_language": "es", "vip": false}, map[string]any{"languages": []any{"es"}})
			boom := servicetest.Reservation(2, map[string]any{"type": "boom", "n": "x"}, nil)
			forged := servicetest.Reservation(3, map[string]any{"selected_language": "es"}, nil)
			later := env.Pending(t, map[string]any{"type": "async"}, nil)
			none := servicetest.Reservation(5, map[string]any{"type": "chat", "vip": false}, nil)
			malformed := servicetest.Reservation(6, nil, nil)
			malformed.WorkerSid = "not-a-worker" // signed, but not a SID: 400

			for _, c := range []struct {
				r      policy.Reservation
				token  string
				status int
			}{{ok, servicetest.Token, 200}, {boom, servicetest.Token, 200}, {forged, "not-the-token", 403},
				{later, servicetest.Token, 200}, {none, servicetest.Token, 200}, {malformed, servicetest.Token, 400}} {
				if status, body := env.Post(t, c.r, c.token); status != c.status {
					t.Fatalf("%s: status %d %s, want %d", c.r.ReservationSid, status, body, c.status)
				}
			}
			env.Flush(t)

			e := env.One(t, ok.ReservationSid)
			if e.Result != handlers.ResultOK || e.Rule != "spanish" || e.Instruction != "accept" || string(e.Answer) != `{"instruction":"accept"}` ||
				stepsString(e.Steps) != "vip:no spanish:match" || e.TaskSid != ok.TaskSid || e.WorkerSid != ok.WorkerSid ||
				e.QueueSid != ok.TaskQueueSid || e.WorkflowSid != ok.WorkflowSid || e.WorkspaceSid != ok.WorkspaceSid ||
				e.Async || e.Latency <= 0 || e.TaskAge != 7 || !strings.Contains(string(e.TaskAttributes), `"selected_language":"es"`) {
				t.Errorf("ok entry: %+v steps %s", e, stepsString(e.Steps))
			}

			e = env.One(t, boom.ReservationSid)
			if e.Result != handlers.ResultFallback || e.Rule != "on_error" || e.Instruction != "accept" ||
				stepsString(e.Steps) != "vip:missing spanish:missing boom:error" || !strings.Contains(e.Error, `rule "boom"`) {
				t.Errorf("fallback entry: %+v steps %s", e, stepsString(e.Steps))
			}

			e = env.One(t, forged.ReservationSid)
			if e.Result != handlers.ResultBadSignature || e.CheckedURL != env.URL+"/assignment" || e.Rule != "" ||
				len(e.Steps) != 0 || !strings.Contains(e.Error, "signature") {
				t.Errorf("bad signature entry: %+v", e)
			}

			e = env.One(t, later.ReservationSid)
			if e.Result != handlers.ResultOK || e.Rule != "later-async" || !e.Async || string(e.Answer) != "{}" ||
				e.Instruction != "accept" || string(e.InstructionJSON) != `{"instruction":"accept"}` ||
				stepsString(e.Steps) != "vip:missing spanish:missing boom:no later-async:match" {
				t.Errorf("async entry: %+v steps %s", e, stepsString(e.Steps))
			}

			e = env.One(t, none.ReservationSid)
			if e.Rule != "default" || e.Instruction != "reject" || stepsString(e.Steps) != "vip:no spanish:missing boom:no later-async:no" {
				t.Errorf("default entry: %+v steps %s", e, stepsString(e.Steps))
			}

			e = env.One(t, malformed.ReservationSid)
			if e.Result != handlers.ResultBadRequest || !strings.Contains(e.Error, "WorkerSid") || e.CheckedURL == "" ||
				!strings.Contains(string(e.Params), "not-a-worker") || e.Rule != "" {
				t.Errorf("bad request entry: %+v params %s", e, e.Params)
			}

			// Filters, as the JSON API passes them on.
			ctx := context.Background()
			for _, c := range []struct {
				f    decisionlog.Filter
				want int
			}{
				{decisionlog.Filter{}, 6},
				{decisionlog.Filter{Result: "fallback"}, 1},
				{decisionlog.Filter{Rule: "spanish"}, 1},
				{decisionlog.Filter{Instruction: "reject"}, 1},
				{decisionlog.Filter{Instruction: "accept"}, 3}, // ok, boom's on_error, later
				{decisionlog.Filter{SID: ok.WorkerSid}, 1},
				{decisionlog.Filter{TaskSid: later.TaskSid}, 1},
				{decisionlog.Filter{Since: time.Now().Add(time.Hour)}, 0},
				{decisionlog.Filter{Until: time.Now().Add(time.Hour), Limit: 2}, 2},
			} {
				got, err := env.Log.Query(ctx, c.f)
				if err != nil || len(got) != c.want {
					t.Errorf("filter %+v: %d entries (%v), want %d", c.f, len(got), err, c.want)
				}
			}
			all, _ := env.Log.Query(ctx, decisionlog.Filter{})
			if all[0].ReservationSid != malformed.ReservationSid {
				t.Errorf("newest first: got %s first", all[0].ReservationSid)
			}
			if _, err := env.Log.Get(ctx, 1_000_000); err == nil {
				t.Error("Get of an unknown ID: no error")
			}
		})
	}
}

// rawRows returns every stored row as text, column by column, read with SQL
// of the test's own rather than through the package.
func rawRows(t *testing.T, env *servicetest.Env) []string {
	t.Helper()
	driver, dsn := "sqlite", "file:"+filepath.Join(env.DataDir, decisionlog.FileName)
	if env.DatabaseURL != "" {
		driver, dsn = "pgx", env.DatabaseURL
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT * FROM assignd_decision`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for i, v := range vals {
			b.WriteString(cols[i] + "=" + v.String + " ")
		}
		out = append(out, b.String())
	}
	return out
}

func TestSummaryModeStoresNoAttributeValues(t *testing.T) {
	t.Parallel()
	for _, store := range servicetest.Stores {
		t.Run(store, func(t *testing.T) {
			env := servicetest.New(t, store, decisionlog.ModeSummary, decisionlog.Options{})
			r := servicetest.Reservation(1, map[string]any{"selected_language": "es", "customer": "Ada Lovelace-7731"},
				map[string]any{"languages": []any{"es"}, "phone": "+15551234987"})
			r.Params = map[string]string{"WorkerName": "alice-secret-name"}
			if status, body := env.Post(t, r, servicetest.Token); status != 200 {
				t.Fatalf("status %d %s", status, body)
			}
			forged := servicetest.Reservation(2, map[string]any{"customer": "Grace Hopper-4410"}, nil)
			if status, _ := env.Post(t, forged, "wrong"); status != 403 {
				t.Fatalf("forged: status %d", status)
			}
			env.Flush(t)
			rows := rawRows(t, env)
			if len(rows) != 2 {
				t.Fatalf("want 2 rows, got %d", len(rows))
			}
			all := strings.Join(rows, "\n")
			for _, secret := range []string{"Ada Lovelace-7731", "+15551234987", "alice-secret-name", "Grace Hopper-4410", `"es"`} {
				if strings.Contains(all, secret) {
					t.Errorf("summary mode stored %q:\n%s", secret, all)
				}
			}
			// Everything else is there.
			for _, want := range []string{r.ReservationSid, r.TaskSid, "rule=spanish", "instruction=accept", `"mode":"summary"`, forged.ReservationSid, "result=bad_signature"} {
				if !strings.Contains(all, want) {
					t.Errorf("summary row lacks %q:\n%s", want, all)
				}
			}
		})
	}
}

func TestRetentionPrunes(t *testing.T) {
	t.Parallel()
	for _, store := range servicetest.Stores {
		t.Run(store, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			env := servicetest.New(t, store, decisionlog.ModeFull, decisionlog.Options{
				Retention: time.Hour, MaxRows: 3, PruneEvery: 100 * time.Millisecond, Registerer: reg})
			now := time.Now()
			// Two records from before the retention window, five recent ones.
			for i, at := range []time.Time{now.Add(-3 * time.Hour), now.Add(-2 * time.Hour), now, now, now, now, now} {
				r := servicetest.Reservation(i+1, nil, nil)
				env.Log.Record(handlers.CallbackRecord{Received: at, Result: handlers.ResultOK, Reservation: &r,
					Decision: policy.Decision{Instruction: policy.Accept{}, Rule: "r"}, Answer: json.RawMessage(`{"instruction":"accept"}`)})
			}
			env.Flush(t)
			// The background pruner keeps the newest three within the hour.
			// It counts what it deleted once the delete has committed, so
			// the count is waited for too (a query may see the rows gone
			// before the counter moves).
			var got []decisionlog.Entry
			testwait.Until(30*time.Second, func() bool {
				var err error
				if got, err = env.Log.Query(context.Background(), decisionlog.Filter{}); err != nil {
					t.Fatal(err)
				}
				return len(got) == 3 && testutil.ToFloat64(counter(t, reg, "assignd_decision_log_pruned_total")) == 4
			})
			if len(got) != 3 || got[0].ReservationSid != servicetest.Reservation(7, nil, nil).ReservationSid ||
				got[2].ReservationSid != servicetest.Reservation(5, nil, nil).ReservationSid {
				t.Fatalf("after pruning: %d entries %+v", len(got), got)
			}
			if n := testutil.ToFloat64(counter(t, reg, "assignd_decision_log_pruned_total")); n != 4 {
				t.Errorf("pruned_total = %v, want 4", n)
			}
		})
	}
}

func counter(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: "copy"}, func() float64 { return mf.GetMetric()[0].GetCounter().GetValue() })
		}
	}
	t.Fatalf("metric %s not registered", name)
	return nil
}

// TestFullBufferDropsAndCounts holds SQLite's write lock from outside so the
// writer stalls: Record must keep returning at once, dropping and counting
// what does not fit, and the log must recover when the lock goes.
func TestFullBufferDropsAndCounts(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	env := servicetest.New(t, "sqlite", decisionlog.ModeFull, decisionlog.Options{BufferSize: 4, BatchSize: 2, Registerer: reg})
	db, err := sql.Open("sqlite", "file:"+filepath.Join(env.DataDir, decisionlog.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	record := func(n int) {
		r := servicetest.Reservation(n, nil, nil)
		env.Log.Record(handlers.CallbackRecord{Received: time.Now(), Result: handlers.ResultOK, Reservation: &r})
	}
	for i := range 50 {
		record(i + 1)
	}
	dropped := testutil.ToFloat64(counter(t, reg, "assignd_decision_log_dropped_total"))
	// The writer holds at most one batch (2) and the buffer 4: the rest dropped.
	if dropped < 50-2-4 {
		t.Errorf("dropped_total = %v, want at least 44", dropped)
	}
	if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	env.Flush(t)
	got, err := env.Log.Query(context.Background(), decisionlog.Filter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if float64(len(got))+dropped != 50 {
		t.Errorf("stored %d + dropped %v != 50 recorded", len(got), dropped)
	}
}

// BeforeID pages backwards, newest first: every entry once, in order,
// however many pages it takes, on both stores.
func TestBeforeIDPagesBackwards(t *testing.T) {
	t.Parallel()
	for _, store := range servicetest.Stores {
		t.Run(store, func(t *testing.T) {
			env := servicetest.New(t, store, decisionlog.ModeFull, decisionlog.Options{})
			const n = 7
			for i := 1; i <= n; i++ {
				if s, b := env.Post(t, servicetest.Reservation(i, map[string]any{"selected_language": "es"}, nil), servicetest.Token); s != 200 {
					t.Fatalf("callback %d: %d %s", i, s, b)
				}
			}
			env.Flush(t)
			var ids []int64
			f := decisionlog.Filter{Limit: 3}
			for {
				page, err := env.Log.Query(context.Background(), f)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range page {
					ids = append(ids, e.ID)
				}
				if len(page) < f.Limit {
					break
				}
				f.BeforeID = page[len(page)-1].ID
			}
			if len(ids) != n {
				t.Fatalf("paged %d entries, want %d: %v", len(ids), n, ids)
			}
			for i := 1; i < len(ids); i++ {
				if ids[i] >= ids[i-1] {
					t.Fatalf("not newest first: %v", ids)
				}
			}
		})
	}
}
