package decisionlog

import (
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/assignd/assignd/handlers"
)

// answeredResults are the results of a callback that reached the policy.
// Every other result is a refusal (bad_signature, bad_request, and any
// kind of refusal added later): anyone on the internet can cause one, as
// fast as the network carries requests, so the log keeps a sampled trickle
// of them under a cap of their own (see sampler and store.prune) instead
// of a row per request. An array of consts, not a variable: nothing can
// change it at run time, and Refused allocates nothing.
func answeredResults() [2]string { return [...]string{handlers.ResultOK, handlers.ResultFallback} }

// Refused reports whether result is a refusal: the callback never reached
// the policy.
func Refused(result string) bool {
	a := answeredResults()
	return !slices.Contains(a[:], result)
}

// refusalSQL is "result NOT IN ('ok', 'fallback')", the one condition the
// store's queries and its partial index (migration 2, written out) share.
func refusalSQL() string {
	a := answeredResults()
	return "result NOT IN ('" + strings.Join(a[:], "', '") + "')"
}

// refusalSamplers has a sampler per kind of refusal handlers records
// (handlers.Results), and one shared by any other.
type refusalSamplers struct {
	// start is when the log opened: samplers measure time elapsed since,
	// which time.Now's monotonic reading keeps immune to the wall clock
	// being set.
	start    time.Time
	byResult map[string]*sampler // built once, read-only after
	other    sampler
}

func newRefusalSamplers(start time.Time) *refusalSamplers {
	s := &refusalSamplers{start: start, byResult: map[string]*sampler{}}
	for _, r := range handlers.Results() {
		if Refused(r) {
			s.byResult[r] = &sampler{}
		}
	}
	return s
}

// admit reports whether a refusal of kind result at now is kept, as
// sampler.admit does.
func (s *refusalSamplers) admit(result string, now time.Time, every time.Duration) (skipped int64, ok bool) {
	return s.of(result).admit(now.Sub(s.start), every)
}

// of returns the sampler for a refused result.
func (s *refusalSamplers) of(result string) *sampler {
	if x := s.byResult[result]; x != nil {
		return x
	}
	return &s.other
}

// sampler admits at most one refusal of a kind per interval and counts the
// ones it turns away, so the admitted one can say how many it stands for.
// It is lock-free: a flood calls it from every request goroutine at once.
type sampler struct {
	next    atomic.Int64 // elapsed ns before which refusals are skipped
	skipped atomic.Int64 // skipped since the last admitted one
}

// admit reports whether a refusal at elapsed (since the log opened) is
// kept and, if so, how many were skipped since the previous kept one.
func (s *sampler) admit(elapsed, every time.Duration) (skipped int64, ok bool) {
	t, n := int64(elapsed), s.next.Load()
	// Over an interval before the last kept one: a clock without a
	// monotonic reading (one set back, or injected) went back; start over.
	steppedBack := t < n-2*int64(every)
	if (t < n && !steppedBack) || !s.next.CompareAndSwap(n, t+int64(every)) {
		s.skipped.Add(1)
		return 0, false
	}
	return s.skipped.Swap(0), true
}
