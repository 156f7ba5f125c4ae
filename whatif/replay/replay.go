// Package replay decides recorded callbacks again with a candidate policy
// and with the policy in force, and says what the candidate would change:
// decisions unchanged and changed, each rule's and each instruction's
// share on both sides, the first changed callbacks, and a lint against
// reality (rules that never matched, attribute names no recorded callback
// carries). `assignd policy replay` prints it and gates CI on it; the
// inspector's "Try a policy" page shows it.
package replay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/assignd/assignd/decisionlog"
	"github.com/assignd/assignd/policy"
	"github.com/assignd/assignd/policy/rules"
)

// Defaults for Options.
const (
	// DefaultExamples is how many changed callbacks are shown.
	DefaultExamples = 10
	// pageSize is how many entries one query reads: the log's most.
	pageSize = decisionlog.MaxQueryLimit
)

// Reader reads the decision log; *decisionlog.Log is one.
type Reader interface {
	Query(ctx context.Context, f decisionlog.Filter) ([]decisionlog.Entry, error)
}

// Options say what to replay and with what.
type Options struct {
	Log Reader // required
	// Candidate is the policy tried; InForce the one it would replace.
	Candidate, InForce *rules.Policy // required
	// Since bounds the window: entries at or after it. Zero: all.
	Since time.Time
	// Limit bounds the entries read, the newest first; 0 reads the whole
	// window (retention bounds it).
	Limit int
	// Examples is how many changed callbacks to show; 0 is
	// DefaultExamples, negative none.
	Examples int
	// Deadline bounds each decision, as DECISION_DEADLINE bounds a live
	// one: required, the caller's configuration (one default, config's).
	Deadline time.Duration
	// Budget bounds the whole run: when it is spent, Run stops reading and
	// says how far it got (the inspector's bound). 0: none.
	Budget time.Duration
}

// Result is what a replay found. Its JSON is `policy replay -json`'s
// document and the inspector's API answer.
type Result struct {
	Candidate string    `json:"candidate"`
	InForce   string    `json:"in_force"`
	Since     time.Time `json:"since,omitzero"`
	Limit     int       `json:"limit,omitempty"`
	// Read is every entry read from the log; Checked those decided again
	// by both policies, Unchanged and Changed splitting them by the answer
	// TaskRouter would get (instruction, its fields, sync or async).
	Read      int `json:"read"`
	Checked   int `json:"checked"`
	Unchanged int `json:"unchanged"`
	Changed   int `json:"changed"`
	// SameAnswerOtherRule counts unchanged answers given by another rule.
	SameAnswerOtherRule int `json:"same_answer_other_rule"`
	// Complete says the whole window was read; Stopped, when it was not,
	// says why (interrupted, the time bound spent). The totals of a run
	// that stopped cover only what it read: a gate fails on them.
	Complete bool   `json:"complete"`
	Stopped  string `json:"stopped,omitempty"`
	// InForceDiffers counts checked entries the policy in force now
	// decides otherwise than was recorded.
	InForceDiffers int `json:"in_force_differs_from_recorded"`
	// Failed counts the checked entries each policy failed to decide (an
	// evaluation error or the deadline: its on_error decided), and
	// FirstFailure says why the candidate failed first, without
	// attribute values.
	Failed       Failed `json:"failed"`
	FirstFailure string `json:"first_candidate_failure,omitempty"`
	// NotRedecided are the entries read but not decided again, by reason.
	NotRedecided []Count `json:"not_redecided"`
	Rules        []Share `json:"rules"`
	Instructions []Share `json:"instructions"`
	// Examples are the first changed callbacks, newest first.
	Examples []Example `json:"examples"`
	Lint     Lint      `json:"lint"`
	// Notes say plainly what the replay could not do faithfully.
	Notes []string `json:"notes"`
}

// Failed is a count on each side.
type Failed struct {
	Old int `json:"in_force"`
	New int `json:"candidate"`
}

// Count is a number of entries and why.
type Count struct {
	Reason string `json:"reason"`
	Count  int    `json:"count"`
}

// Share is a rule's (or an instruction's) decisions on each side, and
// their share of the entries checked.
type Share struct {
	Name     string  `json:"name"`
	Old      int     `json:"in_force"`
	OldShare float64 `json:"in_force_share"`
	New      int     `json:"candidate"`
	NewShare float64 `json:"candidate_share"`
}

