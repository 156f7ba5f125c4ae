package async

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"
	"github.com/rs/zerolog"

	"github.com/assignd/assignd/async/asynctest"
	"github.com/assignd/assignd/emulator"
	"github.com/assignd/assignd/emulator/emulatortest"
	"github.com/assignd/assignd/policy"
)

// Every instruction has an effect, and every situation the worker can be in
// has a row: the worker never meets a hole in the table.
func TestOutcomeTableIsComplete(t *testing.T) {
	t.Parallel()
	for _, name := range policy.InstructionNames() {
		found := 0
		for _, e := range effects {
			if slices.Contains(e.Instructions, name) {
				found++
			}
		}
		if found != 1 {
			t.Errorf("instruction %q has %d effects in the outcome table, want 1", name, found)
		}
	}
	allSeen := []Seen{SeenPending, SeenReached, SeenOther, SeenTimeout, SeenGone, SeenNoAnswer, SeenRefused}
	for _, e := range effects {
		for c := Applied; c <= Fatal; c++ {
			row, ok := lookup(e.Effect, answerOf(c), SeenNone)
			if !ok {
				t.Errorf("%s / %s: no row", e.Effect, c)
				continue
			}
			if (row.Next == NextFinish) != (row.Outcome != "") {
				t.Errorf("%s / %s: a row finishes if and only if it names an outcome: %+v", e.Effect, c, row)
			}
		}
		for _, a := range gets {
			for _, s := range allSeen {
				row, ok := lookup(e.Effect, a, s)
				if !ok {
					t.Errorf("%s / %s / %s: no row", e.Effect, a, s)
					continue
				}
				if e.Effect == PlacesCall && (a == AnswerEarlier || a == AnswerLate) && row.Next == NextUpdate {
					t.Errorf("%s / %s / %s: a call must never be sent again after an ambiguous answer", e.Effect, a, s)
				}
				if a == AnswerLate && row.Next != NextFinish {
					t.Errorf("%s / %s / %s: past the deadline the job must finish, not %s", e.Effect, a, s, row.Next)
				}
			}
		}
	}
}

// The README's table is the code's table.
func TestOutcomeTableInREADME(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	const begin, end = "<!-- outcome-table:begin -->\n", "<!-- outcome-table:end -->"
	s := string(b)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("README.md has no %q … %q section", strings.TrimSpace(begin), end)
	}
	if got, want := s[i+len(begin):j], OutcomeTableMarkdown(); got != want {
		t.Fatalf("README.md's outcome table differs from the code's; replace it with:\n%s", want)
	}
}

