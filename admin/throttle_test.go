package admin_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/assignd/assignd/admin"
)

// lockedBuffer is a log sink the server's goroutines write to.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// from returns a client whose connections leave from ip (any 127.0.0.0/8
// address is loopback on Linux), so one test plays several clients.
func from(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
	}}
}

func fetch(t *testing.T, c *http.Client, url string, auth func(*http.Request)) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != nil {
		auth(req)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, string(b)}
}

// After FailedLoginBurst wrong passwords an address is refused with 429
// and Retry-After, right password included, without its credentials being
// checked; other addresses are not affected, a request without credentials
// (a browser's first) is no failed login, and a brute force writes a
// sampled trickle of log lines, not one per attempt.
func TestFailedLoginsThrottledPerAddress(t *testing.T) {
	t.Parallel()
	logs := &lockedBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h, err := admin.New(ctx, admin.Options{Password: password, Logger: zerolog.New(logs), Ready: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ready")
	})})
	if err != nil {
		t.Fatal(err)
	}
	port := serve(t, "127.0.0.1:0", h)
	url := "http://127.0.0.1:" + port + admin.ReadyPath

	guesser, colleague, browser := from("127.0.0.2"), from("127.0.0.3"), from("127.0.0.4")
	for i := range admin.FailedLoginBurst {
		if r := fetch(t, guesser, url, basic(admin.User, "guess-"+strconv.Itoa(i))); r.status != http.StatusUnauthorized {
			t.Fatalf("failed login %d: %d, want 401", i+1, r.status)
		}
	}
	const attempts = 200
	for i := range attempts {
		r := fetch(t, guesser, url, basic(admin.User, "guess-more-"+strconv.Itoa(i)))
		secs, _ := strconv.Atoi(r.header.Get("Retry-After"))
		if r.status != http.StatusTooManyRequests || secs < 1 || secs > int(admin.FailedLoginEvery/time.Second) || !strings.Contains(r.body, "too many failed logins") {
			t.Fatalf("attempt %d past the allowance: %d Retry-After %q %q, want 429", i+1, r.status, r.header.Get("Retry-After"), r.body)
		}
	}
	if r := fetch(t, guesser, url, basic(admin.User, password)); r.status != http.StatusTooManyRequests {
		t.Errorf("the right password from a throttled address: %d, want 429 (credentials are not checked while throttled)", r.status)
	}
	if r := fetch(t, colleague, url, basic(admin.User, password)); r.status != http.StatusOK || r.body != "ready" {
		t.Errorf("another address: %d %q, want served", r.status, r.body)
	}
	for range admin.FailedLoginBurst + 3 {
		if r := fetch(t, browser, url, nil); r.status != http.StatusUnauthorized {
			t.Fatalf("no credentials: %d, want 401, never throttled", r.status)
		}
	}

	lines := strings.Count(logs.String(), "\n")
	if !strings.Contains(logs.String(), `"remote":"127.0.0.2"`) || !strings.Contains(logs.String(), "failed login") ||
		!strings.Contains(logs.String(), "too many failed logins") || lines > 20 {
		t.Errorf("%d log lines for %d failed logins, want some, sampled:\n%s", lines, admin.FailedLoginBurst+attempts, logs.String())
	}
	if strings.Contains(logs.String(), "guess-") {
		t.Errorf("a tried password was logged:\n%s", logs.String())
	}
}

// Guesses sent at once from one address get no more credential checks
// (401s) than the allowance: the allowance is spent before the check, not
// after it, so they cannot all pass a check none of them has spent yet. A
// good password gives its share back.
func TestSimultaneousGuessesShareOneAllowance(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h, err := admin.New(ctx, admin.Options{Password: password, Logger: zerolog.Nop(), Ready: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ready")
	})})
	if err != nil {
		t.Fatal(err)
	}
	url := "http://127.0.0.1:" + serve(t, "127.0.0.1:0", h) + admin.ReadyPath

	colleague := from("127.0.0.6")
	for range 3 * admin.FailedLoginBurst {
		if r := fetch(t, colleague, url, basic(admin.User, password)); r.status != http.StatusOK {
			t.Fatalf("the right password, repeated: %d, want 200 (a good login spends nothing)", r.status)
		}
	}

	guesser := from("127.0.0.5")
	const guesses = 64
	statuses := make(chan int, guesses)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range guesses {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			req.SetBasicAuth(admin.User, "guess-"+strconv.Itoa(i))
			resp, err := guesser.Do(req)
			if err != nil {
				statuses <- 0
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		}()
	}
	start.Done()
	done.Wait()
	close(statuses)
	checked := 0
	for s := range statuses {
		switch s {
		case http.StatusUnauthorized:
			checked++
		case http.StatusTooManyRequests:
		default:
			t.Errorf("a guess got %d, want 401 or 429", s)
		}
	}
	if checked > admin.FailedLoginBurst {
		t.Errorf("%d of %d simultaneous guesses had their credentials checked, want at most %d", checked, guesses, admin.FailedLoginBurst)
	}
}
