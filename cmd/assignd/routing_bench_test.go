package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/assignd/assignd/emulator"
)

// Tasks routed per second through the emulator, created → assigned:
//
//	go test ./cmd/assignd -run '^$' -bench TasksRouted -benchtime 5000x
//
// Each task is created over REST, routed to an idle worker, the signed
// assignment callback is answered, the reservation accepted and the task
// assigned; then it is completed over REST, freeing the worker. 64 clients
// each run that cycle, 256 workers, everything in one process on loopback,
// no event callbacks. tasks/s is b.N over the whole run: every task created,
// assigned and completed.
//
// BenchmarkTasksRoutedAssignd answers with the real service (serve as
// `assignd dev` runs it: signature check, example policy, sync accept);
// BenchmarkTasksRoutedBaseline with a handler answering a constant accept,
// unchecked: the emulator's own cost. Both log at warn, so neither pays for
// a line per callback.
func BenchmarkTasksRoutedAssignd(b *testing.B) {
	d := startDev(b, []string{"LOG_LEVEL=warn"}, benchWorkspace(b, ""), handedListeners{})
	routeTasks(b, d.emu, d.api, d.account, d.token)
}

// BenchmarkTasksRoutedChannels is BenchmarkTasksRoutedAssignd with
// channels: 200 workers with capacities on voice, chat and email (1, 3, 2),
// tasks spread over the three in turn, so routing checks per-channel
// capacity with several tasks held per worker.
func BenchmarkTasksRoutedChannels(b *testing.B) {
	ws := benchWorkspaceWith(b, "", benchChannelWorkers, func(s *emulator.WorkspaceSpec) {
		s.TaskChannels = []emulator.ChannelSpec{{UniqueName: "email", FriendlyName: "Email"}}
		for i := range s.Workers {
			s.Workers[i].Channels = map[string]int{"voice": 1, "chat": 3, "email": 2}
		}
	})
	d := startDev(b, []string{"LOG_LEVEL=warn"}, ws, handedListeners{})
	routeTasks(b, d.emu, d.api, d.account, d.token, "voice", "chat", "email")
}

func BenchmarkTasksRoutedBaseline(b *testing.B) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"instruction":"accept"}`)
	}))
	b.Cleanup(app.Close)
	const account, token = "AC00000000000000000000000000000b01", "00000000000000000000000000000b01"
	emu, err := emulator.New(emulator.Options{AccountSid: account, AuthToken: token})
	if err != nil {
		b.Fatal(err)
	}
	spec, err := emulator.LoadWorkspaceFile(benchWorkspace(b, app.URL+"/assignment"))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := emu.Load(spec); err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	b.Cleanup(func() { srv.Close(); emu.Close() })
	routeTasks(b, emu, srv.URL, account, token)
}

const benchWorkers = 256

// benchChannelWorkers is how many workers the channels variant has.
const benchChannelWorkers = 200

// benchClients is how many REST clients create tasks at once.
const benchClients = 64

// benchWorkspace is the tutorial's workspace with 256 idle English-speaking
// workers; callback is the workflow's URL ("" in dev: the service's).
func benchWorkspace(b testing.TB, callback string) string {
	return benchWorkspaceWith(b, callback, benchWorkers, nil)
}

// benchWorkspaceWith is benchWorkspace with n workers, then edit applied.
func benchWorkspaceWith(b testing.TB, callback string, n int, edit func(*emulator.WorkspaceSpec)) string {
	s := emulator.Tutorial()
	s.Workers = nil
	for i := range n {
		s.Workers = append(s.Workers, emulator.WorkerSpec{Name: fmt.Sprintf("agent-%02d", i), Activity: "Idle",
			Attributes: map[string]any{"languages": []string{"en"}}})
	}
	s.Workflows[0].AssignmentCallbackURL = callback
	if edit != nil {
		edit(&s)
	}
	out, err := yaml.Marshal(s)
	if err != nil {
		b.Fatal(err)
	}
	return writeFile(b, "bench-workspace.yaml", string(out))
}

// routeTasks runs b.N tasks through create → assigned → completed on
// benchClients concurrent clients and reports tasks/s; task i is on
// channels[i % len(channels)] when channels are given.
func routeTasks(b *testing.B, emu *emulator.Emulator, api, account, token string, channels ...string) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}
	b.Cleanup(client.CloseIdleConnections)
	var ws, workflow string
	{
		list := struct {
			Workspaces []struct{ Sid string } `json:"workspaces"`
		}{}
		if err := getJSON(client, api+"/v1/Workspaces", account, token, &list); err != nil || len(list.Workspaces) != 1 {
			b.Fatalf("workspaces: %v %v", list, err)
		}
		ws = list.Workspaces[0].Sid
		wfs := struct {
			Workflows []struct{ Sid string } `json:"workflows"`
		}{}
		if err := getJSON(client, api+"/v1/Workspaces/"+ws+"/Workflows", account, token, &wfs); err != nil || len(wfs.Workflows) != 1 {
			b.Fatalf("workflows: %v %v", wfs, err)
		}
		workflow = wfs.Workflows[0].Sid
	}
	// No event callbacks: routing is measured, not event delivery.
	if err := post(client, api+"/v1/Workspaces/"+ws, account, token, url.Values{"EventCallbackUrl": {""}}); err != nil {
		b.Fatal(err)
	}
	events := len(emu.EventDeliveries())

	// concurrently runs f(i) for i in [0, n) on benchClients goroutines.
	concurrently := func(n int, f func(i int) error) error {
		var next atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, benchClients)
		for range benchClients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
					if err := f(i); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		return <-errs
	}

	// Steady state: each client creates a task, waits until it is assigned
	// (reading the emulator's state in-process, no REST polling), then
	// completes it, freeing its worker. More workers than clients: a task
	// never waits for a worker, so what is measured is routing.
	b.ResetTimer()
	start := time.Now()
	if err := concurrently(b.N, func(i int) error {
		var task struct{ Sid string }
		form := url.Values{"Attributes": {`{"type":"chat"}`}, "WorkflowSid": {workflow}}
		if len(channels) > 0 {
			form.Set("TaskChannel", channels[i%len(channels)])
		}
		if err := postJSON(client, api+"/v1/Workspaces/"+ws+"/Tasks", account, token, form, &task); err != nil {
			return err
		}
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Microsecond) {
			if t, _ := emu.Task(task.Sid); t.Status == "assigned" {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("task %s not assigned after a minute", task.Sid)
			}
		}
		return post(client, api+"/v1/Workspaces/"+ws+"/Tasks/"+task.Sid, account, token, url.Values{"AssignmentStatus": {"completed"}})
	}); err != nil {
		b.Fatal(err)
	}
	routed := time.Since(start)
	b.StopTimer()
	if st := emu.Stats(); st.ByStatus["completed"] != b.N || st.Reservations != b.N {
		b.Fatalf("emulator: %+v, want %d reservations, every one accepted then completed", st, b.N)
	}
	if n := len(emu.EventDeliveries()); n != events {
		b.Fatalf("%d event callbacks during the run, want none", n-events)
	}
	b.ReportMetric(float64(b.N)/routed.Seconds(), "tasks/s")
}

func postJSON(c *http.Client, u, user, pass string, form url.Values, v any) error {
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(user, pass)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		body, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("POST %s: %d %s", u, resp.StatusCode, body)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func post(c *http.Client, u, user, pass string, form url.Values) error {
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(user, pass)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: %d %s", u, resp.StatusCode, body)
	}
	return nil
}

func getJSON(c *http.Client, u, user, pass string, v any) error {
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.SetBasicAuth(user, pass)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