// Example is one changed callback.
type Example struct {
	ID             int64     `json:"id"`
	Time           time.Time `json:"time"`
	TaskSid        string    `json:"task_sid"`
	ReservationSid string    `json:"reservation_sid"`
	WorkerSid      string    `json:"worker_sid"`
	Old            Side      `json:"in_force"`
	New            Side      `json:"candidate"`
	// Differences say what changed, one each: the instruction, sync or
	// async, the delay, each field that differs ("timeout 30→5"; a field
	// computed from attributes without its values). The table and the
	// inspector's page print them.
	Differences []string `json:"differences"`
}

// Side is one policy's decision of an example.
type Side struct {
	Rule        string `json:"rule"`
	Instruction string `json:"instruction"`
	Async       bool   `json:"async,omitempty"`
	// DelayMs is an async decision's delay.
	DelayMs int64 `json:"delay_ms,omitempty"`
	// Answer is the instruction with its computed fields redacted: it is
	// shown; the comparison is of the instruction itself.
	Answer json.RawMessage `json:"instruction_json,omitempty"`

	raw      json.RawMessage // the instruction, unredacted: compared, never shown
	computed []string        // its fields computed from the reservation
}

// Lint is what the candidate's rules are held against the recorded
// callbacks for.
type Lint struct {
	// NeverMatched are the candidate's rules no checked callback matched.
	NeverMatched []RuleAt `json:"never_matched"`
	// UnseenAttributes are attribute names a rule reads that no recorded
	// task (or worker) carried.
	UnseenAttributes []Unseen `json:"unseen_attributes"`
	// AttributesSeen counts the entries whose attributes were recorded
	// (full mode): without any, attribute names cannot be checked.
	AttributesSeen int `json:"entries_with_attributes"`
}

// RuleAt is a rule and its line in the candidate.
type RuleAt struct {
	Rule string `json:"rule"`
	Line int    `json:"line,omitempty"`
}

// Unseen is an attribute the candidate's rules read and no recorded
// callback carried, with the rules that read it.
type Unseen struct {
	Attribute string `json:"attribute"` // task.selected_langauge
	// DidYouMean is the recorded attribute nearest in spelling, if any: a
	// typo, most likely.
	DidYouMean string   `json:"did_you_mean,omitempty"`
	ReadBy     []RuleAt `json:"read_by"`
}

// Reasons an entry is not decided again.
const (
	reasonRefused    = "refused (%s): never reached the policy"
	reasonUnreadable = "recorded attributes or parameters unreadable"
	// reasonSummary: a rule reads what summary mode does not record;
	// deciding on empty attributes would be a guess, not a replay.
	reasonSummary = "summary mode: attributes not recorded"
	// reasonDuplicate: TaskRouter sent the callback again; the earlier one
	// decided the reservation, and is counted.
	reasonDuplicate = "duplicate of an earlier callback"
)

// ErrNoCheck is what a gate says when nothing was decided again: a gate
// that checked nothing must not pass.
var ErrNoCheck = errors.New("no recorded callback could be decided again, so nothing was checked")

// ErrStopped is what a gate says of a run that did not read its whole
// window: the rest may hold the changes.
var ErrStopped = errors.New("the replay stopped before the end of its window")

// run is one replay's running totals.
type run struct {
	o        Options
	res      Result
	reasons  map[string]int
	rules    map[string]*Share
	instr    map[string]*Share
	summary  int
	taskSeen map[string]bool
	workSeen map[string]bool
	// recorded are the rules the log recorded deciding: such a rule
	// matched, whatever this replay could decide again.
	recorded map[string]bool
	reads    bool // either policy reads attributes or extra parameters
}

// Run reads the window's entries, newest first, and decides each again
// with both policies. It fails only when the log cannot be read; a budget
// spent or ctx done ends the reading early, with a note.
func Run(ctx context.Context, o Options) (Result, error) {
	if o.Log == nil || o.Candidate == nil || o.InForce == nil || o.Deadline <= 0 {
		return Result{}, errors.New("replay: Log, Candidate, InForce and Deadline are required")
	}
	if o.Examples == 0 {
		o.Examples = DefaultExamples
	}
	rn := &run{o: o, reasons: map[string]int{}, rules: map[string]*Share{}, instr: map[string]*Share{},
		taskSeen: map[string]bool{}, workSeen: map[string]bool{}, recorded: map[string]bool{}}
	rn.res = Result{Candidate: o.Candidate.Source(), InForce: o.InForce.Source(), Since: o.Since, Limit: o.Limit,
		Examples: []Example{}, NotRedecided: []Count{}, Notes: []string{}}
	rn.reads = readsAny(o.Candidate) || readsAny(o.InForce)
	start := time.Now()
	f := decisionlog.Filter{Since: o.Since, Limit: pageSize}
	stopped := ""
read:
	for {
		if o.Limit > 0 {
			f.Limit = min(pageSize, o.Limit-rn.res.Read)
			if f.Limit <= 0 {
				break
			}
		}
		page, err := o.Log.Query(ctx, f)
		if err != nil {
			if ctx.Err() != nil {
				stopped = "interrupted (" + ctx.Err().Error() + ")"
				break
			}
			return Result{}, fmt.Errorf("replay: read the decision log: %w", err)
		}
		for i := range page {
			if ctx.Err() != nil {
				stopped = "interrupted (" + ctx.Err().Error() + ")"
				break read
			}
			if o.Budget > 0 && time.Since(start) > o.Budget {
				stopped = fmt.Sprintf("its time bound of %s was spent", o.Budget)
				break read
			}
			if !rn.entry(ctx, &page[i]) {
				stopped = "interrupted (" + ctx.Err().Error() + ")"
				break read
			}
		}
		if len(page) < f.Limit {
			break
		}
		f.BeforeID = page[len(page)-1].ID
	}
	rn.finish(stopped)
	return rn.res, nil
}

