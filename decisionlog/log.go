package decisionlog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/assignd/assignd/handlers"
	"github.com/assignd/assignd/policy"
	"github.com/assignd/assignd/taskrouter"
)

// Defaults for Options.
const (
	DefaultRetention  = 24 * time.Hour
	DefaultMaxRows    = 1_000_000
	DefaultBufferSize = 8192
	// DefaultBatchSize lets 100 ms of 10,000 callbacks/s share one
	// transaction: a row costs the writer ~15% less in batches of 1,000 than
	// of 300 (BenchmarkWriter fresh-batch-1000 vs fresh; bench/RESULTS.md).
	DefaultBatchSize  = 2048
	DefaultPruneEvery = time.Minute
	// DefaultFlushInterval bounds how long a record waits to be committed.
	DefaultFlushInterval = 100 * time.Millisecond
	// DefaultRefusalEvery keeps at most one refused callback of each kind
	// (bad_signature, bad_request) a second: a flood of forged requests
	// then writes two rows a second, each counting the ones skipped.
	DefaultRefusalEvery = time.Second
	// DefaultMaxRefusalRows caps the refusals kept, apart from MaxRows, so
	// refusals never push a genuine decision out (hours of a flood at the
	// trickle's rate).
	DefaultMaxRefusalRows = 10_000
	// DefaultMaxRefusalParams bounds a refused callback's parameters kept
	// in full mode (bytes of JSON); larger ones are left out.
	DefaultMaxRefusalParams = 4 << 10
	// DefaultBacklogRows and DefaultBacklogBytes bound the rows kept in
	// memory while the store is unreachable (see backlog), and
	// DefaultRetryEvery is how often the writer tries the store then.
	DefaultBacklogRows  = 100_000
	DefaultBacklogBytes = 32 << 20
	DefaultRetryEvery   = time.Second
)

// A store that stops answering (a frozen server, a blackholed network)
// must not hold the writer up while the input buffer fills behind it.
// probeTimeout bounds the ping that tells an outage from a refused batch
// (and the one before each retry); writeTimeout bounds a batch's insert,
// which takes milliseconds when the store is well (SQLite, a local file,
// ignores it: store.insert).
const (
	probeTimeout = time.Second
	writeTimeout = 2 * time.Second
)

// errNoAnswer marks a write the store did not answer in writeTimeout.
var errNoAnswer = errors.New("no answer")

// Options configure a Log.
type Options struct {
	Logger zerolog.Logger
	// DatabaseURL selects PostgreSQL (table assignd_decision); when empty
	// the log is SQLite in DataDir (FileName).
	DatabaseURL string
	DataDir     string
	// Mode is full or summary; Open refuses off (do not open a log then).
	Mode Mode
	// Retention and MaxRows bound the table; the pruner deletes older and
	// surplus entries every PruneEvery.
	Retention  time.Duration
	MaxRows    int64
	PruneEvery time.Duration
	// BufferSize bounds the records waiting to be written; beyond it
	// Record drops (and counts) rather than block a callback.
	BufferSize int
	// BatchSize bounds the records written in one transaction.
	BatchSize int
	// FlushInterval is how long the writer waits for a batch to fill before
	// committing what it has; default 100 ms. It is also how late a record
	// reaches the live view, and (with the buffer) what a crash may lose.
	FlushInterval time.Duration
	// RefusalEvery, MaxRefusalRows and MaxRefusalParams bound what refused
	// callbacks may write (see the defaults).
	RefusalEvery     time.Duration
	MaxRefusalRows   int64
	MaxRefusalParams int
	// BacklogRows and BacklogBytes bound the rows kept while the store is
	// unreachable; RetryEvery paces the retries.
	BacklogRows  int
	BacklogBytes int
	RetryEvery   time.Duration
	// Registerer receives the log's metrics when set.
	Registerer prometheus.Registerer
	// Now is the clock for retention and for sampling refusals; default
	// time.Now.
	Now func() time.Time
}

