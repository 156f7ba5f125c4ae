package handlers_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/assignd/assignd/handlers"
	"github.com/assignd/assignd/internal/testwait"
	"github.com/assignd/assignd/policy"
	"github.com/assignd/assignd/taskrouter"
)

// 1,000 random forged signatures: every one is refused and counted, the
// policy never sees a single request, and the log stays small: a few lines
// per interval, the rest summed in summary lines that account for every
// refusal.
//
// The same for /events, whose refusals are counted in assignd_events_total.
func TestAbuseForgedSignatures(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ path, metric string }{
		{"/assignment", "assignd_callbacks_total"},
		{"/events", "assignd_events_total"},
	} {
		t.Run(strings.TrimPrefix(c.path, "/"), func(t *testing.T) { forgedFlood(t, c.path, c.metric) })
	}
}

func forgedFlood(t *testing.T, path, metric string) {
	var calls atomic.Int64
	p := policy.Func(func(ctx context.Context, r *policy.Reservation) (policy.Decision, error) {
		calls.Add(1)
		return policy.Decision{Instruction: policy.Accept{}}, nil
	})
	const burst, interval, forged = 5, time.Second, 1000
	reg := prometheus.NewRegistry()
	srv := startServer(t, handlers.Options{Decider: guard(t, p, time.Second), Metrics: handlers.NewMetrics(reg), Gatherer: reg,
		RefusalLogBurst: burst, RefusalLogInterval: interval})
	form, _ := handlers.EncodeForm(ptr(reservation(map[string]any{"selected_language": "es"}, nil)))
	body := form.Encode()
	u := srv.URL + path
	var wg sync.WaitGroup
	var refused atomic.Int64
	start := time.Now()
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range forged / 8 {
				raw := make([]byte, 20) // an HMAC-SHA1's length, random
				rand.Read(raw)
				sig := base64.StdEncoding.EncodeToString(raw)
				if (w+i)%10 == 0 {
					sig = taskrouter.Sign("not-the-token", u, form) // well-formed, wrong key
				}
				if status, _, _ := post(t, u, body, sig); status == http.StatusForbidden {
					refused.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if refused.Load() != forged || calls.Load() != 0 {
		t.Fatalf("%d of %d refused; policy called %d times", refused.Load(), forged, calls.Load())
	}
	if m := scrape(t, srv.OpsURL); !strings.Contains(m, fmt.Sprintf(`%s{result="bad_signature"} %d`, metric, forged)) {
		t.Fatalf("the metric must count every refusal:\n%s", m)
	}

	// Lines written: at most the token bucket's burst plus its refill over
	// the run. The summaries (one per interval, due an interval after the
	// first suppressed line) must add up to exactly the rest.
	maxLogged := burst + int(float64(burst)*elapsed.Seconds()/interval.Seconds()) + 1
	var logged, suppressed, summaries int
	testwait.Until(30*time.Second, func() bool {
		logged, suppressed, summaries = refusalLines(t, srv.Log.String())
		return logged+suppressed >= forged
	})
	if logged+suppressed != forged {
		t.Fatalf("%d lines + %d suppressed, want %d refusals accounted for", logged, suppressed, forged)
	}
	if logged > maxLogged || logged < burst {
		t.Fatalf("%d refusal lines for %d forged requests in %s, want between %d and %d", logged, forged, elapsed, burst, maxLogged)
	}
	if !strings.Contains(srv.Log.String(), "in "+metric) {
		t.Errorf("the summary lines do not name %s, where the suppressed refusals are counted", metric)
	}
	if maxSummaries := int(elapsed/interval) + 2; summaries > maxSummaries {
		t.Fatalf("%d summary lines in %s, want at most one per %s", summaries, elapsed, interval)
	}
}

// refusalLines counts the refusal lines in a log, the summary lines and the
// refusals they report as suppressed.
func refusalLines(t *testing.T, log string) (logged, suppressed, summaries int) {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSpace(log), "\n") {
		var l struct {
			Result     string `json:"result"`
			Suppressed *int   `json:"suppressed"`
		}
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		switch {
		case l.Result == handlers.ResultBadSignature:
			logged++
		case l.Suppressed != nil:
			summaries++
			suppressed += *l.Suppressed
		}
	}
	return logged, suppressed, summaries
}

// Hostile but signed input gets a clear status and a log line each.
func TestAbuseSignedGarbage(t *testing.T) {
	t.Parallel()
	srv := startServer(t, handlers.Options{})
	u := srv.URL + "/assignment"
	base := func() url.Values {
		f, _ := handlers.EncodeForm(ptr(reservation(map[string]any{"selected_language": "es"}, map[string]any{"languages": []any{"es"}})))
		return f
	}
	cases := []struct {
		name   string
		edit   func(url.Values)
		status int
		body   string // expected body prefix
	}{
		{"SID with ../", func(f url.Values) { f.Set("ReservationSid", "WR/../../../Workspaces/WS0123456789abcdef") }, 400, "bad request: ReservationSid"},
		{"SID with encoded slash", func(f url.Values) { f.Set("TaskSid", "WT%2F..%2F0123456789abcdef0123456789a") }, 400, "bad request: TaskSid"},
		{"non-UTF-8 SID", func(f url.Values) { f.Set("WorkerSid", "WK\xff\xfe23456789abcdef0123456789abcdef") }, 400, "bad request: WorkerSid"},
		{"non-UTF-8 inside attributes", func(f url.Values) { f.Set("TaskAttributes", "{\"selected_language\":\"es\",\"note\":\"\xff\xfe\"}") }, 200, `{"instruction":"accept"}`},
		{"non-UTF-8 extra parameter", func(f url.Values) { f.Set("WorkerName", "\xff\xfe") }, 200, `{"instruction":"accept"}`},
		{"duplicate ReservationSid", func(f url.Values) { f.Add("ReservationSid", "WR1123456789abcdef0123456789abcdef") }, 400, `request does not look like a TaskRouter callback: parameter "ReservationSid" given twice`},
		{"deeply nested attributes", func(f url.Values) { f.Set("WorkerAttributes", strings.Repeat("[", 8000)+strings.Repeat("]", 8000)) }, 200, `{"instruction":"accept"}`},
		{"huge attribute object", func(f url.Values) {
			var b strings.Builder
			b.WriteString(`{"selected_language":"es"`)
			for i := range 2000 {
				fmt.Fprintf(&b, `,"k%d":%d`, i, i)
			}
			f.Set("TaskAttributes", b.String()+"}")
		}, 200, `{"instruction":"accept"}`},
		{"huge number", func(f url.Values) { f.Set("TaskAge", strings.Repeat("9", 400)) }, 400, "bad request: TaskAge"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := base()
			c.edit(f)
			status, body, _ := post(t, u, f.Encode(), taskrouter.Sign(testToken, u, f))
			if status != c.status || !strings.HasPrefix(body, c.body) {
				t.Fatalf("got %d %q, want %d %q…", status, body, c.status, c.body)
			}
		})
	}
	logs := srv.Log.String()
	if n := strings.Count(logs, "\n"); n < len(cases) {
		t.Fatalf("%d log lines for %d requests", n, len(cases))
	}
	if strings.Contains(logs, "\xff") {
		t.Fatal("raw non-UTF-8 bytes reached the log")
	}
}

