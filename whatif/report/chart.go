package report

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// MaxPointsDrawn bounds the points of one line: a chart is at most about
// 700 px wide, so more points draw nothing more, only a larger page. A
// longer series is reduced to the lowest and highest value of each of
// MaxPointsDrawn/2 buckets, which keeps its peaks.
const MaxPointsDrawn = 640

// namedSeries is one of a Series' slices with its JSON name.
type namedSeries struct {
	name   string
	values []float64
}

// named lists the series by JSON name.
func (s Series) named() []namedSeries {
	return []namedSeries{
		{"offered", s.Offered}, {"answered", s.Answered}, {"abandoned", s.Abandoned},
		{"wait_p50_s", s.WaitP50}, {"wait_p90_s", s.WaitP90}, {"wait_p99_s", s.WaitP99},
		{"occupancy", s.Occupancy},
	}
}

// chartSpec is what to draw: a line per report and measure.
type chartSpec struct {
	ID, Title, YLabel string
	Unit              unit
	Measures          []string
	// Lines[report][measure] is that report's series for that measure.
	Lines [][][]float64
	// IntervalS is each report's interval, seconds.
	IntervalS []float64
	Labels    []string // each report's legend label
}

// chart is a chartSpec laid out in SVG coordinates, for the template.
type chart struct {
	ID, Title, YLabel, XLabel string
	Width, Height             int
	Plot                      rect
	XTicks, YTicks            []tick
	Paths                     []path
	Dots                      []dot
	Legend                    []legendItem
	Empty                     bool // nothing finite to draw
}

type rect struct{ X, Y, W, H float64 }

// Bottom and Right are the plot's far edges.
func (r rect) Bottom() float64 { return r.Y + r.H }
func (r rect) Right() float64  { return r.X + r.W }

// MidX and MidY are where an axis' label is centred; the y axis' label
// is rotated -90°, so its x is -MidY.
func (r rect) MidX() float64    { return r.X + r.W/2 }
func (r rect) MidY() float64    { return r.Y + r.H/2 }
func (r rect) NegMidY() float64 { return -r.MidY() }

// TickEnd and TickLabel are where the x axis' ticks end and their labels sit.
func (r rect) TickEnd() float64   { return r.Bottom() + 5 }
func (r rect) TickLabel() float64 { return r.Bottom() + 21 }
func (r rect) LabelX() float64    { return r.X - 8 }

type tick struct {
	Pos   float64
	Label string
}

type path struct {
	D, Class, Title string
	Points          int // points drawn, for tests and the title
}

type dot struct {
	X, Y         float64
	Class, Title string
}

// legendItem is a line sample from X to X2 and its label at TX, at
// height Y.
type legendItem struct {
	X, X2, TX, Y float64
	Class, Label string
}

// The chart's geometry in SVG user units; the page scales it to its width.
const (
	chartW, chartH                          = 760, 300
	marginL, marginR, marginTop, marginBott = 72, 20, 44, 56
)

// layout turns a spec into a chart: axes from the data's extent, a path
// per line with gaps where a value is not finite, lines of more than
// MaxPointsDrawn points reduced, and a point alone drawn as a dot.
func layout(s chartSpec) chart {
	c := chart{ID: s.ID, Title: s.Title, YLabel: s.YLabel, XLabel: "time into the simulated day (h:mm)",
		Width: chartW, Height: chartH,
		Plot: rect{marginL, marginTop, chartW - marginL - marginR, chartH - marginTop - marginBott}}

	// The extent: x over every line's length, y from 0 (or below, for a
	// negative value) to the largest finite value.
	xMax, yMin, yMax := 0.0, 0.0, 0.0
	c.Empty = true
	for r, lines := range s.Lines {
		for _, vs := range lines {
			xMax = math.Max(xMax, float64(len(vs))*s.IntervalS[r])
			for _, v := range vs {
				if finite(v) {
					yMin, yMax = math.Min(yMin, v), math.Max(yMax, v)
					c.Empty = false
				}
			}
		}
	}
	if !(xMax > 0) || !finite(xMax) {
		xMax = 3600
	}
	// Absurd values (a hand-written upload) still give a finite span.
	yMin, yMax = math.Max(yMin, -1e300), math.Min(yMax, 1e300)
	if yMax <= yMin {
		yMax = yMin + 1 // all zero, or nothing: an axis to 1 rather than a division by 0
	}
	if s.Unit == share && yMax <= 1 && yMin >= 0 {
		yMax = 1 // a share reads against 100%
	}
	ystep := niceStep((yMax - yMin) / 5)
	yMax = math.Ceil(yMax/ystep) * ystep
	yMin = math.Floor(yMin/ystep) * ystep
	px := func(x float64) float64 { return c.Plot.X + x/xMax*c.Plot.W }
	py := func(y float64) float64 { return c.Plot.Bottom() - (y-yMin)/(yMax-yMin)*c.Plot.H }

	// Ticks by index, at most a dozen whatever the arithmetic does.
	for k := 0; k <= 12; k++ {
		y := yMin + float64(k)*ystep
		if y > yMax+ystep/2 {
			break
		}
		label := tickLabel(y, ystep)
		if s.Unit == share {
			label = tickLabel(y*100, ystep*100) + "%"
		}
		c.YTicks = append(c.YTicks, tick{round1(py(y)), label})
	}
	xstep := timeStep(xMax)
	for k := 0; k <= 12; k++ {
		x := float64(k) * xstep
		if x > xMax+1e-9 {
			break
		}
		c.XTicks = append(c.XTicks, tick{round1(px(x)), clock(x)})
	}

	for r, lines := range s.Lines {
		for m, vs := range lines {
			class := fmt.Sprintf("line p%d m%d", r%8, m)
			title := s.Labels[r]
			if len(s.Measures) > 1 {
				title += " · " + s.Measures[m]
			}
			iv := s.IntervalS[r]
			var d strings.Builder
			n := 0
			for _, seg := range segments(downsample(vs)) {
				if len(seg) == 1 {
					p := seg[0]
					c.Dots = append(c.Dots, dot{round1(px((float64(p.i) + 0.5) * iv)), round1(py(p.v)), fmt.Sprintf("dot p%d", r%8), title})
					n++
					continue
				}
				for k, p := range seg {
					cmd := 'L'
					if k == 0 {
						cmd = 'M'
					}
					fmt.Fprintf(&d, "%c%s %s", cmd, num(px((float64(p.i)+0.5)*iv)), num(py(p.v)))
					n++
				}
			}
			if d.Len() > 0 {
				c.Paths = append(c.Paths, path{D: d.String(), Class: class, Title: title, Points: n})
			}
		}
	}

	// The legend: a sample per report in its colour, then, with several
	// measures, a sample per measure in its dash.
	// An item that would run past the chart's right edge starts a second
	// row, still above the plot.
	x, y := c.Plot.X, 16.0
	add := func(class, label string) {
		w := 30 + 8.5*float64(len([]rune(label))) // 15 px text
		if x > c.Plot.X && x+w > chartW-marginR {
			x, y = c.Plot.X, y+16
		}
		c.Legend = append(c.Legend, legendItem{X: x, X2: x + 24, TX: x + 30, Y: y, Class: class, Label: label})
		x += w + 18
	}
	for r, l := range s.Labels {
		add(fmt.Sprintf("line p%d m0", r%8), l)
	}
	if len(s.Measures) > 1 {
		for m, name := range s.Measures {
			add(fmt.Sprintf("line key m%d", m), name)
		}
	}
	return c
}

