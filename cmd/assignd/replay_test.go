package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/assignd/assignd/async/asynctest"
	"github.com/assignd/assignd/decisionlog"
	"github.com/assignd/assignd/policy/examples"
	"github.com/assignd/assignd/whatif/replay"
)

// rejectingExample is the embedded example with its spanish-speaker rule
// turned from accept to reject, and with spanish-non-speaker reading a
// misspelt attribute.
func rejectingExample(t *testing.T) string {
	t.Helper()
	src := string(examples.Assignment())
	edited := strings.Replace(src, `    when: 'task.selected_language == "es" && "es" in worker.languages'
    then:
      instruction: accept`, `    when: 'task.selected_language == "es" && "es" in worker.languages'
    then:
      instruction: reject
      activity_sid: WA00000000000000000000000000000001`, 1)
	edited = strings.Replace(edited, `    when: 'task.selected_language == "es"'
`, `    when: 'task.selected_langauge == "es"'
`, 1)
	if edited == src || strings.Count(edited, "selected_langauge") != 1 {
		t.Fatal("the example policy changed: update rejectingExample")
	}
	return writeFile(t, "new.yaml", edited)
}

// recordDevSession runs `assignd dev` (the service and its emulator) on
// env's store, creates a Spanish and an English task through the
// emulator's REST API as the tutorial does, waits until both are
// assigned, and stops the service: the decision log then holds what dev
// recorded.
func recordDevSession(t *testing.T, env []string) {
	t.Helper()
	d := startDev(t, env, "", handedListeners{})
	d.setActivity("Alice", "Idle")
	spanish := d.createTask("Tutorial Workflow", `{"selected_language":"es"}`)
	d.waitTask(spanish, "assigned")
	d.setActivity("Bob", "Idle")
	english := d.createTask("Tutorial Workflow", `{"selected_language":"en"}`)
	d.waitTask(english, "assigned")
	if err := d.stop(); err != nil {
		t.Fatalf("dev: %v\n%s", err, d.logs)
	}
}

// exit is the exit status run's error stands for.
func exit(err error) int {
	var ec exitCode
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ec):
		return int(ec)
	}
	return 1
}

// The done-when: `policy replay` on a decision log recorded in dev
// (tasks created through the emulator) shows changed decisions for a policy
// that rejects what the old one accepted and exits 1 with -max-changed 0,
// exits 0 with the unchanged policy, and names a misspelt attribute; on
// SQLite in DATA_DIR and on PostgreSQL in DATABASE_URL, read as serve
// writes them.
func TestPolicyReplayOnADevSession(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs assignd dev")
	}
	for _, store := range []string{"sqlite", "postgres"} {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			env := []string{"DATA_DIR=" + filepath.Join(t.TempDir(), "data"), "DATABASE_URL="}
			if store == "postgres" {
				// DATABASE_URL alone means production, where the policy in
				// force must be POLICY_FILE; the dev session's is the
				// embedded example, as `assignd dev` says with this.
				env = append(env, "DATABASE_URL="+asynctest.DatabaseURL(t), "ASSIGND_MODE=development")
			}
			recordDevSession(t, env)
			candidate := rejectingExample(t)

			out, errOut, err := runOut([]string{"policy", "replay", candidate, "-max-changed", "0"}, env)
			if exit(err) != 1 || !strings.Contains(errOut, "-max-changed 0: 1 of 2 decisions changed (50.0%), more than the 0 allowed") {
				t.Fatalf("rejecting policy, -max-changed 0: exit %d (want 1)\nstderr %s\nstdout %s", exit(err), errOut, out)
			}
			for _, want := range []string{
				"1 unchanged, 1 changed (50.0%)",
				"spanish-speaker: accept", "spanish-speaker: reject",
				`task.selected_langauge is on no recorded callback (read by "spanish-non-speaker" (` + candidate + `:32)); did you mean task.selected_language?`,
			} {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}

			// The same as JSON, and within the gate when it allows one.
			out, errOut, err = runOut([]string{"policy", "replay", "-json", "-max-changed", "50%", candidate}, env)
			var res replay.Result
			if exit(err) != 0 || json.Unmarshal([]byte(out), &res) != nil || res.Changed != 1 || res.Checked != 2 || len(res.Examples) != 1 ||
				!strings.HasPrefix(res.Examples[0].ReservationSid, "WR") || !strings.HasPrefix(res.Examples[0].TaskSid, "WT") {
				t.Fatalf("-json -max-changed 50%%: exit %d\nstderr %s\nstdout %s", exit(err), errOut, out)
			}

			if store == "sqlite" {
				tableMatchesJSON(t, candidate, env)
			}

			// The policy in force against itself changes nothing.
			same := writeFile(t, "same.yaml", string(examples.Assignment()))
			out, errOut, err = runOut([]string{"policy", "replay", same, "-max-changed", "0"}, env)
			if exit(err) != 0 || !strings.Contains(out, "2 unchanged, 0 changed") {
				t.Fatalf("unchanged policy: exit %d\nstderr %s\nstdout %s", exit(err), errOut, out)
			}
		})
	}
}

