package report_test

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/assignd/assignd/inspect/browsertest"
	"github.com/assignd/assignd/whatif/report"
	"github.com/assignd/assignd/whatif/report/reporttest"
)

func html(t *testing.T, write func(w *bytes.Buffer) error) string {
	t.Helper()
	var b bytes.Buffer
	if err := write(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// chartOf is the <figure> of the chart with id.
func chartOf(t *testing.T, page, id string) string {
	t.Helper()
	start := strings.Index(page, `<figure class="report-chart" id="chart-`+id+`">`)
	if start < 0 {
		t.Fatalf("no chart %s", id)
	}
	end := strings.Index(page[start:], "</figure>")
	return page[start : start+end]
}

var pathPoints = regexp.MustCompile(`<path class="(line p\d m\d)" d="([^"]*)" data-points="(\d+)"`)

// The page: self-contained, its three charts with a title, labelled axes
// with units and a legend naming both policies, a line per policy and
// measure, and the summary table with the differences.
func TestHTMLContent(t *testing.T) {
	t.Parallel()
	page := html(t, func(b *bytes.Buffer) error { return report.WriteHTML(b, reporttest.TwoPolicies(10)) })
	for _, want := range []string{"<!doctype html>", "<title>Simulated day: A old.yaml vs B new.yaml · assignd</title>",
		"<style>" + report.Stylesheet() + "</style>", `<table class="report-table">`, `<th>B − A</th>`,
		`<td class="diff sig">-6.5 s <span class="ci">± 2.7 s</span> <abbr`, "time into the simulated day (h:mm)"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	// At a glance: the center's headline figures, in this order, each
	// policy's and the difference.
	tiles := regexp.MustCompile(`<div class="tile" data-figure="([^"]+)">`).FindAllStringSubmatch(page, -1)
	var order []string
	for _, m := range tiles {
		order = append(order, m[1])
	}
	if strings.Join(order, " ") != "service_level.20 asa_s wait_p90_s abandoned occupancy" {
		t.Errorf("tiles %q", order)
	}
	if !strings.Contains(page, `<div class="tile-diff sig">B − A: -6.5 s <span class="ci">± 2.7 s</span>`) {
		t.Error("the ASA tile lacks its significant difference")
	}
	if strings.Contains(page, "<script") || strings.Contains(page, "style=") || strings.Contains(page, "NaN") {
		t.Error("the page has a script, an inline style attribute or a NaN")
	}
	for _, c := range []struct {
		id, title, ylabel string
		lines             int
	}{
		{"tasks", "Tasks offered, answered and abandoned per 15 min", "tasks per 15 min", 6},
		{"waits", "Wait before answer (p50, p90, p99) per 15 min", "wait (s)", 6},
		{"occupancy", "Agent occupancy over the day, per 15 min", "occupancy (%)", 2},
	} {
		ch := chartOf(t, page, c.id)
		for _, want := range []string{"<figcaption>" + c.title + "</figcaption>", ">" + c.ylabel + "</text>",
			">A old.yaml</text>", ">B new.yaml</text>", ">0:00</text>", ">8:00</text>"} {
			if !strings.Contains(ch, want) {
				t.Errorf("chart %s lacks %q", c.id, want)
			}
		}
		paths := pathPoints.FindAllStringSubmatch(ch, -1)
		if len(paths) != c.lines {
			t.Errorf("chart %s: %d lines, want %d", c.id, len(paths), c.lines)
		}
		for _, p := range paths {
			if p[3] != strconv.Itoa(reporttest.Intervals) || strings.Count(p[2], "L") != reporttest.Intervals-1 {
				t.Errorf("chart %s, %s: %s points, want every one of %d", c.id, p[1], p[3], reporttest.Intervals)
			}
		}
	}
	if !strings.Contains(chartOf(t, page, "occupancy"), ">100%</text>") {
		t.Error("the occupancy axis does not read in percent up to 100%")
	}

	body := html(t, func(b *bytes.Buffer) error { return report.WriteBody(b, reporttest.TwoPolicies(1)) })
	if !strings.HasPrefix(body, `<div class="report">`) || strings.Contains(body, "<html") || strings.Contains(body, "<style") {
		t.Errorf("WriteBody: %.200s", body)
	}
	if strings.Contains(body, "±") {
		t.Error("one run: intervals shown")
	}
	if none := html(t, func(b *bytes.Buffer) error { return report.WriteHTML(b, nil) }); !strings.Contains(none, "No reports.") {
		t.Errorf("no reports: %.300s", none)
	}
}

// seriesOf is a report whose every series is vs.
func seriesOf(vs []float64) []report.Report {
	r := reporttest.Day("edge.yaml", 1, 0)
	r.Series = report.Series{IntervalS: 60, Offered: vs, Answered: vs, Abandoned: vs, WaitP50: vs, WaitP90: vs, WaitP99: vs, Occupancy: vs}
	return []report.Report{r}
}

// The edge cases draw without failing and without a NaN in the SVG: no
// points ("no data"), a single point (a dot), values that are not finite
// (a gap), all zero (an axis to 1), and a series far longer than a chart
// is wide (reduced to MaxPointsDrawn, its peak kept).
func TestChartEdgeCases(t *testing.T) {
	t.Parallel()
	draw := func(vs []float64) string {
		page := html(t, func(b *bytes.Buffer) error { return report.WriteHTML(b, seriesOf(vs)) })
		if strings.Contains(page, "NaN") || strings.Contains(page, "Inf") {
			t.Fatalf("%d values: NaN or Inf in the page", len(vs))
		}
		return chartOf(t, page, "waits")
	}
	empty := draw(nil)
	if !strings.Contains(empty, "no data to draw") || strings.Contains(empty, "<path class=\"line") {
		t.Errorf("empty: %s", empty)
	}
	one := draw([]float64{12})
	if strings.Count(one, `<circle class="dot p0"`) != 3 || strings.Contains(one, "<path class=\"line") {
		t.Errorf("a single point: want a dot per measure, no line: %s", one)
	}
	gaps := draw([]float64{1, 2, math.NaN(), 4, 5, math.Inf(1), 7, 8})
	for _, p := range pathPoints.FindAllStringSubmatch(gaps, -1) {
		if strings.Count(p[2], "M") != 3 || p[3] != "6" {
			t.Errorf("values with gaps: %s %q (%s points), want 3 pieces of 6 points", p[1], p[2], p[3])
		}
	}
	zero := draw(make([]float64, 20))
	if !strings.Contains(zero, ">1.0</text>") || len(pathPoints.FindAllStringSubmatch(zero, -1)) != 3 {
		t.Errorf("all zero: want an axis to 1 and the lines along 0: %s", zero)
	}
	// Small values get the decimals their axis needs; absurd ones a
	// bounded axis.
	small := draw([]float64{0.01, 0.03, 0.02})
	for _, want := range []string{">0</text>", ">0.01</text>", ">0.03</text>"} {
		if !strings.Contains(small, want) {
			t.Errorf("values to 0.03: no tick %s", want)
		}
	}
	absurd := draw([]float64{-1e308, 1e308, 5})
	if n := strings.Count(absurd, `dy="0.32em" text-anchor="end"`); n < 2 || n > 13 {
		t.Errorf("values of ±1e308: %d ticks", n)
	}
	long := make([]float64, 100000)
	for i := range long {
		long[i] = float64(i % 100)
	}
	long[77777] = 5000
	ch := draw(long)
	for _, p := range pathPoints.FindAllStringSubmatch(ch, -1) {
		n, _ := strconv.Atoi(p[3])
		if n > report.MaxPointsDrawn || n < report.MaxPointsDrawn/2 || strings.Count(p[2], "L")+strings.Count(p[2], "M") != n {
			t.Errorf("100,000 values: %s drew %d points, want at most %d", p[1], n, report.MaxPointsDrawn)
		}
	}
	// The peak is kept: the axis goes to it, and some point reaches the
	// plot's top.
	if !strings.Contains(ch, ">5000</text>") {
		t.Error("the downsampled series lost its peak")
	}
}

// The standalone page in a real browser: every chart has drawn lines of
// non-zero length, in the policies' colours from the inline stylesheet,
// and each legend names both policies. It saves a screenshot to
// /tmp/simulation-report.png.
func TestHTMLInChromium(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "day.html")
	page := html(t, func(b *bytes.Buffer) error { return report.WriteHTML(b, reporttest.TwoPolicies(10)) })
	if err := os.WriteFile(file, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := browsertest.New(t, 1300, 1000)
	if err := chromedp.Do(ctx, chromedp.Navigate("file://"+file), chromedp.WaitVisible(chromedp.CSS("#chart-occupancy svg"))); err != nil {
		t.Fatalf("open the page: %v", err)
	}
	reporttest.CheckChartsDrawn(t, ctx, "", "A old.yaml", "B new.yaml")
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile("/tmp/simulation-report.png", png, 0o644); err != nil {
		t.Logf("screenshot not saved: %v", err)
	}
}