// Log is the decision log. It implements handlers.Recorder.
type Log struct {
	log   zerolog.Logger
	store *store
	o     Options

	in      chan record
	flushes chan chan error
	stop    chan struct{}
	done    sync.WaitGroup

	mu      sync.Mutex
	changed chan struct{} // closed and replaced after each committed batch

	// refusals samples each kind of refusal.
	refusals *refusalSamplers
	// backlog is the writer's own: only the writer goroutine touches it.
	backlog backlog

	dropped                 *prometheus.CounterVec
	written, failed, pruned prometheus.Counter
	skipped                 prometheus.Counter
	backlogRows             prometheus.Gauge
}

// record is a callback on its way to the writer, with the number of
// refusals of its kind skipped before it (0 unless it is a refusal).
type record struct {
	handlers.CallbackRecord
	skipped int64
}

// Reasons a record is dropped, the label of assignd_decision_log_dropped_total.
const (
	dropBufferFull = "buffer_full" // the writer fell behind
	dropOutage     = "outage"      // the store was unreachable for longer than the backlog holds
	dropRejected   = "rejected"    // the store was reachable but refused the batch
)

// Open connects to the store, applies the migrations and starts the
// writer and the pruner. Close stops them.
func Open(ctx context.Context, o Options) (*Log, error) {
	if o.Mode != ModeFull && o.Mode != ModeSummary {
		return nil, fmt.Errorf("decision log: mode must be full or summary, got %q", o.Mode)
	}
	o = o.withDefaults()
	st, err := openStore(ctx, o.DatabaseURL, o.DataDir)
	if err != nil {
		return nil, err
	}
	l := &Log{
		log: o.Logger.With().Str("component", "decisionlog").Logger(), store: st, o: o,
		in: make(chan record, o.BufferSize), flushes: make(chan chan error),
		stop: make(chan struct{}), changed: make(chan struct{}),
		refusals: newRefusalSamplers(o.Now()),
		backlog:  backlog{maxRows: o.BacklogRows, maxBytes: o.BacklogBytes},
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "assignd_decision_log_dropped_total",
			Help: "Callbacks the decision log could not keep, by reason: buffer_full (the writer fell behind), " +
				"outage (the store was unreachable for longer than the in-memory backlog holds), rejected (the store refused the batch)."},
			[]string{"reason"}),
		written: prometheus.NewCounter(prometheus.CounterOpts{Name: "assignd_decision_log_written_total",
			Help: "Callbacks written to the decision log."}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{Name: "assignd_decision_log_write_errors_total",
			Help: "Rows whose write failed (kept in the backlog for a retry when the store is unreachable)."}),
		pruned: prometheus.NewCounter(prometheus.CounterOpts{Name: "assignd_decision_log_pruned_total",
			Help: "Decision log entries deleted by retention (age or row count)."}),
		skipped: prometheus.NewCounter(prometheus.CounterOpts{Name: "assignd_decision_log_refusals_skipped_total",
			Help: "Refused callbacks not written: the log keeps a sampled trickle of refusals, each counting those skipped before it."}),
		backlogRows: prometheus.NewGauge(prometheus.GaugeOpts{Name: "assignd_decision_log_backlog_rows",
			Help: "Rows held in memory because the store is unreachable, written when it is back."}),
	}
	for _, r := range []string{dropBufferFull, dropOutage, dropRejected} {
		l.dropped.WithLabelValues(r) // export zeros so rates work from the start
	}
	if o.Registerer != nil {
		for _, c := range []prometheus.Collector{l.dropped, l.written, l.failed, l.pruned, l.skipped, l.backlogRows} {
			if err := o.Registerer.Register(c); err != nil {
				st.db.Close()
				return nil, fmt.Errorf("decision log: metrics: %w", err)
			}
		}
	}
	l.done.Add(2)
	go l.writer()
	go l.pruner()
	return l, nil
}