// attempts reads the REST requests recorded on a job.
func attempts(t *testing.T, row *rivertype.JobRow) []RESTAttempt {
	t.Helper()
	a, err := Attempts(row)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestOutcomes(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, newHarness func(time.Duration) *harness) {
		h := newHarness(120 * time.Second)

		for _, moved := range []string{"wrapping", "completed"} {
			t.Run("500 after applying, then "+moved+": applied", func(t *testing.T) {
				r := newReservation(t, h, time.Now())
				h.env.Emu.Script(emulator.UpdateTaskReservation, r.ReservationSid, emulator.Fault{Status: 500, Apply: true, ThenStatus: moved})
				_, out := waitFinal(t, h, schedule(t, h, r, policy.Accept{}))
				got := h.env.Get(r.ReservationSid)
				if out.Outcome != OutcomeApplied || !out.VerifiedByFetch || out.ReservationStatus != moved || got.Applied != 1 || got.Updates != 1 {
					t.Fatalf("out %+v; emulator %+v", out, got)
				}
			})
		}

		t.Run("500, 400, then wrapping: applied", func(t *testing.T) {
			// The reproduction: an earlier attempt applied, the
			// reservation moved on, a later update is answered 400.
			r := newReservation(t, h, time.Now())
			h.env.Emu.Script(emulator.UpdateTaskReservation, r.ReservationSid, emulator.Fault{Status: 500, Apply: true, ThenStatus: "wrapping"})
			h.env.Emu.Script(emulator.FetchTaskReservation, r.ReservationSid, emulator.Fault{Status: 503})
			_, out := waitFinal(t, h, schedule(t, h, r, policy.Accept{}))
			got := h.env.Get(r.ReservationSid)
			if out.Outcome != OutcomeApplied || out.ReservationStatus != "wrapping" || got.Applied != 1 {
				t.Fatalf("out %+v; emulator %+v", out, got)
			}
		})

		for name, f := range map[string]emulator.Fault{"500 after applying": {Status: 500, Apply: true},
			"dropped after applying": {Drop: true, Apply: true}, "502 before applying": {Status: 502}} {
			t.Run("call, "+name+": one call at most, outcome unknown", func(t *testing.T) {
				r := newReservation(t, h, time.Now())
				h.env.Emu.Script(emulator.UpdateTaskReservation, r.ReservationSid, f)
				row, out := waitFinal(t, h, schedule(t, h, r, policy.Call{From: "+15005550006", URL: "https://example.com/twiml"}))
				got := h.env.Get(r.ReservationSid)
				if got.CallsPlaced > 1 || got.Updates != 1 || out.Outcome != OutcomeUnknown || row.State != rivertype.JobStateCancelled {
					t.Fatalf("job %s out %+v; emulator %+v", row.State, out, got)
				}
				if !strings.Contains(h.logs.String(), `"level":"error"`) {
					t.Fatalf("an unknown outcome must be logged as an error:\n%s", h.logs)
				}
			})
		}

		t.Run("redirect with accept after an ambiguous answer: verified, applied", func(t *testing.T) {
			r := newReservation(t, h, time.Now())
			h.env.Emu.Script(emulator.UpdateTaskReservation, r.ReservationSid, emulator.Fault{Status: 500, Apply: true})
			yes := true
			_, out := waitFinal(t, h, schedule(t, h, r, policy.Redirect{CallSid: "CA0123456789abcdef0123456789abcdef", URL: "https://example.com/twiml", Accept: &yes}))
			got := h.env.Get(r.ReservationSid)
			if got.CallsPlaced != 1 || out.Outcome != OutcomeApplied || !out.VerifiedByFetch {
				t.Fatalf("out %+v; emulator %+v", out, got)
			}
		})

		for name, f := range map[string]emulator.Fault{"not JSON": {BrokenBody: true}, "cut by the timeout": {CutBody: true}} {
			t.Run("2xx with a body "+name+": applied, no second request", func(t *testing.T) {
				r := newReservation(t, h, time.Now())
				h.env.Emu.Script(emulator.UpdateTaskReservation, r.ReservationSid, f)
				row, out := waitFinal(t, h, schedule(t, h, r, policy.Accept{}))
				got := h.env.Get(r.ReservationSid)
				if out.Outcome != OutcomeApplied || row.State != rivertype.JobStateCompleted || got.Updates != 1 || got.Applied != 1 {
					t.Fatalf("job %s out %+v; emulator %+v", row.State, out, got)
				}
			})
		}

		t.Run("429 without Retry-After: the waits grow", func(t *testing.T) {
			r := newReservation(t, h, time.Now())
			for range 4 {
				h.env.Emu.Script(emulator.UpdateTaskReservation, r.ReservationSid, emulator.Fault{Status: 429})
			}
			row, out := waitFinal(t, h, schedule(t, h, r, policy.Accept{}))
			got := h.env.Get(r.ReservationSid)
			if out.Outcome != OutcomeApplied || got.Updates != 5 || got.Applied != 1 {
				t.Fatalf("out %+v; emulator %+v", out, got)
			}
			var gaps []time.Duration
			for i := 1; i < len(got.UpdateTimes); i++ {
				gaps = append(gaps, got.UpdateTimes[i].Sub(got.UpdateTimes[i-1]))
			}
			// The fourth wait is at least backoff(4)'s floor (1 s); without
			// growth every wait would be at most backoff(1) (250 ms) plus
			// scheduling.
			if gaps[3] <= gaps[0] || gaps[3] < 900*time.Millisecond {
				t.Fatalf("waits between 429s %v do not grow", gaps)
			}
			rec := attempts(t, row)
			if len(rec) != 5 || rec[0].Status != 429 || rec[0].Class != "rate_limited" || rec[0].Code != 20429 || rec[4].Class != "applied" {
				t.Fatalf("recorded attempts %+v", rec)
			}
		})

		t.Run("400 with the reservation still pending: refused, on_error applied", func(t *testing.T) {
			r := newReservation(t, h, time.Now())
			h.env.Emu.Script(emulator.UpdateTaskReservation, r.ReservationSid, emulator.Fault{Status: 400, Code: 20001, Message: "Invalid parameter DequeueFrom"})
			row, out := waitFinal(t, h, schedule(t, h, r, policy.Dequeue{From: "+15005550006"}))
			got := h.env.Get(r.ReservationSid)
			if out.Outcome != OutcomeFallbackApplied || out.Refusal == nil || out.Refusal.Code != 20001 ||
				out.Refusal.Message != "Invalid parameter DequeueFrom" || out.Instruction != "reject" || !out.Fallback {
				t.Fatalf("out %+v", out)
			}
			if got.Status != "rejected" || got.Applied != 1 || got.Params["WorkerActivitySid"][0] != h.fallback().ActivitySid {
				t.Fatalf("emulator %+v", got)
			}
			reqs := []string{}
			for _, a := range attempts(t, row) {
				reqs = append(reqs, a.Request+" "+a.Class)
			}
			if want := []string{"update refusal", "fetch applied", "update on_error applied"}; !slices.Equal(reqs, want) {
				t.Fatalf("recorded %v, want %v", reqs, want)
			}
		})

		t.Run("a parameter TaskRouter refuses (an activity not in the workspace): on_error applied", func(t *testing.T) {
			// Not scripted: the emulator refuses it as Twilio does, 400
			// 20001 with the reservation still pending.
			r := newReservation(t, h, time.Now())
			unknown := "WA" + strings.Repeat("e", 32)
			_, out := waitFinal(t, h, schedule(t, h, r, policy.Reject{ActivitySid: unknown}))
			got := h.env.Get(r.ReservationSid)
			if out.Outcome != OutcomeFallbackApplied || out.Refusal == nil || out.Refusal.Code != 20001 ||
				!strings.Contains(out.Refusal.Message, unknown) {
				t.Fatalf("out %+v", out)
			}
			if got.Status != "rejected" || got.Applied != 1 || got.Params.Get("WorkerActivitySid") != h.fallback().ActivitySid {
				t.Fatalf("emulator %+v", got)
			}
		})

		t.Run("400 and a 409 on the verifying GET: not taken for a 404", func(t *testing.T) {
			r := newReservation(t, h, time.Now())
			h.env.TimeOut(t) // the reservation times out on TaskRouter before our update
			h.env.Emu.Script(emulator.FetchTaskReservation, r.ReservationSid, emulator.Fault{Status: 409, Code: 20409, Message: "Conflict"})
			_, out := waitFinal(t, h, schedule(t, h, r, policy.Accept{}))
			got := h.env.Get(r.ReservationSid)
			if out.Outcome != OutcomeExpired || out.ReservationStatus != "timeout" || got.Fetches != 2 {
				t.Fatalf("out %+v; emulator %+v", out, got)
			}
		})

		t.Run("sip_auth_password is not stored in plain text", func(t *testing.T) {
			r := newReservation(t, h, time.Now())
			const secret = "s3cret-sip-password"
			row, out := waitFinal(t, h, schedule(t, h, r, policy.Conference{From: "+15005550006", To: "+14155550100", SipAuthUsername: "alice", SipAuthPassword: secret}))
			got := h.env.Get(r.ReservationSid)
			if out.Outcome != OutcomeApplied || got.Params["SipAuthPassword"][0] != secret {
				t.Fatalf("out %+v; form %v", out, got.Params)
			}
			if strings.Contains(string(row.EncodedArgs), secret) || !strings.Contains(string(row.EncodedArgs), sealedPrefix) {
				t.Fatalf("job args hold the password: %s", row.EncodedArgs)
			}
		})
	})
}

