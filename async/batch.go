package async

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
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
// Every member's context counts: a member whose context ends before the
// commit is never stored. The batch's inserts are cancelled as soon as any
// member leaves, the transaction is rolled back, and the members still
// waiting are stored in a new batch. The commit itself (one round trip) is
// the point after which a decision counts as stored.
type batcher struct {
	insertMany insertFunc
	in         chan *pendingInsert
	stop       chan struct{}
	done       chan struct{}
}

// insertFunc stores params in one transaction; see store.insertMany.
type insertFunc func(ctx, commitCtx context.Context, params []river.InsertManyParams) ([]*rivertype.JobInsertResult, error)

type pendingInsert struct {
	ctx    context.Context
	params river.InsertManyParams
	sid    string
	res    *rivertype.JobInsertResult
	err    error
	ready  chan struct{}
}

const (
	maxBatch = 128
	// insertTimeout bounds one batch whatever its members' contexts say.
	insertTimeout = 3 * time.Second
)

var (
	errQueueClosed = errors.New("store async decision: queue closed")
	// errMemberLeft cancels a batch whose member's context ended.
	errMemberLeft = errors.New("a member of the batch gave up")
)

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
// serialization failure between instances, another member giving up) is
// retried as long as ctx lasts.
func (b *batcher) insert(ctx context.Context, args ApplyArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	for {
		res, err := b.insertOnce(ctx, args, opts)
		if err == nil {
			return res, nil
		}
		if cerr := ctx.Err(); cerr != nil {
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
	// The flush ends by insertTimeout, and at once if ctx ends before the
	// commit, so this wait is bounded by both.
	<-p.ready
	return p.res, p.err
}

// retryableInsert reports whether a failed batch may simply be tried again:
// PostgreSQL's deadlock_detected and serialization_failure, or a batch
// abandoned because another member left.
func retryableInsert(err error) bool {
	var pg *pgconn.PgError
	if errors.As(err, &pg) && (pg.Code == "40P01" || pg.Code == "40001") {
		return true
	}
	return errors.Is(err, errMemberLeft)
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

func (b *batcher) flush(batch []*pendingInsert) {
	// Members that gave up while waiting to join are not stored at all.
	live := batch[:0:0]
	for _, p := range batch {
		if p.ctx.Err() != nil {
			p.err = context.Cause(p.ctx)
			close(p.ready)
			continue
		}
		live = append(live, p)
	}
	// One lock order for every instance: rows are inserted sorted by
	// ReservationSid, so two instances storing the same reservations at
	// once wait for each other instead of deadlocking.
	slices.SortStableFunc(live, func(a, b *pendingInsert) int { return cmp.Compare(a.sid, b.sid) })
	// The same reservation twice in one batch (a duplicate callback racing
	// the first): store it once; the later ones are duplicates of it.
	first := make(map[string]*pendingInsert, len(live))
	params := make([]river.InsertManyParams, 0, len(live))
	owners := make([]*pendingInsert, 0, len(live))
	var dups []*pendingInsert
	for _, p := range live {
		if _, seen := first[p.sid]; seen {
			dups = append(dups, p)
			continue
		}
		first[p.sid] = p
		params = append(params, p.params)
		owners = append(owners, p)
	}
	var results []*rivertype.JobInsertResult
	var err error
	if len(params) > 0 {
		results, err = b.store(live, params)
	}
	if err == nil && len(results) != len(owners) {
		err = fmt.Errorf("store async decisions: %d results for %d jobs", len(results), len(owners))
	}
	for i, p := range owners {
		if err != nil {
			p.err = err
		} else {
			p.res = results[i]
		}
		close(p.ready)
	}
	for _, p := range dups {
		f := first[p.sid]
		p.err = f.err
		if f.res != nil {
			dup := *f.res
			dup.UniqueSkippedAsDuplicate = true
			p.res = &dup
		}
		close(p.ready)
	}
}

// store runs one transaction for the batch: its inserts end as soon as any
// member's context does; its commit gets insertTimeout of its own.
func (b *batcher) store(members []*pendingInsert, params []river.InsertManyParams) ([]*rivertype.JobInsertResult, error) {
	ctx, cancel := context.WithTimeoutCause(context.Background(), insertTimeout, errors.New("batch insert timed out"))
	defer cancel()
	inner, cancelInner := context.WithCancelCause(ctx)
	defer cancelInner(nil)
	for _, p := range members {
		stop := context.AfterFunc(p.ctx, func() { cancelInner(errMemberLeft) })
		defer stop()
	}
	results, err := b.insertMany(inner, ctx, params)
	if err != nil && inner.Err() != nil {
		return nil, fmt.Errorf("%w: %w", context.Cause(inner), err)
	}
	return results, err
}
