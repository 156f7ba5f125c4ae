package replay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/assignd/assignd/decisionlog"
	"github.com/assignd/assignd/internal/servicetest"
	"github.com/assignd/assignd/policy/rules"
	"github.com/assignd/assignd/whatif/replay"
)

// rejectSpanish is servicetest.Policy with its spanish rule turned from
// accept to reject: every Spanish callback the policy in force accepted
// changes.
var rejectSpanish = strings.Replace(servicetest.Policy, `when: 'task.selected_language == "es"'
    then: {instruction: accept}`, `when: 'task.selected_language == "es"'
    then: {instruction: reject, activity_sid: WA00000000000000000000000000000009}`, 1)

func parse(t testing.TB, name, src string) *rules.Policy {
	t.Helper()
	p, err := rules.Parse(name, []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// record sends spanish Spanish callbacks and others other callbacks
// through the real handlers into a log of mode, and one forged one.
func record(t *testing.T, mode decisionlog.Mode, spanish, others int) *servicetest.Env {
	t.Helper()
	env := servicetest.New(t, "sqlite", mode, decisionlog.Options{})
	n := 0
	for range spanish {
		n++
		if s, b := env.Post(t, servicetest.Reservation(n, map[string]any{"selected_language": "es"}, map[string]any{"languages": []any{"es"}}), servicetest.Token); s != 200 {
			t.Fatalf("callback: %d %s", s, b)
		}
	}
	for range others {
		n++
		if s, b := env.Post(t, servicetest.Reservation(n, map[string]any{"type": "chat"}, nil), servicetest.Token); s != 200 {
			t.Fatalf("callback: %d %s", s, b)
		}
	}
	if s, _ := env.Post(t, servicetest.Reservation(n+1, map[string]any{"selected_language": "es"}, nil), "forged"); s != 403 {
		t.Fatalf("forged callback: %d, want 403", s)
	}
	env.Flush(t)
	return env
}

func run(t *testing.T, env *servicetest.Env, candidate string, o replay.Options) replay.Result {
	t.Helper()
	o.Log, o.Candidate, o.InForce = env.Log, parse(t, "new.yaml", candidate), parse(t, "test.yaml", servicetest.Policy)
	res, err := replay.Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// A candidate that rejects what the policy in force accepted changes
// exactly those decisions, shows them with their SIDs and both rules, and
// counts the refused callback as not decided again.
func TestCandidateThatRejectsChangesDecisions(t *testing.T) {
	t.Parallel()
	env := record(t, decisionlog.ModeFull, 3, 2)
	res := run(t, env, rejectSpanish, replay.Options{Examples: 2})
	if res.Read != 6 || res.Checked != 5 || res.Changed != 3 || res.Unchanged != 2 || res.InForceDiffers != 0 {
		t.Fatalf("read %d checked %d changed %d unchanged %d differs %d, want 6 5 3 2 0", res.Read, res.Checked, res.Changed, res.Unchanged, res.InForceDiffers)
	}
	if len(res.NotRedecided) != 1 || res.NotRedecided[0].Count != 1 || !strings.Contains(res.NotRedecided[0].Reason, "bad_signature") {
		t.Errorf("not re-decided: %+v, want the one bad_signature", res.NotRedecided)
	}
	if len(res.Examples) != 2 {
		t.Fatalf("examples %+v, want 2 (-examples 2)", res.Examples)
	}
	ex := res.Examples[0]
	want := servicetest.Reservation(3, nil, nil) // the newest Spanish one
	if ex.TaskSid != want.TaskSid || ex.ReservationSid != want.ReservationSid || ex.WorkerSid != want.WorkerSid ||
		ex.Old.Rule != "spanish" || ex.Old.Instruction != "accept" || ex.New.Rule != "spanish" || ex.New.Instruction != "reject" {
		t.Errorf("first example %+v, want reservation 3, spanish accept → spanish reject", ex)
	}
	var spanish, accept replay.Share
	for _, s := range res.Rules {
		if s.Name == "spanish" {
			spanish = s
		}
	}
	for _, s := range res.Instructions {
		if s.Name == "accept" {
			accept = s
		}
	}
	if spanish.Old != 3 || spanish.New != 3 || spanish.OldShare != 0.6 || accept.Old != 3 || accept.New != 0 || accept.NewShare != 0 {
		t.Errorf("spanish %+v accept %+v", spanish, accept)
	}
	if err := res.Gate(replay.MaxChanged{N: 0}); err == nil || !strings.Contains(err.Error(), "3 of 5 decisions changed") {
		t.Errorf("gate at 0: %v", err)
	}
	if err := res.Gate(replay.MaxChanged{Percent: 60, IsPercent: true}); err != nil {
		t.Errorf("gate at 60%%: %v", err)
	}

	var text bytes.Buffer
	if err := res.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"3 changed (60.0%)", want.ReservationSid, "spanish: accept", "spanish: reject", "1 refused (bad_signature)"} {
		if !strings.Contains(text.String(), w) {
			t.Errorf("text lacks %q:\n%s", w, text.String())
		}
	}
	// The JSON is the same content.
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var back replay.Result
	if err := json.Unmarshal(b, &back); err != nil || back.Changed != 3 || len(back.Examples) != 2 {
		t.Errorf("JSON round trip: %v %s", err, b)
	}
}

// The policy in force against itself changes nothing, and its lint names
// the rules no callback matched.
func TestSamePolicyChangesNothing(t *testing.T) {
	t.Parallel()
	env := record(t, decisionlog.ModeFull, 2, 2)
	res := run(t, env, servicetest.Policy, replay.Options{})
	if res.Checked != 4 || res.Changed != 0 || res.Unchanged != 4 || len(res.Examples) != 0 {
		t.Fatalf("%+v, want 4 checked, none changed", res)
	}
	if err := res.Gate(replay.MaxChanged{}); err != nil {
		t.Errorf("gate at 0: %v", err)
	}
	var never []string
	for _, r := range res.Lint.NeverMatched {
		never = append(never, r.Rule)
	}
	if strings.Join(never, ",") != "vip,boom,later-async" {
		t.Errorf("never matched %v, want vip, boom, later-async", never)
	}
}

// A rule reading a misspelt attribute is named, with the recorded name it
// was meant to be.
func TestLintNamesMisspeltAttribute(t *testing.T) {
	t.Parallel()
	env := record(t, decisionlog.ModeFull, 2, 1)
	typo := strings.Replace(rejectSpanish, "task.selected_language", "task.selected_langauge", 1)
	res := run(t, env, typo, replay.Options{})
	var found *replay.Unseen
	for i, u := range res.Lint.UnseenAttributes {
		if u.Attribute == "task.selected_langauge" {
			found = &res.Lint.UnseenAttributes[i]
		}
	}
	if found == nil || len(found.ReadBy) != 1 || found.ReadBy[0].Rule != "spanish" || found.ReadBy[0].Line != 7 || found.DidYouMean != "task.selected_language" {
		t.Fatalf("unseen attributes %+v, want spanish's task.selected_langauge, did you mean task.selected_language", res.Lint.UnseenAttributes)
	}
	lines := strings.Join(res.Lint.Lines("new.yaml"), "\n")
	if !strings.HasPrefix(lines, `task.selected_langauge is on no recorded callback (read by "spanish" (new.yaml:7)); did you mean task.selected_language?`) {
		t.Errorf("lint lines:\n%s", lines)
	}
	// The misspelt rule never matches: the Spanish callbacks fall to the
	// default, reject, and so change.
	if res.Changed != 2 {
		t.Errorf("changed %d, want the 2 Spanish callbacks", res.Changed)
	}
}

// A summary-mode log is decided as far as it goes, and the result says so
// plainly: which entries, and what that means for their decisions.
func TestSummaryModeSaysWhatItCannotRedecide(t *testing.T) {
	t.Parallel()
	env := record(t, decisionlog.ModeSummary, 2, 1)
	res := run(t, env, rejectSpanish, replay.Options{})
	if res.Checked != 3 || res.Approximate != 3 || res.Lint.AttributesSeen != 0 {
		t.Fatalf("checked %d approximate %d with attributes %d, want 3 3 0", res.Checked, res.Approximate, res.Lint.AttributesSeen)
	}
	notes := strings.Join(res.Notes, "\n")
	for _, w := range []string{"3 entries in summary mode: attributes and extra parameters were not recorded; rules reading attributes were decided on empty attributes",
		"1 entries not decided again: refused (bad_signature)",
		// On empty attributes the Spanish callbacks no longer match spanish.
		"2 entries: the policy in force now decides otherwise than was recorded"} {
		if !strings.Contains(notes, w) {
			t.Errorf("notes lack %q:\n%s", w, notes)
		}
	}
	if lines := strings.Join(res.Lint.Lines("new.yaml"), "\n"); !strings.Contains(lines, "attribute names not checked") {
		t.Errorf("lint: %s", lines)
	}
}

// -limit keeps the newest entries, and paging backwards past a page of the
// log reads each entry once.
func TestLimitKeepsTheNewest(t *testing.T) {
	t.Parallel()
	env := record(t, decisionlog.ModeFull, 3, 0)
	res := run(t, env, rejectSpanish, replay.Options{Limit: 2})
	// The newest two: the forged callback (refused) and reservation 3.
	if res.Read != 2 || res.Checked != 1 || len(res.Examples) != 1 || res.Examples[0].ReservationSid != servicetest.Reservation(3, nil, nil).ReservationSid {
		t.Fatalf("read %d checked %d examples %+v, want the newest two read, reservation 3 changed", res.Read, res.Checked, res.Examples)
	}
}

// A candidate whose rule fails to evaluate is counted, and the first
// failure named without the attribute values in it.
func TestCandidateFailuresAreCounted(t *testing.T) {
	t.Parallel()
	env := record(t, decisionlog.ModeFull, 2, 0)
	failing := strings.Replace(servicetest.Policy, `when: 'task.vip == true'`, `when: 'task.selected_language + 1 == 2'`, 1)
	res := run(t, env, failing, replay.Options{})
	if res.Failed.New != 2 || res.Failed.Old != 0 || !strings.Contains(res.FirstFailure, `rule "vip"`) || strings.Contains(res.FirstFailure, `"es"`) {
		t.Fatalf("failed %+v, first %q", res.Failed, res.FirstFailure)
	}
	if notes := strings.Join(res.Notes, "\n"); !strings.Contains(notes, "the candidate failed to decide 2 callbacks (its on_error decided them)") {
		t.Errorf("notes: %s", notes)
	}
}

// A gate that checks nothing does not pass, and -max-changed reads a count
// or a percentage.
func TestGate(t *testing.T) {
	t.Parallel()
	if err := (replay.Result{}).Gate(replay.MaxChanged{N: 100}); !errors.Is(err, replay.ErrNoCheck) {
		t.Errorf("empty result's gate: %v, want ErrNoCheck", err)
	}
	for in, want := range map[string]replay.MaxChanged{"5": {N: 5}, "0": {}, "5%": {Percent: 5, IsPercent: true}, "2.5%": {Percent: 2.5, IsPercent: true}} {
		if got, err := replay.ParseMaxChanged(in); err != nil || got != want {
			t.Errorf("ParseMaxChanged(%q) = %+v %v, want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-1", "five", "101%", "5%%"} {
		if _, err := replay.ParseMaxChanged(bad); err == nil {
			t.Errorf("ParseMaxChanged(%q) accepted", bad)
		}
	}
}

// A run stopped early (its budget spent, or its context done) counts only
// what it decided and says where it stopped; it is no error.
func TestStoppedRunSaysSo(t *testing.T) {
	t.Parallel()
	env := record(t, decisionlog.ModeFull, 2, 0)
	res := run(t, env, rejectSpanish, replay.Options{Budget: time.Nanosecond})
	if res.Read != 0 || res.Checked != 0 || !strings.Contains(strings.Join(res.Notes, "\n"), "reading stopped after 0 entries because its 1ns time bound was spent") {
		t.Errorf("budget spent: read %d checked %d notes %q", res.Read, res.Checked, res.Notes)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := replay.Run(ctx, replay.Options{Log: env.Log, Candidate: parse(t, "new.yaml", rejectSpanish), InForce: parse(t, "test.yaml", servicetest.Policy)})
	if err != nil || res.Checked != 0 || !strings.Contains(strings.Join(res.Notes, "\n"), "because it was stopped (context canceled)") {
		t.Errorf("cancelled: %v, checked %d, notes %q", err, res.Checked, res.Notes)
	}
	if res.Gate(replay.MaxChanged{N: 10}) == nil {
		t.Error("a stopped run that checked nothing passed a gate")
	}
}