func TestDeadlineFromTimestamp(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, newHarness func(time.Duration) *harness) {
		h := newHarness(120 * time.Second)

		t.Run("a fallback callback of a reservation created long ago", func(t *testing.T) {
			// Received now, but Twilio's Timestamp says the reservation was
			// created 119 s ago: with the margin its 120 s are up.
			r := newReservation(t, h, time.Now())
			r.Timestamp = strconv.FormatInt(time.Now().Add(-119*time.Second).Unix(), 10)
			row, out := waitFinal(t, h, schedule(t, h, r, policy.Accept{}))
			got := h.env.Get(r.ReservationSid)
			if out.Outcome != OutcomeExpired || got.Updates != 0 || row.State != rivertype.JobStateCancelled {
				t.Fatalf("job %s %+v; emulator %+v", row.State, out, got)
			}
		})

		t.Run("a Timestamp after arrival is clock skew: ignored", func(t *testing.T) {
			r := newReservation(t, h, time.Now())
			r.Timestamp = strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
			_, out := waitFinal(t, h, schedule(t, h, r, policy.Accept{}))
			if out.Outcome != OutcomeApplied {
				t.Fatalf("%+v", out)
			}
		})
	})
	forEachStore(t, func(t *testing.T, newHarness func(time.Duration) *harness) {
		h := newHarness(1500 * time.Millisecond)
		t.Run("deadline after an ambiguous attempt: a GET decides", func(t *testing.T) {
			// Applied at once, but the answer is held past the deadline,
			// which cuts the call: only a GET can tell it applied.
			r := newReservation(t, h, time.Now())
			h.env.Emu.Script(emulator.UpdateTaskReservation, r.ReservationSid, emulator.Fault{Apply: true, AfterApply: 5 * time.Second})
			_, out := waitFinal(t, h, schedule(t, h, r, policy.Accept{}))
			got := h.env.Get(r.ReservationSid)
			if out.Outcome != OutcomeApplied || !out.VerifiedByFetch || got.Applied != 1 || got.Updates != 1 {
				t.Fatalf("out %+v; emulator %+v", out, got)
			}
		})
	})
}

