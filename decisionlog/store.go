package decisionlog

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib" // also database/sql's driver "pgx"
	_ "modernc.org/sqlite"           // database/sql driver "sqlite", pure Go

	"github.com/assignd/assignd/internal/sqlitefile"
)

// FileName is the SQLite file in DATA_DIR. It is not River's queue.sqlite:
// that one belongs to the queue (one connection, a process lock), and the
// inspector's reads must never wait behind it.
const FileName = "decisions.sqlite"

type dialect int

const (
	sqliteDialect dialect = iota
	postgresDialect
)

// migration is one versioned schema change; versions only ever grow.
type migration struct {
	version  int
	sqlite   string
	postgres string
}

var migrations = []migration{
	{
		version: 1,
		// SQLite: no AUTOINCREMENT (it updates sqlite_sequence on every
		// insert) and no at_us index (a B-tree insert per row): ids are
		// never reused because prune never deletes the newest row, and
		// time is found through the id (see idBound).
		sqlite: `CREATE TABLE assignd_decision (
	id INTEGER PRIMARY KEY,
	` + columnsDDL + `);
CREATE INDEX assignd_decision_reservation ON assignd_decision (reservation_sid);`,
		// PostgreSQL keeps its at_us index: several instances may write
		// one table, so id order is not time order there.
		postgres: `CREATE TABLE assignd_decision (
	id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	` + columnsDDL + `);
CREATE INDEX assignd_decision_at ON assignd_decision (at_us);
CREATE INDEX assignd_decision_reservation ON assignd_decision (reservation_sid);`,
	},
	{
		// Refusals are capped apart from genuine decisions (prune): a
		// partial index holds only them (a trickle), so finding the cap's
		// boundary among them reads no genuine row and costs a genuine
		// insert nothing but the check of its result. Written out, not
		// built from answeredResults: an applied migration never changes
		// (TestRefusalIndexAgreesWithRefused keeps the two in step).
		version:  2,
		sqlite:   `CREATE INDEX assignd_decision_refusal ON assignd_decision (id) WHERE result NOT IN ('ok', 'fallback')`,
		postgres: `CREATE INDEX assignd_decision_refusal ON assignd_decision (id) WHERE result NOT IN ('ok', 'fallback')`,
	},
	{
		// SQLite drops the reservation index: on a grown table nearly every
		// insert lands in the middle of it (page splits), a third of the
		// writer's CPU per row (bench/RESULTS.md). A reservation filter then
		// scans, newest first, as the SID, task and worker filters always
		// did. PostgreSQL keeps it: several instances may share its table,
		// and its index costs the database server, not the callbacks.
		version: 3,
		sqlite:  `DROP INDEX IF EXISTS assignd_decision_reservation`,
	},
}

// columnsDDL is the same on both stores. The columns are what the filters
// use; everything else is one JSON document (data, with the attributes
// embedded as TaskRouter sent them), because a row's cost
// on the writer grows with its columns and indexes, and the writer must
// stay cheap next to the callbacks it logs. On PostgreSQL the reservation
// (the question operators ask) and the time are indexed; on SQLite neither
// (migration 3; the time is found through the id, idBound). The other
// filters scan, which the retention bound keeps tolerable for an admin
// page. Refusals have a partial index of their own (migration 2).
const columnsDDL = `at_us BIGINT NOT NULL,
	result TEXT NOT NULL,
	reservation_sid TEXT NOT NULL,
	task_sid TEXT NOT NULL,
	worker_sid TEXT NOT NULL,
	queue_sid TEXT NOT NULL,
	rule TEXT NOT NULL,
	instruction TEXT NOT NULL,
	data TEXT NOT NULL
`

// columns lists the stored columns but id, in insert and scan order.
const columns = `at_us, result, reservation_sid, task_sid, worker_sid, queue_sid, rule, instruction, data`

const numColumns = 9

// insertChunks are the row counts of the prepared INSERT statements, largest
// first (9 parameters a row, 576 at most: below every driver's limit). A
// batch is written as chunks of 64 and its remainder in powers of two, so a
// batch of any size takes a handful of statements: a statement costs far
// more than a row, and preparing one per batch size would cost more again
// (parsing the multi-row INSERT was half of the exec time).
var insertChunks = [...]int{64, 32, 16, 8, 4, 2, 1}

