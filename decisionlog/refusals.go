package decisionlog

import (
	"strings"
	"sync/atomic"
	"time"

	"github.com/assignd/assignd/handlers"
)

// refusalResults are the results of a refused callback: anyone on the
// internet can make them, as fast as the network carries requests, so the
// log keeps a sampled trickle of them under a cap of their own (see
// sampler and store.prune) instead of a row per request.
var refusalResults = []string{handlers.ResultBadSignature, handlers.ResultBadRequest}

// Refused reports whether result is a refusal (the callback never reached
// the policy).
func Refused(result string) bool {
	for _, r := range refusalResults {
		if result == r {
			return true
		}
	}
	return false
}

// refusalSQL is "result IN ('bad_signature', 'bad_request')", the one
// condition the store's queries and its partial index share.
func refusalSQL() string {
	return "result IN ('" + strings.Join(refusalResults, "', '") + "')"
}

// sampler admits at most one refusal of a kind per interval and counts the
// ones it turns away, so the admitted one can say how many it stands for.
// It is lock-free: a flood calls it from every request goroutine at once.
type sampler struct {
	next    atomic.Int64 // Unix ns before which refusals are skipped
	skipped atomic.Int64 // skipped since the last admitted one
}

// admit reports whether a refusal at now is kept and, if so, how many were
// skipped since the previous kept one.
func (s *sampler) admit(now time.Time, every time.Duration) (skipped int64, ok bool) {
	t := now.UnixNano()
	n := s.next.Load()
	if t < n || !s.next.CompareAndSwap(n, t+int64(every)) {
		s.skipped.Add(1)
		return 0, false
	}
	return s.skipped.Swap(0), true
}