// A decision whose context ended before it was stored is not stored, then
// or later.
func TestScheduleHonoursContext(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, newHarness func(time.Duration) *harness) {
		h := newHarness(time.Minute)
		r := newReservation(t, h, time.Now())
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := h.q.Schedule(ctx, r, policy.Decision{Instruction: policy.Accept{}, Async: true}); err == nil {
			t.Fatal("Schedule with an ended context succeeded")
		}
		// The same reservation again: it must be new, not a duplicate of a
		// decision stored behind the first caller's back.
		dup, err := h.q.Schedule(context.Background(), r, policy.Decision{Instruction: policy.Accept{}, Async: true})
		if err != nil || dup {
			t.Fatalf("duplicate %v, err %v: the abandoned decision was stored", dup, err)
		}
	})
}

// Two instances on one PostgreSQL database receive the same reservations at
// once (TaskRouter's fallback URL landing on the other instance): no
// deadlock reaches a caller, and each reservation is stored once.
func TestTwoInstancesNoDeadlock(t *testing.T) {
	t.Parallel()
	url := asynctest.DatabaseURL(t)
	var qs [2]*Queue
	for i := range qs {
		q, err := Open(context.Background(), Options{Logger: zerolog.Nop(), DatabaseURL: url, ReservationTimeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		defer q.Close()
		qs[i] = q
	}
	const rounds, pairs, senders = 10, 400, 64
	fallbacks, fresh := 0, 0
	var mu sync.Mutex
	for round := range rounds {
		type item struct{ i, q int }
		work := make(chan item)
		var wg sync.WaitGroup
		for range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for it := range work {
					i, q := it.i, qs[it.q]
					r := &policy.Reservation{AccountSid: testAccount, WorkspaceSid: workspace, TaskSid: task, WorkerSid: worker,
						ReservationSid: fmt.Sprintf("WR%016d%016d", round, i), ReceivedAt: time.Now()}
					ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second) // the callback budget
					dup, err := q.Schedule(ctx, r, policy.Decision{Instruction: policy.Accept{}, Async: true})
					cancel()
					mu.Lock()
					if err != nil {
						fallbacks++
						t.Errorf("round %d: %v", round, err)
					} else if !dup {
						fresh++
					}
					mu.Unlock()
				}
			}()
		}
		// Each reservation goes to both instances, in a random order:
		// their batches hold the same SIDs in different orders, as the
		// issue's deadlock needed (before the fix this shape failed ~200 of
		// 8000 calls with 40P01).
		items := make([]item, 0, 2*pairs)
		for i := range pairs {
			items = append(items, item{i, 0}, item{i, 1})
		}
		rand.Shuffle(len(items), func(a, b int) { items[a], items[b] = items[b], items[a] })
		for _, it := range items {
			work <- it
		}
		close(work)
		wg.Wait()
	}
	if fallbacks != 0 || fresh != rounds*pairs {
		t.Fatalf("%d fallbacks, %d stored, want 0 and %d", fallbacks, fresh, rounds*pairs)
	}
}

