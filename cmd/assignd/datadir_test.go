package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// A second assignd on the same DATA_DIR stops before printing anything else,
// with one line naming DATA_DIR and the two ways out (and no hint towards
// DATABASE_URL, which would switch on production). Another DATA_DIR runs.
func TestSecondInstanceOnTheSameDataDir(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	// Development mode whatever the test's own environment holds.
	dev := []string{"DATABASE_URL=", "TWILIO_ACCOUNT_SID=", "TWILIO_AUTH_TOKEN=", "PUBLIC_URL=", "ASSIGND_MODE=development"}
	port := freePort(t)
	first := startBinary(t, bin, append([]string{"DATA_DIR=" + data, "PORT=" + port}, dev...), port)

	second := runBinary(t, bin, dir, []string{"PORT=" + freePort(t), "ADMIN_ADDR=127.0.0.1:" + freePort(t)})
	out := strings.TrimSpace(second.stdout + second.stderr)
	want := fmt.Sprintf("assignd: another assignd holds DATA_DIR=%s (pid %d); stop it or choose another DATA_DIR", data, first.cmd.Process.Pid)
	if second.code == 0 || out != want {
		t.Fatalf("second instance: exit %d, want the one line %q, got:\n%s", second.code, want, out)
	}

	port = freePort(t)
	startBinary(t, bin, append([]string{"DATA_DIR=" + filepath.Join(dir, "other"), "PORT=" + port}, dev...), port)
}