// Mode is what the log keeps.
func (l *Log) Mode() Mode { return l.o.Mode }

// Store names the backing store: "sqlite" or "postgres".
func (l *Log) Store() string { return l.store.name }

// Record queues c for writing. It never blocks: when the buffer is full the
// record is dropped and counted. A refusal is kept only when its kind's
// sampler admits it (at most one per RefusalEvery); the others are counted
// and cost nothing more.
func (l *Log) Record(c handlers.CallbackRecord) {
	r := record{CallbackRecord: c}
	if Refused(c.Result) {
		n, ok := l.refusals.admit(c.Result, l.o.Now(), l.o.RefusalEvery)
		if !ok {
			l.skipped.Inc()
			return
		}
		r.skipped = n
	}
	select {
	case l.in <- r:
	default:
		l.dropped.WithLabelValues(dropBufferFull).Inc()
	}
}

// withDefaults fills in the options left zero.
func (o Options) withDefaults() Options {
	defaultTo(&o.Retention, DefaultRetention)
	defaultTo(&o.MaxRows, DefaultMaxRows)
	defaultTo(&o.PruneEvery, DefaultPruneEvery)
	defaultTo(&o.BufferSize, DefaultBufferSize)
	defaultTo(&o.BatchSize, DefaultBatchSize)
	defaultTo(&o.FlushInterval, DefaultFlushInterval)
	defaultTo(&o.RefusalEvery, DefaultRefusalEvery)
	defaultTo(&o.MaxRefusalRows, DefaultMaxRefusalRows)
	defaultTo(&o.MaxRefusalParams, DefaultMaxRefusalParams)
	defaultTo(&o.BacklogRows, DefaultBacklogRows)
	defaultTo(&o.BacklogBytes, DefaultBacklogBytes)
	defaultTo(&o.RetryEvery, DefaultRetryEvery)
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// defaultTo sets *v to def when it is not positive.
func defaultTo[T int | int64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// Flush waits until every record queued before the call is committed (or
// ctx ends). Tests and shutdown use it; callbacks never do. While the store
// is unreachable it returns an error saying how many rows wait in memory.
func (l *Log) Flush(ctx context.Context) error {
	done := make(chan error, 1)
	select {
	case l.flushes <- done:
	case <-l.stop:
		return fmt.Errorf("decision log: closed")
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close writes what is queued and releases the store.
func (l *Log) Close() error {
	close(l.stop)
	l.done.Wait()
	return l.store.db.Close()
}

// Changed returns a channel closed when the next batch is committed: the
// live view waits on it instead of polling the table.
func (l *Log) Changed() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.changed
}

// Query returns the entries f selects, newest first.
func (l *Log) Query(ctx context.Context, f Filter) ([]Entry, error) { return l.store.query(ctx, f) }

// Get returns one entry; the error wraps ErrNotFound when there is none.
func (l *Log) Get(ctx context.Context, id int64) (Entry, error) { return l.store.get(ctx, id) }

// Prune applies retention now and returns how many entries it deleted.
func (l *Log) Prune(ctx context.Context) (int64, error) {
	n, err := l.store.prune(ctx, l.o.Now().Add(-l.o.Retention), l.o.MaxRows, l.o.MaxRefusalRows)
	l.pruned.Add(float64(n))
	return n, err
}

// writer collects records for up to FlushInterval (or until a batch is
// full) and commits them in one transaction: a commit, not a row, is what
// costs, so a record costs the callback's goroutine nothing and the writer
// little. While the store is unreachable, batches go to the backlog and a
// ticker retries it every RetryEvery.
func (l *Log) writer() {
	defer l.done.Done()
	p := l.newPending()
	retry := time.NewTicker(l.o.RetryEvery)
	defer retry.Stop()
	for {
		select {
		case c := <-l.in:
			p.receive(&c)
		case <-p.timer.C:
			p.commit()
		case <-retry.C:
			p.retry()
		case done := <-l.flushes:
			done <- p.flush()
		case <-l.stop:
			p.close()
			return
		}
	}
}

// pending is the writer goroutine's batch (only it touches one): the rows
// waiting for their commit, the buffer their data documents are encoded
// in, and the timer that commits them FlushInterval after the first.
// Records become rows as they arrive, so a batch waiting for its commit
// holds a few flat strings per callback, not the parsed form and attribute
// maps the garbage collector would trace on every cycle.
type pending struct {
	l     *Log
	rows  []row
	buf   []byte
	timer *time.Timer
}

func (l *Log) newPending() *pending {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	return &pending{l: l, rows: make([]row, 0, l.o.BatchSize), timer: timer}
}

// add encodes c into the batch.
func (p *pending) add(c *record) {
	var r row
	r, p.buf = p.l.row(c, p.buf)
	p.rows = append(p.rows, r)
}

// receive adds c, starting the timer for the batch's first record and
// committing a full batch at once.
func (p *pending) receive(c *record) {
	if len(p.rows) == 0 {
		p.timer.Reset(p.l.o.FlushInterval)
	}
	p.add(c)
	if len(p.rows) >= p.l.o.BatchSize {
		p.timer.Stop()
		p.commit()
	}
}

// commit writes the batch, if it holds anything, and empties it.
func (p *pending) commit() {
	if len(p.rows) > 0 {
		p.l.write(p.rows)
		p.rows = p.rows[:0]
	}
}

// retry writes the backlog, behind this batch and the records waiting in
// the input buffer, when there is one.
func (p *pending) retry() {
	if p.l.backlog.len() > 0 {
		p.timer.Stop()
		p.rows, p.buf = p.l.absorb(p.rows, p.buf)
		p.l.writeBacklog()
	}
}

// flush writes everything received so far, the backlog included, and says
// whether rows still wait for the store.
func (p *pending) flush() error {
	p.timer.Stop()
	p.writeAll()
	return p.l.writeBacklog()
}

// close writes everything received so far, and counts what the store,
// unreachable, makes it lose.
func (p *pending) close() {
	p.timer.Stop()
	p.writeAll()
	if err := p.l.writeBacklog(); err != nil {
		l := p.l
		n := l.backlog.len()
		l.dropped.WithLabelValues(dropOutage).Add(float64(n))
		l.log.Error().Err(err).Int("records", n).Str("store", l.store.name).Msg("decision log: closing with the store unreachable: rows lost")
	}
}

// writeAll commits the batch and every record waiting in the input buffer,
// a full batch at a time.
func (p *pending) writeAll() {
	for {
		for len(p.rows) < p.l.o.BatchSize {
			select {
			case c := <-p.l.in:
				p.add(&c)
				continue
			default:
			}
			break
		}
		if len(p.rows) == 0 {
			return
		}
		p.l.write(p.rows)
		p.rows = p.rows[:0]
	}
}

// absorb moves batch and every record waiting in the input buffer to the
// backlog, in order: in an outage the backlog (bounded, its overflow
// counted) holds what arrives, not the input buffer, which would drop the
// newest as buffer_full. It returns batch emptied and buf for reuse.
func (l *Log) absorb(batch []row, buf []byte) ([]row, []byte) {
	for range len(l.in) { // only the writer receives: they are all there
		c := <-l.in
		var r row
		r, buf = l.row(&c, buf)
		batch = append(batch, r)
	}
	l.keep(batch)
	return batch[:0], buf
}

// write commits batch, or keeps it in the backlog behind the rows already
// there (so they are written in order) when the store is unreachable.
func (l *Log) write(batch []row) {
	if l.backlog.len() > 0 {
		l.keep(batch)
		return
	}
	err := l.insert(batch)
	if err == nil {
		return
	}
	l.failed.Add(float64(len(batch)))
	if !l.outage(err) {
		// The store answers but refused these rows: retrying would only
		// hold up the ones behind them.
		l.dropped.WithLabelValues(dropRejected).Add(float64(len(batch)))
		l.log.Error().Err(err).Int("records", len(batch)).Str("store", l.store.name).Msg("decision log: batch lost: the store refused it")
		return
	}
	l.log.Warn().Err(err).Int("records", len(batch)).Str("store", l.store.name).Int("backlog_rows", l.o.BacklogRows).
		Msg("decision log: store unreachable; keeping rows in memory (the oldest go beyond backlog_rows) until it is back")
	l.keep(batch)
}

// keep adds batch to the backlog, counting what the backlog had to drop.
func (l *Log) keep(batch []row) {
	if n := l.backlog.add(batch); n > 0 {
		l.dropped.WithLabelValues(dropOutage).Add(float64(n))
	}
	l.backlogRows.Set(float64(l.backlog.len()))
}

// writeBacklog writes the backlog, oldest first, a batch at a time, once
// the store answers a ping; it stops at the first failure (the store is
// still away) and says so.
func (l *Log) writeBacklog() error {
	if l.backlog.len() == 0 {
		return nil
	}
	if err := l.probe(); err != nil {
		return l.waiting(err)
	}
	total := l.backlog.len()
	for l.backlog.len() > 0 {
		head := l.backlog.head(l.o.BatchSize)
		if err := l.insert(head); err != nil {
			l.failed.Add(float64(len(head)))
			if !l.outage(err) { // back, but refusing these rows: let them go
				l.dropped.WithLabelValues(dropRejected).Add(float64(len(head)))
				l.log.Error().Err(err).Int("records", len(head)).Str("store", l.store.name).Msg("decision log: batch lost: the store refused it")
				l.backlog.done(len(head))
				continue
			}
			return l.waiting(err)
		}
		l.backlog.done(len(head))
		l.backlogRows.Set(float64(l.backlog.len()))
	}
	l.log.Info().Int("records", total).Str("store", l.store.name).Msg("decision log: store back; rows kept in memory are written")
	return nil
}

// waiting is the error saying the backlog waits for the store.
func (l *Log) waiting(err error) error {
	return fmt.Errorf("decision log: %d rows wait in memory for the %s store: %w", l.backlog.len(), l.store.name, err)
}

// insert writes rows, within writeTimeout, and wakes the live view.
func (l *Log) insert(rows []row) error {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	if err := l.store.insert(ctx, rows); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%w in %s: %w", errNoAnswer, writeTimeout, err)
		}
		return err
	}
	l.written.Add(float64(len(rows)))
	l.mu.Lock()
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
	return nil
}

// outage reports whether a failed write means the store is away (keep the
// rows) rather than refusing the batch (drop it): it did not answer the
// write in time, or does not answer a ping.
func (l *Log) outage(err error) bool {
	return errors.Is(err, errNoAnswer) || l.probe() != nil
}

// probe pings the store within probeTimeout.
func (l *Log) probe() error {
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	return l.store.db.PingContext(ctx)
}

func (l *Log) pruner() {
	defer l.done.Done()
	t := time.NewTicker(l.o.PruneEvery)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), l.o.PruneEvery)
			n, err := l.Prune(ctx)
			cancel()
			if err != nil {
				l.log.Warn().Err(err).Msg("decision log: prune failed; retrying at the next interval")
			} else if n > 0 {
				l.log.Debug().Int64("deleted", n).Msg("decision log pruned")
			}
		}
	}
}