// point is a value and its interval's index.
type point struct {
	i int
	v float64
}

// downsample keeps every point of a series of at most MaxPointsDrawn, and
// otherwise the lowest and highest finite value of each of
// MaxPointsDrawn/2 buckets, in order; a value that is not finite stays as
// a gap.
func downsample(vs []float64) []point {
	if len(vs) <= MaxPointsDrawn {
		out := make([]point, len(vs))
		for i, v := range vs {
			out[i] = point{i, v}
		}
		return out
	}
	buckets := MaxPointsDrawn / 2
	out := make([]point, 0, MaxPointsDrawn)
	for b := range buckets {
		lo, hi := b*len(vs)/buckets, (b+1)*len(vs)/buckets
		minI, maxI := -1, -1
		for i := lo; i < hi; i++ {
			if !finite(vs[i]) {
				continue
			}
			if minI < 0 || vs[i] < vs[minI] {
				minI = i
			}
			if maxI < 0 || vs[i] > vs[maxI] {
				maxI = i
			}
		}
		switch {
		case minI < 0: // nothing finite in the bucket: a gap
			out = append(out, point{lo, math.NaN()})
		case minI == maxI:
			out = append(out, point{minI, vs[minI]})
		default:
			out = append(out, point{min(minI, maxI), vs[min(minI, maxI)]}, point{max(minI, maxI), vs[max(minI, maxI)]})
		}
	}
	return out
}

// segments splits points at the values that are not finite.
func segments(ps []point) [][]point {
	var out [][]point
	var cur []point
	for _, p := range ps {
		if !finite(p.v) {
			if len(cur) > 0 {
				out = append(out, cur)
			}
			cur = nil
			continue
		}
		cur = append(cur, p)
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// niceStep is the 1, 2 or 5 × 10^k at or above v.
func niceStep(v float64) float64 {
	if !(v > 0) || !finite(v) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v*(1-1e-9) {
			return m * p
		}
	}
	return 10 * p
}

// timeStep is a tick interval in seconds giving at most about 10 ticks.
func timeStep(span float64) float64 {
	for _, s := range []float64{60, 300, 600, 900, 1800, 3600, 7200, 10800, 14400, 21600, 43200, 86400} {
		if span/s <= 10 {
			return s
		}
	}
	return 86400 * math.Ceil(span/86400/10)
}

// tickLabel writes an axis value with the decimals its step needs.
func tickLabel(v, step float64) string {
	if math.Abs(v) >= 1e7 {
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
	decimals := max(0, int(-math.Floor(math.Log10(step))))
	s := strconv.FormatFloat(v, 'f', min(decimals, 6), 64)
	if strings.Trim(s, "-0.") == "" {
		return "0"
	}
	return s
}

// clock writes seconds as h:mm.
func clock(s float64) string {
	m := int(math.Round(s / 60))
	return fmt.Sprintf("%d:%02d", m/60, m%60)
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }

func num(v float64) string { return strconv.FormatFloat(round1(v), 'f', -1, 64) }
