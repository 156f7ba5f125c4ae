package inspect_test

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", for the raw insert

	"github.com/assignd/assignd/handlers"
	"github.com/assignd/assignd/internal/servicetest"
	"github.com/assignd/assignd/policy"
)

// streamIDs reads the live stream's event IDs into a channel until the
// stream ends.
func streamIDs(t *testing.T, ctx context.Context, u string) <-chan int64 {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	ids := make(chan int64, 4096)
	go func() {
		defer resp.Body.Close()
		defer close(ids)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "id: "); ok {
				if id, err := strconv.ParseInt(v, 10, 64); err == nil {
					ids <- id
				}
			}
		}
	}()
	return ids
}

// collect reads IDs until every one of want has arrived (or the deadline);
// it returns the ones still missing and how often each ID came.
func collect(ids <-chan int64, want map[int64]bool, deadline time.Duration) (missing []int64, count map[int64]int) {
	count = map[int64]int{}
	timeout := time.After(deadline)
	left := len(want)
	for left > 0 {
		select {
		case id, ok := <-ids:
			if !ok {
				left = 0
				break
			}
			count[id]++
			if want[id] && count[id] == 1 {
				left--
			}
		case <-timeout:
			left = 0
		}
	}
	for id := range want {
		if count[id] == 0 {
			missing = append(missing, id)
		}
	}
	return missing, count
}

// TestLiveStreamPagesABurst: more new entries than one page (1,000)
// between two polls all reach the stream, each once.
func TestLiveStreamPagesABurst(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "sqlite", nil)
	first := servicetest.Reservation(1, nil, nil)
	h.Post(t, first, servicetest.Token)
	h.Flush(t)
	firstID := h.One(t, first.ReservationSid).ID
	// Stored before the stream opens, so its first poll finds them all.
	const burst = 1500
	for i := range burst {
		r := servicetest.Reservation(10+i, nil, nil)
		h.Log.Record(handlers.CallbackRecord{Received: time.Now(), Result: handlers.ResultOK, Reservation: &r,
			Decision: policy.Decision{Instruction: policy.Accept{}, Rule: "r"}, Answer: json.RawMessage(`{"instruction":"accept"}`)})
	}
	h.Flush(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ids := streamIDs(t, ctx, h.Admin+"/events?after="+itoa(firstID))
	want := map[int64]bool{}
	for id := firstID + 1; id <= firstID+burst; id++ {
		want[id] = true
	}
	missing, count := collect(ids, want, 45*time.Second)
	if len(missing) > 0 {
		t.Fatalf("%d of %d entries never streamed, e.g. %v", len(missing), burst, missing[:min(5, len(missing))])
	}
	for id, n := range count {
		if n > 1 {
			t.Fatalf("entry %d streamed %d times", id, n)
		}
	}
}

// TestLiveStreamLateCommit: on PostgreSQL an entry whose ID was taken
// before another's but whose transaction commits after the stream has sent
// the other still reaches the stream (another instance's slow batch).
func TestLiveStreamLateCommit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "postgres", nil)
	seed := servicetest.Reservation(1, nil, nil)
	h.Post(t, seed, servicetest.Token)
	h.Flush(t)
	seedID := h.One(t, seed.ReservationSid).ID

	db, err := sql.Open("pgx", h.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ids := streamIDs(t, ctx, h.Admin+"/events?after="+itoa(seedID))

	// "Another instance" takes an ID and holds its transaction open.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	late := servicetest.Reservation(2, nil, nil)
	var lateID int64
	if err := tx.QueryRowContext(ctx, `INSERT INTO assignd_decision (at_us, result, reservation_sid, task_sid, worker_sid, queue_sid, rule, instruction, data)
		SELECT $2, result, $3, task_sid, worker_sid, queue_sid, rule, instruction, data FROM assignd_decision WHERE id = $1 RETURNING id`,
		seedID, time.Now().UnixMicro(), late.ReservationSid).Scan(&lateID); err != nil {
		t.Fatal(err)
	}
	// This instance's next callback gets a higher ID and is streamed.
	next := servicetest.Reservation(3, nil, nil)
	h.Post(t, next, servicetest.Token)
	h.Flush(t)
	nextID := h.One(t, next.ReservationSid).ID
	if nextID <= lateID {
		t.Fatalf("IDs %d (late) and %d (next): want the late one lower", lateID, nextID)
	}
	if missing, _ := collect(ids, map[int64]bool{nextID: true}, 30*time.Second); len(missing) > 0 {
		t.Fatalf("entry %d never streamed", nextID)
	}
	// Now the other instance commits.
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if missing, _ := collect(ids, map[int64]bool{lateID: true}, 30*time.Second); len(missing) > 0 {
		t.Fatalf("entry %d, committed after %d was streamed, never streamed", lateID, nextID)
	}
}
