package report

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"
)

// The table is built once, as cells of text, and written twice: to a
// terminal by WriteTable and as HTML by WriteHTML, so both show the same
// figures formatted the same way.

// table is the summary of one or more reports: a column per report and,
// with several, a difference column per report after the first.
type table struct {
	Columns  []column
	Sections []section
	// Marked says some difference's interval excludes 0 (the footnote).
	Marked bool
	// WithCI says some cell has a confidence interval.
	WithCI bool
}

// column is one report's heading.
type column struct {
	Label  string // "A old.yaml"
	Letter string // "A"
	Report *Report
}

// section is a population's rows: Kind is "overall", "stream", …; Name
// the stream's or queue's own name, "" for the others.
type section struct {
	Kind, Name string
	Rows       []row
}

// Title is the section's heading, as the HTML table shows it.
func (s section) Title() string { return strings.TrimSpace(s.Kind + " " + s.Name) }

type row struct {
	Key   string // the figure's key in CI95 ("asa_s"), "" for a group
	Label string
	Cells []cell // one per report
	Diffs []cell // one per report after the first
}

// cell is a figure as text: Value is "-" when the report has no such
// figure; CI is the 95% half-width, "" without one. Significant marks a
// difference whose interval excludes 0.
type cell struct {
	Value, CI   string
	Significant bool
}

// Text is the cell as the terminal shows it.
func (c cell) Text() string {
	s := c.Value
	if c.CI != "" {
		s += " ± " + c.CI
	}
	if c.Significant {
		s += " *"
	}
	return s
}

// unit is how a figure is formatted.
type unit int

const (
	count   unit = iota // tasks, reservations, decisions: means over runs
	share               // 0..1, shown as a percentage
	seconds             // durations
)

// figure is one row of a Figures section: its key in CI95/Diff/CI95Diff
// (the JSON name), its label, its unit, and how to read it.
type figure struct {
	key, label string
	unit       unit
	get        func(*Figures) (float64, bool)
}

// always reads a figure every population has.
func always(f func(*Figures) float64) func(*Figures) (float64, bool) {
	return func(fs *Figures) (float64, bool) { return f(fs), true }
}

// ifAnswered reads a figure over answered tasks: none answered, no figure.
func ifAnswered(f func(*Figures) float64) func(*Figures) (float64, bool) {
	return func(fs *Figures) (float64, bool) { return f(fs), fs.Answered > 0 }
}

func fromMap(m func(*Figures) map[string]float64, k string) func(*Figures) (float64, bool) {
	return func(fs *Figures) (float64, bool) { v, ok := m(fs)[k]; return v, ok }
}

// figures lists a population's rows, the service levels at thresholds.
func figures(thresholds []string) []figure {
	out := []figure{
		{"offered", "offered", count, always(func(f *Figures) float64 { return f.Offered })},
		{"answered", "answered", count, always(func(f *Figures) float64 { return f.Answered })},
		{"abandoned", "abandoned", count, always(func(f *Figures) float64 { return f.Abandoned })},
		{"waiting_at_end", "waiting at day end", count, always(func(f *Figures) float64 { return f.WaitingAtEnd })},
	}
	for _, t := range thresholds {
		out = append(out, figure{"service_level." + t, "service level " + t + " s", share,
			fromMap(func(f *Figures) map[string]float64 { return f.ServiceLevel }, t)})
	}
	return append(out,
		figure{"asa_s", "average speed of answer", seconds, ifAnswered(func(f *Figures) float64 { return f.ASA })},
		figure{"wait_p50_s", "wait p50", seconds, ifAnswered(func(f *Figures) float64 { return f.WaitP50 })},
		figure{"wait_p90_s", "wait p90", seconds, ifAnswered(func(f *Figures) float64 { return f.WaitP90 })},
		figure{"wait_p99_s", "wait p99", seconds, ifAnswered(func(f *Figures) float64 { return f.WaitP99 })},
		figure{"prob_wait", "probability of waiting", share, ifAnswered(func(f *Figures) float64 { return f.ProbWait })},
		figure{"occupancy", "occupancy", share, always(func(f *Figures) float64 { return f.Occupancy })},
		figure{"reservations_rejected", "reservations rejected", count, always(func(f *Figures) float64 { return f.ReservationsRejected })},
		figure{"reservations_timed_out", "reservations timed out", count, always(func(f *Figures) float64 { return f.ReservationsTimedOut })},
	)
}

// columns labels the reports A, B, … with their policy file's name.
func columns(reports []Report) []column {
	out := make([]column, len(reports))
	for i := range reports {
		name := filepath.Base(reports[i].Policy)
		if reports[i].Policy == "" {
			name = "(no policy named)"
		}
		out[i] = column{Label: ordinal(i) + " " + name, Letter: ordinal(i), Report: &reports[i]}
	}
	return out
}

