package replay

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteText writes r as the terminal table `assignd policy replay` prints:
// the same content as its JSON.
func (r Result) WriteText(w io.Writer) error {
	ew := &errWriter{w: w}
	window := "the whole log"
	if !r.Since.IsZero() {
		window = "since " + r.Since.UTC().Format("2006-01-02 15:04:05Z")
	}
	if r.Limit > 0 {
		window += fmt.Sprintf(", the newest %d at most", r.Limit)
	}
	ew.printf("policy replay: %s against the policy in force (%s)\n", r.Candidate, r.InForce)
	ew.printf("window: %s; %d entries read, %d decided again by both\n\n", window, r.Read, r.Checked)
	ew.printf("decisions: %d unchanged, %d changed (%.1f%%)", r.Unchanged, r.Changed, r.ChangedShare()*100)
	if r.SameAnswerOtherRule > 0 {
		ew.printf("; %d unchanged answers now come from another rule", r.SameAnswerOtherRule)
	}
	ew.printf("\n")
	if !r.Complete {
		ew.printf("INCOMPLETE: stopped after %d entries, %s; the totals cover only those\n", r.Read, r.Stopped)
	}
	for _, c := range r.NotRedecided {
		ew.printf("not decided again: %d %s\n", c.Count, c.Reason)
	}
	if r.Checked > 0 {
		ew.printf("\n")
		ew.table("rule", r.Rules)
		ew.printf("\n")
		ew.table("instruction", r.Instructions)
	}
	if len(r.Examples) > 0 {
		ew.printf("\nfirst %d changed decisions (newest first):\n", len(r.Examples))
		tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  task\treservation\tworker\tin force\tcandidate\tdifferences")
		for _, e := range r.Examples {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", e.TaskSid, e.ReservationSid, e.WorkerSid, e.Old, e.New, strings.Join(e.Differences, "; "))
		}
		ew.err = firstErr(ew.err, tw.Flush())
	}
	ew.printf("\nlint (%s against the recorded callbacks):\n", r.Candidate)
	lines := r.Lint.Lines(r.Candidate)
	if len(lines) == 0 {
		ew.printf("  nothing found\n")
	}
	for _, l := range lines {
		ew.printf("  %s\n", l)
	}
	if len(r.Notes) > 0 {
		ew.printf("\nnotes:\n")
		for _, n := range r.Notes {
			ew.printf("  %s\n", n)
		}
	}
	return ew.err
}

// String is a side as a table cell: rule → instruction.
func (s Side) String() string {
	out := s.Rule + ": " + s.Instruction
	if s.Async {
		out += " (async)"
	}
	return out
}

// Lines are the lint's findings, one sentence each; source names the
// candidate's file, which the lines point into.
func (l Lint) Lines(source string) []string {
	var out []string
	at := func(line int) string {
		if line > 0 {
			return fmt.Sprintf(" (%s:%d)", source, line)
		}
		return ""
	}
	for _, u := range l.UnseenAttributes {
		var by []string
		for _, r := range u.ReadBy {
			by = append(by, fmt.Sprintf("%q%s", r.Rule, at(r.Line)))
		}
		s := fmt.Sprintf("%s is on no recorded callback (read by %s)", u.Attribute, strings.Join(by, ", "))
		if u.DidYouMean != "" {
			s += fmt.Sprintf("; did you mean %s?", u.DidYouMean)
		}
		out = append(out, s)
	}
	for _, r := range l.NeverMatched {
		out = append(out, fmt.Sprintf("rule %q%s never matched a recorded callback", r.Rule, at(r.Line)))
	}
	if l.AttributesSeen == 0 {
		out = append(out, "attribute names not checked: no entry recorded attributes (summary mode, or none read)")
	}
	return out
}

// table writes shares of the entries checked on both sides.
func (ew *errWriter) table(what string, shares []Share) {
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "%s\tin force\t\tcandidate\t\t\n", what)
	for _, s := range shares {
		fmt.Fprintf(tw, "%s\t%d\t%.1f%%\t%d\t%.1f%%\t\n", s.Name, s.Old, s.OldShare*100, s.New, s.NewShare*100)
	}
	ew.err = firstErr(ew.err, tw.Flush())
}

// errWriter keeps the first write error, so the report reads as a list of
// lines rather than a ladder of checks.
type errWriter struct {
	w   io.Writer
	err error
}

func (ew *errWriter) Write(p []byte) (int, error) {
	if ew.err != nil {
		return 0, ew.err
	}
	n, err := ew.w.Write(p)
	ew.err = err
	return n, err
}

func (ew *errWriter) printf(format string, args ...any) {
	fmt.Fprintf(ew, format, args...)
}

func firstErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
