package handlers

import (
	"cmp"
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultMaxConnections caps the public listener's connections when
// MAX_CONNECTIONS is unset: TaskRouter needs a handful at a time, and idle
// ones cost about 10 KB each; the cap is lowered below the descriptor limit.
const DefaultMaxConnections = 4096

// FDReserve is how many file descriptors are kept for everything but the
// public listener's connections: the admin listener, the database, the
// decision log, REST calls, logs.
const FDReserve = 256

// ConnectionCap resolves MAX_CONNECTIONS against nofile, the process's
// descriptor limit (0 when unknown): requested 0 means the default, lowered
// to fit; an explicit value that does not fit is an error.
func ConnectionCap(requested int, nofile uint64) (int, error) {
	known := nofile > 0
	room := int(min(nofile, 1<<30)) - FDReserve
	switch {
	case requested < 0:
		return 0, fmt.Errorf("want at least 1 (or unset for the default), got %d", requested)
	case !known:
		return cmp.Or(requested, DefaultMaxConnections), nil
	case room < 1:
		return 0, fmt.Errorf("the descriptor limit (ulimit -n) is %d, leaving no room above the %d kept for the rest of the process: raise it", nofile, FDReserve)
	case requested == 0:
		return min(DefaultMaxConnections, room), nil
	case requested > room:
		return 0, fmt.Errorf("%d does not fit the descriptor limit (ulimit -n) of %d less %d kept for the rest of the process: at most %d, or raise the limit", requested, nofile, FDReserve, room)
	}
	return requested, nil
}

// ConnLimiter caps a server's open connections. At the cap a new
// connection evicts the oldest one without a request in flight, never one
// with; when every connection has one in flight the new one is closed at
// once. A request is in flight once its body has been read in full
// (receiveBody says so): until then its sender controls how long it lasts.
// A flood of idle connections, or of bodies sent a byte at a time, then
// cannot keep a genuine callback waiting, as a plain limit (which queues
// new connections until one times out) would.
type ConnLimiter struct {
	max int

	mu sync.Mutex
	// conns maps every open connection to its place in evictable, or to
	// nil while it has a request in flight (its body read).
	conns     map[net.Conn]*list.Element
	evictable *list.List // of net.Conn, oldest first

	evicted, refused prometheus.Counter
}

// NewConnLimiter returns a limiter of max connections whose metrics are
// registered with reg.
func NewConnLimiter(max int, reg prometheus.Registerer) (*ConnLimiter, error) {
	if max < 1 {
		return nil, fmt.Errorf("handlers: connection cap %d, want at least 1", max)
	}
	l := &ConnLimiter{
		max: max, conns: make(map[net.Conn]*list.Element), evictable: list.New(),
		evicted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "assignd_connections_evicted_total",
			Help: "Public connections closed at the cap to make room for a new one: the oldest idle or not yet used.",
		}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "assignd_connections_refused_total",
			Help: "Public connections closed on arrival: at the cap, with a request in flight on every open one.",
		}),
	}
	open := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "assignd_connections_open",
		Help: "Open connections on the public listener.",
	}, func() float64 { return float64(l.Open()) })
	capacity := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "assignd_connections_max",
		Help: "The public listener's connection cap (MAX_CONNECTIONS).",
	}, func() float64 { return float64(max) })
	if err := registerAll(reg, l.evicted, l.refused, open, capacity); err != nil {
		return nil, err
	}
	return l, nil
}

func registerAll(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("handlers: connection metrics: %w", err)
		}
	}
	return nil
}

// Open is how many connections are open.
func (l *ConnLimiter) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// Serve runs srv on ln under the cap: the limiter admits each accepted
// connection, follows its state through srv.ConnState and puts it in each
// request's context (srv.ConnContext) so that receiveBody can mark it in
// flight.
func (l *ConnLimiter) Serve(srv *http.Server, ln net.Listener) error {
	if srv.ConnState != nil || srv.ConnContext != nil {
		return errors.New("handlers: the server's ConnState or ConnContext is taken")
	}
	srv.ConnState = l.connState
	srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		return context.WithValue(ctx, connKey{}, limitedConn{l, c})
	}
	return srv.Serve(&limitedListener{Listener: ln, l: l})
}

