package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/assignd/assignd/admin"
	"github.com/assignd/assignd/handlers"
	"github.com/assignd/assignd/inspect"
	"github.com/assignd/assignd/policy/rules"
	whatif "github.com/assignd/assignd/whatif/report"
	"github.com/assignd/assignd/whatif/simulate"
)

// The README states the bounds the public and admin listeners enforce;
// each statement is built here from the constant the code uses, so a
// changed bound fails until the README says the same.
func TestREADMEStatesTheBounds(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := strings.Join(strings.Fields(string(data)), " ") // line breaks fall anywhere
	for _, want := range []string{
		fmt.Sprintf("over %d parameters, a repeated name, a name over %d bytes or a value over %d KiB",
			handlers.MaxFormParams, handlers.MaxParamName, handlers.MaxParamValue>>10),
		fmt.Sprintf("Idle connections close after %s.", seconds(publicIdleTimeout)),
		fmt.Sprintf("after %d wrong passwords, one more per %s", admin.FailedLoginBurst, seconds(admin.FailedLoginEvery)),
		fmt.Sprintf("%d replays run at once", inspect.MaxReplays),
		fmt.Sprintf("(at most %d KiB, else **413**)", inspect.MaxReplayPolicy>>10),
		fmt.Sprintf("Above the default `cost_limit` (%d)", rules.DefaultCostLimit),
		fmt.Sprintf("may hold at most %d list and map elements", rules.DefaultCostLimit),
		fmt.Sprintf("an upload may be at most %d MiB (else **413**)", whatif.MaxBytes>>20),
		fmt.Sprintf("at most %d policies, %d streams, queues, worker groups, rules or instructions each, and %s points per series",
			whatif.MaxReports, whatif.MaxKeys, thousands(whatif.MaxPoints)),
		fmt.Sprintf("%d uploads are read at once and %d reports drawn at once (more: **429** with `Retry-After`), so at most %d bodies of up to %d MiB are held",
			inspect.MaxUploads, inspect.MaxRenders, inspect.MaxUploads, whatif.MaxBytes>>20),
		fmt.Sprintf("it decides the %d most recent callbacks at most, stops after %s and says how far it got, the rules are at most %d KiB (else **413**",
			inspect.MaxTryEntries, seconds(inspect.TryBudget), inspect.MaxReplayPolicy>>10),
		fmt.Sprintf("and %d try runs at a time (more: **429** with `Retry-After`)", inspect.MaxTries),
		fmt.Sprintf("a `duration` over %g days (%g h), an `interval` under %s or cutting the day into more than %s intervals, "+
			"streams expected to create more than %s tasks (`rate_per_hour` × hours, summed), or more than %s agents over all `workers` entries.",
			simulate.MaxDuration.Hours()/24, simulate.MaxDuration.Hours(), seconds(simulate.MinInterval), thousands(simulate.MaxIntervals),
			thousands(simulate.MaxExpectedTasks), thousands(simulate.MaxWorkers)),
	} {
		if !strings.Contains(readme, want) {
			t.Errorf("README.md does not say %q", want)
		}
	}
}

// thousands writes n as the README does: "10,000".
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// seconds writes d as the README does: "15 s".
func seconds(d time.Duration) string { return fmt.Sprintf("%g s", d.Seconds()) }