type store struct {
	db      *sql.DB
	dialect dialect
	name    string // "sqlite" or "postgres", for errors
	// inserts[i] inserts insertChunks[i] rows.
	inserts [len(insertChunks)]*sql.Stmt
	// lastAt is the newest at_us written (only the writer goroutine
	// inserts). Each row's at_us is raised to it, so at_us never decreases
	// in id order: callbacks reach the writer in about the order they
	// arrived, a few microseconds to milliseconds apart at most, and a
	// clock stepped back would otherwise break the order. On SQLite, with
	// one process writing the file, that makes id order time order, which
	// idBound relies on.
	lastAt int64
}

// openStore opens the store the service writes: it creates and migrates
// the schema and prepares the inserts.
func openStore(ctx context.Context, databaseURL, dataDir string) (*store, error) {
	return openStoreMode(ctx, databaseURL, dataDir, false)
}

// ErrSchema is returned when a reader finds a log whose schema is not the
// one this build writes: older (the service has not run since an upgrade)
// or newer (written by a later assignd), or none at all.
var ErrSchema = errors.New("decision log schema")

// openStoreMode is openStore, or with readOnly a store that never writes:
// SQLite opened read-only (mode=ro: no file is created, no write can
// happen) and PostgreSQL sessions read-only; no migration, no prepared
// inserts; the schema must be the very one this build writes.
func openStoreMode(ctx context.Context, databaseURL, dataDir string, readOnly bool) (*store, error) {
	s := &store{}
	var err error
	if databaseURL != "" {
		s.dialect, s.name = postgresDialect, "postgres"
		if readOnly {
			cfg, perr := pgx.ParseConfig(databaseURL)
			if perr != nil {
				return nil, fmt.Errorf("decision log: postgres: %w", perr)
			}
			cfg.RuntimeParams["default_transaction_read_only"] = "on"
			s.db = stdlib.OpenDB(*cfg)
		} else if s.db, err = sql.Open("pgx", databaseURL); err != nil {
			return nil, fmt.Errorf("decision log: postgres: %w", err)
		}
	} else {
		s.dialect, s.name = sqliteDialect, "sqlite"
		// 16,000 pages of WAL before a checkpoint: measured cheaper for a
		// grown table (bench/RESULTS.md, "Second pass: the grown table").
		extra := []string{"_pragma=wal_autocheckpoint(16000)"}
		if readOnly {
			extra = []string{"mode=ro", "_pragma=query_only(1)"}
		} else if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, fmt.Errorf("decision log: data dir: %w", err)
		}
		s.db, err = sql.Open("sqlite", sqlitefile.DSN(filepath.Join(dataDir, FileName), extra...))
		if err != nil {
			return nil, fmt.Errorf("decision log: sqlite: %w", err)
		}
	}
	s.db.SetMaxOpenConns(4)
	if err := s.db.PingContext(ctx); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("decision log: %s: %w", s.name, err)
	}
	if readOnly {
		if err := s.checkSchema(ctx); err != nil {
			s.db.Close()
			return nil, err
		}
		return s, nil
	}
	if err := s.migrate(ctx); err != nil {
		s.db.Close()
		return nil, err
	}
	if err := s.prepare(ctx); err != nil {
		s.db.Close()
		return nil, err
	}
	// The newest row's time, so that the order holds across restarts too.
	if err := s.db.QueryRowContext(ctx, `SELECT at_us FROM assignd_decision ORDER BY id DESC LIMIT 1`).Scan(&s.lastAt); err != nil && !errors.Is(err, sql.ErrNoRows) {
		s.db.Close()
		return nil, fmt.Errorf("decision log: %s: newest entry: %w", s.name, err)
	}
	return s, nil
}