// buildTable lays the reports out as sections of rows.
func buildTable(reports []Report) table {
	t := table{Columns: columns(reports)}
	all := func(f func(r *Report) *Figures) []*Figures {
		out := make([]*Figures, len(reports))
		for i := range reports {
			out[i] = f(&reports[i])
		}
		return out
	}
	ptrs := make([]*Report, len(reports))
	for i := range reports {
		ptrs[i] = &reports[i]
	}
	// Every population shows every threshold measured anywhere: one where
	// the service level is undefined (no task answered, abandoned or
	// waiting past it) shows "-" rather than losing the row.
	var thresholds []string
	for _, r := range ptrs {
		thresholds = append(thresholds, slices.Collect(maps.Keys(r.ServiceLevel))...)
		for _, m := range []map[string]Figures{r.Streams, r.Queues} {
			for _, f := range m {
				thresholds = append(thresholds, slices.Collect(maps.Keys(f.ServiceLevel))...)
			}
		}
	}
	slices.SortFunc(thresholds, func(a, b string) int {
		x, _ := threshold(a)
		y, _ := threshold(b)
		return cmp.Or(cmp.Compare(x, y), strings.Compare(a, b))
	})
	thresholds = slices.Compact(thresholds)
	t.addRows("overall", "", all(func(r *Report) *Figures { return &r.Figures }), figures(thresholds))
	for _, kind := range []struct {
		title string
		m     func(*Report) map[string]Figures
	}{{"stream", func(r *Report) map[string]Figures { return r.Streams }}, {"queue", func(r *Report) map[string]Figures { return r.Queues }}} {
		for _, name := range unionKeys(ptrs, kind.m) {
			t.addRows(kind.title, name, all(func(r *Report) *Figures {
				if f, ok := kind.m(r)[name]; ok {
					return &f
				}
				return nil
			}), figures(thresholds))
		}
	}
	t.addGroups(reports)
	overall := all(func(r *Report) *Figures { return &r.Figures })
	for _, m := range []struct {
		title, key string
		m          func(*Figures) map[string]float64
	}{
		{"decisions by rule", "rules.", func(f *Figures) map[string]float64 { return f.Rules }},
		{"decisions by instruction", "instructions.", func(f *Figures) map[string]float64 { return f.Instructions }},
	} {
		var figs []figure
		for _, k := range unionKeys(overall, m.m) {
			figs = append(figs, figure{m.key + k, k, count, fromMap(m.m, k)})
		}
		t.addRows(m.title, "", overall, figs)
	}
	return t
}

