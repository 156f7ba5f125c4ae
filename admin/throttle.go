package admin

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/rs/zerolog"
	"golang.org/x/time/rate"
)

// Failed logins a client address may make: FailedLoginBurst at once, then
// one per FailedLoginEvery. A person who mistypes is never slowed down; a
// guesser gets 8,640 tries a day instead of thousands a second.
const (
	FailedLoginBurst = 5
	FailedLoginEvery = 10 * time.Second
)

// throttledAddresses bounds the addresses remembered. An attacker with
// more addresses than this evicts old entries, which only gives each new
// address its burst again.
const throttledAddresses = 10_000

// loginThrottle counts failed logins per client address and refuses an
// address that used up its allowance, before its credentials are checked.
type loginThrottle struct {
	limiters *lru.Cache[string, *allowance]
	// Sampled, each on its own: a brute force writes neither a line per
	// attempt nor only failed-login lines, hiding that it is throttled.
	failedLog    zerolog.Logger
	throttledLog zerolog.Logger
	failed       atomic.Uint64
	refused      atomic.Uint64
}

func newLoginThrottle(log zerolog.Logger) (*loginThrottle, error) {
	c, err := lru.New[string, *allowance](throttledAddresses)
	if err != nil {
		return nil, fmt.Errorf("admin: login throttle: %w", err)
	}
	sampled := func() zerolog.Logger { return log.Sample(&zerolog.BurstSampler{Burst: 5, Period: time.Minute}) }
	return &loginThrottle{limiters: c, failedLog: sampled(), throttledLog: sampled()}, nil
}

// clientAddress is the TCP peer's IP, the key of its allowance: a header
// would be whatever the guesser wrote.
func clientAddress(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// allowance is one address's failed logins. Its lock is held from the
// check of the allowance to the spending of it, so that guesses sent at once
// cannot all pass a check none of them has spent yet.
type allowance struct {
	mu  sync.Mutex
	lim *rate.Limiter
}

// admit runs check (the credentials) within r's address's allowance: a
// failure spends one, a success nothing. Out of allowance, check is not
// run and admit answers 429 saying when to try again. It reports whether
// check ran and held.
func (t *loginThrottle) admit(w http.ResponseWriter, r *http.Request, check func() bool) bool {
	addr := clientAddress(r)
	a := t.allowance(addr)
	a.mu.Lock()
	tokens := a.lim.Tokens()
	if tokens >= 1 {
		ok := check()
		if !ok {
			a.lim.Allow()
		}
		a.mu.Unlock()
		return ok
	}
	a.mu.Unlock()
	wait := time.Duration((1 - tokens) / float64(a.lim.Limit()) * float64(time.Second))
	secs := max(1, int(math.Ceil(wait.Seconds())))
	t.refused.Add(1)
	t.throttledLog.Warn().Str("remote", addr).Uint64("failed_logins_total", t.failed.Load()).Uint64("throttled_total", t.refused.Load()).
		Msg("admin: too many failed logins from this address; refused without checking credentials (log sampled)")
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	http.Error(w, fmt.Sprintf("admin: too many failed logins from %s; try again in %d s", addr, secs), http.StatusTooManyRequests)
	return false
}

// allowance is addr's, made on first use.
func (t *loginThrottle) allowance(addr string) *allowance {
	if a, ok := t.limiters.Get(addr); ok {
		return a
	}
	a := &allowance{lim: rate.NewLimiter(rate.Every(FailedLoginEvery), FailedLoginBurst)}
	if prev, found, _ := t.limiters.PeekOrAdd(addr, a); found {
		return prev
	}
	return a
}

// failedLogin logs a failed login from r's address (admit spent its allowance).
func (t *loginThrottle) failedLogin(r *http.Request) {
	t.failed.Add(1)
	// Not the user name tried: people type passwords there.
	t.failedLog.Warn().Str("remote", clientAddress(r)).Str("path", r.URL.Path).Uint64("failed_logins_total", t.failed.Load()).
		Msg("admin: failed login (log sampled)")
}
