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
	"github.com/assignd/assignd/internal/testwait"
	"github.com/assignd/assignd/policy"
)

// tcpProxy forwards loopback connections to PostgreSQL. It can fail the
// three ways a database goes away: cut (it closes every connection and
// refuses new ones, fast errors), blackhole (it closes every connection and
// accepts new ones that never answer, a network dropping packets) and
// freeze (the connections it carries stop answering mid-stream and new
// ones never answer, a stopped server); restore forwards again.
type tcpProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	state  proxyState
	conns  map[net.Conn]struct{}
}

type proxyState int

const (
	forwarding proxyState = iota
	refusing              // cut
	silent                // blackhole, freeze: accepted, never answered
)

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
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
		switch p.now() {
		case refusing:
			c.Close()
			continue
		case silent:
			p.hold(c) // read by no one: the client waits for an answer
			continue
		}
		s, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		p.hold(c, s)
		go p.pipe(c, s)
		go p.pipe(s, c)
	}
}

func (p *tcpProxy) now() proxyState {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state
}

func (p *tcpProxy) hold(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
}

// pipe copies src to dst while the proxy forwards; while it is silent what
// arrives is swallowed, so the other side waits for an answer.
func (p *tcpProxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && p.now() == forwarding {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// set moves the proxy to state, first closing every connection it holds
// when closeAll is set.
func (p *tcpProxy) set(state proxyState, closeAll bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.state = state
	if !closeAll {
		return
	}
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

func (p *tcpProxy) cut()       { p.set(refusing, true) }
func (p *tcpProxy) blackhole() { p.set(silent, true) }
func (p *tcpProxy) freeze()    { p.set(silent, false) }

// restore forwards again; connections held while silent lost what they
// carried, so they are closed, as a frozen server's are when it restarts.
func (p *tcpProxy) restore() { p.set(forwarding, true) }

// TestOutageKeepsRowsAndCountsOverflow cuts the connection between the log
// and PostgreSQL while callbacks are recorded: the rows recorded during the
// outage wait in memory, up to the backlog's bound (the oldest beyond it are
// dropped and counted exactly), and are stored when the database is back,
// without a Flush.
func TestOutageKeepsRowsAndCountsOverflow(t *testing.T) {
	t.Parallel()
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

	// The writer retries by itself.
	checkStoredAfterOutage(ctx, t, l, reg, before, during, backlog)
	if got := sum(t, reg, "assignd_decision_log_dropped_total", "reason", "outage"); got != during-backlog {
		t.Errorf(`dropped_total{reason="outage"} = %v, want %d`, got, during-backlog)
	}
	if got := sum(t, reg, "assignd_decision_log_dropped_total"); got != during-backlog {
		t.Errorf("dropped_total (all reasons) = %v, want %d", got, during-backlog)
	}
}

// TestSilentOutageKeepsRows: a database that stops answering, rather than
// failing fast, must not hold the writer up while the input buffer fills:
// the rows recorded during the outage go to the backlog (the oldest beyond
// its bound dropped and counted exactly), none is dropped as buffer_full,
// and they are stored when the database is back. Blackhole: the network
// drops everything and new connections hang; frozen: the connection the
// log holds stops answering mid-stream. The input buffer is small and the
// rows come in chunks that fit it, across many retries: a writer that
// waited on the store for longer than a probe would overflow it.
func TestSilentOutageKeepsRows(t *testing.T) {
	t.Parallel() // mostly waiting on the outage; a database of its own
	for _, outage := range []struct {
		name  string
		start func(*tcpProxy)
	}{{"blackhole", (*tcpProxy).blackhole}, {"frozen", (*tcpProxy).freeze}} {
		t.Run(outage.name, func(t *testing.T) {
			t.Parallel()
			const before, during, backlog, buffer, chunk = 5, 300, 250, 64, 50
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
				Mode: decisionlog.ModeSummary, BatchSize: 10, BufferSize: buffer, BacklogRows: backlog, RetryEvery: 50 * time.Millisecond, Registerer: reg})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			record := func(n int) {
				r := servicetest.Reservation(n, nil, nil)
				l.Record(handlers.CallbackRecord{Received: time.Now(), Result: handlers.ResultOK, Reservation: &r,
					Decision: policy.Decision{Instruction: policy.Accept{}, Rule: "r"}, Answer: json.RawMessage(`{"instruction":"accept"}`)})
			}
			for i := 1; i <= before; i++ {
				record(i)
			}
			fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			if err := l.Flush(fctx); err != nil {
				t.Fatal(err)
			}

			outage.start(proxy)
			t.Cleanup(proxy.restore) // before Close, should the test fail
			// Each chunk reaches the backlog (or pushes its oldest out)
			// while the store is still silent (bounded wait: a writer
			// blocked on the store never gets there).
			held := func() float64 {
				return sum(t, reg, "assignd_decision_log_backlog_rows") + sum(t, reg, "assignd_decision_log_dropped_total", "reason", "outage")
			}
			for from := before + 1; from <= before+during; from += chunk {
				for i := from; i < from+chunk; i++ {
					record(i)
				}
				want := float64(from + chunk - 1 - before)
				testwait.Until(20*time.Second, func() bool { return held() >= want })
				if got := held(); got != want {
					t.Fatalf("during the outage, %d rows recorded: backlog_rows + dropped{outage} = %v", int(want), got)
				}
			}
			if got := sum(t, reg, "assignd_decision_log_backlog_rows"); got != backlog {
				t.Fatalf("during the outage: backlog_rows = %v, want %d", got, backlog)
			}
			proxy.restore()

			checkStoredAfterOutage(ctx, t, l, reg, before, during, backlog)
			if got := sum(t, reg, "assignd_decision_log_dropped_total"); got != during-backlog {
				t.Errorf("dropped_total (all reasons) = %v, want %d, all of them outage", got, during-backlog)
			}
			if got := sum(t, reg, "assignd_decision_log_written_total"); got != before+backlog {
				t.Errorf("written_total = %v, want %d", got, before+backlog)
			}
		})
	}
}

// TestRejectedBatchIsDroppedNotRetried: a store that answers but refuses a
// batch (here a trigger or constraint refusing one rule) is not an outage:
// the batch is dropped and counted, and the rows after it are stored
// rather than held up behind it.
func TestRejectedBatchIsDroppedNotRetried(t *testing.T) {
	t.Parallel()
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

// checkStoredAfterOutage waits (bounded) for the backlog to drain, then
// checks the log holds exactly the rows recorded before the outage and the
// newest backlog of the during recorded in it, newest first.
func checkStoredAfterOutage(ctx context.Context, t *testing.T, l *decisionlog.Log, reg *prometheus.Registry, before, during, backlog int) {
	t.Helper()
	testwait.Until(30*time.Second, func() bool { return sum(t, reg, "assignd_decision_log_backlog_rows") == 0 })
	got, err := l.Query(ctx, decisionlog.Filter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != before+backlog {
		t.Fatalf("after the outage, %d rows stored, want %d (%d before it, the newest %d of the %d during it)", len(got), before+backlog, before, backlog, during)
	}
	for i, e := range got {
		n := before + during - i
		if i >= backlog {
			n = before - (i - backlog)
		}
		if want := servicetest.Reservation(n, nil, nil).ReservationSid; e.ReservationSid != want {
			t.Fatalf("row %d: %s, want %s", i, e.ReservationSid, want)
		}
	}
}
