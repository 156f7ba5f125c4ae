package handlers_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/assignd/assignd/handlers"
	"github.com/assignd/assignd/internal/testwait"
	"github.com/assignd/assignd/policy"
	"github.com/assignd/assignd/taskrouter"
)

func TestCallbackThroughExamplePolicy(t *testing.T) {
	t.Parallel()
	srv := startServer(t, handlers.Options{})
	tests := []struct {
		name         string
		task, worker map[string]any
		want         string
	}{
		{"seed: Spanish task, Spanish speaker", map[string]any{"selected_language": "es"},
			map[string]any{"languages": []any{"es", "en"}},
			`{"instruction":"accept"}`},
		{"Spanish task, worker without Spanish", map[string]any{"selected_language": "es"},
			map[string]any{"languages": []any{"en"}},
			`{"instruction":"reject","activity_sid":"WA00000000000000000000000000000001"}`},
		{"missing required skill", map[string]any{"required_skill": "billing"},
			map[string]any{"skills": []any{"sales"}},
			`{"instruction":"reject","activity_sid":"WA00000000000000000000000000000001"}`},
		{"voice task dequeued to the worker", map[string]any{"type": "voice"},
			map[string]any{"contact_uri": "client:alice"},
			`{"instruction":"dequeue","to":"client:alice","from":"+15005550006","post_work_activity_sid":"WA00000000000000000000000000000002","timeout":30}`},
		{"callback task calls the worker", map[string]any{"type": "callback"},
			map[string]any{"contact_uri": "+15551230000"},
			`{"instruction":"call","from":"+15005550006","url":"https://example.com/twiml/callback","to":"+15551230000","accept":true,"timeout":20}`},
		{"transfer redirects the live call", map[string]any{"type": "transfer", "call_sid": "CA0123456789abcdef0123456789abcdef"},
			map[string]any{},
			`{"instruction":"redirect","call_sid":"CA0123456789abcdef0123456789abcdef","url":"https://example.com/twiml/transfer","accept":true}`},
		{"VIP voice call goes to a conference", map[string]any{"type": "voice", "vip": true},
			map[string]any{"contact_uri": "client:bob"},
			`{"instruction":"conference","to":"client:bob","from":"+15005550006","post_work_activity_sid":"WA00000000000000000000000000000002","beep":"false","end_conference_on_exit":true}`},
		{"nothing matches: default", map[string]any{"type": "chat"}, map[string]any{},
			`{"instruction":"accept"}`},
		{"expression yields an invalid SID: on_error", map[string]any{"type": "transfer", "call_sid": "../../etc"},
			map[string]any{}, `{"instruction":"accept"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, hdr := postSigned(t, srv.URL, reservation(tt.task, tt.worker))
			if status != http.StatusOK || body != tt.want {
				t.Fatalf("got %d %s\nwant 200 %s", status, body, tt.want)
			}
			if ct := hdr.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
		})
	}
	if !strings.Contains(srv.Log.String(), `"result":"fallback"`) {
		t.Error("the invalid expression result was not logged as a fallback")
	}
}

func TestCallbackRefusesBadSignatureBeforePolicy(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	p := policy.Func(func(ctx context.Context, r *policy.Reservation) (policy.Decision, error) {
		calls.Add(1)
		return policy.Decision{Instruction: policy.Accept{}}, nil
	})
	srv := startServer(t, handlers.Options{Decider: guard(t, p, time.Second)})
	form, _ := handlers.EncodeForm(ptr(reservation(nil, nil)))
	u := srv.URL + "/assignment"

	status, body, _ := post(t, u, form.Encode(), "")
	if status != http.StatusForbidden || !strings.Contains(body, "signature") {
		t.Errorf("unsigned: got %d %q, want 403", status, body)
	}
	status, _, _ = post(t, u, form.Encode(), taskrouter.Sign("wrong-token", u, form))
	if status != http.StatusForbidden {
		t.Errorf("wrong token: got %d, want 403", status)
	}
	if calls.Load() != 0 {
		t.Errorf("policy called %d times for unsigned requests", calls.Load())
	}
	logs := srv.Log.String()
	for _, want := range []string{`"checked_url":"` + u + `"`, "no X-Twilio-Signature header", "signature does not match", "PUBLIC_URL"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}

func TestCallbackBadInput(t *testing.T) {
	t.Parallel()
	srv := startServer(t, handlers.Options{})
	u := srv.URL + "/assignment"
	signedPost := func(form url.Values) (int, string) {
		s, b, _ := post(t, u, form.Encode(), taskrouter.Sign(testToken, u, form))
		return s, b
	}
	good := func() url.Values {
		f, _ := handlers.EncodeForm(ptr(reservation(map[string]any{"selected_language": "es"}, map[string]any{"languages": []any{"es"}})))
		return f
	}

	t.Run("malformed SID is 400", func(t *testing.T) {
		f := good()
		f.Set("TaskSid", "WT../../Workers")
		if s, b := signedPost(f); s != http.StatusBadRequest || !strings.Contains(b, "TaskSid") {
			t.Errorf("got %d %q", s, b)
		}
	})
	t.Run("missing SID is 400", func(t *testing.T) {
		f := good()
		f.Del("ReservationSid")
		if s, b := signedPost(f); s != http.StatusBadRequest || !strings.Contains(b, "ReservationSid") {
			t.Errorf("got %d %q", s, b)
		}
	})
	t.Run("non-integer TaskAge is 400", func(t *testing.T) {
		f := good()
		f.Set("TaskAge", "soon")
		if s, _ := signedPost(f); s != http.StatusBadRequest {
			t.Errorf("got %d", s)
		}
	})
	t.Run("duplicate parameter is 400", func(t *testing.T) {
		f := good()
		f.Add("TaskSid", "WT1123456789abcdef0123456789abcdef")
		if s, b := signedPost(f); s != http.StatusBadRequest || !strings.Contains(b, `parameter "TaskSid" given twice`) {
			t.Errorf("got %d %q", s, b)
		}
	})
	t.Run("attributes that are not an object get the fallback", func(t *testing.T) {
		for _, attrs := range []string{`["es"]`, `{"unterminated`, `null`, `"es"`} {
			f := good()
			f.Set("TaskAttributes", attrs)
			if s, b := signedPost(f); s != http.StatusOK || b != `{"instruction":"accept"}` {
				t.Errorf("%s: got %d %q, want the on_error accept", attrs, s, b)
			}
		}
		if !strings.Contains(srv.Log.String(), "malformed attributes") {
			t.Error("no log line for malformed attributes")
		}
	})
	t.Run("body over the limit is 413", func(t *testing.T) {
		f := good()
		f.Set("TaskAttributes", `{"pad":"`+strings.Repeat("x", handlers.DefaultBodyLimit)+`"}`)
		if s, _ := signedPost(f); s != http.StatusRequestEntityTooLarge {
			t.Errorf("got %d", s)
		}
	})
	t.Run("unknown parameters are signed and kept", func(t *testing.T) {
		f := good()
		f.Set("WorkerName", "alice")
		if s, b := signedPost(f); s != http.StatusOK || b != `{"instruction":"accept"}` {
			t.Errorf("got %d %q", s, b)
		}
	})
	t.Run("GET is not the callback", func(t *testing.T) {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("got %d", resp.StatusCode)
		}
	})
}

