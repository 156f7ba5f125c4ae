package rules_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/assignd/assignd/policy"
	"github.com/assignd/assignd/policy/rules"
)

func mustParse(t testing.TB, src string) *rules.Policy {
	t.Helper()
	p, err := rules.Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func decide(t testing.TB, p *rules.Policy, task, worker map[string]any) (policy.Decision, string, error) {
	t.Helper()
	r := &policy.Reservation{TaskAttributes: task, WorkerAttributes: worker, TaskAge: 40, TaskPriority: 3,
		TaskQueueSid: "WQ0123456789abcdef0123456789abcdef", Params: map[string]string{"WorkerName": "alice"}}
	d, err := p.Decide(context.Background(), r)
	if err != nil {
		return d, "", err
	}
	b, _ := json.Marshal(d.Instruction)
	return d, string(b), nil
}

const ordered = `
rules:
  - name: first
    when: task.n > 1
    then: {instruction: reject, activity_sid: WA00000000000000000000000000000001}
  - name: second
    when: task.n > 0
    then: {instruction: accept}
  - name: old-task
    when: reservation.task_age > 30 && reservation.params.WorkerName == "alice"
    then: {instruction: dequeue, from: "+15005550006", to: '=worker.phone + ""', status_callback_url: '="https://cb.example.com/" + reservation.task_queue_sid'}
default: {instruction: later}
on_error: {instruction: accept}
`

func TestFirstMatchWinsAndDefault(t *testing.T) {
	t.Parallel()
	p := mustParse(t, ordered)
	tests := []struct {
		task, worker map[string]any
		rule, json   string
	}{
		{map[string]any{"n": 2}, nil, "first", `{"instruction":"reject","activity_sid":"WA00000000000000000000000000000001"}`},
		{map[string]any{"n": 1}, nil, "second", `{"instruction":"accept"}`},
		{map[string]any{"n": 0}, map[string]any{"phone": "+15550001111"}, "old-task",
			`{"instruction":"dequeue","to":"+15550001111","from":"+15005550006","status_callback_url":"https://cb.example.com/WQ0123456789abcdef0123456789abcdef"}`},
		{map[string]any{"n": 0}, map[string]any{"phone": 5}, "", ""}, // expression of the wrong type: error
		{map[string]any{}, map[string]any{}, "", ""},                 // missing task.n: no match; missing worker.phone: error
	}
	for i, tt := range tests {
		d, got, err := decide(t, p, tt.task, tt.worker)
		if tt.rule == "" {
			if err == nil {
				t.Errorf("%d: want an error, got %s from %s", i, got, d.Rule)
			}
			continue
		}
		if err != nil || d.Rule != tt.rule || got != tt.json {
			t.Errorf("%d: got %s %s %v, want %s %s", i, d.Rule, got, err, tt.rule, tt.json)
		}
	}
	// Nothing matches at all: default "later" is no instruction.
	p2 := mustParse(t, strings.Replace(ordered, "reservation.task_age > 30", "reservation.task_age > 300", 1))
	d, _, err := decide(t, p2, map[string]any{"n": 0}, nil)
	if err != nil || d.Rule != "default" || d.Instruction != nil {
		t.Fatalf("default: got %+v %v", d, err)
	}
	if fb := p.Fallback(); fb.Rule != "on_error" || fb.Instruction != (policy.Accept{}) {
		t.Fatalf("Fallback = %+v", fb)
	}
}

func TestMissingAttributeIsNoMatchButOtherErrorsAreErrors(t *testing.T) {
	t.Parallel()
	p := mustParse(t, `
rules:
  - name: lang
    when: task.lang == "es"
    then: {instruction: accept}
  - name: typed
    when: task.count > 3
    then: {instruction: reject, activity_sid: WA00000000000000000000000000000001}
default: {instruction: later}
on_error: {instruction: accept}
`)
	if d, _, err := decide(t, p, map[string]any{"count": 1}, nil); err != nil || d.Rule != "default" {
		t.Errorf("missing lang: got %+v %v, want default", d, err)
	}
	if _, _, err := decide(t, p, map[string]any{"count": "many"}, nil); err == nil {
		t.Error("comparing a string with a number must be an evaluation error")
	}
	_, steps, _ := p.Explain(context.Background(), &policy.Reservation{TaskAttributes: map[string]any{"count": 5}})
	if len(steps) != 2 || steps[0].Missing == "" || !steps[1].Matched {
		t.Errorf("Explain steps = %+v", steps)
	}
}

func TestCostLimit(t *testing.T) {
	t.Parallel()
	p := mustParse(t, `
cost_limit: 1000
rules:
  - name: expensive
    when: task.items.all(a, task.items.all(b, a + b >= 0))
    then: {instruction: accept}
default: {instruction: later}
on_error: {instruction: accept}
`)
	items := make([]any, 200)
	for i := range items {
		items[i] = float64(i)
	}
	_, _, err := decide(t, p, map[string]any{"items": items}, nil)
	if err == nil || !strings.Contains(err.Error(), "cost") {
		t.Fatalf("got %v, want a cost limit error", err)
	}
	if _, _, err := decide(t, p, map[string]any{"items": items[:3]}, nil); err != nil {
		t.Fatalf("small input: %v", err)
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, src string
		want      []string
	}{
		{"bad CEL", `rules: [{name: r1, when: "task.x ==", then: {instruction: accept}}]
default: {instruction: accept}
on_error: {instruction: accept}`, []string{`test.yaml:1: rule "r1": when:`, "Syntax error"}},
		{"undeclared variable", `rules: [{name: r1, when: "agent.x == 1", then: {instruction: accept}}]
default: {instruction: accept}
on_error: {instruction: accept}`, []string{`rule "r1": when`, "undeclared reference to 'agent'"}},
		{"non-bool condition", `rules: [{name: r1, when: "'yes'", then: {instruction: accept}}]
default: {instruction: accept}
on_error: {instruction: accept}`, []string{`rule "r1": when`, "want bool"}},
		{"reject without activity", `rules: [{name: r1, when: "true", then: {instruction: reject}}]
default: {instruction: accept}
on_error: {instruction: accept}`, []string{`rule "r1": then`, "activity_sid: required"}},
		{"call without from and url", `rules: [{name: r1, when: "true", then: {instruction: call}}]
default: {instruction: accept}
on_error: {instruction: accept}`, []string{"from: required", "url: required"}},
		{"redirect with bad call_sid", `rules: [{name: r1, when: "true", then: {instruction: redirect, call_sid: CA1, url: "https://x.example/t"}}]
default: {instruction: accept}
on_error: {instruction: accept}`, []string{"call_sid: want CA"}},
		{"unknown field", `rules: [{name: r1, when: "true", then: {instruction: accept, activty: x}}]
default: {instruction: accept}
on_error: {instruction: accept}`, []string{`unknown field "activty"`}},
		{"unknown instruction", `rules: [{name: r1, when: "true", then: {instruction: acept}}]
default: {instruction: accept}
on_error: {instruction: accept}`, []string{`unknown instruction "acept"`}},
		{"expression in an int field", `rules: [{name: r1, when: "true", then: {instruction: dequeue, timeout: "=task.t"}}]
default: {instruction: accept}
on_error: {instruction: accept}`, []string{"timeout", "expressions are allowed only in string fields"}},
		{"expression of wrong type", `rules: [{name: r1, when: "true", then: {instruction: dequeue, to: "=1 + 2"}}]
default: {instruction: accept}
on_error: {instruction: accept}`, []string{"then.to", "want string"}},
		{"duplicate and missing names", `rules:
  - {name: a, when: "true", then: {instruction: accept}}
  - {name: a, when: "true", then: {instruction: accept}}
  - {when: "true", then: {instruction: accept}}
default: {instruction: accept}
on_error: {instruction: accept}`, []string{"used by an earlier rule", "rule 3: name is required"}},
		{"missing default and on_error", `rules: []`, []string{"default: is required", "on_error: is required"}},
		{"on_error with expression", `rules: []
default: {instruction: accept}
on_error: {instruction: dequeue, from: "+15005550006", to: "=worker.uri"}`, []string{"on_error: must not use expressions"}},
		{"on_error later", `rules: []
default: {instruction: accept}
on_error: {instruction: later}`, []string{"on_error", "needs an instruction"}},
		{"unknown top-level key", `rule: []`, []string{`test.yaml:1: unknown key "rule"; did you mean "rules"?`}},
		{"delay without async", `rules: [{name: r1, when: "true", then: {instruction: accept, delay: 1s}}]
default: {instruction: accept}
on_error: {instruction: accept}`, []string{"delay applies only with async"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := rules.Parse("test.yaml", []byte(tt.src))
			var le *rules.LoadError
			if !errors.As(err, &le) {
				t.Fatalf("err = %v, want a LoadError", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
	// Every problem is reported, not only the first.
	_, err := rules.Parse("test.yaml", []byte(`rules:
  - {name: a, when: "nope ==", then: {instruction: accept}}
  - {name: b, when: "true", then: {instruction: reject}}
default: {instruction: accept}
on_error: {instruction: accept}`))
	var le *rules.LoadError
	if !errors.As(err, &le) || len(le.Problems) != 2 {
		t.Fatalf("want 2 problems, got %v", err)
	}
}

// A slow policy is cut off at the deadline and the rules file's on_error is
// answered, whatever the policy is still doing.
func TestGuardDeadlineGivesFallback(t *testing.T) {
	t.Parallel()
	p := mustParse(t, `rules: []
default: {instruction: accept}
on_error: {instruction: reject, activity_sid: WA00000000000000000000000000000007}`)
	stuck := make(chan struct{})
	defer close(stuck)
	slow := slowPolicy{file: p, Func: func(ctx context.Context, r *policy.Reservation) (policy.Decision, error) {
		<-stuck // ignores ctx: the guard must not wait
		return p.Decide(ctx, r)
	}}
	g, err := policy.NewGuard(slow, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	d, err := g.Decide(context.Background(), &policy.Reservation{})
	if !errors.Is(err, policy.ErrDeadline) {
		t.Fatalf("err = %v, want ErrDeadline", err)
	}
	if d.Rule != "on_error" || d.Instruction != (policy.Reject{ActivitySid: "WA00000000000000000000000000000007"}) {
		t.Fatalf("got %+v, want the file's on_error", d)
	}
}

// slowPolicy decides with Func but takes its fallback from the rules file.
type slowPolicy struct {
	policy.Func
	file *rules.Policy
}

func (s slowPolicy) Fallback() policy.Decision { return s.file.Fallback() }

func TestAsyncAndDelayParse(t *testing.T) {
	t.Parallel()
	p := mustParse(t, `rules:
  - {name: later-accept, when: "true", then: {instruction: accept, async: true, delay: 1500ms}}
default: {instruction: accept}
on_error: {instruction: accept}`)
	d, _, err := decide(t, p, nil, nil)
	if err != nil || !d.Async || d.Delay != 1500*time.Millisecond || d.Instruction != (policy.Accept{}) {
		t.Fatalf("got %+v %v", d, err)
	}
}

// pathological is a rule whose cost the file's cost_limit does not bound:
// three nested loops over the task's items.
const pathological = `
cost_limit: 1000000000000000000
rules:
  - name: expensive
    when: task.items.all(a, task.items.all(b, task.items.all(c, a + b + c >= 0)))
    then: {instruction: accept}
default: {instruction: later}
on_error: {instruction: reject, activity_sid: WA00000000000000000000000000000007}
`

// pathologicalTask gives pathological about 10^8 iterations: minutes of CPU.
func pathologicalTask() map[string]any {
	items := make([]any, 500)
	for i := range items {
		items[i] = float64(i)
	}
	return map[string]any{"items": items}
}

// Above DefaultCostLimit the cost limit no longer keeps an expression short:
// the decision deadline interrupts it, inside the loop, and the error names
// the rule. Guard runs a rules file in the caller's goroutine (Prompt), so
// without the interruption a live callback would wait for the loop.
func TestHighCostLimitIsInterruptedAtTheDeadline(t *testing.T) {
	t.Parallel()
	p := mustParse(t, pathological)
	g, err := policy.NewGuard(p, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	d, err := g.Decide(context.Background(), &policy.Reservation{TaskAttributes: pathologicalTask()})
	if !errors.Is(err, policy.ErrDeadline) || !strings.Contains(err.Error(), `rule "expensive": when: operation interrupted`) {
		t.Fatalf("err = %v, want the deadline, interrupting rule \"expensive\"", err)
	}
	if d.Rule != "on_error" {
		t.Fatalf("got %+v, want on_error", d)
	}
}

// MaxCostLimit lowers a file's cost_limit, and says so.
func TestMaxCostLimit(t *testing.T) {
	t.Parallel()
	p, err := rules.Parse("upload.yaml", []byte(pathological), rules.MaxCostLimit(rules.DefaultCostLimit))
	if err != nil {
		t.Fatal(err)
	}
	if p.CostLimit() != rules.DefaultCostLimit || !strings.Contains(p.CostLimitNote(), "cost_limit 1000000000000000000 is above the server's 100000") {
		t.Fatalf("cost limit %d (%q), want lowered to %d", p.CostLimit(), p.CostLimitNote(), rules.DefaultCostLimit)
	}
	if _, _, err := decide(t, p, pathologicalTask(), nil); err == nil || !strings.Contains(err.Error(), `rule "expensive": when: operation cancelled: actual cost limit exceeded`) {
		t.Fatalf("got %v, want the cost limit", err)
	}
	if p := mustParse(t, pathological); p.CostLimit() != 1e18 || p.CostLimitNote() != "" {
		t.Fatalf("without MaxCostLimit: %d %q", p.CostLimit(), p.CostLimitNote())
	}
}

// Above DefaultCostLimit a memory limit stands in for the cost limit's
// bound on what an expression builds: nested map()s stop with an error
// naming the rule, long before the deadline could.
func TestHighCostLimitHasAMemoryLimit(t *testing.T) {
	t.Parallel()
	p := mustParse(t, strings.Replace(pathological, "task.items.all(a, task.items.all(b, task.items.all(c, a + b + c >= 0)))",
		"task.items.map(a, task.items.map(b, task.items.map(c, a + b + c))).size() >= 0", 1))
	g, err := policy.NewGuard(p, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	d, err := g.Decide(context.Background(), &policy.Reservation{TaskAttributes: pathologicalTask()})
	if errors.Is(err, policy.ErrDeadline) || err == nil || !strings.Contains(err.Error(), `rule "expensive": when:`) || !strings.Contains(err.Error(), "memory limit") {
		t.Fatalf("err = %v, want the memory limit, in rule \"expensive\"", err)
	}
	if d.Rule != "on_error" {
		t.Fatalf("got %+v, want on_error", d)
	}
}