// readsAny reports whether any of p's rules reads an attribute or the
// reservation's extra parameters: what summary mode does not record.
func readsAny(p *rules.Policy) bool {
	for _, rr := range p.AttributeReads() {
		if len(rr.Reads) > 0 || rr.Attributes || rr.Params {
			return true
		}
	}
	return false
}

// entry decides e again with both policies, or counts why it cannot be.
// It reports false, counting nothing, when ctx ended while it decided: a
// decision cut short is the fallback, not what the policy would do.
func (rn *run) entry(ctx context.Context, e *decisionlog.Entry) bool {
	if decisionlog.Refused(e.Result) {
		rn.res.Read++
		rn.reasons[fmt.Sprintf(reasonRefused, e.Result)]++
		return true
	}
	rn.recorded[e.Rule] = true
	notRedecided := func(reason string) bool {
		rn.res.Read++
		rn.reasons[reason]++
		return true
	}
	switch {
	case e.Duplicate:
		return notRedecided(reasonDuplicate)
	case e.Mode != decisionlog.ModeFull && rn.reads:
		rn.summary++
		return notRedecided(reasonSummary)
	}
	r, err := e.Reservation()
	if err != nil {
		return notRedecided(reasonUnreadable)
	}
	oldD, _, oldErr := Decide(ctx, rn.o.InForce, r, rn.o.Deadline)
	newD, _, newErr := Decide(ctx, rn.o.Candidate, r, rn.o.Deadline)
	if ctx.Err() != nil {
		return false
	}
	rn.res.Read++
	if e.Mode == decisionlog.ModeFull {
		rn.res.Lint.AttributesSeen++
		for k := range r.TaskAttributes {
			rn.taskSeen[k] = true
		}
		for k := range r.WorkerAttributes {
			rn.workSeen[k] = true
		}
	} else {
		rn.summary++ // neither policy reads what it lacks: decided faithfully
	}
	if oldErr != nil {
		rn.res.Failed.Old++
	}
	if newErr != nil {
		if rn.res.Failed.New == 0 {
			// Redacted: the text may quote an attribute's value, and the
			// result is printed and served.
			rn.res.FirstFailure = policy.RedactError(newErr)
		}
		rn.res.Failed.New++
	}
	old, neu := side(oldD), side(newD)
	rn.res.Checked++
	rn.count(rn.rules, old.Rule, neu.Rule)
	rn.count(rn.instr, old.Instruction, neu.Instruction)
	if old.Rule != e.Rule || old.Instruction != e.Instruction {
		rn.res.InForceDiffers++
	}
	if sameAnswer(old, neu) {
		rn.res.Unchanged++
		if old.Rule != neu.Rule {
			rn.res.SameAnswerOtherRule++
		}
		return true
	}
	rn.res.Changed++
	if len(rn.res.Examples) < rn.o.Examples {
		rn.res.Examples = append(rn.res.Examples, Example{ID: e.ID, Time: e.Time, TaskSid: e.TaskSid,
			ReservationSid: e.ReservationSid, WorkerSid: e.WorkerSid, Old: old, New: neu, Differences: differences(old, neu)})
	}
	return true
}

// side is a decision as an example shows it. The instruction it shows has
// its computed fields redacted as the decision log's summary mode would:
// an example is printed and served, and fields computed from attributes
// are customer data. The comparison is of the instruction unredacted: two
// different computed values are a changed answer.
func side(d policy.Decision) Side {
	s := Side{Rule: d.Rule, Instruction: d.InstructionName(), Async: d.Async, DelayMs: d.Delay.Milliseconds(), computed: d.Computed}
	if d.Instruction != nil {
		if b, err := json.Marshal(d.Instruction); err == nil {
			s.raw = b
			s.Answer = policy.RedactInstructionJSON(b, d.Computed)
		}
	}
	return s
}

