package handlers_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/assignd/assignd/handlers"
	"github.com/assignd/assignd/policy"
)

// A callback being decided when shutdown starts still gets its answer.
func TestShutdownFinishesInFlightCallbacks(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	p := policy.Func(func(ctx context.Context, r *policy.Reservation) (policy.Decision, error) {
		close(entered)
		<-release
		return policy.Decision{Instruction: policy.Accept{}, Rule: "slow"}, nil
	})
	h, err := handlers.New(handlers.Options{
		Logger:   zerolog.Nop(),
		Verifier: handlers.NewVerifier([]string{testToken}, nil, false),
		Decider:  guard(t, p, 5*time.Second),
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)

	type answer struct {
		status int
		body   string
	}
	got := make(chan answer, 1)
	go func() {
		s, b, _ := postSigned(t, "http://"+ln.Addr().String(), reservation(nil, nil))
		got <- answer{s, b}
	}()
	<-entered
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(context.Background()) }()
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) while a callback was in flight", err)
	case a := <-got:
		t.Fatalf("callback answered (%v) before the policy returned", a)
	default:
	}
	close(release)
	if a := <-got; a.status != http.StatusOK || a.body != `{"instruction":"accept"}` {
		t.Fatalf("in-flight callback got %d %q", a.status, a.body)
	}
	if err := <-shut; err != nil && !errors.Is(err, http.ErrServerClosed) {
		t.Fatal(err)
	}
}