func TestCallbackSlowOrFailingPolicyGetsFallback(t *testing.T) {
	t.Parallel()
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	tests := []struct {
		name string
		p    policy.Func
	}{
		{"blocks past the deadline", func(ctx context.Context, r *policy.Reservation) (policy.Decision, error) {
			<-block // ignores ctx on purpose: the guard must not wait for it
			return policy.Decision{Instruction: policy.Reject{ActivitySid: "WA00000000000000000000000000000009"}}, nil
		}},
		{"returns an error", func(ctx context.Context, r *policy.Reservation) (policy.Decision, error) {
			return policy.Decision{}, errors.New("lookup failed")
		}},
		{"panics", func(ctx context.Context, r *policy.Reservation) (policy.Decision, error) {
			panic("boom")
		}},
		{"returns an invalid instruction", func(ctx context.Context, r *policy.Reservation) (policy.Decision, error) {
			return policy.Decision{Instruction: policy.Reject{}}, nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t, handlers.Options{Decider: guard(t, tt.p, 50*time.Millisecond)})
			status, body, _ := postSigned(t, srv.URL, reservation(nil, nil))
			if status != http.StatusOK || body != `{"instruction":"accept"}` {
				t.Fatalf("got %d %q, want the fallback accept", status, body)
			}
			if !strings.Contains(srv.Log.String(), "policy failed") {
				t.Errorf("no log line for the failure:\n%s", srv.Log.String())
			}
		})
	}
}

func TestCallbackLaterAnswersEmptyObject(t *testing.T) {
	t.Parallel()
	p := policy.Func(func(ctx context.Context, r *policy.Reservation) (policy.Decision, error) {
		return policy.Decision{Rule: "mine"}, nil // later: someone else updates the reservation
	})
	srv := startServer(t, handlers.Options{Decider: guard(t, p, time.Second)})
	if status, body, _ := postSigned(t, srv.URL, reservation(nil, nil)); status != http.StatusOK || body != "{}" {
		t.Fatalf("got %d %q, want 200 {}", status, body)
	}
}

