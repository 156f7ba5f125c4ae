package async

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assignd/assignd/async/asynctest"
	"github.com/assignd/assignd/internal/testwait"
	"github.com/assignd/assignd/policy"
)

func postgresHarness(t *testing.T) (*harness, *postgresStore) {
	t.Helper()
	h := newTestHarness(t, Options{DataDir: filepath.Join(t.TempDir(), "data"), DatabaseURL: asynctest.DatabaseURL(t)}, time.Minute)
	ps, ok := h.q.store.(*postgresStore)
	if !ok || ps.sweeper == nil {
		t.Fatalf("store %T has no sweeper", h.q.store)
	}
	return h, ps
}

// heartbeatAge is how old this instance's heartbeat row is, read on a
// connection of the test's own.
func heartbeatAge(t *testing.T, conn *pgx.Conn, id string) time.Duration {
	t.Helper()
	var age float64
	if err := conn.QueryRow(context.Background(), `SELECT EXTRACT(EPOCH FROM now() - seen_at) FROM assignd_instance WHERE id = $1`, id).Scan(&age); err != nil {
		t.Fatal(err)
	}
	return time.Duration(age * float64(time.Second))
}

// TestHeartbeatSurvivesAStarvedPool: with every connection of River's pool
// taken, the heartbeat still beats (its own connection), so other instances
// never take this one's jobs for want of a connection.
func TestHeartbeatSurvivesAStarvedPool(t *testing.T) {
	_, ps := postgresHarness(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, ps.pool.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)

	// Take every connection the pool will give.
	var held []*pgxpool.Conn
	defer func() {
		for _, c := range held {
			c.Release()
		}
	}()
	for range ps.pool.Config().MaxConns {
		actx, cancel := context.WithTimeout(ctx, time.Second)
		c, err := ps.pool.Acquire(actx)
		cancel()
		if err != nil {
			break
		}
		held = append(held, c)
	}
	if len(held) == 0 {
		t.Fatal("could not take any pool connection")
	}
	// Longer than the lease: a heartbeat on the pool would be 5 s stale.
	lease, beat := ps.sweeper.lease, ps.sweeper.heartbeat
	var worst time.Duration
	for end := time.Now().Add(lease + 2*time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		worst = max(worst, heartbeatAge(t, conn, ps.sweeper.id))
	}
	if worst >= lease-beat {
		t.Fatalf("with the pool starved (%d connections held) the heartbeat aged %s (lease %s)", len(held), worst, lease)
	}
	if err := ps.sweeper.fence(); err != nil {
		t.Fatalf("fence with a fresh heartbeat: %v", err)
	}
}

// TestStaleHeartbeatFences: while this instance cannot beat, its worker
// sends nothing (other instances may be re-running its jobs); once it
// beats again the decision is applied, once.
func TestStaleHeartbeatFences(t *testing.T) {
	h, ps := postgresHarness(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, ps.pool.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// Lock the heartbeat row: every beat blocks, times out and fails.
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT 1 FROM assignd_instance WHERE id = $1 FOR UPDATE`, ps.sweeper.id); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, "the fence to close with the heartbeat blocked", 30*time.Second, func() bool { return ps.sweeper.fence() != nil })
	if err := ps.sweeper.fence(); !errors.Is(err, errFenced) {
		t.Fatalf("fence: %v", err)
	}

	r := newReservation(t, h, time.Now())
	id := schedule(t, h, r, policy.Accept{})
	// Wait until the worker has tried, and been fenced, at least once.
	if !testwait.Until(30*time.Second, func() bool { return strings.Contains(h.logs.String(), "heartbeat stale") }) {
		t.Fatalf("the worker never tried the job; logs:\n%s", h.logs.String())
	}
	if res := h.env.Get(r.ReservationSid); res.Updates != 0 || res.Fetches != 0 {
		t.Fatalf("a fenced instance sent %d updates and %d fetches", res.Updates, res.Fetches)
	}
	// Beats resume; the job's next attempt verifies and applies, once.
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	_, out := waitFinal(t, h, id)
	res := h.env.Get(r.ReservationSid)
	if out.Outcome != OutcomeApplied || res.Applied != 1 || res.Status != "accepted" {
		t.Fatalf("after the fence opened: outcome %+v, reservation %+v", out, res)
	}
}