// A DATA_DIR with URI syntax in it ('#', '?', '%') is still the directory
// the queue file goes in: an unescaped '#' once cut the path short and
// made every such queue share one file (without WAL).
func TestSQLitePathIsEscaped(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "odd#dir?x=1%41")
	q, err := Open(context.Background(), Options{Logger: zerolog.Nop(), DataDir: dir, ReservationTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if _, err := os.Stat(filepath.Join(dir, FileName)); err != nil {
		t.Fatalf("queue file not in DATA_DIR: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, FileName+"-wal")); err != nil {
		t.Fatalf("WAL not enabled (pragmas lost?): %v", err)
	}
}

// Callers whose contexts end at random moments, some while their batch is
// being stored: each one that got an error has stored nothing, then or
// later, and each one that got nil has stored its decision.
func TestScheduleContextEndsMidBatch(t *testing.T) {
	t.Parallel()
	for _, store := range []string{"sqlite", "postgres"} {
		t.Run(store, func(t *testing.T) {
			o := Options{Logger: zerolog.Nop(), DataDir: filepath.Join(t.TempDir(), "data"), ReservationTimeout: time.Minute}
			if store == "postgres" {
				o.DatabaseURL = asynctest.DatabaseURL(t)
			}
			q, err := Open(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			defer q.Close()
			const n = 300
			failed := make([]bool, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx, cancel := context.WithTimeout(context.Background(), rand.N(60*time.Millisecond))
					defer cancel()
					r := &policy.Reservation{ReservationSid: fmt.Sprintf("WR%032d", i), ReceivedAt: time.Now()}
					_, err := q.Schedule(ctx, r, policy.Decision{Instruction: policy.Accept{}, Async: true})
					failed[i] = err != nil
				}()
			}
			wg.Wait()
			time.Sleep(200 * time.Millisecond) // room for a late store, which must not happen
			nFailed := 0
			for i := range n {
				r := &policy.Reservation{ReservationSid: fmt.Sprintf("WR%032d", i), ReceivedAt: time.Now()}
				dup, err := q.Schedule(context.Background(), r, policy.Decision{Instruction: policy.Accept{}, Async: true})
				if err != nil {
					t.Fatal(err)
				}
				if dup == failed[i] {
					t.Errorf("reservation %d: first Schedule failed=%v, but stored=%v", i, failed[i], dup)
				}
				if failed[i] {
					nFailed++
				}
			}
			t.Logf("%d of %d callers gave up before their decision was stored", nFailed, n)
			if nFailed == 0 || nFailed == n {
				t.Logf("every caller %s: the mix this test wants did not happen on this run", map[bool]string{true: "gave up", false: "succeeded"}[nFailed == n])
			}
		})
	}
}

// The sweeper takes jobs only from instances that stopped heartbeating: a
// REST call that runs longer than the lease on a live instance is left
// alone, so the decision is not sent a second time from the other one.
func TestSweeperLeavesLiveInstancesAlone(t *testing.T) {
	t.Parallel()
	url := asynctest.DatabaseURL(t)
	env := emulatortest.New(t, emulator.Options{AccountSid: testAccount, AuthToken: testToken})
	logs := &logBuffer{}
	var qs []*Queue
	for range 2 {
		api, err := NewAPI(env.URL, testAccount, testAccount, testToken, nil)
		if err != nil {
			t.Fatal(err)
		}
		api.timeout = 20 * time.Second
		q, err := Open(context.Background(), Options{Logger: zerolog.New(logs), DatabaseURL: url, API: api,
			Workers: 2, ReservationTimeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if err := q.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			_ = q.Stop(ctx)
			q.Close()
		})
		qs = append(qs, q)
	}
	pending := env.One(t)
	sid := pending.Sid
	env.Emu.Script(emulator.UpdateTaskReservation, sid, emulator.Fault{Delay: 8 * time.Second}) // > the 5 s lease
	r := &policy.Reservation{AccountSid: testAccount, WorkspaceSid: pending.WorkspaceSid, TaskSid: pending.TaskSid, WorkerSid: pending.WorkerSid,
		ReservationSid: sid, ReceivedAt: time.Now()}
	res, err := qs[0].schedule(context.Background(), r, policy.Decision{Instruction: policy.Accept{}, Async: true})
	if err != nil {
		t.Fatal(err)
	}
	row, out := waitFinal(t, &harness{q: qs[0], logs: logs}, res.Job.ID)
	got := env.Get(sid)
	if out.Outcome != OutcomeApplied || got.Updates != 1 || got.Fetches != 0 || row.Attempt != 1 {
		t.Fatalf("attempt %d %+v; emulator %+v\n%s", row.Attempt, out, got, logs)
	}
	if strings.Contains(logs.String(), "requeued async decisions") {
		t.Fatalf("a live instance's job was requeued:\n%s", logs)
	}
}
