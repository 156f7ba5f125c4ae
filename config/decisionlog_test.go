package config_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/assignd/assignd/config"
	"github.com/assignd/assignd/decisionlog"
)

func TestDecisionLogSettings(t *testing.T) {
	t.Parallel()
	const token = "0123456789abcdef0123456789abcdef"
	for _, tt := range []struct {
		env  []string
		want decisionlog.Mode
	}{
		{nil, decisionlog.ModeFull},                                       // development mode
		{[]string{"TWILIO_AUTH_TOKEN=" + token}, decisionlog.ModeSummary}, // production: attributes are customer data
		{[]string{"TWILIO_AUTH_TOKEN=" + token, "DECISION_LOG=full"}, decisionlog.ModeFull},
		{[]string{"DECISION_LOG=off"}, decisionlog.ModeOff},
	} {
		// Parse: the decision log's mode follows config.Mode, and needs
		// none of production's other requirements.
		c, err := config.Parse(tt.env)
		if err != nil || c.DecisionLogMode != tt.want {
			t.Errorf("%v: mode %q (%v), want %q", tt.env, c.DecisionLogMode, err, tt.want)
		}
	}
	c, err := config.Load(nil)
	if err != nil || c.DecisionLogRetention != 24*time.Hour || c.DecisionLogMaxRows != 1_000_000 {
		t.Errorf("defaults: %s %d %v", c.DecisionLogRetention, c.DecisionLogMaxRows, err)
	}
	for _, tt := range []struct{ env, varName string }{
		{"DECISION_LOG=verbose", "DECISION_LOG"},
		{"DECISION_LOG_RETENTION=1s", "DECISION_LOG_RETENTION"},
		{"DECISION_LOG_RETENTION=a day", "DECISION_LOG_RETENTION"},
		{"DECISION_LOG_MAX_ROWS=0", "DECISION_LOG_MAX_ROWS"},
		{"DECISION_LOG_MAX_ROWS=many", "DECISION_LOG_MAX_ROWS"},
	} {
		_, err := config.Load([]string{tt.env})
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Var != tt.varName || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: err = %v, want one line naming %s", tt.env, err, tt.varName)
		}
	}
}
