package decisionlog

// backlog holds rows the store could not take because it was unreachable
// (a PostgreSQL outage), oldest first, until the writer can write them.
// It is bounded in rows and bytes; beyond either bound it drops its oldest
// rows: the log is a window on the most recent callbacks (retention prunes
// the oldest too), so what an outage costs is the start of the outage, and
// what is kept joins up with what comes after it without a gap.
type backlog struct {
	rows              []row
	bytes             int
	maxRows, maxBytes int
}

// size is what a row holds in memory, roughly: its strings.
func (r *row) size() int {
	return len(r.result) + len(r.reservation) + len(r.task) + len(r.worker) + len(r.queue) +
		len(r.rule) + len(r.instruction) + len(r.data) + 64
}

// add keeps a copy of rows and returns how many of the oldest rows it had
// to drop to stay within its bounds.
func (b *backlog) add(rows []row) (dropped int) {
	b.rows = append(b.rows, rows...)
	for i := range rows {
		b.bytes += rows[i].size()
	}
	for len(b.rows) > 0 && (len(b.rows) > b.maxRows || b.bytes > b.maxBytes) {
		b.bytes -= b.rows[0].size()
		b.rows[0] = row{} // let the strings go
		b.rows = b.rows[1:]
		dropped++
	}
	return dropped
}

// head returns up to n of the oldest rows, to write next.
func (b *backlog) head(n int) []row { return b.rows[:min(n, len(b.rows))] }

// done forgets the oldest n rows, written.
func (b *backlog) done(n int) {
	for i := range n {
		b.bytes -= b.rows[i].size()
		b.rows[i] = row{}
	}
	b.rows = b.rows[n:]
	if len(b.rows) == 0 {
		b.rows, b.bytes = nil, 0 // release the array an outage grew
	}
}

func (b *backlog) len() int { return len(b.rows) }
