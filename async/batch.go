package async

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// batcher is a group commit for async decisions: callbacks that arrive while
// a batch is being stored are stored together in the next one, with one
// transaction (one commit) for all of them. Nothing waits for a batch to
// fill: a lone callback is stored at once, and batches grow only when the
// store is the bottleneck.
//
// Every member's context counts, without one member's deadline costing the
// others their batch: a member whose context ends before the commit starts
// returns at once, and its row is deleted inside the transaction before the
// commit, so it is never stored, then or later. The commit (one round trip)
// is the point after which a decision counts as stored; a member whose
// context ends during it waits for its outcome.
type batcher struct {
	insertMany insertFunc
	in         chan *pendingInsert
	stop       chan struct{}
	done       chan struct{}
}

// insertFunc stores params in one transaction; see store.insertMany.
type insertFunc func(ctx context.Context, params []river.InsertManyParams, beforeCommit func([]*rivertype.JobInsertResult) []int64) ([]*rivertype.JobInsertResult, error)

// A member's state: whoever moves it out of waiting first decides whether
// its decision is committed or abandoned.
const (
	waiting int32 = iota
	committing
	abandoned
)

type pendingInsert struct {
	ctx    context.Context
	params river.InsertManyParams
	sid    string
	state  atomic.Int32
	res    *rivertype.JobInsertResult
	err    error
	ready  chan struct{}
}

const (
	maxBatch = 128
	// insertTimeout bounds one batch whatever its members' contexts say.
	insertTimeout = 3 * time.Second
)

var errQueueClosed = errors.New("store async decision: queue closed")

func newBatcher(insertMany insertFunc) *batcher {
	// Unbuffered: a send succeeds only when the loop takes it, so nothing
	// can be left in a buffer once the loop has stopped. Batching does not
	// suffer: senders that arrive during a flush wait, and are all taken
	// into the next batch.
	b := &batcher{insertMany: insertMany, in: make(chan *pendingInsert), stop: make(chan struct{}), done: make(chan struct{})}
	go b.loop()
	return b
}

// insert stores one job, in whatever batch it lands in. A batch that fails
// for a reason that says nothing about this job (a deadlock or
// serialization failure between instances) is retried as long as ctx lasts.
func (b *batcher) insert(ctx context.Context, args ApplyArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	for {
		res, err := b.insertOnce(ctx, args, opts)
		if err == nil {
			return res, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w (%w)", context.Cause(ctx), err)
		}
		if !retryableInsert(err) {
			return nil, err
		}
		// A short random pause lets the other instance's transaction finish.
		select {
		case <-time.After(time.Millisecond + rand.N(10*time.Millisecond)):
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (%w)", context.Cause(ctx), err)
		}
	}
}

func (b *batcher) insertOnce(ctx context.Context, args ApplyArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	p := &pendingInsert{ctx: ctx, params: river.InsertManyParams{Args: args, InsertOpts: opts}, sid: args.ReservationSid, ready: make(chan struct{})}
	select {
	case b.in <- p:
	case <-b.stop:
		return nil, errQueueClosed
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
	select {
	case <-p.ready:
		return p.res, p.err
	case <-ctx.Done():
		if p.state.CompareAndSwap(waiting, abandoned) {
			return nil, context.Cause(ctx) // the batch drops our row before its commit
		}
		<-p.ready // the commit has started: its outcome is ours
		return p.res, p.err
	}
}

// retryableInsert reports whether a failed batch may simply be tried again:
// PostgreSQL's deadlock_detected and serialization_failure.
func retryableInsert(err error) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && (pg.Code == "40P01" || pg.Code == "40001")
}

func (b *batcher) close() {
	close(b.stop)
	<-b.done
}

func (b *batcher) loop() {
	defer close(b.done)
	batch := make([]*pendingInsert, 0, maxBatch)
	for {
		batch = batch[:0]
		select {
		case p := <-b.in:
			batch = append(batch, p)
		case <-b.stop:
			return // senders select on stop too: nobody is left waiting
		}
	collect:
		for len(batch) < maxBatch {
			select {
			case p := <-b.in:
				batch = append(batch, p)
			default:
				break collect
			}
		}
		b.flush(batch)
	}
}