// Bad usage and a policy that does not compile exit 2 with one line
// naming the problem (for a policy, its file and line); an empty window
// fails a gate, which must not pass having checked nothing.
func TestPolicyReplayRefuses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := []string{"DATA_DIR=" + filepath.Join(dir, "data"), "DATABASE_URL="}
	broken := writeFile(t, "broken.yaml", "rules:\n  - name: r\n    when: 'task.x =='\n    then: {instruction: accept}\ndefault: {instruction: accept}\non_error: {instruction: accept}\n")
	_, errOut, err := runOut([]string{"policy", "replay", broken}, env)
	if exit(err) != 2 || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || !strings.Contains(errOut, broken+`:3: rule "r": when:`) {
		t.Errorf("broken policy: exit %d, stderr %q; want 2 and one line naming %s:3", exit(err), errOut, broken)
	}
	_, errOut, err = runOut([]string{"policy", "replay", filepath.Join(dir, "nope.yaml")}, env)
	if exit(err) != 2 || !strings.Contains(errOut, "nope.yaml") {
		t.Errorf("missing policy: exit %d, stderr %q", exit(err), errOut)
	}
	ok := writeFile(t, "ok.yaml", string(examples.Assignment()))
	if _, errOut, err := runOut([]string{"policy", "replay", ok}, append(env, "DATABASE_URL=postgres://db/x")); exit(err) != 2 ||
		!strings.Contains(errOut, "POLICY_FILE is unset in production mode (DATABASE_URL is set)") {
		t.Errorf("production without POLICY_FILE: exit %d, stderr %q", exit(err), errOut)
	}
	oneLine := func(what string, args, env []string, code int, want string) {
		t.Helper()
		_, errOut, err := runOut(args, env)
		if exit(err) != code || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, want) {
			t.Errorf("%s: exit %d, stderr %q; want %d and one line with %q", what, exit(err), errOut, code, want)
		}
	}
	oneLine("no log in DATA_DIR", []string{"policy", "replay", ok}, env, 2, "no decision log at")
	if _, err := os.Stat(filepath.Join(dir, "data")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a replay without a log created DATA_DIR: %v", err)
	}
	oneLine("bad DECISION_DEADLINE", []string{"policy", "replay", ok}, append(env, "DECISION_DEADLINE=abc"), 2, "DECISION_DEADLINE")
	for _, bad := range []string{"NaN%", "NaN", "Inf", "+Inf%"} { // bad usage: the line, then the usage
		_, errOut, err := runOut([]string{"policy", "replay", ok, "-max-changed", bad}, env)
		if first, _, _ := strings.Cut(errOut, "\n"); exit(err) != 2 || !strings.Contains(first, "-max-changed: want a count") {
			t.Errorf("-max-changed %s: exit %d, stderr %q", bad, exit(err), first)
		}
	}
	// A database that does not answer: an I/O error, 3, not a failed gate.
	oneLine("unreachable database", []string{"policy", "replay", ok, "-max-changed", "0"},
		append(env, "DATABASE_URL=postgres://assignd:assignd@127.0.0.1:1/x?sslmode=disable&connect_timeout=5", "ASSIGND_MODE=development"), 3, "decision log: postgres")
	// An empty log (the service ran, nothing was decided): a gate fails.
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	d := startDev(t, env, "", handedListeners{})
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := runOut([]string{"policy", "replay", ok, "-max-changed", "5%"}, env)
	if exit(err) != 1 || !strings.Contains(errOut, "no recorded callback could be decided again, so nothing was checked") {
		t.Errorf("empty log with a gate: exit %d\nstderr %s\nstdout %s", exit(err), errOut, out)
	}
	// The replay wrote nothing to the log it read.
	logFile := filepath.Join(dir, "data", decisionlog.FileName)
	before, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := os.Stat(logFile)
	if _, _, err := runOut([]string{"policy", "replay", ok}, env); exit(err) != 0 {
		t.Fatalf("empty log: exit %d", exit(err))
	}
	after, _ := os.ReadFile(logFile)
	if info2, _ := os.Stat(logFile); !bytes.Equal(before, after) || !info2.ModTime().Equal(info.ModTime()) {
		t.Errorf("the replay changed %s", logFile)
	}
	if _, _, err := runOut([]string{"policy", "replay", ok}, env); exit(err) != 0 {
		t.Errorf("empty log without a gate: exit %d, want 0 (nothing to say, nothing to fail)", exit(err))
	}
}

