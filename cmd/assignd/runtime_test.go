package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// serve leaves the collector's target to Go (GOGC, else 100): a larger
// one trades memory the machine may not have. The start-up line says what
// is in force, memory limit included.
func TestServeLeavesGOGCToGo(t *testing.T) {
	if _, set := os.LookupEnv("GOGC"); set {
		t.Skip("GOGC is set in this test's environment")
	}
	_, logs := startServe(t, []string{"PORT=" + freePort(t), "DATA_DIR=" + t.TempDir()})
	var line struct {
		Message   string `json:"message"`
		GCPercent *int   `json:"gc_percent"`
		MemLimit  *int64 `json:"memory_limit_bytes"`
	}
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "assignd listening") {
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatal(err)
			}
		}
	}
	if line.GCPercent == nil || *line.GCPercent != 100 || line.MemLimit == nil {
		t.Fatalf("want gc_percent 100 and memory_limit_bytes in the start-up line:\n%s", logs)
	}
}
