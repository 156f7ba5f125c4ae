// Command loadgen drives assignd (or any callback endpoint) with correctly
// signed assignment callbacks and reports throughput and latency.
//
// Bodies are signed ahead of time so that the generator spends its CPU on
// HTTP, not HMAC; each request carries a distinct ReservationSid (cycling
// through -bodies), so async runs measure durable decisions, not dedupe.
// The run is bounded by -d and stops by itself. With -forge the bodies are
// signed with a token that is not -token: a flood of forged callbacks, each
// of which should be refused with 403.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/assignd/assignd/handlers"
	"github.com/assignd/assignd/policy"
	"github.com/assignd/assignd/taskrouter"
)

type result struct {
	Name        string  `json:"name"`
	Connections int     `json:"connections"`
	Seconds     float64 `json:"seconds"`
	Requests    int     `json:"requests"`
	RPS         float64 `json:"rps"`
	P50ms       float64 `json:"p50_ms"`
	P99ms       float64 `json:"p99_ms"`
	P999ms      float64 `json:"p999_ms"`
	Non200      int64   `json:"non_200"` // answers other than the expected status (403 with -forge)
	Errors      int64   `json:"errors"`
	WrongBody   int64   `json:"wrong_body"`
}

func main() {
	target := flag.String("url", "http://127.0.0.1:8080/assignment", "callback URL (also the signed URL)")
	token := flag.String("token", "", "auth token to sign with")
	conns := flag.Int("c", 32, "connections")
	dur := flag.Duration("d", 10*time.Second, "duration")
	nBodies := flag.Int("bodies", 50000, "distinct pre-signed callbacks")
	task := flag.String("task", `{"selected_language":"es"}`, "task attributes")
	worker := flag.String("worker", `{"languages":["es","en"],"skills":["billing"],"contact_uri":"client:alice"}`, "worker attributes")
	want := flag.String("want", "", "expected body (default: any 200)")
	name := flag.String("name", "run", "label for the result")
	seed := flag.Int("seed", 1, "ReservationSid prefix, so runs against one store do not collide")
	rate := flag.Int("rate", 0, "requests per second in all (0: as fast as the connections go)")
	forge := flag.Bool("forge", false, "sign with a wrong token: every request should be refused with 403")
	flag.Parse()

	signWith, status := *token, http.StatusOK
	if *forge {
		signWith, status = "forged-"+*token, http.StatusForbidden
	}
	bodies, sigs := sign(*target, signWith, *task, *worker, *nBodies, *seed)
	res := run(*target, bodies, sigs, *conns, *dur, *want, *rate, status)
	res.Name = *name
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
}

func sign(target, token, task, worker string, n, seed int) ([]string, []string) {
	var ta, wa map[string]any
	if err := json.Unmarshal([]byte(task), &ta); err != nil {
		fail("-task: %v", err)
	}
	if err := json.Unmarshal([]byte(worker), &wa); err != nil {
		fail("-worker: %v", err)
	}
	bodies, sigs := make([]string, n), make([]string, n)
	for i := range n {
		r := policy.Reservation{
			AccountSid: fmt.Sprintf("AC%032d", 1), WorkspaceSid: fmt.Sprintf("WS%032d", 1), WorkflowSid: fmt.Sprintf("WW%032d", 1),
			TaskQueueSid: fmt.Sprintf("WQ%032d", 1), WorkerSid: fmt.Sprintf("WK%032d", i%100),
			TaskSid: fmt.Sprintf("WT%08d%024d", seed, i), ReservationSid: fmt.Sprintf("WR%08d%024d", seed, i),
			TaskAge: 12, TaskPriority: 1, TaskAttributes: ta, WorkerAttributes: wa, Timestamp: "1764370000",
		}
		form, err := handlers.EncodeForm(&r)
		if err != nil {
			fail("encode: %v", err)
		}
		bodies[i], sigs[i] = form.Encode(), taskrouter.Sign(token, target, form)
	}
	return bodies, sigs
}

func run(target string, bodies, sigs []string, conns int, dur time.Duration, want string, rate, status int) result {
	transport := &http.Transport{
		MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true,
		DialContext: (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
	}
	client := &http.Client{Transport: transport, Timeout: 10 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()

	// With -rate, a ticker hands out one token per request.
	var tokens chan struct{}
	if rate > 0 {
		tokens = make(chan struct{}, conns)
		go func() {
			tick := time.NewTicker(time.Second / time.Duration(rate))
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
					select {
					case tokens <- struct{}{}:
					default: // the connections are behind: do not bank tokens
					}
				}
			}
		}()
	}

	var next atomic.Int64
	var non200, errs, wrong atomic.Int64
	lat := make([][]time.Duration, conns)
	var wg sync.WaitGroup
	start := time.Now()
	for c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]time.Duration, 0, 1<<16)
			for ctx.Err() == nil {
				if tokens != nil {
					select {
					case <-tokens:
					case <-ctx.Done():
						continue
					}
				}
				i := int(next.Add(1)-1) % len(bodies)
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(bodies[i]))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("X-Twilio-Signature", sigs[i])
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						errs.Add(1)
					}
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				mine = append(mine, time.Since(t0))
				if resp.StatusCode != status {
					non200.Add(1)
				} else if status == http.StatusOK && want != "" && string(body) != want {
					wrong.Add(1)
				}
			}
			lat[c] = mine
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	all := slices.Concat(lat...)
	slices.Sort(all)
	pct := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		return float64(all[min(len(all)-1, int(p*float64(len(all))))].Microseconds()) / 1000
	}
	return result{
		Connections: conns, Seconds: elapsed.Seconds(), Requests: len(all), RPS: float64(len(all)) / elapsed.Seconds(),
		P50ms: pct(0.50), P99ms: pct(0.99), P999ms: pct(0.999),
		Non200: non200.Load(), Errors: errs.Load(), WrongBody: wrong.Load(),
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "loadgen: "+format+"\n", args...)
	os.Exit(2)
}
