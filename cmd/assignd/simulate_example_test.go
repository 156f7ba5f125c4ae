package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	whatif "github.com/assignd/assignd/whatif/report"
)

// The README's simulation of the shipped center (whatif/examples) is run
// here as the README writes it, with fewer replications, and its story
// held: the same arrivals under both policies, the skill check's rejects
// only under B, and the billing stream's service level paying for them.
func TestShippedSimulationExample(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates two 8-hour days")
	}
	args := readmeSimulateCommand(t)
	dir := t.TempDir()
	for i := 0; i < len(args); i++ {
		switch {
		case strings.HasPrefix(args[i], "whatif/"):
			args[i] = filepath.Join("..", "..", args[i])
		case args[i] == "-json" || args[i] == "-html":
			args[i+1] = filepath.Join(dir, args[i+1])
			i++
		}
	}
	args = append(args, "-runs", "2") // the last -runs wins: two replications keep the test short

	out, errOut, err := runOut(args, nil)
	if err != nil {
		t.Fatalf("assignd %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
	for _, want := range []string{"OVERALL", "STREAM billing", "OCCUPANCY BY WORKER GROUP", "billing-needs-skill"} {
		if !strings.Contains(out, want) {
			t.Errorf("the table lacks %q:\n%s", want, out)
		}
	}
	f, err := os.Open(filepath.Join(dir, "day.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	reps, err := whatif.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(reps) != 2 {
		t.Fatalf("-json holds %d reports, want one per policy", len(reps))
	}
	a, b := reps[0], reps[1]
	if a.Offered != b.Offered || a.Offered < 1000 {
		t.Errorf("offered A %.1f, B %.1f: both policies must see the same day of some 1,600 calls", a.Offered, b.Offered)
	}
	if a.Instructions["reject"] != 0 || b.Rules["billing-needs-skill"] == 0 || b.ReservationsRejected == 0 {
		t.Errorf("rejects: A %v, B's skill rule %v, B rejected %v; only B's skill check rejects",
			a.Instructions["reject"], b.Rules["billing-needs-skill"], b.ReservationsRejected)
	}
	slA, slB := a.Streams["billing"].ServiceLevel["20"], b.Streams["billing"].ServiceLevel["20"]
	if !(slB < slA-0.1) {
		t.Errorf("billing service level A %.3f, B %.3f: the rejects should cost B more than 10 points", slA, slB)
	}
	if html, err := os.ReadFile(filepath.Join(dir, "day.html")); err != nil || !strings.Contains(string(html), "<svg") {
		t.Errorf("-html: %v, no chart drawn", err)
	}
}

// readmeSimulateCommand returns the arguments of README's simulate command
// for the shipped center, after `go run ./cmd/assignd`.
func readmeSimulateCommand(t *testing.T) []string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range readmeBlocks(string(readme)) {
		cmd := strings.ReplaceAll(b.body, "\\\n", " ")
		if rest, ok := strings.CutPrefix(strings.TrimSpace(cmd), "go run ./cmd/assignd simulate whatif/examples/center.yaml"); ok {
			return append([]string{"simulate", "whatif/examples/center.yaml"}, strings.Fields(rest)...)
		}
	}
	t.Fatal("README.md has no block running `go run ./cmd/assignd simulate whatif/examples/center.yaml`")
	return nil
}