// migrate applies the migrations not yet applied, in one transaction; on
// PostgreSQL an advisory lock serialises instances starting together.
func (s *store) migrate(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("decision log: migrate: %w", err)
	}
	defer tx.Rollback()
	if s.dialect == postgresDialect {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7256102931)`); err != nil {
			return fmt.Errorf("decision log: migrate: lock: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS assignd_decision_migration (version BIGINT PRIMARY KEY, applied_us BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("decision log: migrate: %w", err)
	}
	var current int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM assignd_decision_migration`).Scan(&current); err != nil {
		return fmt.Errorf("decision log: migrate: %w", err)
	}
	for _, m := range migrations {
		if m.version <= current {
			continue
		}
		ddl := m.sqlite
		if s.dialect == postgresDialect {
			ddl = m.postgres
		}
		for _, stmt := range strings.Split(ddl, ";") {
			if strings.TrimSpace(stmt) == "" {
				continue
			}
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("decision log: migration %d: %w", m.version, err)
			}
		}
		if _, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO assignd_decision_migration (version, applied_us) VALUES (?, ?)`), m.version, time.Now().UnixMicro()); err != nil {
			return fmt.Errorf("decision log: migration %d: %w", m.version, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("decision log: migrate: %w", err)
	}
	return nil
}

// checkSchema is nil when the store's schema is the latest migration's:
// a reader reads only the layout this build knows, and never migrates.
func (s *store) checkSchema(ctx context.Context) error {
	want := migrations[len(migrations)-1].version
	var version int
	err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM assignd_decision_migration`).Scan(&version)
	switch {
	case err != nil && s.tableMissing(ctx):
		return fmt.Errorf("%w: the %s store holds no decision log (the service has not written one there)", ErrSchema, s.name)
	case err != nil:
		return fmt.Errorf("decision log: %s: schema version: %w", s.name, err)
	case version < want:
		return fmt.Errorf("%w: the %s log is at version %d, older than this assignd's %d: run the service (assignd serve or dev) once to upgrade it", ErrSchema, s.name, version, want)
	case version > want:
		return fmt.Errorf("%w: the %s log is at version %d, newer than this assignd's %d: use the assignd that wrote it", ErrSchema, s.name, version, want)
	}
	return nil
}

// tableMissing reports whether the migrations table is absent.
func (s *store) tableMissing(ctx context.Context) bool {
	q := `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'assignd_decision_migration'`
	if s.dialect == postgresDialect {
		q = `SELECT COUNT(*) FROM pg_catalog.pg_tables WHERE tablename = 'assignd_decision_migration' AND schemaname = ANY (current_schemas(false))`
	}
	var n int
	return s.db.QueryRowContext(ctx, q).Scan(&n) == nil && n == 0
}

