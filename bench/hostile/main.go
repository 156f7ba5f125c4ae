// Command hostile measures what unsigned clients cost a running assignd
// while genuine signed callbacks keep arriving, reading the server's RSS,
// CPU time and open descriptors from /proc/PID.
//
//	-mode flood: -c connections send the -body kind as fast as they can,
//	  each with a well-formed forged signature, for -d;
//	-mode idle: -idle connections are opened and held, sending nothing.
//
// Either way genuine callbacks arrive at -rate per second on new
// connections (as TaskRouter's would), and their statuses and latencies
// are reported with the server's peak RSS and descriptors and its CPU per
// hostile request. Loopback only; bounded by -d.
package main

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/assignd/assignd/handlers"
	"github.com/assignd/assignd/policy"
	"github.com/assignd/assignd/taskrouter"
)

type report struct {
	Mode          string         `json:"mode"`
	Body          string         `json:"body,omitempty"`
	BodyBytes     int            `json:"body_bytes,omitempty"`
	Seconds       float64        `json:"seconds"`
	Hostile       int64          `json:"hostile_requests"`
	HostileStatus map[int]int64  `json:"hostile_status,omitempty"`
	HostileErrors int64          `json:"hostile_errors"`
	CPUPerHostile float64        `json:"server_cpu_ms_per_hostile"`
	IdleHeld      int            `json:"idle_opened,omitempty"`
	Genuine       int            `json:"genuine"`
	GenuineStatus map[string]int `json:"genuine_status"`
	GenuineP50ms  float64        `json:"genuine_p50_ms"`
	GenuineP99ms  float64        `json:"genuine_p99_ms"`
	GenuineMaxms  float64        `json:"genuine_max_ms"`
	PeakRSSMB     float64        `json:"server_peak_rss_mb"`
	PeakFDs       int            `json:"server_peak_fds"`
	FDLimit       int            `json:"server_fd_limit"`
}

func main() {
	target := flag.String("url", "http://127.0.0.1:8080/assignment", "callback URL (also the signed URL)")
	token := flag.String("token", "", "auth token genuine callbacks are signed with")
	pid := flag.Int("pid", 0, "the server's process id, for /proc")
	mode := flag.String("mode", "flood", "flood or idle")
	body := flag.String("body", "bounded", "flood body: bounded (the most the server reads past its shape check: 128 parameters filling 64 KB) or wide (10,000 parameters)")
	conns := flag.Int("c", 32, "flood connections")
	idle := flag.Int("idle", 10000, "idle connections to hold")
	dur := flag.Duration("d", 60*time.Second, "duration")
	rate := flag.Int("rate", 20, "genuine callbacks per second")
	flag.Parse()
	if *pid == 0 {
		fail("-pid is required")
	}
	rep := report{Mode: *mode, HostileStatus: map[int]int64{}, GenuineStatus: map[string]int{}}
	stop := make(chan struct{})
	peak := sample(*pid, stop)
	cpu0 := cpuTicks(*pid)
	start := time.Now()

	var hostile func(done <-chan struct{})
	switch *mode {
	case "flood":
		b := hostileBody(*body)
		rep.Body, rep.BodyBytes = *body, len(b)
		var mu sync.Mutex
		hostile = func(done <-chan struct{}) {
			flood(*target, b, *conns, done, func(status int, err error) {
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					rep.HostileErrors++
					return
				}
				rep.Hostile++
				rep.HostileStatus[status]++
			})
		}
	case "idle":
		held := holdIdle(*target, *idle)
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		rep.IdleHeld = len(held)
		hostile = func(done <-chan struct{}) { <-done }
	default:
		fail("-mode: want flood or idle, got %q", *mode)
	}

	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); hostile(done) }()
	lat := genuine(*target, *token, *rate, *dur, rep.GenuineStatus)
	close(done)
	wg.Wait()
	rep.Seconds = time.Since(start).Seconds()
	if rep.Hostile > 0 {
		rep.CPUPerHostile = float64(cpuTicks(*pid)-cpu0) * 1000 / 100 / float64(rep.Hostile) // USER_HZ is 100 on Linux
	}
	close(stop)
	p := <-peak
	rep.PeakRSSMB, rep.PeakFDs, rep.FDLimit = float64(p.rssKB)/1024, p.fds, fdLimit(*pid)
	rep.Genuine = len(lat)
	slices.Sort(lat)
	pct := func(q float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[min(len(lat)-1, int(q*float64(len(lat))))].Microseconds()) / 1000
	}
	rep.GenuineP50ms, rep.GenuineP99ms, rep.GenuineMaxms = pct(0.5), pct(0.99), pct(1)
	out, _ := json.Marshal(rep)
	fmt.Println(string(out))
}

