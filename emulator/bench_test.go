package emulator_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/assignd/assignd/emulator"
)

// BenchmarkTaskCreatedToAssigned measures tasks routed per second through
// the emulator alone: a task created over HTTP, reserved, the signed
// callback answered accept by an in-process app, the task assigned, then
// completed over HTTP to free the worker. The real service answering is the
// commands' benchmark; this is the emulator's share of it.
func BenchmarkTaskCreatedToAssigned(b *testing.B) {
	emu, err := emulator.New(emulator.Options{AccountSid: accountSid, AuthToken: authToken})
	if err != nil {
		b.Fatal(err)
	}
	defer emu.Close()
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"instruction":"accept"}`)
	}))
	defer app.Close()
	srv := httptest.NewServer(emu)
	defer srv.Close()
	spec := emulator.Tutorial()
	spec.Workers = nil
	for i := range 64 {
		spec.Workers = append(spec.Workers, emulator.WorkerSpec{Name: fmt.Sprint("agent", i), Activity: "Idle",
			Attributes: map[string]any{"languages": []any{"en"}}})
	}
	spec.Workflows[0].AssignmentCallbackURL = app.URL + "/assignment"
	l, err := emu.Load(spec)
	if err != nil {
		b.Fatal(err)
	}
	base := srv.URL + "/v1/Workspaces/" + l.Workspace + "/Tasks"
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	client := &http.Client{Transport: tr}
	post := func(u string, f url.Values) (string, error) {
		req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(f.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(accountSid, authToken)
		resp, err := client.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 300 {
			return "", fmt.Errorf("%s: %d %s", u, resp.StatusCode, body)
		}
		i := strings.Index(string(body), `"sid":"WT`)
		return string(body[i+7 : i+7+34]), nil
	}
	b.SetParallelism(4) // 4 × GOMAXPROCS clients, all served by 64 workers
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			sid, err := post(base, url.Values{"Attributes": {`{"selected_language":"en"}`}, "WorkflowSid": {l.Workflows["Tutorial Workflow"]}})
			if err != nil {
				b.Error(err)
				return
			}
			for {
				if t, _ := emu.Task(sid); t.Status == "assigned" {
					break
				}
				time.Sleep(50 * time.Microsecond)
			}
			if _, err := post(base+"/"+sid, url.Values{"AssignmentStatus": {"completed"}}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "tasks/s")
}