func TestCallbackAsyncWithoutSchedulerIsNeverSilent(t *testing.T) {
	t.Parallel()
	p := policy.Func(func(ctx context.Context, r *policy.Reservation) (policy.Decision, error) {
		return policy.Decision{Instruction: policy.Accept{}, Async: true, Rule: "async"}, nil
	})
	fallback := policy.Decision{Instruction: policy.Reject{ActivitySid: "WA00000000000000000000000000000003"}, Rule: "fb"}
	g, err := policy.NewGuard(policy.WithFallback(p, fallback), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, handlers.Options{Decider: g})
	status, body, _ := postSigned(t, srv.URL, reservation(nil, nil))
	if status != http.StatusOK || !strings.Contains(body, `"reject"`) {
		t.Fatalf("got %d %q, want the synchronous fallback", status, body)
	}
}

// The public port serves only what Twilio and the platform's probes need:
// /metrics and readiness details are on the ops handler alone.
func TestPublicAndOpsHandlers(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	srv := startServer(t, handlers.Options{Metrics: handlers.NewMetrics(reg), Gatherer: reg,
		Ready: func(context.Context) error { return errors.New("store down: dial tcp db.internal:5432") }})
	get := func(u string) (int, string) {
		t.Helper()
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, c := range []struct {
		url, want string
		status    int
	}{
		{srv.URL + "/healthz", "ok\n", 200},
		{srv.URL + "/readyz", "not ready\n", 503},
		{srv.URL + "/metrics", "", 404},
		{srv.URL + "/debug/pprof/", "", 404},
		{srv.OpsURL + "/readyz", "not ready: store down: dial tcp db.internal:5432\n", 503},
		{srv.OpsURL + "/metrics", "assignd_callbacks_total", 200},
	} {
		status, body := get(c.url)
		if status != c.status || !strings.Contains(body, c.want) {
			t.Errorf("GET %s: got %d %q, want %d with %q", c.url, status, body, c.status, c.want)
		}
		if strings.HasPrefix(c.url, srv.URL) && strings.Contains(body, "db.internal") {
			t.Errorf("GET %s reveals the readiness error on the public port: %q", c.url, body)
		}
	}

	ready := startServer(t, handlers.Options{Ready: func(context.Context) error { return nil }})
	for _, u := range []string{ready.URL + "/readyz", ready.OpsURL + "/readyz"} {
		if status, body := get(u); status != 200 || body != "ready\n" {
			t.Errorf("GET %s: got %d %q, want 200 ready", u, status, body)
		}
	}
}

// The public /readyz asks the store at most once a second, however often it
// is probed, and recovers once the store does.
func TestPublicReadyzIsCached(t *testing.T) {
	t.Parallel()
	var checks atomic.Int64
	var down atomic.Bool
	down.Store(true)
	srv := startServer(t, handlers.Options{Ready: func(context.Context) error {
		checks.Add(1)
		if down.Load() {
			return errors.New("store down")
		}
		return nil
	}})
	status := func() int {
		resp, err := http.Get(srv.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	start := time.Now()
	for range 50 {
		if s := status(); s != 503 {
			t.Fatalf("got %d while the store is down", s)
		}
	}
	if n, most := checks.Load(), int64(time.Since(start)/time.Second)+1; n > most {
		t.Fatalf("%d store checks for 50 probes in %s, want at most %d", n, time.Since(start), most)
	}
	down.Store(false)
	testwait.For(t, "/readyz to answer 200 after the store came back", 30*time.Second, func() bool { return status() == 200 })
}

func ptr[T any](v T) *T { return &v }

// A body announced above the limit is refused with 413 before any of it is
// read, and the connection is closed rather than drained: the request asks
// for 100 Continue, which a handler's first read of the body would send.
func TestOversizedBodyRefusedUnread(t *testing.T) {
	t.Parallel()
	srv := startServer(t, handlers.Options{})
	for _, path := range []string{"/assignment", "/events"} {
		c, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(30 * time.Second)) // a failure, not a hang
		fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"+
			"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n", path, handlers.DefaultBodyLimit+1)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !resp.Close {
			t.Errorf("%s: got %d (close %v), want 413 and the connection closed", path, resp.StatusCode, resp.Close)
		}
	}
}

// A body that breaks off before its Content-Length, or whose chunk framing
// is broken, is the sender's fault but not a size: 400, not 413, on both
// paths, and the connection is closed.
func TestUnreadableBodyIsABadRequest(t *testing.T) {
	t.Parallel()
	srv := startServer(t, handlers.Options{})
	for _, path := range []string{"/assignment", "/events"} {
		for name, req := range map[string]string{
			"cut short": "Content-Length: 1000\r\n\r\n" + strings.Repeat("a", 100),
			"bad chunk": "Transfer-Encoding: chunked\r\n\r\nzz\r\n",
		} {
			c, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			c.SetReadDeadline(time.Now().Add(30 * time.Second)) // a failure, not a hang
			fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n%s", path, req)
			c.(*net.TCPConn).CloseWrite()
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("%s %s: %v", path, name, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			c.Close()
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "unreadable") {
				t.Errorf("%s, %s: got %d %q, want 400 saying the body is unreadable", path, name, resp.StatusCode, body)
			}
		}
	}
}