// unionKeys is the sorted union of a map's keys over xs.
func unionKeys[X any, V any](xs []X, m func(X) map[string]V) []string {
	var keys []string
	for _, x := range xs {
		keys = slices.AppendSeq(keys, maps.Keys(m(x)))
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// addRows adds a section of rows, one per figure, read from figs (one per
// report; nil where the report has no such population).
func (t *table) addRows(kind, name string, figs []*Figures, rows []figure) {
	if len(rows) == 0 {
		return
	}
	s := section{Kind: kind, Name: name}
	for _, fg := range rows {
		r := row{Key: fg.key, Label: fg.label}
		vals := make([]float64, len(figs))
		has := make([]bool, len(figs))
		for i, f := range figs {
			c := cell{Value: "-"}
			if f != nil {
				if v, ok := fg.get(f); ok && finite(v) {
					vals[i], has[i] = v, true
					c.Value = format(v, fg.unit, false)
					if ci, ok := f.CI95[fg.key]; ok && finite(ci) {
						c.CI = formatCI(ci, fg.unit)
						t.WithCI = true
					}
				}
			}
			r.Cells = append(r.Cells, c)
			if i == 0 {
				continue
			}
			d := cell{Value: "-"}
			if has[0] && has[i] {
				diff, ok := f.Diff[fg.key]
				if !ok || !finite(diff) {
					diff = vals[i] - vals[0] // a report without Diff: the plain difference
				}
				d.Value = format(diff, fg.unit, true)
				if ci, ok := f.CI95Diff[fg.key]; ok && finite(ci) {
					d.CI = formatCI(ci, fg.unit)
					d.Significant = math.Abs(diff) > ci
					t.WithCI = true
					t.Marked = t.Marked || d.Significant
				}
			}
			r.Diffs = append(r.Diffs, d)
		}
		s.Rows = append(s.Rows, r)
	}
	t.Sections = append(t.Sections, s)
}

// addGroups adds occupancy per worker group. A Group has no Diff: the
// difference is the plain one, without an interval.
func (t *table) addGroups(reports []Report) {
	names := unionKeys(reports, func(r Report) map[string]Group { return r.Groups })
	if len(names) == 0 {
		return
	}
	s := section{Kind: "occupancy by worker group"}
	for _, name := range names {
		r := row{Label: name}
		var first Group
		var hasFirst bool
		for i := range reports {
			g, ok := reports[i].Groups[name]
			if ok && r.Label == name {
				r.Label = fmt.Sprintf("%s (%d workers)", name, g.Workers)
			}
			c := cell{Value: "-"}
			if ok && finite(g.Occupancy) {
				c.Value = format(g.Occupancy, share, false)
				if g.CI95 > 0 && finite(g.CI95) {
					c.CI = formatCI(g.CI95, share)
					t.WithCI = true
				}
			}
			r.Cells = append(r.Cells, c)
			if i == 0 {
				first, hasFirst = g, ok && finite(g.Occupancy)
				continue
			}
			d := cell{Value: "-"}
			if hasFirst && c.Value != "-" {
				d.Value = format(g.Occupancy-first.Occupancy, share, true)
			}
			r.Diffs = append(r.Diffs, d)
		}
		s.Rows = append(s.Rows, r)
	}
	t.Sections = append(t.Sections, s)
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// format writes a figure in its unit; signed for a difference.
func format(v float64, u unit, signed bool) string {
	var s string
	switch u {
	case share:
		s = trim(v*100) + "%"
		if signed {
			s = trim(v*100) + " pp"
		}
	case seconds:
		s = trim(v) + " s"
	default:
		s = trim(v)
	}
	if signed && v > 0 && s[0] != '0' {
		s = "+" + s
	}
	return s
}

// formatCI writes a half-width: percentage points for a share.
func formatCI(ci float64, u unit) string {
	switch u {
	case share:
		return trim(ci*100) + " pp"
	case seconds:
		return trim(ci) + " s"
	}
	return trim(ci)
}

// trim writes v with one decimal, none when it is a whole number.
func trim(v float64) string {
	s := strconv.FormatFloat(v, 'f', 1, 64)
	s = strings.TrimSuffix(s, ".0")
	if s == "-0" {
		s = "0"
	}
	return s
}

// describe is one report's line: what was simulated.
func describe(r *Report) string {
	parts := []string{"policy " + cmp.Or(r.Policy, "(not named)")}
	if r.Scenario != "" {
		parts = append(parts, "scenario "+r.Scenario)
	}
	parts = append(parts, fmt.Sprintf("seed %d", r.Seed))
	switch {
	case r.Runs == 1:
		parts = append(parts, "1 run")
	case r.Runs > 1:
		parts = append(parts, fmt.Sprintf("%d runs", r.Runs))
	}
	if r.DurationS > 0 && finite(r.DurationS) {
		parts = append(parts, time.Duration(r.DurationS*float64(time.Second)).String()+" simulated")
	}
	return strings.Join(parts, ", ")
}

// WriteTable writes the reports as a terminal table: a section for the
// whole center, each stream and each queue, occupancy per worker group,
// and decisions per rule and per instruction. One report is one column;
// with several, each has a column and each after the first a difference
// column against the first, marked * when its 95% interval excludes 0.
// A figure a report does not have shows as "-".
func WriteTable(w io.Writer, reports []Report) error {
	if len(reports) == 0 {
		_, err := fmt.Fprintln(w, "no reports")
		return err
	}
	t := buildTable(reports)
	var b strings.Builder
	for _, c := range t.Columns {
		fmt.Fprintf(&b, "%s: %s\n", c.Letter, describe(c.Report))
	}
	if t.WithCI {
		b.WriteString("Figures are means over the runs; ± is the half-width of the 95% confidence interval.\n")
	}
	if t.Marked {
		b.WriteString("* the difference's 95% interval excludes 0.\n")
	}
	b.WriteString("\n")
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	// Numbers align right, labels left: tabwriter aligns every column
	// right, so the labels are padded to one width first. Every cell ends
	// in a tab, the last too, or tabwriter would not align it. The table
	// goes through a buffer, whose lines lose their trailing padding.
	head := func(s section) string { return strings.TrimSpace(strings.ToUpper(s.Kind) + " " + s.Name) }
	width := 0
	for _, s := range t.Sections {
		width = max(width, utf8.RuneCountInString(head(s)))
		for _, r := range s.Rows {
			width = max(width, 2+utf8.RuneCountInString(r.Label))
		}
	}
	pad := func(s string) string { return s + strings.Repeat(" ", width-utf8.RuneCountInString(s)) }
	var out bytes.Buffer
	tw := tabwriter.NewWriter(&out, 0, 0, 3, ' ', tabwriter.AlignRight)
	ncols := 1 + len(t.Columns) + max(0, len(t.Columns)-1)
	for i, s := range t.Sections {
		if i > 0 {
			fmt.Fprint(tw, strings.Repeat("\t", ncols)+"\n")
		}
		line := []string{pad(head(s))}
		for _, c := range t.Columns {
			line = append(line, c.Label)
		}
		for _, c := range t.Columns[min(1, len(t.Columns)):] {
			line = append(line, c.Letter+" − "+t.Columns[0].Letter)
		}
		fmt.Fprint(tw, strings.Join(line, "\t")+"\t\n")
		for _, r := range s.Rows {
			line := []string{pad("  " + r.Label)}
			for _, c := range r.Cells {
				line = append(line, c.Text())
			}
			for _, d := range r.Diffs {
				text := d.Text()
				if t.Marked && !d.Significant {
					text += "  " // room for the " *" of the others
				}
				line = append(line, text)
			}
			fmt.Fprint(tw, strings.Join(line, "\t")+"\t\n")
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for line := range strings.Lines(out.String()) {
		line = strings.TrimPrefix(line, "   ") // the padding right alignment put before the labels
		if _, err := io.WriteString(w, strings.TrimRight(line, " \n")+"\n"); err != nil {
			return err
		}
	}
	return nil
}
