package handlers_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/assignd/assignd/handlers"
	"github.com/assignd/assignd/policy"
	"github.com/assignd/assignd/taskrouter"
)

type cappedServer struct {
	URL     string
	OpsURL  string
	Limiter *handlers.ConnLimiter
}

// startCapped serves the handlers under a connection cap over loopback,
// wired as serve wires the public listener.
func startCapped(t *testing.T, max int, o handlers.Options) *cappedServer {
	t.Helper()
	reg := prometheus.NewRegistry()
	o.Metrics, o.Gatherer = handlers.NewMetrics(reg), reg
	lim, err := handlers.NewConnLimiter(max, reg)
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, o) // for the ops listener and defaults
	o.Verifier = handlers.NewVerifier([]string{testToken}, nil, handlers.ProxyNone)
	if o.Decider == nil {
		o.Decider = guard(t, examplePolicy(t), time.Second)
	}
	h, err := handlers.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: time.Minute}
	go lim.Serve(srv, ln)
	t.Cleanup(func() { srv.Close(); h.Close() })
	return &cappedServer{URL: "http://" + ln.Addr().String(), OpsURL: ts.OpsURL, Limiter: lim}
}

// dialIdle opens n connections that send nothing.
func dialIdle(t *testing.T, base string, n int) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, 0, n)
	for range n {
		c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		conns = append(conns, c)
	}
	return conns
}

