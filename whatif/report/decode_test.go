package report_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/assignd/assignd/whatif/report"
	"github.com/assignd/assignd/whatif/report/reporttest"
)

func marshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Decode reads back what the simulator writes: one document, or a list.
func TestDecodeAcceptsDocumentAndList(t *testing.T) {
	t.Parallel()
	two := reporttest.TwoPolicies(10)
	got, err := report.Decode(strings.NewReader("\n " + marshal(t, two) + "\n"))
	if err != nil || len(got) != 2 {
		t.Fatalf("list: %d reports, %v", len(got), err)
	}
	// Compare through JSON: the cumulative statistics decode as JSON types.
	if marshal(t, got) != marshal(t, two) {
		t.Error("the list does not read back as written")
	}
	one, err := report.Decode(strings.NewReader(marshal(t, two[1])))
	if err != nil || len(one) != 1 || !reflect.DeepEqual(one[0].Diff, two[1].Diff) || one[0].Series.WaitP90[31] != two[1].Series.WaitP90[31] {
		t.Fatalf("document: %+v, %v", one, err)
	}
}

// Each bound is refused, with an error naming the place.
func TestDecodeRefusesEachBound(t *testing.T) {
	t.Parallel()
	keys := func(n int, v string) string {
		var b strings.Builder
		for i := range n {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `"k%d": %s`, i, v)
		}
		return "{" + b.String() + "}"
	}
	points := "[" + strings.Repeat("1,", report.MaxPoints) + "1]"
	huge := `{"offered": 1, "policy": "` + strings.Repeat("x", report.MaxBytes) + `"}`
	if _, err := report.Decode(strings.NewReader(huge)); !errors.Is(err, report.ErrTooLarge) {
		t.Errorf("%d bytes: %v, want ErrTooLarge", len(huge), err)
	}
	list := make([]report.Report, report.MaxReports+1)
	for i := range list {
		list[i].Offered = 1
	}
	for _, c := range []struct{ name, doc, want string }{
		{"reports", marshal(t, list), fmt.Sprintf("report: more than %d reports", report.MaxReports)},
		{"streams", `{"offered": 1, "streams": ` + keys(report.MaxKeys+1, `{}`) + `}`, fmt.Sprintf("report: streams: %d, at most %d", report.MaxKeys+1, report.MaxKeys)},
		{"rules of a queue", `{"offered": 1, "queues": {"Spanish": {"rules": ` + keys(report.MaxKeys+1, "1") + `}}}`, "report: queues.Spanish.rules: 65 keys, at most 64"},
		{"groups", `{"offered": 1, "groups": ` + keys(report.MaxKeys+1, `{}`) + `}`, "groups: 65, at most 64"},
		{"ci95", `{"offered": 1, "ci95": ` + keys(report.MaxFigureKeys+1, "1") + `}`, fmt.Sprintf("ci95: %d keys, at most %d", report.MaxFigureKeys+1, report.MaxFigureKeys)},
		{"cumulative statistics", `{"offered": 1, "cumulative_statistics": ` + keys(report.MaxKeys+1, "1") + `}`, "cumulative_statistics: 65 keys, at most 64"},
		{"points", `[{"offered": 1}, {"offered": 1, "series": {"interval_s": 900, "wait_p99_s": ` + points + `}}]`,
			fmt.Sprintf("report 2 (B): series.wait_p99_s: %d points, at most %d", report.MaxPoints+1, report.MaxPoints)},
		{"a million values", "[" + strings.Repeat("1,", 1000000) + "1]", fmt.Sprintf("report: more than %d reports", report.MaxReports)},
		{"after the list", `[{"offered": 1}] {}`, "report: data after the list"},
		{"a list of numbers", `[1]`, "report 1 (A): json: cannot unmarshal number"},
		{"empty", " \n", "report: empty"},
		{"empty list", "[]", "report: an empty list"},
		{"not JSON", "policy: a.yaml", "report: not a report: want one report (a JSON object)"},
		{"not a report", `{"changed": 3}`, `report: no "offered": not what ` + "`assignd simulate -json`" + ` writes`},
		{"syntax", "[\n{\"offered\": 1},\n{\"offered\": ]", "line 3"},
		{"type", `{"offered": "many"}`, "cannot unmarshal string"},
		{"interval", `{"offered": 1, "series": {"answered": [1]}}`, "series.interval_s is 0"},
		{"threshold", `{"offered": 1, "streams": {"es": {"service_level": {"-5": 1}}}}`, `streams.es.service_level: threshold "-5"`},
	} {
		_, err := report.Decode(strings.NewReader(c.doc))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	// At the bounds, accepted.
	at := `{"offered": 1, "streams": ` + keys(report.MaxKeys, `{}`) + `, "series": {"interval_s": 10, "offered": [` +
		strings.Repeat("1,", report.MaxPoints-1) + `1]}}`
	if _, err := report.Decode(strings.NewReader(at)); err != nil {
		t.Errorf("at the bounds: %v", err)
	}
}