// hostileBody is a forged callback body of the given kind.
func hostileBody(kind string) string {
	var b strings.Builder
	switch kind {
	case "wide": // what the old server spent 50-180 ms on: quadratic in the parameter count
		for i := range 10000 {
			if i > 0 {
				b.WriteByte('&')
			}
			b.WriteString(strconv.FormatInt(int64(i), 36) + "=x")
		}
	case "bounded": // the most the shape check lets through to the signature check
		n := handlers.MaxFormParams
		value := strings.Repeat("v", (handlers.DefaultBodyLimit-n*(handlers.MaxParamName+2))/n)
		for i := range n {
			if i > 0 {
				b.WriteByte('&')
			}
			name := fmt.Sprintf("%0*d", handlers.MaxParamName, i)
			b.WriteString(name + "=" + value)
		}
	default:
		fail("-body: want bounded or wide, got %q", kind)
	}
	return b.String()
}

// flood sends body from conns keep-alive connections until done.
func flood(target, body string, conns int, done <-chan struct{}, count func(int, error)) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}, Timeout: 10 * time.Second}
	raw := make([]byte, 20)
	rand.Read(raw)
	sig := base64.StdEncoding.EncodeToString(raw) // well-formed, wrong
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("X-Twilio-Signature", sig)
				resp, err := client.Do(req)
				if err != nil {
					count(0, err)
					time.Sleep(10 * time.Millisecond)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				count(resp.StatusCode, nil)
			}
		}()
	}
	wg.Wait()
}

// holdIdle opens n connections that never send a byte.
func holdIdle(target string, n int) []net.Conn {
	u, err := url.Parse(target)
	if err != nil {
		fail("-url: %v", err)
	}
	held := make([]net.Conn, 0, n)
	for range n {
		c, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
		if err != nil {
			fmt.Fprintf(os.Stderr, "hostile: opened %d idle connections, then: %v\n", len(held), err)
			break
		}
		held = append(held, c)
	}
	return held
}

// genuine sends signed callbacks at rate per second for dur, each on a new
// connection, and returns their latencies; statuses are counted in status.
func genuine(target, token string, rate int, dur time.Duration, status map[string]int) []time.Duration {
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	var seq atomic.Int64
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	end := time.After(dur)
	for {
		select {
		case <-end:
			wg.Wait()
			return lat
		case <-tick.C:
		}
		i := seq.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := policy.Reservation{
				AccountSid: fmt.Sprintf("AC%032d", 1), WorkspaceSid: fmt.Sprintf("WS%032d", 1), WorkflowSid: fmt.Sprintf("WW%032d", 1),
				TaskQueueSid: fmt.Sprintf("WQ%032d", 1), WorkerSid: fmt.Sprintf("WK%032d", 1),
				TaskSid: fmt.Sprintf("WT%032d", i), ReservationSid: fmt.Sprintf("WR%032d", i),
				TaskAge: 1, TaskPriority: 1, TaskAttributes: map[string]any{"selected_language": "es"},
				WorkerAttributes: map[string]any{"languages": []any{"es"}}, Timestamp: "1764370000",
			}
			form, _ := handlers.EncodeForm(&r)
			req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("X-Twilio-Signature", taskrouter.Sign(token, target, form))
			t0 := time.Now()
			resp, err := client.Do(req)
			d := time.Since(t0)
			key := "error"
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				key = strconv.Itoa(resp.StatusCode)
			}
			mu.Lock()
			defer mu.Unlock()
			status[key]++
			if err == nil {
				lat = append(lat, d)
			} else {
				lat = append(lat, 10*time.Second) // unanswered counts as the worst
			}
		}()
	}
}

type peaks struct{ rssKB, fds int }

// sample reads the server's RSS and open descriptors every 100 ms until
// stop, then sends the peaks.
func sample(pid int, stop <-chan struct{}) <-chan peaks {
	out := make(chan peaks, 1)
	go func() {
		var p peaks
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			p.rssKB = max(p.rssKB, statusKB(pid, "VmRSS:"))
			if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
				p.fds = max(p.fds, len(ents))
			}
			select {
			case <-stop:
				p.rssKB = max(p.rssKB, statusKB(pid, "VmHWM:")) // the kernel's own peak
				out <- p
				return
			case <-t.C:
			}
		}
	}()
	return out
}

func statusKB(pid int, field string) int {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), field); ok {
			n, _ := strconv.Atoi(strings.Fields(rest)[0])
			return n
		}
	}
	return 0
}

// cpuTicks is the process's user+system CPU time in clock ticks.
func cpuTicks(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		fail("read /proc/%d/stat: %v", pid, err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	u, _ := strconv.ParseInt(f[11], 10, 64) // utime is field 14, state field 3
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return u + s
}

// fdLimit is the process's soft descriptor limit.
func fdLimit(pid int) int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "Max open files") {
			n, _ := strconv.Atoi(strings.Fields(line)[3])
			return n
		}
	}
	return 0
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "hostile: "+format+"\n", args...)
	os.Exit(2)
}
