package decisionlog_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/assignd/assignd/async/asynctest"
	"github.com/assignd/assignd/decisionlog"
	"github.com/assignd/assignd/handlers"
	"github.com/assignd/assignd/internal/servicetest"
	"github.com/assignd/assignd/policy"
)

// tcpProxy forwards loopback connections to PostgreSQL until cut: then it
// closes every connection it carries and refuses new ones, as a database
// that went away does, until restored.
type tcpProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	up     bool
	conns  map[net.Conn]struct{}
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target, up: true, conns: map[net.Conn]struct{}{}}
	go p.accept()
	t.Cleanup(func() { ln.Close(); p.cut() })
	return p
}

func (p *tcpProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed with the test
		}
		p.mu.Lock()
		up := p.up
		p.mu.Unlock()
		if !up {
			c.Close()
			continue
		}
		s, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[s] = struct{}{}, struct{}{}
		p.mu.Unlock()
		go pipe(c, s)
		go pipe(s, c)
	}
}

func pipe(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
}

func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.up = false
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

func (p *tcpProxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.up = true
}

// TestOutageKeepsRowsAndCountsOverflow cuts the connection between the log
// and PostgreSQL while callbacks are recorded: the rows recorded during the
// outage wait in memory, up to the backlog's bound (the oldest beyond it are
// dropped and counted exactly), and are stored when the database is back,
// without a Flush.
func TestOutageKeepsRowsAndCountsOverflow(t *testing.T) {
	const before, during, backlog = 5, 80, 50
	base := asynctest.DatabaseURL(t)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newTCPProxy(t, u.Host)
	u.Host = proxy.ln.Addr().String()

	reg := prometheus.NewRegistry()
	ctx := context.Background()
	l, err := decisionlog.Open(ctx, decisionlog.Options{Logger: zerolog.New(io.Discard), DatabaseURL: u.String(),
		Mode: decisionlog.ModeSummary, BatchSize: 10, BacklogRows: backlog, RetryEvery: 50 * time.Millisecond, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	record := func(n int) {
		r := servicetest.Reservation(n, nil, nil)
		l.Record(handlers.CallbackRecord{Received: time.Now(), Result: handlers.ResultOK, Reservation: &r,
			Decision: policy.Decision{Instruction: policy.Accept{}, Rule: "r"}, Answer: json.RawMessage(`{"instruction":"accept"}`)})
	}
	flush := func() error {
		fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		return l.Flush(fctx)
	}
	for i := 1; i <= before; i++ {
		record(i)
	}
	if err := flush(); err != nil {
		t.Fatal(err)
	}

	proxy.cut()
	for i := before + 1; i <= before+during; i++ {
		record(i)
	}
	if err := flush(); err == nil {
		t.Fatal("Flush during the outage: no error; want one saying rows wait in memory")
	}
	if got := sum(t, reg, "assignd_decision_log_backlog_rows"); got != backlog {
		t.Errorf("backlog_rows = %v during the outage, want %d", got, backlog)
	}
	proxy.restore()

	// The writer retries by itself; wait (bounded) until it has caught up.
	deadline := time.Now().Add(30 * time.Second)
	for sum(t, reg, "assignd_decision_log_backlog_rows") > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	got, err := l.Query(ctx, decisionlog.Filter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != before+backlog {
		t.Fatalf("after the outage, %d rows stored, want %d (%d before it, the newest %d of the %d during it)", len(got), before+backlog, before, backlog, during)
	}
	// Newest first: the outage's newest backlog rows, then the ones from before.
	for i, e := range got {
		n := before + during - i
		if i >= backlog {
			n = before - (i - backlog)
		}
		if want := servicetest.Reservation(n, nil, nil).ReservationSid; e.ReservationSid != want {
			t.Fatalf("row %d: %s, want %s", i, e.ReservationSid, want)
		}
	}
	if got := sum(t, reg, "assignd_decision_log_dropped_total", "reason", "outage"); got != during-backlog {
		t.Errorf(`dropped_total{reason="outage"} = %v, want %d`, got, during-backlog)
	}
	if got := sum(t, reg, "assignd_decision_log_dropped_total"); got != during-backlog {
		t.Errorf("dropped_total (all reasons) = %v, want %d", got, during-backlog)
	}
}

// TestRejectedBatchIsDroppedNotRetried: a store that answers but refuses a
// batch (here a trigger or constraint refusing one rule) is not an outage:
// the batch is dropped and counted, and the rows after it are stored
// rather than held up behind it.
func TestRejectedBatchIsDroppedNotRetried(t *testing.T) {
	for _, store := range servicetest.Stores {
		t.Run(store, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			env := servicetest.New(t, store, decisionlog.ModeSummary, decisionlog.Options{Registerer: reg})
			refuse := `CREATE TRIGGER poison BEFORE INSERT ON assignd_decision WHEN NEW.rule = 'poison' BEGIN SELECT RAISE(ABORT, 'poison'); END`
			if store == "postgres" {
				refuse = `ALTER TABLE assignd_decision ADD CONSTRAINT poison CHECK (rule <> 'poison')`
			}
			execSQL(t, env, refuse)
			record := func(n int, rule string) {
				r := servicetest.Reservation(n, nil, nil)
				env.Log.Record(handlers.CallbackRecord{Received: time.Now(), Result: handlers.ResultOK, Reservation: &r,
					Decision: policy.Decision{Instruction: policy.Accept{}, Rule: rule}, Answer: json.RawMessage(`{"instruction":"accept"}`)})
			}
			record(1, "poison")
			env.Flush(t)
			record(2, "fine")
			env.Flush(t)
			got, err := env.Log.Query(context.Background(), decisionlog.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].Rule != "fine" {
				t.Fatalf("stored %+v, want the one row after the refused batch", got)
			}
			if n := sum(t, reg, "assignd_decision_log_dropped_total", "reason", "rejected"); n != 1 {
				t.Errorf(`dropped_total{reason="rejected"} = %v, want 1`, n)
			}
			if n := sum(t, reg, "assignd_decision_log_backlog_rows"); n != 0 {
				t.Errorf("backlog_rows = %v, want 0: a refused batch is not kept", n)
			}
		})
	}
}

// execSQL runs q on the log's store with a connection of the test's own.
func execSQL(t *testing.T, env *servicetest.Env, q string) {
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
	if _, err := db.Exec(q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}