// row converts a callback record into what the store writes, using buf
// for the data document (returned for reuse).
func (l *Log) row(c *record, buf []byte) (row, []byte) {
	e := l.entry(&c.CallbackRecord)
	e.Skipped = c.skipped
	return rowOf(&e, buf)
}

// entry converts a callback record; in summary mode attribute values and
// extra parameters are left out here, before anything reaches the store.
func (l *Log) entry(c *handlers.CallbackRecord) Entry {
	d := c.Decision
	e := Entry{
		Time: c.Received.UTC(), Result: c.Result, CheckedURL: c.CheckedURL, Mode: l.o.Mode,
		Rule: d.Rule, Steps: c.Steps, Async: d.Async, Delay: d.Delay, Duplicate: c.Duplicate, Latency: c.Latency,
		Answer: c.Answer,
	}
	if e.Steps == nil {
		e.Steps = []policy.Step{}
	}
	if c.Err != nil {
		e.Error = c.Err.Error()
	}
	answered := !Refused(c.Result)
	if answered {
		e.Instruction = d.InstructionName()
		switch {
		case d.Instruction != nil && !d.Async:
			e.InstructionJSON = c.Answer // the answer is the instruction's JSON
		case d.Instruction != nil:
			if b, err := json.Marshal(d.Instruction); err == nil {
				e.InstructionJSON = b
			}
		}
	}
	if r := c.Reservation; r != nil {
		e.AccountSid, e.WorkspaceSid, e.WorkflowSid, e.QueueSid = r.AccountSid, r.WorkspaceSid, r.WorkflowSid, r.TaskQueueSid
		e.TaskSid, e.WorkerSid, e.ReservationSid = r.TaskSid, r.WorkerSid, r.ReservationSid
		e.TaskAge, e.TaskPriority, e.Timestamp = r.TaskAge, r.TaskPriority, r.Timestamp
		if l.o.Mode == ModeFull {
			// As TaskRouter sent them when the form is there: cheaper than
			// encoding the maps again. When the handler parsed them, they
			// are JSON already and are not checked again (json.Valid on the
			// attributes was a tenth of the writer's CPU).
			parsed := parsedAttributes(c)
			e.TaskAttributes = rawAttributes(c.Form, "TaskAttributes", r.TaskAttributes, parsed)
			e.WorkerAttributes = rawAttributes(c.Form, "WorkerAttributes", r.WorkerAttributes, parsed)
			e.Params = marshalOrNil(r.Params)
		}
	}
	if c.Form != nil && !answered {
		// Refused: keep the SIDs it claimed, where they look like SIDs, so
		// "why was WR… refused" can be found.
		for _, p := range taskrouter.CallbackParams() {
			if dst := e.sidColumn(p.Name); dst != nil && *dst == "" {
				*dst = claimedSid(c.Form, p.Name, p.Prefix)
			}
		}
		if l.o.Mode == ModeFull {
			// A refused request: its raw parameters are what was wrong,
			// when they are of a size a callback has (a flood's are not).
			if p := marshalOrNil(map[string][]string(c.Form)); len(p) <= l.o.MaxRefusalParams {
				e.Params = p
			}
		}
	}
	redact(&e, d, c.Err, l.o.Mode)
	return e
}

// parsedAttributes reports whether the handler decoded both attribute
// parameters as JSON objects: an answered callback, or a fallback for any
// reason but malformed attributes. json.Unmarshal checks the whole input,
// so the raw parameters are then valid JSON.
func parsedAttributes(c *handlers.CallbackRecord) bool {
	var attrErr *handlers.AttributeError
	switch c.Result {
	case handlers.ResultOK:
		return true
	case handlers.ResultFallback:
		return !errors.As(c.Err, &attrErr)
	}
	return false
}

// rawAttributes is the attribute parameter as sent when it is JSON (known
// when parsed is true, checked otherwise), else the parsed map encoded.
// Either way the result is valid JSON or nil, which appendPayload relies on.
func rawAttributes(form url.Values, key string, m map[string]any, parsed bool) json.RawMessage {
	if v := form.Get(key); v != "" && (parsed || json.Valid([]byte(v))) {
		return json.RawMessage(v)
	}
	return marshalOrNil(m)
}

func claimedSid(form url.Values, key, prefix string) string {
	if v := form.Get(key); taskrouter.ValidSid(prefix, v) {
		return v
	}
	return ""
}

func marshalOrNil[T any](v map[string]T) json.RawMessage {
	if len(v) == 0 {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}