// Hostile and valid callbacks interleaved, all asking for async decisions:
// every valid reservation is stored exactly once, nothing else is stored.
func TestAbuseNeverLosesOrDuplicatesAsyncDecisions(t *testing.T) {
	t.Parallel()
	q, api := openQueue(t)
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Stop(context.Background()); q.Close() })
	srv := startServer(t, handlers.Options{Decider: guard(t, asyncAccept(), time.Second), Scheduler: q})
	u := srv.URL + "/assignment"
	const valid = 60
	var wg sync.WaitGroup
	for i := range valid {
		r := pendingReservation(t, api)
		r.TaskAttributes = map[string]any{"n": i}
		form, _ := handlers.EncodeForm(&r)
		for copyN := range 3 { // each valid callback three times (fallback URL, retries)
			wg.Add(2)
			go func() {
				defer wg.Done()
				if s, b, _ := post(t, u, form.Encode(), taskrouter.Sign(testToken, u, form)); s != 200 || b != "{}" {
					t.Errorf("valid callback %d/%d: %d %q", i, copyN, s, b)
				}
			}()
			go func() { // and a forged or broken neighbour
				defer wg.Done()
				bad := url.Values{}
				for k, v := range form {
					bad[k] = v
				}
				bad.Set("ReservationSid", fmt.Sprintf("WR%032x", 1000+i))
				switch copyN {
				case 0:
					post(t, u, bad.Encode(), "forged")
				case 1:
					bad.Set("TaskSid", "../")
					post(t, u, bad.Encode(), taskrouter.Sign(testToken, u, bad))
				default:
					post(t, u, bad.Encode()+strings.Repeat("x", handlers.DefaultBodyLimit), taskrouter.Sign(testToken, u, bad))
				}
			}()
		}
	}
	wg.Wait()
	testwait.Until(30*time.Second, func() bool { return api.Emu.Stats().Applied == valid })
	st := api.Emu.Stats()
	if st.Reservations != valid || st.Applied != valid || st.AppliedTwice != 0 || st.Updates != valid || st.ByStatus["accepted"] != valid {
		t.Fatalf("emulator: %+v, want %d reservations each applied once", st, valid)
	}
	// The forged and broken neighbours stored nothing.
	for i := range valid {
		if jobs, err := q.Jobs(context.Background(), fmt.Sprintf("WR%032x", 1000+i)); err != nil || len(jobs) != 0 {
			t.Fatalf("a refused callback was stored: %v %+v", err, jobs)
		}
	}
}

// Close writes the pending summary at once (the last interval's count is not
// lost when the process exits) and stops its timer: nothing is logged after.
func TestRefusalLogCloseFlushesAndStops(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	const interval = 300 * time.Millisecond
	h, err := handlers.New(handlers.Options{Logger: zerolog.New(logs), Verifier: handlers.NewVerifier([]string{testToken}, nil, handlers.ProxyNone),
		Decider: guard(t, examplePolicy(t), time.Second), RefusalLogBurst: 1, RefusalLogInterval: interval})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	for range 4 {
		if status, _, _ := post(t, srv.URL+"/assignment", "A=1", "forged"); status != http.StatusForbidden {
			t.Fatalf("forged request: %d, want 403", status)
		}
	}
	srv.Close()
	h.Close()
	logged, suppressed, summaries := refusalLines(t, logs.String())
	if logged != 1 || suppressed != 3 || summaries != 1 {
		t.Fatalf("right after Close: %d lines, %d suppressed in %d summaries; want 1, 3, 1:\n%s", logged, suppressed, summaries, logs.String())
	}
	before := logs.String()
	time.Sleep(3 * interval) // the interval's timer would have fired by now
	if after := logs.String(); after != before {
		t.Fatalf("logged after Close:\n%s", strings.TrimPrefix(after, before))
	}
}
