package inspect_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/assignd/assignd/inspect"
	"github.com/assignd/assignd/internal/servicetest"
	"github.com/assignd/assignd/internal/testwait"
	"github.com/assignd/assignd/policy/rules"
)

// pathological asks for an unbounded cost limit and loops over the task's
// items three deep: about 10^8 iterations for replayItems items, minutes of
// CPU when nothing stops it.
const pathological = `
cost_limit: 1000000000000000000
rules:
  - name: expensive
    when: task.items.all(a, task.items.all(b, task.items.all(c, a + b + c >= 0)))
    then: {instruction: accept}
default: {instruction: later}
on_error: {instruction: reject, activity_sid: WA00000000000000000000000000000007}
`

const replayItems = 500

// recordItems records a callback whose task carries replayItems items and
// returns its decision ID.
func recordItems(t *testing.T, h *harness) int64 {
	t.Helper()
	items := make([]any, replayItems)
	for i := range items {
		items[i] = i
	}
	r := servicetest.Reservation(1, map[string]any{"items": items}, nil)
	if s, b := h.Post(t, r, servicetest.Token); s != 200 {
		t.Fatalf("callback: %d %s", s, b)
	}
	h.Flush(t)
	return h.One(t, r.ReservationSid).ID
}

// A replay cannot buy CPU: an uploaded cost_limit is lowered to the policy
// in force's, and where that is high the decision deadline interrupts the
// evaluation. Both answer with what happened, naming the rule.
func TestReplayIsBounded(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "sqlite", nil)
	id := recordItems(t, h)
	replayURL := h.Admin + "/api/decisions/" + itoa(id) + "/replay"

	// The policy in force has the default limit: the upload gets it too.
	s, body := post(t, replayURL, "application/yaml", strings.NewReader(pathological))
	rep := decode[inspect.Replay](t, body)
	if s != 200 || rep.Rule != "on_error" || !strings.Contains(rep.Error, `rule "expensive": when: operation cancelled: actual cost limit exceeded`) ||
		!strings.Contains(rep.Note, "cost_limit 1000000000000000000 is above the server's 100000: lowered to it") {
		t.Fatalf("upload with cost_limit 1e18: %d %s", s, body)
	}

	// An operator's policy in force may allow 1e18 itself: the deadline
	// stops the rule, with a message saying so on the page too.
	p, err := rules.Parse("in-force.yaml", []byte(pathological))
	if err != nil {
		t.Fatal(err)
	}
	h.Current.Store(p)
	s, body = postForm(t, replayURL, nil, nil)
	rep = decode[inspect.Replay](t, body)
	if s != 200 || rep.Rule != "on_error" || !strings.Contains(rep.Error, `rule "expensive" did not finish within the 1.5s decision deadline`) {
		t.Fatalf("replay through a policy in force with cost_limit 1e18: %d %s", s, body)
	}
}

// A rules file over MaxReplayPolicy is refused with 413, however it is sent.
func TestReplayUploadTooLarge(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "sqlite", nil)
	id := recordItems(t, h)
	huge := strings.Repeat("# padding\n", inspect.MaxReplayPolicy/10+1)
	api, page := h.Admin+"/api/decisions/"+itoa(id)+"/replay", h.Admin+"/decisions/"+itoa(id)+"/replay"
	if s, body := post(t, api, "application/yaml", strings.NewReader(huge)); s != http.StatusRequestEntityTooLarge || !strings.Contains(body, `larger than `+strconv.Itoa(inspect.MaxReplayPolicy>>10)+` KiB`) {
		t.Errorf("body of %d bytes: %d %s", len(huge), s, body)
	}
	ct, mp := multipartPolicy(t, "huge.yaml", huge)
	if s, body := post(t, page, ct, mp); s != http.StatusRequestEntityTooLarge || !strings.Contains(body, `larger than `+strconv.Itoa(inspect.MaxReplayPolicy>>10)+` KiB`) {
		t.Errorf("upload of %d bytes: %d %.300s", len(huge), s, body)
	}
	if s, body := postForm(t, api, url.Values{"policy": {huge}}, nil); s != http.StatusRequestEntityTooLarge || !strings.Contains(body, `larger than `+strconv.Itoa(inspect.MaxReplayPolicy>>10)+` KiB`) {
		t.Errorf("pasted rules of %d bytes: %d %s", len(huge), s, body)
	}
}

// holdReplay starts a replay whose body never finishes arriving, so its
// slot stays taken until the returned function closes the connection (at
// the latest when the test ends: the server's Close waits for it). Should
// the server answer it before that, the test fails with what it said.
func holdReplay(t *testing.T, target string) func() {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/yaml\r\nContent-Length: 1000\r\n\r\nrules: []\n", u.Path, u.Host)
	released := make(chan struct{})
	answered := make(chan string, 1)
	go func() {
		b := make([]byte, 4096)
		n, _ := c.Read(b)
		answered <- string(b[:n])
	}()
	release := sync.OnceFunc(func() {
		close(released)
		_ = c.Close()
	})
	t.Cleanup(release)
	go func() {
		select {
		case a := <-answered:
			select {
			case <-released:
			default:
				t.Errorf("a held replay was answered before the test let it go: %q", a)
			}
		case <-released:
		}
	}()
	return release
}

// Replays beyond MaxReplays are refused with 503 and Retry-After while the
// others run, and served again once a slot is free.
func TestConcurrentReplaysAreLimited(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "sqlite", nil)
	id := recordItems(t, h)
	replayURL := h.Admin + "/api/decisions/" + itoa(id) + "/replay"
	var release []func()
	for range inspect.MaxReplays {
		release = append(release, holdReplay(t, replayURL))
	}
	// The held requests take their slots once the server reads their
	// headers: wait for that rather than racing it.
	if !testwait.Until(30*time.Second, func() bool { return len(h.Replays) == inspect.MaxReplays }) {
		t.Fatalf("the %d held replays took %d slots", inspect.MaxReplays, len(h.Replays))
	}
	resp, err := http.Post(replayURL, "application/yaml", strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := bufio.NewReader(resp.Body).ReadString(0)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "2" ||
		!strings.Contains(body, "2 replays are running, the most at once") {
		t.Fatalf("with %d replays running: %d, Retry-After %q, %s; want 503", inspect.MaxReplays, resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	var status int
	for _, f := range release {
		f()
	}
	if !testwait.Until(30*time.Second, func() bool {
		status, body = postForm(t, replayURL, nil, nil)
		if status != 200 && status != http.StatusServiceUnavailable {
			t.Fatalf("after the held replays ended: %d %s", status, body)
		}
		return status == 200
	}) {
		t.Fatalf("after the held replays ended: %d %s", status, body)
	}
}