// signedCallback posts a genuine callback on a new connection.
func signedCallback(t *testing.T, base string) (int, string) {
	t.Helper()
	form := signedForm(t, nil)
	u := base + "/assignment"
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", taskrouter.Sign(testToken, u, form))
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func metricValue(t *testing.T, opsURL, name string) int {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindStringSubmatch(scrape(t, opsURL))
	if m == nil {
		t.Fatalf("no %s in /metrics", name)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return int(v)
}

// With the cap held by idle connections (and more arriving), a genuine
// callback on a new connection is answered: the oldest idle connection
// makes room. Open connections never exceed the cap, and the metrics say
// so.
func TestConnCapMakesRoomForACallback(t *testing.T) {
	t.Parallel()
	const max, extra = 8, 20
	srv := startCapped(t, max, handlers.Options{})
	for range max + extra {
		dialIdle(t, srv.URL, 1)
		if n := srv.Limiter.Open(); n > max {
			t.Fatalf("%d connections open, cap %d", n, max)
		}
	}
	if status, body := signedCallback(t, srv.URL); status != http.StatusOK {
		t.Fatalf("genuine callback under a flood of idle connections: %d %q", status, body)
	}
	if open := metricValue(t, srv.OpsURL, "assignd_connections_open"); open > max {
		t.Fatalf("assignd_connections_open %d above the cap %d", open, max)
	}
	if got := metricValue(t, srv.OpsURL, "assignd_connections_max"); got != max {
		t.Fatalf("assignd_connections_max %d, want %d", got, max)
	}
	// Every connection beyond the cap evicted one; the callback's too.
	if got := metricValue(t, srv.OpsURL, "assignd_connections_evicted_total"); got != extra+1 {
		t.Fatalf("assignd_connections_evicted_total %d, want %d", got, extra+1)
	}
}

// A connection with a request in flight is never evicted: with the only
// slot taken by a callback the policy is still deciding, a new connection
// is closed at once (and counted) and the callback in flight is answered.
func TestConnCapNeverEvictsARequestInFlight(t *testing.T) {
	t.Parallel()
	deciding, release := make(chan struct{}), make(chan struct{})
	p := policy.Func(func(ctx context.Context, r *policy.Reservation) (policy.Decision, error) {
		close(deciding)
		<-release
		return policy.Decision{Instruction: policy.Accept{}}, nil
	})
	srv := startCapped(t, 1, handlers.Options{Decider: guard(t, p, 10*time.Second), Budget: 4 * time.Second})
	answered := make(chan string, 1)
	go func() {
		status, body := signedCallback(t, srv.URL)
		answered <- fmt.Sprint(status, " ", body)
	}()
	<-deciding

	late := dialIdle(t, srv.URL, 1)[0]
	late.SetReadDeadline(time.Now().Add(30 * time.Second)) // a failure, not a hang, if it is kept open
	if n, err := late.Read(make([]byte, 1)); err == nil {
		t.Fatalf("a connection beyond the cap read %d bytes; want it closed", n)
	}
	close(release)
	if got := <-answered; got != `200 {"instruction":"accept"}` {
		t.Fatalf("the callback in flight got %s", got)
	}
	if got := metricValue(t, srv.OpsURL, "assignd_connections_refused_total"); got != 1 {
		t.Fatalf("assignd_connections_refused_total %d, want 1", got)
	}
	if got := metricValue(t, srv.OpsURL, "assignd_connections_evicted_total"); got != 0 {
		t.Fatalf("assignd_connections_evicted_total %d, want 0", got)
	}
}

// slowBody opens a connection that sends a callback's headers announcing a
// body of n bytes, and returns once the handler is reading that body (its
// first read answers Expect: 100-continue, so no sleep is needed); then it
// sends one byte of the body and stalls.
func slowBody(t *testing.T, base string, n int) net.Conn {
	t.Helper()
	c := dialIdle(t, base, 1)[0]
	fmt.Fprintf(c, "POST /assignment HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"+
		"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n", n)
	c.SetReadDeadline(time.Now().Add(30 * time.Second)) // a failure, not a hang
	if line, err := bufio.NewReader(c).ReadString('\n'); err != nil || !strings.HasPrefix(line, "HTTP/1.1 100 ") {
		t.Fatalf("slow body: want 100 Continue, got %q, %v", line, err)
	}
	if _, err := c.Write([]byte("A")); err != nil {
		t.Fatal(err)
	}
	return c
}

// A request whose body is still arriving is not in flight: with the cap
// held by connections trickling their bodies, a genuine callback evicts
// the oldest of them and is answered.
func TestConnCapEvictsSlowBodies(t *testing.T) {
	t.Parallel()
	const max = 4
	srv := startCapped(t, max, handlers.Options{})
	slow := make([]net.Conn, max)
	for i := range slow {
		slow[i] = slowBody(t, srv.URL, handlers.DefaultBodyLimit)
	}
	if status, body := signedCallback(t, srv.URL); status != http.StatusOK {
		t.Fatalf("genuine callback with the cap held by slow bodies: %d %q", status, body)
	}
	if _, err := io.ReadAll(slow[0]); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("the oldest slow body was kept open")
	}
	if got := metricValue(t, srv.OpsURL, "assignd_connections_evicted_total"); got != 1 {
		t.Fatalf("assignd_connections_evicted_total %d, want 1", got)
	}
	if n := srv.Limiter.Open(); n > max {
		t.Fatalf("%d connections open, cap %d", n, max)
	}
}

// MAX_CONNECTIONS is resolved against the descriptor limit: unset, the
// default lowered to fit; set, refused when it does not fit.
func TestConnectionCap(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		requested int
		nofile    uint64
		want      int
		err       string
	}{
		{0, 0, handlers.DefaultMaxConnections, ""},
		{0, 1 << 20, handlers.DefaultMaxConnections, ""},
		{0, 1024, 1024 - handlers.FDReserve, ""},
		{0, 100, 0, "leaving no room"},
		{500, 1024, 500, ""},
		{1000, 1024, 0, "does not fit the descriptor limit (ulimit -n) of 1024"},
		{-1, 1024, 0, "want at least 1"},
	} {
		got, err := handlers.ConnectionCap(c.requested, c.nofile)
		if got != c.want || (err == nil) != (c.err == "") || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("ConnectionCap(%d, %d) = %d, %v; want %d, %q", c.requested, c.nofile, got, err, c.want, c.err)
		}
	}
}

// A chunked body's framing is read from the wire but not counted against
// the body limit: 1-byte chunks with long size lines would make a body
// within the limit cost many times it in parsing. Reading stops at twice
// the limit of wire, well before this body (20,000 bytes, 420 KB framed)
// is in, and the answer says it is too large.
func TestChunkFramingIsBounded(t *testing.T) {
	t.Parallel()
	srv := startCapped(t, 16, handlers.Options{})
	c, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second)) // a failure, not a hang
	go func() {
		w := bufio.NewWriter(c)
		fmt.Fprint(w, "POST /assignment HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n")
		for range 20_000 {
			if _, err := w.WriteString("0000000000000001\r\nB\r\n"); err != nil {
				return // the server stopped reading: as it should
			}
		}
		w.WriteString("0\r\n\r\n")
		w.Flush()
	}()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("a 20,000-byte body in 1-byte chunks: %d, want 413 once the framing passes twice the limit", resp.StatusCode)
	}
}
