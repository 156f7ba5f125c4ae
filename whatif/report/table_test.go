package report_test

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/assignd/assignd/whatif/report"
	"github.com/assignd/assignd/whatif/report/reporttest"
)

func table(t *testing.T, reports []report.Report) string {
	t.Helper()
	var b bytes.Buffer
	if err := report.WriteTable(&b, reports); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// rowOf is the table's line for label in the section headed section.
func rowOf(t *testing.T, out, section, label string) []string {
	t.Helper()
	in := false
	for line := range strings.Lines(out) {
		if strings.HasPrefix(line, section) {
			in = true
			continue
		}
		if in && strings.TrimSpace(line) == "" {
			break
		}
		if in && strings.HasPrefix(line, "  "+label+"  ") {
			return regexp.MustCompile(`\s{2,}`).Split(strings.TrimSpace(line), -1)
		}
	}
	t.Fatalf("no row %q in section %q:\n%s", label, section, out)
	return nil
}

// Two policies: a column each and a difference column, each figure with
// its interval, and a difference whose interval excludes 0 marked.
func TestTableTwoPolicies(t *testing.T) {
	t.Parallel()
	out := table(t, reporttest.TwoPolicies(10))
	for _, want := range []string{
		"A: policy policies/old.yaml, scenario whatif/center.yaml, seed 7, 10 runs, 8h0m0s simulated\n",
		"B: policy policies/new.yaml,",
		"± is the half-width of the 95% confidence interval",
		"* the difference's 95% interval excludes 0.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the table lacks %q:\n%s", want, out)
		}
	}
	head := regexp.MustCompile(`(?m)^OVERALL\s+A old\.yaml\s+B new\.yaml\s+B − A$`)
	if !head.MatchString(out) {
		t.Errorf("no heading with both policies and the difference:\n%s", out)
	}
	for _, c := range []struct {
		section, label string
		want           []string
	}{
		{"OVERALL", "average speed of answer", []string{"21.5 s ± 1.9 s", "15 s ± 1.9 s", "-6.5 s ± 2.7 s *"}},
		{"OVERALL", "service level 20 s", []string{"80% ± 1.1 pp", "90% ± 1.1 pp", "+10 pp ± 2 pp *"}},
		{"OVERALL", "service level 60 s", []string{"93% ± 0.6 pp", "96% ± 0.6 pp", "+3 pp ± 4 pp"}}, // within its interval: no mark
		{"OVERALL", "offered", []string{"1800 ± 36", "1800 ± 36", "0 ± 0.5"}},
		{"OVERALL", "reservations rejected", []string{"12 ± 2.5", "32 ± 2.5", "+20 ± 7.2 *"}},
		{"STREAM spanish", "wait p90", []string{"55 s ± 4.2 s", "38.5 s ± 4.2 s", "-16.5 s ± 6 s *"}},
		// Queues carry no Diff in these reports: the plain difference.
		{"QUEUE Spanish", "wait p50", []string{"8 s ± 0.8 s", "5.6 s ± 0.8 s", "-2.4 s"}},
		{"OCCUPANCY BY WORKER GROUP", "es-agents (7 workers)", []string{"71% ± 1.2 pp", "73% ± 1.2 pp", "+2 pp"}},
		{"DECISIONS BY RULE", "english-overflow", []string{"630 ± 5", "630 ± 5", "0 ± 0.5"}},
		{"DECISIONS BY INSTRUCTION", "reject", []string{"12 ± 2.5", "32 ± 2.5", "+20 ± 7.2 *"}},
	} {
		got := rowOf(t, out, c.section, c.label)[1:]
		if strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("%s / %s: %q, want %q", c.section, c.label, got, c.want)
		}
	}
}

// One policy, one run: one column, no interval, no difference.
func TestTableOneRun(t *testing.T) {
	t.Parallel()
	out := table(t, reporttest.TwoPolicies(1)[:1])
	if strings.Contains(out, "±") || strings.Contains(out, "−") || strings.Contains(out, "*") || strings.Contains(out, "B ") {
		t.Errorf("one run of one policy shows intervals or differences:\n%s", out)
	}
	if got := rowOf(t, out, "OVERALL", "wait p99"); len(got) != 2 || got[1] != "140 s" {
		t.Errorf("wait p99: %q, want one column of 140 s", got)
	}
	if !strings.Contains(out, "A: policy policies/old.yaml, scenario whatif/center.yaml, seed 7, 1 run, 8h0m0s simulated") {
		t.Errorf("no description of the run:\n%s", out)
	}
}

// A figure a report does not have is "-", never 0: a stream or a rule one
// policy lacks, waits where nothing was answered, a service level a
// report did not measure.
func TestTableMissingFigures(t *testing.T) {
	t.Parallel()
	reports := reporttest.TwoPolicies(1)
	b := &reports[1]
	delete(b.Streams, "support")
	delete(b.Rules, "default")
	delete(b.Groups, "bilingual")
	delete(b.ServiceLevel, "60")
	q := b.Queues["English"]
	q.Answered, q.Abandoned = 0, q.Offered
	b.Queues["English"] = q
	for i := range reports { // a service level neither report defines
		s := reports[i].Streams["spanish"]
		s.ServiceLevel = map[string]float64{}
		reports[i].Streams["spanish"] = s
	}
	out := table(t, reports)
	for _, c := range []struct {
		section, label string
		want           []string
	}{
		{"STREAM support", "offered", []string{"300", "-", "-"}},
		{"STREAM support", "wait p50", []string{"8 s", "-", "-"}},
		{"DECISIONS BY RULE", "default", []string{"450", "-", "-"}},
		{"OCCUPANCY BY WORKER GROUP", "bilingual (15 workers)", []string{"81%", "-", "-"}},
		{"OVERALL", "service level 60 s", []string{"93%", "-", "-"}},
		{"QUEUE English", "average speed of answer", []string{"21.5 s", "-", "-"}},
		{"QUEUE English", "probability of waiting", []string{"42%", "-", "-"}},
		{"QUEUE English", "answered", []string{"475", "0", "-475"}}, // a count is 0, not missing
		{"STREAM spanish", "service level 20 s", []string{"-", "-", "-"}},
		{"STREAM spanish", "service level 60 s", []string{"-", "-", "-"}},
		{"STREAM spanish", "waiting at day end", []string{"0", "0", "0"}},
	} {
		got := rowOf(t, out, c.section, c.label)[1:]
		if strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("%s / %s: %q, want %q", c.section, c.label, got, c.want)
		}
	}
	if table(t, nil) != "no reports\n" {
		t.Error("no reports: want the line saying so")
	}
}