// sameAnswer reports whether TaskRouter would get the same answer, and
// when: the instruction, its fields, sync or async, and the delay.
func sameAnswer(a, b Side) bool {
	return a.Instruction == b.Instruction && a.Async == b.Async && a.DelayMs == b.DelayMs && JSONEqual(a.raw, b.raw)
}

// differences lists how b's answer differs from a's, one phrase each. A
// field either side computed from the reservation is named without its
// values, which are customer data.
func differences(a, b Side) []string {
	out := []string{}
	if a.Instruction != b.Instruction {
		out = append(out, fmt.Sprintf("instruction %s→%s", a.Instruction, b.Instruction))
	}
	if a.Async != b.Async {
		out = append(out, fmt.Sprintf("async %t→%t", a.Async, b.Async))
	}
	if a.DelayMs != b.DelayMs {
		out = append(out, fmt.Sprintf("delay %s→%s", time.Duration(a.DelayMs)*time.Millisecond, time.Duration(b.DelayMs)*time.Millisecond))
	}
	var x, y map[string]json.RawMessage
	_ = json.Unmarshal(a.raw, &x)
	_ = json.Unmarshal(b.raw, &y)
	keys := slices.Sorted(maps.Keys(x))
	for k := range y {
		if _, ok := x[k]; !ok {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		if k == "instruction" {
			continue
		}
		va, inA := x[k]
		vb, inB := y[k]
		if inA && inB && JSONEqual(va, vb) {
			continue
		}
		if slices.Contains(a.computed, k) || slices.Contains(b.computed, k) {
			out = append(out, k+" differs (computed from attributes: values not shown)")
			continue
		}
		out = append(out, fmt.Sprintf("%s %s→%s", k, fieldValue(va, inA), fieldValue(vb, inB)))
	}
	return out
}

// fieldValue is an instruction field's value as a difference shows it:
// its JSON, or — when the instruction lacks it.
func fieldValue(v json.RawMessage, ok bool) string {
	if !ok {
		return "—"
	}
	return string(v)
}

func (rn *run) count(m map[string]*Share, old, neu string) {
	for _, k := range []string{old, neu} {
		if m[k] == nil {
			m[k] = &Share{Name: k}
		}
	}
	m[old].Old++
	m[neu].New++
}

// finish turns the running totals into the result's lists, lint and notes.
func (rn *run) finish(stopped string) {
	res := &rn.res
	for _, k := range slices.Sorted(maps.Keys(rn.reasons)) {
		res.NotRedecided = append(res.NotRedecided, Count{Reason: k, Count: rn.reasons[k]})
	}
	res.Rules = rn.shares(rn.rules, append(append(rn.o.InForce.Rules(), rn.o.Candidate.Rules()...), "default", "on_error"))
	res.Instructions = rn.shares(rn.instr, policy.AnswerNames())
	res.Lint = rn.lint()
	res.Stopped, res.Complete = stopped, stopped == ""
	if stopped != "" {
		res.Notes = append(res.Notes, fmt.Sprintf("INCOMPLETE: reading stopped after %d entries, %s: the rest of the window was not checked, and a gate fails", res.Read, stopped))
	}
	if rn.summary > 0 {
		n := fmt.Sprintf("%d entries in summary mode: attributes and extra parameters were not recorded; ", rn.summary)
		if rn.reads {
			n += "a policy reads them, so these entries were not decided again (deciding on empty attributes would be a guess)"
		} else {
			n += "neither policy reads them, so they were decided faithfully"
		}
		res.Notes = append(res.Notes, n)
	}
	for _, c := range res.NotRedecided {
		res.Notes = append(res.Notes, fmt.Sprintf("%d entries not decided again: %s", c.Count, c.Reason))
	}
	if res.InForceDiffers > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%d entries: the policy in force now decides otherwise than was recorded (it changed since, or the entry lacks its attributes); the comparison is with the policy in force now", res.InForceDiffers))
	}
	if res.Failed.New > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("the candidate failed to decide %d callbacks (its on_error decided them); the first: %s", res.Failed.New, res.FirstFailure))
	}
	if res.Failed.Old > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("the policy in force failed to decide %d callbacks (its on_error decided them)", res.Failed.Old))
	}
	if res.Checked == 0 {
		res.Notes = append(res.Notes, ErrNoCheck.Error())
	}
}