// connKey keys a request's limitedConn in its context.
type connKey struct{}

// limitedConn is a connection and the limiter that admitted it.
type limitedConn struct {
	l *ConnLimiter
	c net.Conn
}

// countingConn counts the bytes read from a connection: the wire's, which
// for a chunked body are more than the body's (see wireBounded).
type countingConn struct {
	net.Conn
	read atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

// CloseWrite keeps net/http's graceful close (FIN, then wait) working
// through the wrapper.
func (c *countingConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// wireBounded bounds what reading r's body may take from the wire when
// the body is chunked: the chunk framing is not counted against the body
// limit, so 1-byte chunks with long size lines would cost many times the
// limit in parsing. Twice the limit and a margin is far above any proxy's
// framing of a real callback. Without a ConnLimiter, or with a
// Content-Length, the body is returned as it is.
func wireBounded(r *http.Request, limit int64) io.Reader {
	lc, ok := r.Context().Value(connKey{}).(limitedConn)
	cc, counted := lc.c.(*countingConn)
	if !ok || !counted || r.ContentLength >= 0 {
		return r.Body
	}
	return &wireLimitedReader{r: r.Body, conn: cc, until: cc.read.Load() + 2*limit + 16<<10}
}

type wireLimitedReader struct {
	r     io.Reader
	conn  *countingConn
	until int64
}

func (w *wireLimitedReader) Read(p []byte) (int, error) {
	if w.conn.read.Load() > w.until {
		return 0, errTooLarge
	}
	return w.r.Read(p)
}

// markInFlight makes the connection of the request with context ctx
// non-evictable until the request is answered; without a ConnLimiter it
// does nothing.
func markInFlight(ctx context.Context) {
	if lc, ok := ctx.Value(connKey{}).(limitedConn); ok {
		lc.l.inFlight(lc.c)
	}
}

type limitedListener struct {
	net.Listener
	l *ConnLimiter
}

// Accept returns the next connection the limiter admits.
func (ln *limitedListener) Accept() (net.Conn, error) {
	for {
		c, err := ln.Listener.Accept()
		if err != nil {
			return c, err
		}
		if cc := (&countingConn{Conn: c}); ln.l.admit(cc) {
			return cc, nil
		}
	}
}

// admit makes room for c, evicting the oldest evictable connection at the
// cap, or closes c when there is none.
func (l *ConnLimiter) admit(c net.Conn) bool {
	l.mu.Lock()
	var victim net.Conn
	if len(l.conns) >= l.max {
		oldest := l.evictable.Front()
		if oldest == nil {
			l.mu.Unlock()
			l.refused.Inc()
			c.Close()
			return false
		}
		victim = l.evictable.Remove(oldest).(net.Conn)
		delete(l.conns, victim)
	}
	l.conns[c] = l.evictable.PushBack(c)
	l.mu.Unlock()
	if victim != nil {
		l.evicted.Inc()
		victim.Close() // its server goroutine sees the error and reports it closed
	}
	return true
}

// connState follows a connection: idle between requests it is evictable
// again, as the newest; closed or hijacked it no longer counts. New, or
// active (headers read, the body perhaps still trickling in), it keeps its
// place among the evictable: only inFlight takes it out.
func (l *ConnLimiter) connState(c net.Conn, s http.ConnState) {
	switch s {
	case http.StateIdle:
		l.evictableAgain(c)
	case http.StateHijacked, http.StateClosed:
		l.forget(c)
	}
}

// inFlight takes c out of the evictable, if it is still tracked.
func (l *ConnLimiter) inFlight(c net.Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if el := l.conns[c]; el != nil {
		l.evictable.Remove(el)
		l.conns[c] = nil
	}
}

// evictableAgain makes c the newest evictable connection, if it is still
// tracked (not evicted).
func (l *ConnLimiter) evictableAgain(c net.Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	el, tracked := l.conns[c]
	if !tracked {
		return
	}
	if el != nil {
		l.evictable.Remove(el)
	}
	l.conns[c] = l.evictable.PushBack(c)
}

// forget stops counting c.
func (l *ConnLimiter) forget(c net.Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if el := l.conns[c]; el != nil {
		l.evictable.Remove(el)
	}
	delete(l.conns, c)
}
