package report_test

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"

	"github.com/assignd/assignd/whatif/report"
	"github.com/assignd/assignd/whatif/report/reporttest"
)

// largest is an upload at the bounds: MaxReports reports whose every
// series has MaxPoints points, as JSON.
func largest(b *testing.B) []byte {
	b.Helper()
	reports := make([]report.Report, report.MaxReports)
	for i := range reports {
		reports[i] = reporttest.Day("p.yaml", 10, i%2)
		s := report.Series{IntervalS: 3}
		for k := range report.MaxPoints {
			v := float64(k%97) + 0.25
			s.Offered, s.Answered, s.Abandoned = append(s.Offered, v), append(s.Answered, v), append(s.Abandoned, v)
			s.WaitP50, s.WaitP90, s.WaitP99 = append(s.WaitP50, v), append(s.WaitP90, v), append(s.WaitP99, v)
			s.Occupancy = append(s.Occupancy, v/100)
		}
		reports[i].Series = s
	}
	data, err := json.Marshal(reports)
	if err != nil {
		b.Fatal(err)
	}
	if len(data) > report.MaxBytes {
		b.Fatalf("%d bytes, over MaxBytes", len(data))
	}
	return data
}

// What one inspector render costs: Decode then WriteHTML, for the test
// reports (two policies, 32 intervals) and for an upload at the bounds.
func BenchmarkDecodeAndDraw(b *testing.B) {
	two, err := json.Marshal(reporttest.TwoPolicies(10))
	if err != nil {
		b.Fatal(err)
	}
	for name, data := range map[string][]byte{"two-policies": two, "at-the-bounds": largest(b)} {
		b.Run(name, func(b *testing.B) {
			var out int
			for b.Loop() {
				reports, err := report.Decode(bytes.NewReader(data))
				if err != nil {
					b.Fatal(err)
				}
				var w countWriter
				if err := report.WriteHTML(&w, reports); err != nil {
					b.Fatal(err)
				}
				out = int(w)
			}
			b.ReportMetric(float64(len(data)), "upload-bytes")
			b.ReportMetric(float64(out), "page-bytes")
		})
	}
}

type countWriter int

func (c *countWriter) Write(p []byte) (int, error) { *c += countWriter(len(p)); return len(p), nil }

var _ io.Writer = (*countWriter)(nil)
