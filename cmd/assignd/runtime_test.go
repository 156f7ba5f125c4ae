package main

import (
	"encoding/json"
	"os"
	"strconv"
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
	pub, port := listenLocal(t, "127.0.0.1")
	_, logs := startServe(t, []string{"PORT=" + port, "DATA_DIR=" + t.TempDir()}, handedListeners{public: pub})
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
	// With no container limit (this machine's cgroup has none, and a Fly
	// Machine is a VM) the machine's memory sizes the limit.
	if total := memTotal(t); *line.MemLimit <= 0 || *line.MemLimit > total {
		t.Fatalf("memory_limit_bytes %d, want above 0 and at most the machine's %d", *line.MemLimit, total)
	}
}

// memTotal is the machine's memory, from /proc/meminfo.
func memTotal(t *testing.T) int64 {
	t.Helper()
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Skipf("no /proc/meminfo: %v", err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no MemTotal in /proc/meminfo")
	return 0
}
