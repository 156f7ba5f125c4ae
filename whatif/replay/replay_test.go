package replay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
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
	return runWith(t, env, servicetest.Policy, candidate, o)
}

// runWith replays env's log with inForce as the policy in force.
func runWith(t *testing.T, env *servicetest.Env, inForce, candidate string, o replay.Options) replay.Result {
	t.Helper()
	if o.Log == nil {
		o.Log = env.Log
	}
	o.Candidate, o.InForce = parse(t, "new.yaml", candidate), parse(t, "old.yaml", inForce)
	if o.Deadline == 0 {
		o.Deadline = time.Second
	}
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
	// The table says what the JSON does: cmd/assignd's
	// TestPolicyReplayTableMatchesJSON holds the two against each other.
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
// plainly: when a policy reads attributes, its entries are not decided
// again (on empty attributes every rule would fall to the default, and
// "0 changed" would pass a gate), so a gate over only such entries fails;
// and no rule is said never to have matched.
func TestSummaryModeSaysWhatItCannotRedecide(t *testing.T) {
	t.Parallel()
	env := record(t, decisionlog.ModeSummary, 2, 1)
	res := run(t, env, rejectSpanish, replay.Options{})
	if res.Read != 4 || res.Checked != 0 || res.Changed != 0 || res.Lint.AttributesSeen != 0 {
		t.Fatalf("read %d checked %d changed %d with attributes %d, want 4 0 0 0", res.Read, res.Checked, res.Changed, res.Lint.AttributesSeen)
	}
	if !slices.Contains(res.NotRedecided, replay.Count{Reason: "summary mode: attributes not recorded", Count: 3}) {
		t.Errorf("not re-decided %+v, want 3 summary mode: attributes not recorded", res.NotRedecided)
	}
	if err := res.Gate(replay.MaxChanged{N: 0}); !errors.Is(err, replay.ErrNoCheck) {
		t.Errorf("gate over summary entries only: %v, want ErrNoCheck", err)
	}
	if len(res.Lint.NeverMatched) != 0 {
		t.Errorf("never matched %+v over no faithful decision, want none", res.Lint.NeverMatched)
	}
	notes := strings.Join(res.Notes, "\n")
	for _, w := range []string{"3 entries in summary mode: attributes and extra parameters were not recorded; a policy reads them, so these entries were not decided again",
		"1 entries not decided again: refused (bad_signature)"} {
		if !strings.Contains(notes, w) {
			t.Errorf("notes lack %q:\n%s", w, notes)
		}
	}
	if lines := strings.Join(res.Lint.Lines("new.yaml"), "\n"); !strings.Contains(lines, "attribute names not checked") {
		t.Errorf("lint: %s", lines)
	}

	// Policies reading only what summary mode records decide it
	// faithfully: the reservation's own fields.
	byAge := "rules:\n  - name: old\n    when: 'reservation.task_age > 5'\n    then: {instruction: accept}\ndefault: {instruction: accept}\non_error: {instruction: accept}\n"
	rejectOld := strings.Replace(byAge, "then: {instruction: accept}", "then: {instruction: reject, activity_sid: WA00000000000000000000000000000009}", 1)
	res = runWith(t, env, byAge, rejectOld, replay.Options{})
	if res.Checked != 3 || res.Changed != 3 || res.Gate(replay.MaxChanged{N: 0}) == nil {
		t.Errorf("by task age: checked %d changed %d, want 3 3 and a failed gate", res.Checked, res.Changed)
	}
}

// A rule reading reservation.params is, like one reading attributes, not
// decided again on a summary entry, which did not record the parameters.
func TestSummaryModeParamsAreNotRecorded(t *testing.T) {
	t.Parallel()
	env := record(t, decisionlog.ModeSummary, 1, 1)
	byParam := "rules:\n  - name: p\n    when: 'reservation.params[\"Foo\"] == \"x\"'\n    then: {instruction: accept}\ndefault: {instruction: reject, activity_sid: WA00000000000000000000000000000009}\non_error: {instruction: accept}\n"
	res := runWith(t, env, byParam, strings.Replace(byParam, "default: {instruction: reject, activity_sid: WA00000000000000000000000000000009}", "default: {instruction: accept}", 1), replay.Options{})
	if res.Checked != 0 || !errors.Is(res.Gate(replay.MaxChanged{N: 5}), replay.ErrNoCheck) {
		t.Errorf("params on summary entries: checked %d changed %d not re-decided %+v, want none checked and a failed gate", res.Checked, res.Changed, res.NotRedecided)
	}
}

// A rule the log recorded deciding is not said never to have matched,
// though no callback decided again matched it (here an earlier rule of the
// candidate takes them).
func TestLintTrustsTheRecordedRule(t *testing.T) {
	t.Parallel()
	env := record(t, decisionlog.ModeFull, 2, 1)
	shadow := strings.Replace(servicetest.Policy, "rules:\n", "rules:\n  - name: first\n    when: 'task.selected_language == \"es\"'\n    then: {instruction: accept}\n", 1)
	res := run(t, env, shadow, replay.Options{})
	for _, r := range res.Lint.NeverMatched {
		if r.Rule == "spanish" {
			t.Errorf("never matched %+v lists spanish, which the log recorded matching", res.Lint.NeverMatched)
		}
	}
}

// -limit keeps the newest entries, and paging backwards past a page of the
// log (decisionlog.MaxQueryLimit entries) reads each entry once.
func TestLimitKeepsTheNewest(t *testing.T) {
	t.Parallel()
	if decisionlog.MaxQueryLimit != 1000 {
		t.Fatalf("the log's page is %d: record more than a page below", decisionlog.MaxQueryLimit)
	}
	// Oldest first: reservations 1-3 Spanish (changed by rejectSpanish),
	// then 1,002 others, then the forged one: 1,006 entries.
	env := record(t, decisionlog.ModeFull, 3, 1002)
	for _, c := range []struct {
		limit, read, changed int
		examples             []int // reservations, newest first
	}{
		{limit: 1003, read: 1003},                                    // a page and 3: the forged and 1,002 others
		{limit: 1005, read: 1005, changed: 2, examples: []int{3, 2}}, // and the two newest Spanish
		{limit: 0, read: 1006, changed: 3, examples: []int{3, 2, 1}}, // the whole log
	} {
		res := run(t, env, rejectSpanish, replay.Options{Limit: c.limit})
		var got []string
		for _, e := range res.Examples {
			got = append(got, e.ReservationSid)
		}
		var want []string
		for _, n := range c.examples {
			want = append(want, servicetest.Reservation(n, nil, nil).ReservationSid)
		}
		if res.Read != c.read || res.Checked != c.read-1 || res.Changed != c.changed || !slices.Equal(got, want) || !res.Complete {
			t.Errorf("limit %d: read %d checked %d changed %d examples %v complete %v, want %d %d %d %v true",
				c.limit, res.Read, res.Checked, res.Changed, got, res.Complete, c.read, c.read-1, c.changed, want)
		}
	}
}

// cancelling is the log, read until its second page is asked for: then
// ctx is cancelled, as SIGINT does mid-run.
type cancelling struct {
	log    replay.Reader
	cancel context.CancelFunc
	pages  int
}

func (c *cancelling) Query(ctx context.Context, f decisionlog.Filter) ([]decisionlog.Entry, error) {
	if c.pages++; c.pages == 2 {
		c.cancel()
	}
	return c.log.Query(ctx, f)
}

// A run interrupted after its first page has decided a thousand callbacks,
// none changed, and not the older ones that change: it is incomplete, says
// so, and fails a gate it would otherwise pass.
func TestStoppedRunFailsTheGate(t *testing.T) {
	t.Parallel()
	env := record(t, decisionlog.ModeFull, 5, 1000)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res, err := replay.Run(ctx, replay.Options{Log: &cancelling{log: env.Log, cancel: cancel}, Deadline: time.Second,
		Candidate: parse(t, "new.yaml", rejectSpanish), InForce: parse(t, "old.yaml", servicetest.Policy)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Complete || res.Checked != 999 || res.Changed != 0 || !strings.Contains(res.Stopped, "context canceled") {
		t.Fatalf("complete %v stopped %q checked %d changed %d, want an incomplete run of 999 unchanged", res.Complete, res.Stopped, res.Checked, res.Changed)
	}
	if err := res.Gate(replay.MaxChanged{N: 10}); !errors.Is(err, replay.ErrStopped) {
		t.Errorf("gate over a stopped run: %v, want ErrStopped", err)
	}
	var text bytes.Buffer
	if err := res.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "INCOMPLETE: stopped after 1000 entries, interrupted (context canceled)") {
		t.Errorf("text does not say the run is incomplete:\n%s", text.String())
	}
	b, _ := json.Marshal(res)
	if !strings.Contains(string(b), `"complete":false`) || !strings.Contains(string(b), `"stopped":"interrupted (context canceled)"`) {
		t.Errorf("JSON does not say the run is incomplete: %s", b)
	}
}

// recordOne sends one callback with these attributes through the real
// handlers into a full-mode log.
func recordOne(t *testing.T, task, worker map[string]any) *servicetest.Env {
	t.Helper()
	env := servicetest.New(t, "sqlite", decisionlog.ModeFull, decisionlog.Options{})
	if s, b := env.Post(t, servicetest.Reservation(1, task, worker), servicetest.Token); s != 200 {
		t.Fatalf("callback: %d %s", s, b)
	}
	env.Flush(t)
	return env
}

const dequeueTo = `
rules:
  - name: r
    when: 'task.type == "voice"'
    then: {instruction: dequeue, from: "+15005550006", to: =worker.contact_uri, timeout: 30}
default: {instruction: accept}
on_error: {instruction: accept}
`

// Two different computed values are a changed answer (TaskRouter would
// dial another number), compared before the values are redacted for
// display; the example names the field, not the values.
func TestComputedFieldChangeIsChanged(t *testing.T) {
	t.Parallel()
	env := recordOne(t, map[string]any{"type": "voice"}, map[string]any{"contact_uri": "+15550001", "sip_uri": "sip:alice@example.com"})
	res := runWith(t, env, dequeueTo, strings.Replace(dequeueTo, "worker.contact_uri", "worker.sip_uri", 1), replay.Options{})
	if res.Checked != 1 || res.Changed != 1 || len(res.Examples) != 1 {
		t.Fatalf("checked %d changed %d, want the dequeue to another number changed", res.Checked, res.Changed)
	}
	b, _ := json.Marshal(res)
	if strings.Contains(string(b), "sip:alice") || strings.Contains(string(b), "+15550001") {
		t.Errorf("the computed values are shown: %s", b)
	}
	if d := res.Examples[0].Differences; !slices.Equal(d, []string{"to differs (computed from attributes: values not shown)"}) {
		t.Errorf("differences %q", d)
	}
}

// A changed delay is a changed answer: the update reaches TaskRouter a
// minute later.
func TestChangedDelayIsChanged(t *testing.T) {
	t.Parallel()
	env := recordOne(t, map[string]any{"type": "voice"}, nil)
	p := "rules:\n  - name: r\n    when: 'task.type == \"voice\"'\n    then: {instruction: accept, async: true, delay: 1s}\ndefault: {instruction: accept}\non_error: {instruction: accept}\n"
	res := runWith(t, env, p, strings.Replace(p, "delay: 1s", "delay: 60s", 1), replay.Options{})
	if res.Changed != 1 || len(res.Examples) != 1 || res.Examples[0].New.DelayMs != 60000 || !slices.Equal(res.Examples[0].Differences, []string{"delay 1s→1m0s"}) {
		t.Fatalf("changed %d examples %+v, want the delay 1s→1m0s", res.Changed, res.Examples)
	}
}

// A change of a field alone shows in the table as in the JSON: the rule
// and instruction are the same on both sides, the field tells them apart.
func TestFieldOnlyChangeIsShown(t *testing.T) {
	t.Parallel()
	env := recordOne(t, map[string]any{"type": "voice"}, map[string]any{"contact_uri": "+15550001"})
	res := runWith(t, env, dequeueTo, strings.Replace(dequeueTo, "timeout: 30", "timeout: 5", 1), replay.Options{})
	if res.Changed != 1 || len(res.Examples) != 1 || !slices.Equal(res.Examples[0].Differences, []string{"timeout 30→5"}) {
		t.Fatalf("changed %d examples %+v, want timeout 30→5", res.Changed, res.Examples)
	}
	var text bytes.Buffer
	if err := res.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "r: dequeue  timeout 30→5") {
		t.Errorf("the table hides the field that changed:\n%s", text.String())
	}
}

// A callback TaskRouter sent again (its async decision already stored) is
// not decided a second time: it is counted apart, as a duplicate.
func TestDuplicateCallbacksAreNotCountedTwice(t *testing.T) {
	t.Parallel()
	env := servicetest.New(t, "sqlite", decisionlog.ModeFull, decisionlog.Options{})
	r := env.Pending(t, map[string]any{"type": "async"}, nil)
	for range 2 {
		if s, b := env.Post(t, r, servicetest.Token); s != 200 {
			t.Fatalf("callback: %d %s", s, b)
		}
	}
	env.Flush(t)
	if e, err := env.Log.Query(context.Background(), decisionlog.Filter{}); err != nil || len(e) != 2 || !e[0].Duplicate {
		t.Fatalf("log %+v %v, want the second callback marked duplicate", e, err)
	}
	res := run(t, env, servicetest.Policy, replay.Options{})
	if res.Read != 2 || res.Checked != 1 || !slices.Contains(res.NotRedecided, replay.Count{Reason: "duplicate of an earlier callback", Count: 1}) {
		t.Errorf("read %d checked %d not re-decided %+v, want 1 checked and 1 duplicate", res.Read, res.Checked, res.NotRedecided)
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
	if err := (replay.Result{Complete: true}).Gate(replay.MaxChanged{N: 100}); !errors.Is(err, replay.ErrNoCheck) {
		t.Errorf("empty result's gate: %v, want ErrNoCheck", err)
	}
	for in, want := range map[string]replay.MaxChanged{"5": {N: 5}, "0": {}, "5%": {Percent: 5, IsPercent: true}, "2.5%": {Percent: 2.5, IsPercent: true}} {
		if got, err := replay.ParseMaxChanged(in); err != nil || got != want {
			t.Errorf("ParseMaxChanged(%q) = %+v %v, want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-1", "five", "101%", "5%%", "NaN%", "nan%", "NaN", "Inf", "Inf%", "+Inf%", "-Inf%", "infinity%"} {
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
	if res.Read != 0 || res.Checked != 0 || !strings.Contains(strings.Join(res.Notes, "\n"), "reading stopped after 0 entries, its time bound of 1ns was spent") {
		t.Errorf("budget spent: read %d checked %d notes %q", res.Read, res.Checked, res.Notes)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := replay.Run(ctx, replay.Options{Log: env.Log, Candidate: parse(t, "new.yaml", rejectSpanish), InForce: parse(t, "test.yaml", servicetest.Policy), Deadline: time.Second})
	if err != nil || res.Checked != 0 || !strings.Contains(strings.Join(res.Notes, "\n"), "after 0 entries, interrupted (context canceled)") {
		t.Errorf("cancelled: %v, checked %d, notes %q", err, res.Checked, res.Notes)
	}
	if res.Gate(replay.MaxChanged{N: 10}) == nil {
		t.Error("a stopped run that checked nothing passed a gate")
	}
}
