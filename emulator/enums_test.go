package emulator

import (
	"encoding/json"
	"os"
	"slices"
	"testing"

	"github.com/assignd/assignd/internal/needs"
)

// The emulator's lists of statuses and enumerations are copies of Twilio's
// spec; this fails when one drifts from it.
func TestEnumsMatchTwilioSpec(t *testing.T) {
	path := needs.TaskRouterSpec(t)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Enum []string `json:"enum"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for schema, ours := range map[string][]string{
		"task_reservation_enum_status":           reservationStatuses(),
		"worker_reservation_enum_status":         reservationStatuses(),
		"task_enum_status":                       {taskPending, taskReserved, taskAssigned, taskCanceled, taskCompleted, taskWrapping},
		"task_reservation_enum_call_status":      updateEnums()["StatusCallbackEvent"],
		"task_reservation_enum_conference_event": updateEnums()["ConferenceStatusCallbackEvent"],
		"task_reservation_enum_supervisor_mode":  updateEnums()["SupervisorMode"],
		"task_queue_enum_task_order":             {"FIFO", "LIFO"},
		"workspace_enum_queue_order":             {"FIFO", "LIFO"},
	} {
		theirs := doc.Components.Schemas[schema].Enum
		if !equalSets(ours, theirs) {
			t.Errorf("%s: the emulator has %v, Twilio's spec %v", schema, ours, theirs)
		}
	}
}

func equalSets(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
