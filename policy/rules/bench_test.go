package rules_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/assignd/assignd/policy"
)

// BenchmarkRules evaluates policies of 10, 100 and 1,000 rules where only the
// last matches, so every rule is evaluated; ns/rule is the cost of one.
func BenchmarkRules(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			var src strings.Builder
			src.WriteString("rules:\n")
			for i := range n - 1 {
				fmt.Fprintf(&src, "  - {name: r%d, when: 'task.queue == \"q%d\" && %d in worker.levels', then: {instruction: accept}}\n", i, i, i%5)
			}
			src.WriteString("  - {name: last, when: 'task.queue == \"support\" && worker.?team.orValue(\"\") == \"blue\"', then: {instruction: reject, activity_sid: WA00000000000000000000000000000001}}\n")
			src.WriteString("default: {instruction: accept}\non_error: {instruction: accept}\n")
			p := mustParse(b, src.String())
			r := &policy.Reservation{
				TaskAttributes:   map[string]any{"queue": "support", "priority": 3.0},
				WorkerAttributes: map[string]any{"team": "blue", "levels": []any{1.0, 2.0}},
			}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				d, err := p.Decide(ctx, r)
				if err != nil || d.Rule != "last" {
					b.Fatalf("got %v %v", d.Rule, err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/rule")
		})
	}
}

// BenchmarkMissingAttribute: 100 rules that read task.lang, against a task
// that has it (each rule a plain non-match) and one that lacks it (each rule
// an evaluation error recognised as a missing attribute). Compare the two
// sub-benchmarks' ns/rule for the cost of telling a missing attribute.
func BenchmarkMissingAttribute(b *testing.B) {
	var src strings.Builder
	src.WriteString("rules:\n")
	for i := range 100 {
		fmt.Fprintf(&src, "  - {name: r%d, when: 'task.customer.lang == \"l%d\"', then: {instruction: accept}}\n", i, i)
	}
	src.WriteString("default: {instruction: accept}\non_error: {instruction: accept}\n")
	p := mustParse(b, src.String())
	for name, task := range map[string]map[string]any{
		"present": {"customer": map[string]any{"lang": "es"}},
		"missing": {"customer": map[string]any{}},
	} {
		b.Run(name, func(b *testing.B) {
			r := &policy.Reservation{TaskAttributes: task}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				d, err := p.Decide(ctx, r)
				if err != nil || d.Rule != "default" {
					b.Fatalf("got %v %v", d.Rule, err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/100, "ns/rule")
		})
	}
}
