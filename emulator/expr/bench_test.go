package expr

import (
	"encoding/json"
	"testing"
)

// The benchmarks measure what the emulator does per routing decision: Parse
// once per TaskQueue or workflow update, Eval once per (task, worker) pair.
// BenchmarkDecodeAttributes is the baseline in the same run: decoding a
// worker's attributes JSON, which the emulator does anyway, so Eval's cost
// can be read as a ratio to it.

const (
	benchTarget = `(languages HAS task.selected_language AND level >= task.required_level) OR team IN ["blue", "red"]`
	benchWorker = `{"languages": ["en", "es"], "level": 3, "team": "green", "contact_uri": "client:alice"}`
	benchTask   = `{"selected_language": "es", "required_level": 2, "type": "support"}`
)

func BenchmarkParse(b *testing.B) {
	for b.Loop() {
		if _, err := Parse(benchTarget); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEval(b *testing.B) {
	e, err := Parse(benchTarget)
	if err != nil {
		b.Fatal(err)
	}
	v := Vars{Bare: attrs(b, benchWorker), Roots: map[string]map[string]any{"task": attrs(b, benchTask)}}
	if !e.Eval(v) {
		b.Fatal("benchmark expression should match")
	}
	for b.Loop() {
		e.Eval(v)
	}
}

func BenchmarkDecodeAttributes(b *testing.B) {
	data := []byte(benchWorker)
	for b.Loop() {
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			b.Fatal(err)
		}
	}
}
