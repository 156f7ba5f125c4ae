package handlers_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/assignd/assignd/handlers"
	"github.com/assignd/assignd/policy"
)

// blockingScheduler stands in for a store that cannot take the decision:
// it blocks until its context ends, as a stalled commit would, and reports
// the deadline it was given.
type blockingScheduler struct{ deadlines chan time.Time }

func (s *blockingScheduler) Schedule(ctx context.Context, r *policy.Reservation, d policy.Decision) (bool, error) {
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Time{} // no deadline: the test fails on it
	}
	s.deadlines <- dl
	<-ctx.Done()
	return false, context.Cause(ctx)
}

// Under the budget a store that never answers costs the callback its async
// decision, not its answer: on_error comes within the budget (a short one
// here, so the test does not wait out the default), never a late {}.
func TestBudgetStoreBlocksAnswersFallbackInTime(t *testing.T) {
	t.Parallel()
	sched := &blockingScheduler{deadlines: make(chan time.Time, 1)}
	fb := policy.Decision{Instruction: policy.Reject{ActivitySid: "WA00000000000000000000000000000005"}, Rule: "fb"}
	g, err := policy.NewGuard(policy.WithFallback(asyncAccept(), fb), 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	const budget = 500 * time.Millisecond
	srv := startServer(t, handlers.Options{Decider: g, Scheduler: sched, Budget: budget})

	sent := time.Now()
	status, body, _ := postSigned(t, srv.URL, reservation(nil, nil))
	took := time.Since(sent)
	if status != http.StatusOK || body != `{"instruction":"reject","activity_sid":"WA00000000000000000000000000000005"}` {
		t.Fatalf("got %d %q, want the on_error reject", status, body)
	}
	if took >= handlers.TwilioTimeout {
		t.Fatalf("answered after %s, Twilio waits %s", took, handlers.TwilioTimeout)
	}
	dl := <-sched.deadlines
	if dl.IsZero() || dl.After(sent.Add(budget)) {
		t.Fatalf("Schedule got deadline %v, want one within the %s budget from %v", dl, budget, sent)
	}
	logs := srv.Log.String()
	for _, want := range []string{"could not store async decision", "callback budget of 500ms used up", `"result":"fallback"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}

// The decision gets the budget too: a policy that ignores its context is
// cut off by the budget even when the decision deadline is longer.
func TestBudgetBoundsTheDecision(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	stuck := policy.Func(func(ctx context.Context, r *policy.Reservation) (policy.Decision, error) {
		<-release
		return policy.Decision{Instruction: policy.Accept{}, Rule: "late"}, nil
	})
	fb := policy.Decision{Instruction: policy.Reject{ActivitySid: "WA00000000000000000000000000000006"}, Rule: "fb"}
	g, err := policy.NewGuard(policy.WithFallback(stuck, fb), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	const budget = time.Second
	srv := startServer(t, handlers.Options{Decider: g, Budget: budget})
	sent := time.Now()
	status, body, _ := postSigned(t, srv.URL, reservation(nil, nil))
	if took := time.Since(sent); took >= handlers.TwilioTimeout {
		t.Fatalf("answered after %s although the budget is %s", took, budget)
	}
	if status != http.StatusOK || !strings.Contains(body, "WA00000000000000000000000000000006") {
		t.Fatalf("got %d %q, want the on_error reject", status, body)
	}
	if !strings.Contains(srv.Log.String(), "callback budget of 1s used up") {
		t.Errorf("the log does not say the budget cut the decision:\n%s", srv.Log.String())
	}
}

// A Scheduler that fails at once (for any reason) gives the fallback too.
func TestBudgetSchedulerErrorIsNeverEmptyAnswer(t *testing.T) {
	t.Parallel()
	failing := schedulerFunc(func(ctx context.Context, r *policy.Reservation, d policy.Decision) (bool, error) {
		return false, errors.New("disk full")
	})
	srv := startServer(t, handlers.Options{Decider: guard(t, asyncAccept(), time.Second), Scheduler: failing})
	if status, body, _ := postSigned(t, srv.URL, reservation(nil, nil)); status != http.StatusOK || body != `{"instruction":"accept"}` {
		t.Fatalf("got %d %q, want the on_error accept, not {}", status, body)
	}
}

type schedulerFunc func(ctx context.Context, r *policy.Reservation, d policy.Decision) (bool, error)

func (f schedulerFunc) Schedule(ctx context.Context, r *policy.Reservation, d policy.Decision) (bool, error) {
	return f(ctx, r, d)
}

// The default budget leaves room under Twilio's timeout for the network both
// ways, and New accepts it. (That the budget bounds Schedule is tested above
// with a short one.)
func TestDefaultBudgetFitsTwilioTimeout(t *testing.T) {
	t.Parallel()
	if handlers.DefaultBudget >= handlers.TwilioTimeout || handlers.TwilioTimeout-handlers.DefaultBudget < 250*time.Millisecond {
		t.Fatalf("DefaultBudget %s leaves too little of Twilio's %s", handlers.DefaultBudget, handlers.TwilioTimeout)
	}
	if _, err := handlers.New(handlers.Options{Logger: zerolog.Nop(), Verifier: handlers.NewVerifier([]string{testToken}, nil, handlers.ProxyNone),
		Decider: guard(t, asyncAccept(), time.Second)}); err != nil {
		t.Fatalf("New refuses its own default budget: %v", err)
	}
}

func TestBudgetMustBeBelowTwilioTimeout(t *testing.T) {
	t.Parallel()
	for _, b := range []time.Duration{handlers.TwilioTimeout, 6 * time.Second, time.Millisecond, -time.Second} {
		_, err := handlers.New(handlers.Options{Logger: zerolog.Nop(), Verifier: handlers.NewVerifier([]string{testToken}, nil, handlers.ProxyNone),
			Decider: guard(t, asyncAccept(), time.Second), Budget: b})
		if err == nil || !strings.Contains(err.Error(), "budget") {
			t.Errorf("Budget %s: got %v, want an error naming the budget", b, err)
		}
	}
}
