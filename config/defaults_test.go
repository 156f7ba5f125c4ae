package config

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/assignd/assignd/admin"
	"github.com/assignd/assignd/async"
	"github.com/assignd/assignd/decisionlog"
	"github.com/assignd/assignd/handlers"
)

// Each default and route is defined once, in the package that uses it; the
// variables' envDefault tags and help texts are copies the tags cannot
// compute, so this test fails when one drifts from its definition.
func TestDefaultsAndRoutesFollowTheirDefinitions(t *testing.T) {
	t.Parallel()
	dur := func(name string) time.Duration {
		d, err := time.ParseDuration(Default(name))
		if err != nil {
			t.Fatalf("%s default %q: %v", name, Default(name), err)
		}
		return d
	}
	if got := Default("CALLBACK_PATH"); got != handlers.DefaultCallbackPath {
		t.Errorf("CALLBACK_PATH default %q, handlers.DefaultCallbackPath %q", got, handlers.DefaultCallbackPath)
	}
	if got := dur("CALLBACK_BUDGET"); got != handlers.DefaultBudget {
		t.Errorf("CALLBACK_BUDGET default %s, handlers.DefaultBudget %s", got, handlers.DefaultBudget)
	}
	if got := dur("DECISION_LOG_RETENTION"); got != decisionlog.DefaultRetention {
		t.Errorf("DECISION_LOG_RETENTION default %s, decisionlog.DefaultRetention %s", got, decisionlog.DefaultRetention)
	}
	if got := Default("DECISION_LOG_MAX_ROWS"); got != strconv.Itoa(decisionlog.DefaultMaxRows) {
		t.Errorf("DECISION_LOG_MAX_ROWS default %s, decisionlog.DefaultMaxRows %d", got, decisionlog.DefaultMaxRows)
	}
	if got := dur("RESERVATION_TIMEOUT"); got != async.DefaultReservationTimeout {
		t.Errorf("RESERVATION_TIMEOUT default %s, async.DefaultReservationTimeout %s", got, async.DefaultReservationTimeout)
	}
	if got := Default("ASYNC_WORKERS"); got != strconv.Itoa(async.DefaultWorkers) {
		t.Errorf("ASYNC_WORKERS default %s, async.DefaultWorkers %d", got, async.DefaultWorkers)
	}
	if handlers.ReadyPath != admin.ReadyPath {
		t.Errorf("readiness is %s on the public listener and %s on the admin one", handlers.ReadyPath, admin.ReadyPath)
	}

	help := map[string]string{}
	for _, v := range Variables() {
		help[v.Name] = v.Help
	}
	mentions := map[string][]string{
		"CALLBACK_PATH":   ReservedPaths(),
		"MAX_CONNECTIONS": {strconv.Itoa(handlers.DefaultMaxConnections), strconv.Itoa(handlers.FDReserve)},
		"ADMIN_ADDR":      {admin.MetricsPath, admin.ReadyPath, admin.InspectorPrefix, admin.QueuePrefix + "/"},
		"CALLBACK_BUDGET": {handlers.TwilioTimeout.String()},
	}
	for name, want := range mentions {
		for _, w := range want {
			if !strings.Contains(help[name], w) {
				t.Errorf("%s's help does not mention %s: %q", name, w, help[name])
			}
		}
	}
}
