package policy_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/assignd/assignd/policy"
)

// reloading is a prompt policy that, when armed, replaces itself in cur with
// next while it is being consulted: a reload landing mid-decision.
type reloading struct {
	name     string
	cur      **policy.Current
	next     policy.Policy
	armed    *bool
	fallback policy.Decision
	fail     bool
}

func (r reloading) reload() {
	if *r.armed {
		*r.armed = false
		(*r.cur).Store(r.next)
	}
}

func (r reloading) Prompt() bool { r.reload(); return true }

func (r reloading) Fallback() policy.Decision { return r.fallback }

func (r reloading) Decide(context.Context, *policy.Reservation) (policy.Decision, error) {
	r.reload()
	if r.fail {
		return policy.Decision{}, errors.New(r.name + " failed")
	}
	return policy.Decision{Instruction: policy.Accept{}, Rule: r.name}, nil
}

// blocking is not a ReturnsPromptly: Guard must run it in its own goroutine.
func blocking(name string) policy.Policy {
	return policy.Func(func(ctx context.Context, _ *policy.Reservation) (policy.Decision, error) {
		<-ctx.Done()
		return policy.Decision{Instruction: policy.Accept{}, Rule: name}, nil
	})
}

// TestGuardDecidesWithOnePolicyAcrossReload: a reload between asking whether
// the policy is prompt and asking it to decide must not mix the two policies
// (issue 11, defect 10): the decision comes from the policy that said it was
// prompt.
func TestGuardDecidesWithOnePolicyAcrossReload(t *testing.T) {
	t.Parallel()
	var cur *policy.Current
	armed := false
	fb := policy.Decision{Instruction: policy.Accept{}, Rule: "default-fallback"}
	a := reloading{name: "A", cur: &cur, next: blocking("B"), armed: &armed}
	cur = policy.NewCurrent(a, fb)
	g, err := policy.NewGuard(cur, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	armed = true
	d, err := g.Decide(context.Background(), &policy.Reservation{})
	if err != nil || d.Rule != "A" {
		t.Fatalf("got %q %v, want the decision of A, the policy in force when the decision began", d.Rule, err)
	}
	if cur.Load() == policy.Policy(a) {
		t.Fatal("the reload did not happen; the test proves nothing")
	}
}

// TestGuardFallbackIsThePolicysOwnAcrossReload: when the policy fails and a
// reload landed meanwhile, the fallback answered is the one of the policy that
// failed, and Guard and Current agree on the fallback after the reload.
func TestGuardFallbackIsThePolicysOwnAcrossReload(t *testing.T) {
	t.Parallel()
	var cur *policy.Current
	armed := false
	def := policy.Decision{Instruction: policy.Accept{}, Rule: "default-fallback"}
	b := reloading{name: "B", fallback: policy.Decision{Instruction: policy.Accept{}, Rule: "B-fallback"}, armed: new(bool)}
	a := reloading{name: "A", cur: &cur, next: b, armed: &armed, fail: true,
		fallback: policy.Decision{Instruction: policy.Accept{}, Rule: "A-fallback"}}
	cur = policy.NewCurrent(a, def)
	g, err := policy.NewGuard(cur, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	armed = true
	d, err := g.Decide(context.Background(), &policy.Reservation{})
	if err == nil || d.Rule != "A-fallback" {
		t.Fatalf("got %q %v, want A's fallback", d.Rule, err)
	}
	if g.Fallback().Rule != "B-fallback" || cur.Fallback().Rule != "B-fallback" {
		t.Fatalf("after the reload: guard %q, current %q, want B-fallback", g.Fallback().Rule, cur.Fallback().Rule)
	}
	cur.Store(blocking("C"))
	if g.Fallback().Rule != "default-fallback" || cur.Fallback().Rule != "default-fallback" {
		t.Fatalf("policy without its own fallback: guard %q, current %q", g.Fallback().Rule, cur.Fallback().Rule)
	}
}

// TestDecisionCarriesItsPolicysFallback: a successful decision carries the
// fallback of the policy that made it, so a caller that cannot carry it out
// (an async decision not stored) answers that policy's on_error, not the one
// of a policy reloaded in between.
func TestDecisionCarriesItsPolicysFallback(t *testing.T) {
	t.Parallel()
	var cur *policy.Current
	armed := false
	b := reloading{name: "B", fallback: policy.Decision{Instruction: policy.Accept{}, Rule: "B-fallback"}, armed: new(bool)}
	a := reloading{name: "A", cur: &cur, next: b, armed: &armed,
		fallback: policy.Decision{Instruction: policy.Accept{}, Rule: "A-fallback"}}
	cur = policy.NewCurrent(a, policy.Decision{Instruction: policy.Accept{}, Rule: "default-fallback"})
	g, err := policy.NewGuard(cur, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	armed = true
	d, err := g.Decide(context.Background(), &policy.Reservation{})
	if err != nil || d.Rule != "A" || d.Fallback == nil || d.Fallback.Rule != "A-fallback" {
		t.Fatalf("got %+v %v, want A's decision carrying A-fallback", d, err)
	}
	if g.Fallback().Rule != "B-fallback" {
		t.Fatalf("the reload did not happen (fallback in force %q); the test proves nothing", g.Fallback().Rule)
	}
}

// TestGuardTakesTheFallbackFromThePolicy: the default fallback is given in
// one place (the Current, or WithFallback); a policy without one, or with an
// async one, is refused.
func TestGuardTakesTheFallbackFromThePolicy(t *testing.T) {
	t.Parallel()
	def := policy.Decision{Instruction: policy.Accept{}, Rule: "default-fallback"}
	g, err := policy.NewGuard(policy.NewCurrent(blocking("A"), def), time.Second)
	if err != nil || g.Fallback().Rule != "default-fallback" {
		t.Fatalf("over a Current: %v, fallback %+v", err, g)
	}
	if _, err := policy.NewGuard(blocking("A"), time.Second); err == nil || !strings.Contains(err.Error(), "WithFallback") {
		t.Fatalf("a policy without a fallback: %v, want an error naming WithFallback", err)
	}
	g, err = policy.NewGuard(policy.WithFallback(blocking("A"), def), time.Second)
	if err != nil || g.Fallback().Rule != "default-fallback" {
		t.Fatalf("WithFallback: %v", err)
	}
	if _, err := policy.NewGuard(policy.NewCurrent(blocking("A"), policy.Decision{Async: true, Instruction: policy.Accept{}}), time.Second); err == nil {
		t.Fatal("a Current with an async default fallback was accepted")
	}
}
