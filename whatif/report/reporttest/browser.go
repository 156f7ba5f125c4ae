package reporttest

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// CheckChartsDrawn asserts, in the page ctx shows (within the element
// scope selects, "" for the whole page), that each of the three
// charts has lines the browser drew (a length and a box), the first
// policy's in blue and the second's in orange, and a legend naming every
// label.
func CheckChartsDrawn(t testing.TB, ctx context.Context, scope string, labels ...string) {
	t.Helper()
	type drawn struct {
		ID     string   `json:"id"`
		Lines  int      `json:"lines"`
		Drawn  int      `json:"drawn"`
		Legend []string `json:"legend"`
		Colors []string `json:"colors"`
	}
	js := `[...document.querySelectorAll(` + strconv.Quote(strings.TrimSpace(scope+" figure.report-chart")) + `)].map(f => {
	  const paths = [...f.querySelectorAll('svg .lines path')];
	  return {
	    id: f.id,
	    lines: paths.length,
	    drawn: paths.filter(p => p.getTotalLength() > 100 && p.getBBox().width > 100).length,
	    legend: [...f.querySelectorAll('svg .legend text')].map(t => t.textContent),
	    colors: [...new Set(paths.map(p => getComputedStyle(p).stroke))],
	  };
	})`
	got, err := chromedp.Run(ctx, chromedp.Evaluate[[]drawn](js))
	if err != nil {
		t.Fatalf("read the charts: %v", err)
	}
	if len(got) != 3 {
		t.Fatalf("%d charts, want 3: %+v", len(got), got)
	}
	for _, c := range got {
		if c.Lines == 0 || c.Drawn != c.Lines {
			t.Errorf("%s: %d of %d lines drawn", c.ID, c.Drawn, c.Lines)
		}
		for _, l := range labels {
			if !slices.Contains(c.Legend, l) {
				t.Errorf("%s: legend %q does not name %q", c.ID, c.Legend, l)
			}
		}
		if !slices.Contains(c.Colors, "rgb(37, 99, 235)") || !slices.Contains(c.Colors, "rgb(234, 88, 12)") {
			t.Errorf("%s: line colours %q, want A's blue and B's orange from the stylesheet", c.ID, c.Colors)
		}
	}
}