// group is one reservation's members in a batch: duplicates of one
// callback are stored once.
type group struct {
	members []*pendingInsert
	res     *rivertype.JobInsertResult
}

// flush stores one batch: its live members, grouped by reservation, in one
// transaction, and hands each member its outcome.
func (b *batcher) flush(batch []*pendingInsert) {
	if batch = dropAbandoned(batch); len(batch) == 0 {
		return
	}
	groups := groupBySid(batch)
	results, err := b.store(groups)
	deliver(groups, results, err)
}

// dropAbandoned answers the members that gave up while waiting to join,
// which are not stored at all, and returns the others (in batch's array).
func dropAbandoned(batch []*pendingInsert) []*pendingInsert {
	live := batch[:0]
	for _, p := range batch {
		if p.ctx.Err() != nil && p.state.CompareAndSwap(waiting, abandoned) || p.state.Load() == abandoned {
			p.err = context.Cause(p.ctx)
			close(p.ready)
			continue
		}
		live = append(live, p)
	}
	return live
}

// groupBySid sorts batch by ReservationSid and groups its duplicates. One
// lock order for every instance: rows are inserted sorted by
// ReservationSid, so two instances storing the same reservations at once
// wait for each other instead of deadlocking.
func groupBySid(batch []*pendingInsert) []*group {
	slices.SortStableFunc(batch, func(a, b *pendingInsert) int { return cmp.Compare(a.sid, b.sid) })
	var groups []*group
	for _, p := range batch {
		if n := len(groups); n > 0 && groups[n-1].members[0].sid == p.sid {
			groups[n-1].members = append(groups[n-1].members, p)
			continue
		}
		groups = append(groups, &group{members: []*pendingInsert{p}})
	}
	return groups
}

// store inserts one job per group in one transaction, within insertTimeout.
func (b *batcher) store(groups []*group) ([]*rivertype.JobInsertResult, error) {
	params := make([]river.InsertManyParams, len(groups))
	for i, g := range groups {
		params[i] = g.members[0].params
	}
	ctx, cancel := context.WithTimeout(context.Background(), insertTimeout)
	results, err := b.insertMany(ctx, params, func(results []*rivertype.JobInsertResult) []int64 {
		return claim(groups, results)
	})
	cancel()
	if err == nil && len(results) != len(groups) {
		err = fmt.Errorf("store async decisions: %d results for %d jobs", len(results), len(groups))
	}
	return results, err
}

// claim runs just before the commit: each member is either claimed for it
// or found abandoned; a reservation whose members all left has its new row
// deleted (the IDs returned), so it is not stored.
func claim(groups []*group, results []*rivertype.JobInsertResult) []int64 {
	var drop []int64
	for i, g := range groups {
		live := false
		for _, p := range g.members {
			if p.state.CompareAndSwap(waiting, committing) {
				live = true
			}
		}
		if !live && i < len(results) && results[i] != nil && !results[i].UniqueSkippedAsDuplicate {
			drop = append(drop, results[i].Job.ID)
		}
	}
	return drop
}

// deliver hands each member its outcome: its own context's end if it was
// abandoned, the batch's error, or the result (the first live member of a
// group stored the decision; any other is a duplicate of it).
func deliver(groups []*group, results []*rivertype.JobInsertResult, err error) {
	for i, g := range groups {
		fresh := err == nil && !results[i].UniqueSkippedAsDuplicate
		for _, p := range g.members {
			switch {
			case p.state.Load() == abandoned:
				p.err = context.Cause(p.ctx)
			case err != nil:
				p.err = err
			default:
				r := *results[i]
				r.UniqueSkippedAsDuplicate = !fresh
				fresh = false
				p.res = &r
			}
			close(p.ready)
		}
	}
}