// shares lists m's entries in order's order first (a policy's rules in
// evaluation order), then any other by name; each with its share.
func (rn *run) shares(m map[string]*Share, order []string) []Share {
	out := []Share{}
	seen := map[string]bool{}
	add := func(k string) {
		s, ok := m[k]
		if !ok || seen[k] {
			return
		}
		seen[k] = true
		if n := float64(rn.res.Checked); n > 0 {
			s.OldShare, s.NewShare = float64(s.Old)/n, float64(s.New)/n
		}
		out = append(out, *s)
	}
	for _, k := range order {
		add(k)
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		add(k)
	}
	return out
}

// lint holds the candidate against the callbacks: rules never matched,
// attribute names never carried.
func (rn *run) lint() Lint {
	l := Lint{NeverMatched: []RuleAt{}, UnseenAttributes: []Unseen{}, AttributesSeen: rn.res.Lint.AttributesSeen}
	// Over the entries decided again (each faithfully) only, and never a
	// rule the log recorded deciding.
	if rn.res.Checked > 0 {
		for _, name := range rn.o.Candidate.Rules() {
			if s := rn.rules[name]; (s == nil || s.New == 0) && !rn.recorded[name] {
				l.NeverMatched = append(l.NeverMatched, RuleAt{Rule: name, Line: rn.o.Candidate.RuleLine(name)})
			}
		}
	}
	if l.AttributesSeen == 0 {
		return l
	}
	seen := map[string]map[string]bool{"task": rn.taskSeen, "worker": rn.workSeen}
	byName := map[string]int{} // index in l.UnseenAttributes
	for _, rr := range rn.o.Candidate.AttributeReads() {
		for _, a := range rr.Reads {
			if seen[a.Root][a.Name] {
				continue
			}
			i, ok := byName[a.String()]
			if !ok {
				u := Unseen{Attribute: a.String()}
				if near, ok := rules.Nearest(a.Name, slices.Sorted(maps.Keys(seen[a.Root]))); ok {
					u.DidYouMean = a.Root + "." + near
				}
				i = len(l.UnseenAttributes)
				byName[a.String()] = i
				l.UnseenAttributes = append(l.UnseenAttributes, u)
			}
			l.UnseenAttributes[i].ReadBy = append(l.UnseenAttributes[i].ReadBy, RuleAt{Rule: rr.Rule, Line: a.Line})
		}
	}
	// The likely typos first; the rest in the order the file reads them.
	slices.SortStableFunc(l.UnseenAttributes, func(a, b Unseen) int {
		return cmpBool(a.DidYouMean == "", b.DidYouMean == "")
	})
	return l
}

// cmpBool orders false before true.
func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

// MaxChanged is how many changed decisions a gate allows: a count, or a
// percentage of the decisions checked.
type MaxChanged struct {
	N       int
	Percent float64
	// IsPercent says which of the two it is.
	IsPercent bool
}

// ParseMaxChanged reads "5" or "5%".
func ParseMaxChanged(s string) (MaxChanged, error) {
	if p, ok := strings.CutSuffix(strings.TrimSpace(s), "%"); ok {
		v, err := strconv.ParseFloat(p, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 || v > 100 {
			return MaxChanged{}, fmt.Errorf("want a count such as 5 or a percentage such as 5%%, got %q", s)
		}
		return MaxChanged{Percent: v, IsPercent: true}, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 {
		return MaxChanged{}, fmt.Errorf("want a count such as 5 or a percentage such as 5%%, got %q", s)
	}
	return MaxChanged{N: n}, nil
}

func (m MaxChanged) String() string {
	if m.IsPercent {
		return strconv.FormatFloat(m.Percent, 'f', -1, 64) + "%"
	}
	return strconv.Itoa(m.N)
}

// Gate is nil when r passes m: the whole window was read, something was
// checked, and no more decisions changed than m allows.
func (r Result) Gate(m MaxChanged) error {
	if !r.Complete {
		return fmt.Errorf("%w, %s: %d entries read, %d changed of %d checked so far", ErrStopped, r.Stopped, r.Read, r.Changed, r.Checked)
	}
	if r.Checked == 0 {
		return ErrNoCheck
	}
	over := r.Changed > m.N
	if m.IsPercent {
		over = float64(r.Changed)*100 > m.Percent*float64(r.Checked)
	}
	if over {
		return fmt.Errorf("%d of %d decisions changed (%.1f%%), more than the %s allowed", r.Changed, r.Checked, r.ChangedShare()*100, m)
	}
	return nil
}

// ChangedShare is the share of checked decisions that changed.
func (r Result) ChangedShare() float64 {
	if r.Checked == 0 {
		return 0
	}
	return float64(r.Changed) / float64(r.Checked)
}