// tableMatchesJSON holds the table `policy replay` prints against its
// -json document on the same log: every figure, example, difference, lint
// finding and note of the JSON is in the table.
func tableMatchesJSON(t *testing.T, candidate string, env []string) {
	t.Helper()
	table, _, _ := runOut([]string{"policy", "replay", candidate}, env)
	out, _, _ := runOut([]string{"policy", "replay", candidate, "-json"}, env)
	var res replay.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("-json: %v\n%s", err, out)
	}
	fields := func(line string) string { return strings.Join(strings.Fields(line), " ") }
	var lines []string
	for _, l := range strings.Split(table, "\n") {
		lines = append(lines, fields(l))
	}
	has := func(want string) bool {
		return slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, fields(want)) })
	}
	want := []string{fmt.Sprintf("%d entries read, %d decided again by both", res.Read, res.Checked),
		fmt.Sprintf("decisions: %d unchanged, %d changed (%.1f%%)", res.Unchanged, res.Changed, res.ChangedShare()*100)}
	for _, s := range append(slices.Clone(res.Rules), res.Instructions...) {
		want = append(want, fmt.Sprintf("%s %d %.1f%% %d %.1f%%", s.Name, s.Old, s.OldShare*100, s.New, s.NewShare*100))
	}
	if len(res.Examples) == 0 {
		t.Fatal("-json has no example to compare")
	}
	for _, e := range res.Examples {
		if len(e.Differences) == 0 {
			t.Errorf("example %s has no differences", e.ReservationSid)
		}
		want = append(want, strings.Join([]string{e.TaskSid, e.ReservationSid, e.WorkerSid, e.Old.String(), e.New.String(), strings.Join(e.Differences, "; ")}, " "))
	}
	for _, c := range res.NotRedecided {
		want = append(want, fmt.Sprintf("not decided again: %d %s", c.Count, c.Reason))
	}
	want = append(want, res.Lint.Lines(res.Candidate)...)
	want = append(want, res.Notes...)
	for _, w := range want {
		if !has(w) {
			t.Errorf("the table lacks what -json says: %q\n%s", w, table)
		}
	}
}
