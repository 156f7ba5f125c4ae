package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/assignd/assignd/admin"
	"github.com/assignd/assignd/async"
	"github.com/assignd/assignd/decisionlog"
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
	port := freePort(t) // a built binary binds PORT itself: no listener to hand it
	first := startBinary(t, bin, append([]string{"DATA_DIR=" + data, "PORT=" + port}, dev...), port)

	// Refused before listening; the ports stay held, so a second instance
	// that got further would fail on them too.
	_, port2 := listenLocal(t, "127.0.0.1")
	_, admin2 := listenLocal(t, "127.0.0.1")
	second := runBinary(t, bin, dir, []string{"PORT=" + port2, "ADMIN_ADDR=127.0.0.1:" + admin2})
	out := strings.TrimSpace(second.stdout + second.stderr)
	want := fmt.Sprintf("assignd: another assignd holds DATA_DIR=%s (pid %d); stop it or choose another DATA_DIR", data, first.cmd.Process.Pid)
	if second.code == 0 || out != want {
		t.Fatalf("second instance: exit %d, want the one line %q, got:\n%s", second.code, want, out)
	}

	port = freePort(t)
	startBinary(t, bin, append([]string{"DATA_DIR=" + filepath.Join(dir, "other"), "PORT=" + port}, dev...), port)
}

// A DATA_DIR whose name holds what a SQLite URI reads as syntax (? # % and a
// space) still holds both stores: serve starts, the decision log and the
// async queue are files inside it and nowhere else, and the inspector and
// River's UI on the admin listener read what the service stored there.
func TestDataDirWithURISyntaxInItsName(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	data := filepath.Join(parent, "da?ta#1% 2f x")
	adm, adminPort := listenLocal(t, "127.0.0.1")
	adminAddr := "127.0.0.1:" + adminPort
	d := startDev(t, []string{"DATA_DIR=" + data, "ADMIN_ADDR=" + adminAddr}, "", handedListeners{admin: adm})

	// An email task: answered {} and accepted later over REST, so one
	// decision is logged and one async job runs through the queue.
	d.setActivity("Bob", "Idle")
	d.waitTask(d.createTask("Tutorial Workflow", `{"type":"email"}`), "assigned")
	adminURL := "http://" + adminAddr
	waitUntil(t, "River's UI lists the completed job", func() bool {
		status, body := adminGet(t, adminURL+admin.QueuePrefix+"/api/jobs?state=completed", "")
		return status == http.StatusOK && strings.Contains(body, "apply_reservation_decision")
	}, d.logs.String)
	// The inspector shows the decision (decision log) with its job (queue).
	var list struct {
		Decisions []struct {
			ID   int64  `json:"id"`
			Rule string `json:"rule"`
		} `json:"decisions"`
	}
	var status int
	var body string
	waitUntil(t, "the inspector lists the decision", func() bool { // the log commits in batches
		status, body = adminGet(t, adminURL+"/admin/api/decisions?rule=email-accept-later", "")
		return status == http.StatusOK && json.Unmarshal([]byte(body), &list) == nil && len(list.Decisions) == 1
	}, func() string { return fmt.Sprintf("%d %s", status, body) })
	var detail struct {
		Jobs []struct {
			State string `json:"state"`
		} `json:"jobs"`
		JobsError string `json:"jobs_error"`
	}
	status, body = adminGet(t, adminURL+"/admin/api/decisions/"+strconv.FormatInt(list.Decisions[0].ID, 10), "")
	if err := json.Unmarshal([]byte(body), &detail); status != http.StatusOK || err != nil || len(detail.Jobs) != 1 || detail.Jobs[0].State != "completed" {
		t.Fatalf("inspector's decision with its job: %d %s", status, body)
	}
	if err := d.stop(); err != nil {
		t.Fatalf("stop: %v\n%s", err, d.logs)
	}

	for _, name := range []string{decisionlog.FileName, async.FileName} {
		if _, err := os.Stat(filepath.Join(data, name)); err != nil {
			t.Errorf("%s is not in DATA_DIR: %v", name, err)
		}
	}
	if entries, _ := os.ReadDir(parent); len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("files beside DATA_DIR %q: %q; want DATA_DIR alone", data, names)
	}
}
