package handlers_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/assignd/assignd/handlers"
	"github.com/assignd/assignd/policy"
	"github.com/assignd/assignd/policy/examples"
	"github.com/assignd/assignd/policy/rules"
	"github.com/assignd/assignd/taskrouter"
)

const testToken = "testtoken0123456789"

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type testServer struct {
	URL    string // the public handler
	OpsURL string // NewOps, as the admin listener serves it
	Log    *syncBuffer
}

// examplePolicy is the policy assignd ships and serves by default.
func examplePolicy(t testing.TB) *rules.Policy {
	t.Helper()
	p, err := rules.Parse("example", examples.Assignment())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func guard(t testing.TB, p policy.Policy, deadline time.Duration) *policy.Guard {
	t.Helper()
	g, err := policy.NewGuard(policy.WithFallback(p, policy.Decision{Instruction: policy.Accept{}, Rule: "go-fallback"}), deadline)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// startServer serves the handlers over real loopback HTTP.
func startServer(t testing.TB, o handlers.Options) *testServer {
	t.Helper()
	logs := &syncBuffer{}
	o.Logger = zerolog.New(logs)
	if o.Verifier == nil {
		o.Verifier = handlers.NewVerifier([]string{testToken}, nil, handlers.ProxyNone)
	}
	if o.Decider == nil {
		o.Decider = guard(t, examplePolicy(t), time.Second)
	}
	h, err := handlers.New(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.Close(); h.Close() })
	ops := httptest.NewServer(handlers.NewOps(o))
	t.Cleanup(ops.Close)
	return &testServer{URL: srv.URL, OpsURL: ops.URL, Log: logs}
}

func reservation(task, worker map[string]any) policy.Reservation {
	return policy.Reservation{
		AccountSid:     "AC0123456789abcdef0123456789abcdef",
		WorkspaceSid:   "WS0123456789abcdef0123456789abcdef",
		WorkflowSid:    "WW0123456789abcdef0123456789abcdef",
		TaskQueueSid:   "WQ0123456789abcdef0123456789abcdef",
		WorkerSid:      "WK0123456789abcdef0123456789abcdef",
		TaskSid:        "WT0123456789abcdef0123456789abcdef",
		ReservationSid: "WR0123456789abcdef0123456789abcdef",
		TaskAge:        12, TaskPriority: 1,
		TaskAttributes: task, WorkerAttributes: worker,
		Timestamp: "1764370000",
	}
}

// post sends a raw body with the given signature and returns status and body.
func post(t testing.TB, target, body, sig string) (int, string, http.Header) {
	t.Helper()
	return postHeaders(t, target, body, sig, nil)
}

// postHeaders is post with extra request headers (a proxy's, say).
func postHeaders(t testing.TB, target, body, sig string, headers http.Header) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range headers {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if sig != "" {
		req.Header.Set("X-Twilio-Signature", sig)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// postSigned sends r as TaskRouter would, signed with testToken.
func postSigned(t testing.TB, base string, r policy.Reservation) (int, string, http.Header) {
	t.Helper()
	form, err := handlers.EncodeForm(&r)
	if err != nil {
		t.Fatal(err)
	}
	u := base + "/assignment"
	return post(t, u, form.Encode(), taskrouter.Sign(testToken, u, form))
}
