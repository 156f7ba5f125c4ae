package decisionlog_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/assignd/assignd/decisionlog"
)

// TestREADMEStatesTheLogsBoundsAndMetrics: the README's decision log
// section names every metric the log exports and states the bounds it
// keeps refusals and an outage's rows within, as the defaults are.
func TestREADMEStatesTheLogsBoundsAndMetrics(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := strings.Join(strings.Fields(string(b)), " ") // lines wrap anywhere
	reg := prometheus.NewRegistry()
	l, err := decisionlog.Open(context.Background(), decisionlog.Options{Logger: zerolog.New(io.Discard),
		DataDir: filepath.Join(t.TempDir(), "data"), Mode: decisionlog.ModeSummary, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		short := strings.TrimPrefix(f.GetName(), "assignd_decision_log")
		if !strings.Contains(readme, "`"+f.GetName()) && !strings.Contains(readme, "`"+short+"`") {
			t.Errorf("README.md does not name %s", f.GetName())
		}
	}
	for _, want := range []string{
		"the newest " + thousands(decisionlog.DefaultMaxRefusalRows) + ",",
		"at most " + fmt.Sprint(decisionlog.DefaultMaxRefusalParams>>10) + " KiB",
		"up to " + thousands(decisionlog.DefaultBacklogRows) + " rows or " + fmt.Sprint(decisionlog.DefaultBacklogBytes>>20) + " MiB",
		"at most one of each kind a second",
		"retries every second",
	} {
		if !strings.Contains(readme, want) {
			t.Errorf("README.md does not say %q", want)
		}
	}
	if decisionlog.DefaultRefusalEvery.String() != "1s" || decisionlog.DefaultRetryEvery.String() != "1s" {
		t.Errorf("README.md says 'a second' for RefusalEvery (%s) and RetryEvery (%s)", decisionlog.DefaultRefusalEvery, decisionlog.DefaultRetryEvery)
	}
}

// thousands writes n with commas, as the README does: 10,000.
func thousands[T ~int | ~int64](n T) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