// rebind turns ? placeholders into PostgreSQL's $n.
func (s *store) rebind(q string) string {
	if s.dialect != postgresDialect {
		return q
	}
	var b strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// payload is the part of an Entry stored as the data document.
type payload struct {
	Error            string          `json:"error,omitempty"`
	CheckedURL       string          `json:"checked_url,omitempty"`
	Mode             Mode            `json:"mode"`
	AccountSid       string          `json:"account_sid,omitempty"`
	WorkspaceSid     string          `json:"workspace_sid,omitempty"`
	WorkflowSid      string          `json:"workflow_sid,omitempty"`
	TaskAge          int             `json:"task_age"`
	TaskPriority     int             `json:"task_priority"`
	Timestamp        string          `json:"timestamp,omitempty"`
	Steps            json.RawMessage `json:"steps"`
	InstructionJSON  json.RawMessage `json:"instruction_json,omitempty"`
	Answer           json.RawMessage `json:"answer,omitempty"`
	Async            bool            `json:"async,omitempty"`
	DelayMs          int64           `json:"delay_ms,omitempty"`
	Duplicate        bool            `json:"duplicate,omitempty"`
	LatencyUs        int64           `json:"latency_us"`
	Skipped          int64           `json:"skipped,omitempty"`
	TaskAttributes   json.RawMessage `json:"task_attributes,omitempty"`
	WorkerAttributes json.RawMessage `json:"worker_attributes,omitempty"`
	Params           json.RawMessage `json:"params,omitempty"`
}

// row is an Entry as stored: the filtered columns and the data document.
type row struct {
	at                                                                int64
	result, reservation, task, worker, queue, rule, instruction, data string
}

// rowOf encodes e, using buf for the data document (returned for reuse).
func rowOf(e *Entry, buf []byte) (row, []byte) {
	buf = appendPayload(buf[:0], e)
	return row{at: e.Time.UnixMicro(), result: e.Result, reservation: e.ReservationSid, task: e.TaskSid, worker: e.WorkerSid,
		queue: e.QueueSid, rule: e.Rule, instruction: e.Instruction, data: string(buf)}, buf
}

// insert writes rows in one transaction, through the prepared statements
// of insertChunks.
func (s *store) insert(ctx context.Context, rows []row) error {
	if s.dialect == sqliteDialect {
		// modernc's driver starts a goroutine per statement to watch a
		// cancellable context; a local file needs no watcher (busy_timeout
		// bounds the only wait), and the writer's CPU is what the log costs.
		ctx = context.WithoutCancel(ctx)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var stmts [len(insertChunks)]*sql.Stmt
	args := make([]any, 0, numColumns*min(len(rows), insertChunks[0]))
	for start := 0; start < len(rows); {
		c := 0
		for insertChunks[c] > len(rows)-start {
			c++
		}
		n := insertChunks[c]
		if stmts[c] == nil {
			stmts[c] = tx.StmtContext(ctx, s.inserts[c])
		}
		args = args[:0]
		for i := start; i < start+n; i++ {
			r := &rows[i]
			r.at = max(r.at, s.lastAt)
			s.lastAt = r.at
			args = append(args, r.at, r.result, r.reservation, r.task, r.worker, r.queue, r.rule, r.instruction, r.data)
		}
		if _, err := stmts[c].ExecContext(ctx, args...); err != nil {
			return err
		}
		start += n
	}
	return tx.Commit()
}

// insertSQL is a multi-row INSERT for n rows.
func (s *store) insertSQL(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO assignd_decision (` + columns + `) VALUES `)
	row := "(" + strings.Repeat("?, ", numColumns-1) + "?)"
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
	}
	return s.rebind(b.String())
}

// prepare prepares the INSERT statements once.
func (s *store) prepare(ctx context.Context) error {
	for i, n := range insertChunks {
		var err error
		if s.inserts[i], err = s.db.PrepareContext(ctx, s.insertSQL(n)); err != nil {
			return fmt.Errorf("decision log: prepare %d-row insert: %w", n, err)
		}
	}
	return nil
}

// query returns the entries f selects, newest first.
func (s *store) query(ctx context.Context, f Filter) ([]Entry, error) {
	terms, err := s.terms(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("decision log: query: %w", err)
	}
	var where []string
	var args []any
	for _, t := range terms {
		if t.cond != "" {
			where = append(where, t.cond)
			args = append(args, t.arg)
		}
	}
	rows, err := s.db.QueryContext(ctx, s.rebind(selectSQL(where, f)), args...)
	if err != nil {
		return nil, fmt.Errorf("decision log: query: %w", err)
	}
	defer rows.Close()
	out, err := scanAll(rows)
	if err != nil {
		return nil, fmt.Errorf("decision log: query: %w", err)
	}
	return out, nil
}

// term is one WHERE condition and its argument; the zero term is one the
// filter does not ask for.
type term struct {
	cond string
	arg  any
}

// terms is every condition f asks for, in order, each in its own slot: a
// fixed array, so that query's lists of them stay on its stack.
func (s *store) terms(ctx context.Context, f Filter) ([13]term, error) {
	var t [13]term
	if f.SID != "" {
		t[0] = term{"? IN (reservation_sid, task_sid, worker_sid, queue_sid)", f.SID}
	}
	t[1], t[2], t[3] = eq("reservation_sid", f.ReservationSid), eq("task_sid", f.TaskSid), eq("worker_sid", f.WorkerSid)
	t[4], t[5], t[6] = eq("rule", f.Rule), eq("instruction", f.Instruction), eq("result", f.Result)
	if !f.Since.IsZero() {
		t[7] = term{"at_us >= ?", f.Since.UnixMicro()}
	}
	if !f.Until.IsZero() {
		t[8] = term{"at_us < ?", f.Until.UnixMicro()}
	}
	if s.dialect == sqliteDialect {
		var err error
		if t[9], t[10], err = s.idWindow(ctx, f); err != nil {
			return t, err
		}
	}
	if f.AfterID > 0 {
		t[11] = term{"id > ?", f.AfterID}
	}
	if f.BeforeID > 0 {
		t[12] = term{"id < ?", f.BeforeID}
	}
	return t, nil
}

// eq is col = v, unless v is empty (not filtered on).
func eq(col, v string) term {
	if v == "" {
		return term{}
	}
	return term{col + " = ?", v}
}

// idWindow is f's time window again as bounds on ids. No at_us index on
// SQLite: the same bounds as ids, so the scan covers only the window's rows
// (the at_us terms stay, and cost a comparison per row of the window).
func (s *store) idWindow(ctx context.Context, f Filter) (from, to term, err error) {
	if !f.Since.IsZero() {
		id, err := s.idBound(ctx, f.Since.UnixMicro())
		if err != nil {
			return term{}, term{}, err
		}
		from = term{"id >= ?", id}
	}
	if !f.Until.IsZero() {
		id, err := s.idBound(ctx, f.Until.UnixMicro())
		if err != nil {
			return term{}, term{}, err
		}
		to = term{"id < ?", id}
	}
	return from, to, nil
}

// Query's page: Filter.Limit's default, and the most one query returns
// (a reader pages past it with BeforeID or AfterID).
const (
	DefaultQueryLimit = 100
	MaxQueryLimit     = 1000
)

// selectSQL is the SELECT for where's terms, in f's order and within its
// limit (DefaultQueryLimit, at most MaxQueryLimit).
func selectSQL(where []string, f Filter) string {
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultQueryLimit
	}
	limit = min(limit, MaxQueryLimit)
	q := `SELECT id, ` + columns + ` FROM assignd_decision`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	order := " ORDER BY id DESC LIMIT "
	if f.Oldest {
		order = " ORDER BY id LIMIT "
	}
	return q + order + strconv.Itoa(limit)
}

// scanAll reads every row, never returning nil: the API answers [].
func scanAll(rows *sql.Rows) ([]Entry, error) {
	out := []Entry{}
	for rows.Next() {
		e, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// ErrNotFound is returned by Get for an ID the log does not hold (pruned,
// or never recorded).
var ErrNotFound = errors.New("decision not found")

func (s *store) get(ctx context.Context, id int64) (Entry, error) {
	rows, err := s.db.QueryContext(ctx, s.rebind(`SELECT id, `+columns+` FROM assignd_decision WHERE id = ?`), id)
	if err != nil {
		return Entry{}, fmt.Errorf("decision log: get %d: %w", id, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return Entry{}, fmt.Errorf("decision log: get %d: %w", id, err)
		}
		return Entry{}, fmt.Errorf("decision %d: %w", id, ErrNotFound)
	}
	e, err := scan(rows)
	if err != nil {
		return Entry{}, fmt.Errorf("decision log: get %d: %w", id, err)
	}
	return e, nil
}

func scan(rows *sql.Rows) (Entry, error) {
	var e Entry
	var at int64
	var data string
	if err := rows.Scan(&e.ID, &at, &e.Result, &e.ReservationSid, &e.TaskSid, &e.WorkerSid, &e.QueueSid,
		&e.Rule, &e.Instruction, &data); err != nil {
		return Entry{}, err
	}
	var p payload
	if err := json.Unmarshal([]byte(data), &p); err != nil {
		return Entry{}, fmt.Errorf("entry %d: data: %w", e.ID, err)
	}
	e.Time = time.UnixMicro(at).UTC()
	e.Error, e.CheckedURL, e.Mode = p.Error, p.CheckedURL, p.Mode
	e.AccountSid, e.WorkspaceSid, e.WorkflowSid = p.AccountSid, p.WorkspaceSid, p.WorkflowSid
	e.TaskAge, e.TaskPriority, e.Timestamp = p.TaskAge, p.TaskPriority, p.Timestamp
	if err := json.Unmarshal(p.Steps, &e.Steps); err != nil {
		return Entry{}, fmt.Errorf("entry %d: steps: %w", e.ID, err)
	}
	e.InstructionJSON, e.Answer = p.InstructionJSON, p.Answer
	e.Async, e.Duplicate = p.Async, p.Duplicate
	e.Delay = time.Duration(p.DelayMs) * time.Millisecond
	e.Latency = time.Duration(p.LatencyUs) * time.Microsecond
	e.Skipped = p.Skipped
	e.TaskAttributes, e.WorkerAttributes, e.Params = p.TaskAttributes, p.WorkerAttributes, p.Params
	return e, nil
}

// idBound is the lowest id whose entry (or any later one) has at_us >= at:
// "at_us >= at" is "id >= idBound(at)" and "at_us < at" is
// "id < idBound(at)". SQLite only, where insert keeps at_us non-decreasing
// in id order; a binary search over ids with point lookups on the primary
// key, O(log n) (about 20 lookups for a full table), instead of an index
// every insert would pay for. Ids may have gaps (pruned rows), so each
// probe reads the first row at or after it.
func (s *store) idBound(ctx context.Context, at int64) (int64, error) {
	var lo, hi int64
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MIN(id), 1), COALESCE(MAX(id), 0) + 1 FROM assignd_decision`).Scan(&lo, &hi); err != nil {
		return 0, fmt.Errorf("id range: %w", err)
	}
	for lo < hi {
		mid := lo + (hi-lo)/2
		var probe int64
		err := s.db.QueryRowContext(ctx, `SELECT at_us FROM assignd_decision WHERE id >= ? ORDER BY id LIMIT 1`, mid).Scan(&probe)
		switch {
		case errors.Is(err, sql.ErrNoRows): // nothing at or after mid (pruned meanwhile)
			hi = mid
		case err != nil:
			return 0, fmt.Errorf("time bound: %w", err)
		case probe >= at:
			hi = mid
		default:
			lo = mid + 1
		}
	}
	return lo, nil
}

// prune deletes entries older than before, all but the newest maxRows
// genuine decisions and all but the newest maxRefusals refusals.
// On SQLite it never deletes the newest entry: ids come from the largest
// id in the table (no AUTOINCREMENT), so deleting it would hand its id
// out again and the live view, which follows ids, would miss the entry.
// So when nothing has been logged for longer than the retention, the one
// last entry outlives it until the next callback.
func (s *store) prune(ctx context.Context, before time.Time, maxRows, maxRefusals int64) (int64, error) {
	var res sql.Result
	var err error
	if s.dialect == sqliteDialect {
		var bound int64
		if bound, err = s.idBound(ctx, before.UnixMicro()); err == nil {
			res, err = s.db.ExecContext(ctx, `DELETE FROM assignd_decision WHERE id < ? AND id < (SELECT MAX(id) FROM assignd_decision)`, bound)
		}
	} else {
		// PostgreSQL's identity never hands an id out twice: no entry is spared.
		res, err = s.db.ExecContext(ctx, `DELETE FROM assignd_decision WHERE at_us < $1`, before.UnixMicro())
	}
	if err != nil {
		return 0, fmt.Errorf("decision log: prune by age: %w", err)
	}
	n, _ := res.RowsAffected()
	// Genuine decisions and refusals are capped apart, so a flood of
	// refusals can never push a genuine decision out. OFFSET >= 1 spares
	// the newest entry of each class, so the newest entry of all (which
	// SQLite must keep) is spared too.
	refused := refusalSQL()
	for _, c := range []struct {
		where string
		max   int64
	}{{"NOT (" + refused + ")", maxRows}, {refused, maxRefusals}} {
		if c.max <= 0 {
			continue
		}
		res, err = s.db.ExecContext(ctx, s.rebind(`DELETE FROM assignd_decision WHERE `+c.where+
			` AND id <= (SELECT id FROM assignd_decision WHERE `+c.where+` ORDER BY id DESC LIMIT 1 OFFSET ?)`), c.max)
		if err != nil {
			return n, fmt.Errorf("decision log: prune by count: %w", err)
		}
		m, _ := res.RowsAffected()
		n += m
	}
	return n, nil
}
