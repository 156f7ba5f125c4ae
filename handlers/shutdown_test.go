package handlers_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/assignd/assignd/handlers"
	"github.com/assignd/assignd/internal/testwait"
	"github.com/assignd/assignd/policy"
	"github.com/assignd/assignd/taskrouter"
)

// drainBudget stands for serve's HTTP drain: shutdown must finish the
// callbacks in flight within it. Generous, for a loaded machine.
const drainBudget = 5 * time.Second

type answer struct {
	status int
	body   string
	err    error
}

// shutdownServer serves a policy that blocks until release is closed, and
// starts one signed callback; it returns once the policy holds it.
func shutdownServer(t *testing.T) (srv *http.Server, served chan error, got chan answer, release chan struct{}, addr string) {
	t.Helper()
	entered, release := make(chan struct{}), make(chan struct{})
	p := policy.Func(func(ctx context.Context, r *policy.Reservation) (policy.Decision, error) {
		close(entered)
		<-release
		return policy.Decision{Instruction: policy.Accept{}, Rule: "slow"}, nil
	})
	h, err := handlers.New(handlers.Options{
		Logger:   zerolog.Nop(),
		Verifier: handlers.NewVerifier([]string{testToken}, nil, handlers.ProxyNone),
		Decider:  guard(t, p, 30*time.Second),
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr = ln.Addr().String()
	srv = &http.Server{Handler: h}
	t.Cleanup(h.Close)
	served = make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	// The request is built here; the goroutine only sends it (no t.Fatal there).
	r := reservation(nil, nil)
	form, err := handlers.EncodeForm(&r)
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + addr + "/assignment"
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", taskrouter.Sign(testToken, u, form))
	got = make(chan answer, 1)
	go func() {
		resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
		if err != nil {
			got <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- answer{status: resp.StatusCode, body: string(b), err: err}
	}()
	select {
	case <-entered:
	case a := <-got:
		t.Fatalf("callback answered before reaching the policy: %+v", a)
	case <-time.After(time.Minute):
		t.Fatal("the callback never reached the policy")
	}
	return srv, served, got, release, addr
}

// waitClosed waits until the listener refuses connections: shutdown has
// begun.
func waitClosed(t *testing.T, addr string) {
	t.Helper()
	testwait.For(t, "the listener to refuse connections after Shutdown began", time.Minute, func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return true
		}
		c.Close()
		return false
	})
}

// A callback being decided when shutdown starts still gets its answer, and
// the server then stops within the drain budget.
func TestShutdownFinishesInFlightCallbacks(t *testing.T) {
	t.Parallel()
	srv, served, got, release, addr := shutdownServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), drainBudget)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(ctx) }()

	// Shutdown has begun (no new connections) while the callback is still
	// held by the policy: Shutdown must still be waiting for it.
	waitClosed(t, addr)
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) while a callback was in flight", err)
	case a := <-got:
		t.Fatalf("callback answered (%+v) before the policy returned", a)
	default:
	}

	close(release)
	a := <-got
	if a.err != nil || a.status != http.StatusOK || a.body != `{"instruction":"accept"}` {
		t.Fatalf("in-flight callback got %d %q %v", a.status, a.body, a.err)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown did not finish within the %s drain budget: %v", drainBudget, err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Fatalf("Serve returned %v", err)
	}
}

// A callback that outlives the drain budget does not hold shutdown past it.
func TestShutdownIsBoundedByTheBudget(t *testing.T) {
	t.Parallel()
	srv, _, got, release, addr := shutdownServer(t)
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(ctx) }()
	waitClosed(t, addr)
	select {
	case err := <-shut:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Shutdown with a stuck callback returned %v, want the budget's deadline", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Shutdown outlived its budget")
	}
	select {
	case a := <-got:
		t.Fatalf("the stuck callback was answered: %+v", a)
	default:
	}
	srv.Close()
}
