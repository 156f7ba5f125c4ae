package async

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// batcher is a group commit for async decisions: callbacks that arrive while
// a batch is being stored are stored together in the next one, with one
// transaction (one commit) for all of them. Nothing waits for a batch to
// fill: a lone callback is stored at once, and batches grow only when the
// store is the bottleneck.
type batcher struct {
	insertMany func(ctx context.Context, params []river.InsertManyParams) ([]*rivertype.JobInsertResult, error)
	in         chan *pendingInsert
	stop       chan struct{}
	done       chan struct{}
}

type pendingInsert struct {
	params river.InsertManyParams
	sid    string
	res    *rivertype.JobInsertResult
	err    error
	ready  chan struct{}
}

const (
	maxBatch = 128
	// insertTimeout bounds one batch. The callers wait for it whatever their
	// own contexts say: a caller that gave up early could answer a fallback
	// while its decision is stored anyway, and act twice.
	insertTimeout = 3 * time.Second
)

func newBatcher(insertMany func(context.Context, []river.InsertManyParams) ([]*rivertype.JobInsertResult, error)) *batcher {
	// Unbuffered: a send succeeds only when the loop takes it, so nothing
	// can be left in a buffer once the loop has stopped. Batching does not
	// suffer: senders that arrive during a flush wait, and are all taken
	// into the next batch.
	b := &batcher{insertMany: insertMany, in: make(chan *pendingInsert), stop: make(chan struct{}), done: make(chan struct{})}
	go b.loop()
	return b
}

// insert stores one job, in whatever batch it lands in.
func (b *batcher) insert(args ApplyArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	p := &pendingInsert{params: river.InsertManyParams{Args: args, InsertOpts: opts}, sid: args.ReservationSid, ready: make(chan struct{})}
	select {
	case b.in <- p:
	case <-b.stop:
		return nil, fmt.Errorf("store async decision: queue closed")
	}
	<-p.ready
	return p.res, p.err
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
			b.drain()
			return
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

// drain fails whatever arrived after stop.
func (b *batcher) drain() {
	for {
		select {
		case p := <-b.in:
			p.err = fmt.Errorf("store async decision: queue closed")
			close(p.ready)
		default:
			return
		}
	}
}

func (b *batcher) flush(batch []*pendingInsert) {
	// The same reservation twice in one batch (a duplicate callback racing
	// the first): store it once; the later ones are duplicates of it.
	first := make(map[string]*pendingInsert, len(batch))
	params := make([]river.InsertManyParams, 0, len(batch))
	owners := make([]*pendingInsert, 0, len(batch))
	var dups []*pendingInsert
	for _, p := range batch {
		if _, seen := first[p.sid]; seen {
			dups = append(dups, p)
			continue
		}
		first[p.sid] = p
		params = append(params, p.params)
		owners = append(owners, p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), insertTimeout)
	results, err := b.insertMany(ctx, params)
	cancel()
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
