package inspect

import (
	"math"
	"net/http"
	"strconv"
	"time"
)

// limit bounds how many requests of one kind do their work at once. A
// request that finds every slot taken is refused at once, with
// Retry-After, rather than queued behind the others.
type limit struct {
	slots  chan struct{}
	status int           // the refusal's status
	retry  time.Duration // its Retry-After, rounded up to whole seconds
	busy   string        // its message
}

func newLimit(n, status int, retry time.Duration, busy string) *limit {
	return &limit{slots: make(chan struct{}, n), status: status, retry: retry, busy: busy}
}

// take takes a slot, or refuses the request through refuse (nil: in plain
// text); the caller releases a slot it got with release.
func (l *limit) take(w http.ResponseWriter, refuse func(status int, msg string)) bool {
	select {
	case l.slots <- struct{}{}:
		return true
	default:
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(l.retry.Seconds()))))
		if refuse == nil {
			http.Error(w, l.busy, l.status)
		} else {
			refuse(l.status, l.busy)
		}
		return false
	}
}

func (l *limit) release() { <-l.slots }
