// Command taskgen drives a TaskRouter (assignd's emulator, `assignd
// emulator`) with tasks, the way production traffic reaches assignd: tasks
// are created over REST, TaskRouter reserves workers and posts the signed
// assignment callbacks to the service, and the service answers them (sync)
// or accepts over REST (async). taskgen completes each task once its
// reservation is accepted, so the workers take the next; it learns that
// from the workspace's event callbacks, which it points at itself
// (reservation.accepted and reservation.timeout only; a worker whose
// reservation timed out is set Idle again).
//
// It creates tasks for -d (at -rate per second, or as fast as -c clients
// go), waits until every one was accepted (or -drain passes), and prints
// one JSON line: tasks created, accepted, and accepted per second from the
// first create to the last accept.
//
// The account is TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN; the workspace,
// workflow and Idle activity are found over the API.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type result struct {
	Name           string  `json:"name"`
	Created        int64   `json:"created"`
	Accepted       int64   `json:"accepted"`
	TimedOut       int64   `json:"timed_out"`
	Errors         int64   `json:"errors"`
	Seconds        float64 `json:"seconds"`
	AcceptedPerSec float64 `json:"accepted_per_s"`
}

func main() {
	api := flag.String("api", "http://127.0.0.1:8081", "the TaskRouter's base URL")
	listen := flag.String("listen", "127.0.0.1:0", "where taskgen takes the workspace's event callbacks")
	conns := flag.Int("c", 16, "concurrent task creators")
	dur := flag.Duration("d", 10*time.Second, "how long to create tasks")
	rate := flag.Int("rate", 0, "tasks per second in all (0: as fast as the creators go)")
	drain := flag.Duration("drain", 2*time.Minute, "how long to wait for the last tasks to be accepted")
	attrs := flag.String("task", `{"type":"chat"}`, "task attributes")
	name := flag.String("name", "run", "label for the result")
	flag.Parse()
	account, token := os.Getenv("TWILIO_ACCOUNT_SID"), os.Getenv("TWILIO_AUTH_TOKEN")
	if account == "" || token == "" {
		fail("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN must name the TaskRouter's account")
	}
	c := &client{base: strings.TrimSuffix(*api, "/"), user: account, pass: token,
		http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}, Timeout: 30 * time.Second}}
	res, err := run(c, *listen, *conns, *dur, *rate, *drain, *attrs)
	if err != nil {
		fail("%v", err)
	}
	res.Name = *name
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
}

func run(c *client, listen string, conns int, dur time.Duration, rate int, drain time.Duration, attrs string) (result, error) {
	var res result
	ws, err := c.first("/v1/Workspaces", "workspaces", "")
	if err != nil {
		return res, err
	}
	wsPath := "/v1/Workspaces/" + ws
	workflow, err := c.first(wsPath+"/Workflows", "workflows", "")
	if err != nil {
		return res, err
	}
	idle, err := c.first(wsPath+"/Activities", "activities", "Idle")
	if err != nil {
		return res, err
	}

	var created, accepted, timedOut, errs atomic.Int64
	var lastAccept atomic.Int64 // unix nanoseconds
	toComplete := make(chan string, 4096)
	toIdle := make(chan string, 1024)
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return res, fmt.Errorf("-listen: %w", err)
	}
	sink := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.FormValue("EventType") {
		case "reservation.accepted":
			accepted.Add(1)
			lastAccept.Store(time.Now().UnixNano())
			toComplete <- r.FormValue("TaskSid")
		case "reservation.timeout":
			timedOut.Add(1)
			toIdle <- r.FormValue("WorkerSid")
		}
	})}
	go sink.Serve(ln)
	defer sink.Close()
	if err := c.post(wsPath, url.Values{"EventCallbackUrl": {"http://" + ln.Addr().String()},
		"EventsFilter": {"reservation.accepted,reservation.timeout"}}); err != nil {
		return res, err
	}

	stop := make(chan struct{})
	var helpers sync.WaitGroup
	for range 16 {
		helpers.Add(1)
		go func() {
			defer helpers.Done()
			for {
				var err error
				select {
				case sid := <-toComplete:
					err = c.post(wsPath+"/Tasks/"+sid, url.Values{"AssignmentStatus": {"completed"}})
				case sid := <-toIdle:
					err = c.post(wsPath+"/Workers/"+sid, url.Values{"ActivitySid": {idle}})
				case <-stop:
					return
				}
				if err != nil {
					errs.Add(1)
				}
			}
		}()
	}
	defer func() { close(stop); helpers.Wait() }()

	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	var tokens <-chan time.Time
	if rate > 0 {
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		tokens = tick.C
	}
	start := time.Now()
	var creators sync.WaitGroup
	for range conns {
		creators.Add(1)
		go func() {
			defer creators.Done()
			for ctx.Err() == nil {
				if tokens != nil {
					select {
					case <-tokens:
					case <-ctx.Done():
						return
					}
				}
				if err := c.post(wsPath+"/Tasks", url.Values{"Attributes": {attrs}, "WorkflowSid": {workflow}}); err != nil {
					if ctx.Err() == nil {
						errs.Add(1)
					}
					continue
				}
				created.Add(1)
			}
		}()
	}
	creators.Wait()
	for deadline := time.Now().Add(drain); accepted.Load() < created.Load() && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	end := time.Now()
	if n := lastAccept.Load(); n > 0 {
		end = time.Unix(0, n)
	}
	res = result{Created: created.Load(), Accepted: accepted.Load(), TimedOut: timedOut.Load(), Errors: errs.Load(),
		Seconds: end.Sub(start).Seconds()}
	res.AcceptedPerSec = float64(res.Accepted) / res.Seconds
	return res, nil
}

// client calls the TaskRouter REST API with Basic auth.
type client struct {
	base, user, pass string
	http             *http.Client
}

func (c *client) do(method, path string, form url.Values) ([]byte, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.SetBasicAuth(c.user, c.pass)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return b, nil
}

func (c *client) post(path string, form url.Values) error {
	_, err := c.do(http.MethodPost, path, form)
	return err
}

// first returns the SID of the first item of a list (named name, when not
// "").
func (c *client) first(path, key, name string) (string, error) {
	if name != "" {
		path += "?FriendlyName=" + url.QueryEscape(name)
	}
	b, err := c.do(http.MethodGet, path, nil)
	if err != nil {
		return "", err
	}
	var page map[string]json.RawMessage
	var items []struct {
		Sid string `json:"sid"`
	}
	if err := json.Unmarshal(b, &page); err != nil {
		return "", fmt.Errorf("GET %s: %w", path, err)
	}
	if err := json.Unmarshal(page[key], &items); err != nil || len(items) == 0 {
		return "", errors.New("GET " + path + ": none found")
	}
	return items[0].Sid, nil
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "taskgen: "+format+"\n", args...)
	os.Exit(2)
}
