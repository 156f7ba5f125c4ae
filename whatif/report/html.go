package report

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"slices"
	"strings"
)

//go:embed report.css
var stylesheet string

//go:embed templates/*.html
var templateFS embed.FS

// StylesheetPath is where the inspector serves Stylesheet, under its
// prefix; the page WriteBody writes expects it there.
const StylesheetPath = "/static/report.css"

// Stylesheet is the report's CSS, every rule under .report: WriteHTML
// inlines it, the inspector serves it as a file (its
// Content-Security-Policy forbids inline styles). One stylesheet for both,
// so the page looks the same wherever it is read.
func Stylesheet() string { return stylesheet }

// page is what the templates draw.
type page struct {
	Title     string
	Columns   []columnView
	Charts    []chart
	Glance    []row // the center's headline figures, first on the page
	Table     tableView
	CSS       template.CSS
	NoReports bool
}

type columnView struct {
	Letter, Label, Describe string
	Color                   string // the colour class of its lines, "p0"
}

type tableView struct {
	table
	DiffHeads []string
	Span      int // columns of a section's heading row
}

func newPage(reports []Report) page {
	t := buildTable(reports)
	p := page{Title: "Simulated day", NoReports: len(reports) == 0,
		Table: tableView{table: t, Span: 1 + len(t.Columns) + max(0, len(t.Columns)-1)}}
	var labels []string
	for i, c := range t.Columns {
		p.Columns = append(p.Columns, columnView{Letter: c.Letter, Label: c.Label, Describe: describe(c.Report), Color: fmt.Sprintf("p%d", i%8)})
		labels = append(labels, c.Label)
		if i > 0 {
			p.Table.DiffHeads = append(p.Table.DiffHeads, c.Letter+" − "+t.Columns[0].Letter)
		}
	}
	if len(labels) > 0 {
		p.Title += ": " + strings.Join(labels, " vs ")
	}
	if len(reports) > 0 {
		p.Charts = charts(reports, labels)
		p.Glance = glance(t)
	}
	return p
}

// glance picks the figures a team lead reads first, the whole center's:
// the service level at the lowest threshold, the average speed of answer,
// the p90 wait, abandoned tasks and occupancy.
func glance(t table) []row {
	if len(t.Sections) == 0 || t.Sections[0].Kind != "overall" {
		return nil
	}
	rows := t.Sections[0].Rows
	var out []row
	for _, want := range []string{"service_level.", "asa_s", "wait_p90_s", "abandoned", "occupancy"} {
		if i := slices.IndexFunc(rows, func(r row) bool { return strings.HasPrefix(r.Key, want) }); i >= 0 {
			out = append(out, rows[i]) // the first, for a service level: the lowest threshold
		}
	}
	return out
}

// charts are the day drawn: tasks per interval, waits, occupancy, each
// with a line per report (its colour) and measure (its dash).
func charts(reports []Report, labels []string) []chart {
	intervals := make([]float64, len(reports))
	for i := range reports {
		intervals[i] = intervalOf(&reports[i])
	}
	per := duration(intervals[0])
	spec := func(id, title, ylabel string, u unit, measures []string, get func(Series) [][]float64) chart {
		s := chartSpec{ID: id, Title: title, YLabel: ylabel, Unit: u, Measures: measures, IntervalS: intervals, Labels: labels}
		for i := range reports {
			s.Lines = append(s.Lines, get(reports[i].Series))
		}
		return layout(s)
	}
	return []chart{
		spec("tasks", "Tasks offered, answered and abandoned per "+per, "tasks per "+per, count,
			[]string{"offered", "answered", "abandoned"},
			func(s Series) [][]float64 { return [][]float64{s.Offered, s.Answered, s.Abandoned} }),
		spec("waits", "Wait before answer (p50, p90, p99) per "+per, "wait (s)", seconds,
			[]string{"p50", "p90", "p99"},
			func(s Series) [][]float64 { return [][]float64{s.WaitP50, s.WaitP90, s.WaitP99} }),
		spec("occupancy", "Agent occupancy over the day, per "+per, "occupancy (%)", share,
			[]string{"occupancy"},
			func(s Series) [][]float64 { return [][]float64{s.Occupancy} }),
	}
}

// intervalOf is a report's interval: as written, or, when it is not
// usable, the day's length over the longest series, or a minute.
func intervalOf(r *Report) float64 {
	if r.Series.IntervalS > 0 && finite(r.Series.IntervalS) {
		return r.Series.IntervalS
	}
	n := 0
	for _, s := range r.Series.named() {
		n = max(n, len(s.values))
	}
	if n > 0 && r.DurationS > 0 && finite(r.DurationS) {
		return r.DurationS / float64(n)
	}
	return 60
}

// duration writes an interval for a title: "15 min", "1 h", "30 s".
func duration(s float64) string {
	switch {
	case s >= 3600 && math.Mod(s, 3600) == 0:
		return trim(s/3600) + " h"
	case s >= 60:
		return trim(s/60) + " min"
	}
	return trim(s) + " s"
}

// pageTemplates are parsed once: html/template escapes a template on its
// first execution, which costs more than drawing a day, and a parsed
// template is safe for concurrent use and never changed.
var pageTemplates = template.Must(template.ParseFS(templateFS, "templates/*.html"))

// WriteBody writes the report's page without <html>, <head> or styles:
// a <div class="report"> with the charts and the summary table, for a
// page that links Stylesheet (the inspector's).
func WriteBody(w io.Writer, reports []Report) error {
	return execute(w, "body", newPage(reports))
}

// WriteHTML writes a self-contained page: the day drawn as SVG charts
// (offered, answered and abandoned per interval; waits p50/p90/p99;
// occupancy), the reports overlaid, and the summary table. Its styles are
// inline and it has no script, so the file reads anywhere, offline.
func WriteHTML(w io.Writer, reports []Report) error {
	p := newPage(reports)
	p.CSS = template.CSS(stylesheet)
	return execute(w, "page", p)
}

// execute renders into memory first, so a template error writes nothing.
func execute(w io.Writer, name string, p page) error {
	var buf bytes.Buffer
	if err := pageTemplates.ExecuteTemplate(&buf, name, p); err != nil {
		return fmt.Errorf("report: render: %w", err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}
