package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

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

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// startServe runs `assignd serve` in-process and waits until it is healthy.
func startServe(t *testing.T, environ []string) (stop func() error, logs *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs = &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, environ, nil, logs, logs) }()
	port := ""
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, "PORT="); ok {
			port = v
		}
	}
	for i := 0; ; i++ {
		select {
		case err := <-done:
			cancel()
			t.Fatalf("serve exited early: %v\n%s", err, logs)
		default:
		}
		resp, err := http.Get("http://127.0.0.1:" + port + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if i > 500 {
			cancel()
			t.Fatalf("serve never became healthy: %v\n%s", err, logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	var once sync.Once
	var stopErr error
	stop = func() error {
		once.Do(func() { cancel(); stopErr = <-done })
		return stopErr
	}
	t.Cleanup(func() { _ = stop() })
	return stop, logs
}

func TestDevModeServeAndSend(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	env := []string{"PORT=" + freePort(t), "DATA_DIR=" + dir}
	stop, logs := startServe(t, env)

	var out bytes.Buffer
	if err := run(context.Background(), []string{"send"}, env, nil, &out, &out); err != nil {
		t.Fatalf("send: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "200 OK") || !strings.Contains(out.String(), `{"instruction":"accept"}`) {
		t.Fatalf("send output:\n%s", out.String())
	}
	out.Reset()
	err := run(context.Background(), []string{"send", "-task", `{"type":"voice"}`, "-worker", `{"contact_uri":"client:bob"}`}, env, nil, &out, &out)
	if err != nil || !strings.Contains(out.String(), `"instruction":"dequeue","to":"client:bob"`) {
		t.Fatalf("voice send: %v\n%s", err, out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"send", "-token", "not-the-token"}, env, nil, &out, &out); err == nil || !strings.Contains(out.String(), "403") {
		t.Fatalf("a wrongly signed send must fail with 403: %v\n%s", err, out.String())
	}
	if err := stop(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
	l := logs.String()
	for _, want := range []string{"DEVELOPMENT MODE", `"rule":"spanish-speaker"`, `"result":"bad_signature"`, "stopped"} {
		if !strings.Contains(l, want) {
			t.Errorf("logs lack %q", want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "dev-credentials.json")); err != nil {
		t.Errorf("dev credentials not kept: %v", err)
	}
}

func TestPublicURLBehindProxy(t *testing.T) {
	port := freePort(t)
	env := []string{"PORT=" + port, "DATA_DIR=" + t.TempDir(), "TWILIO_AUTH_TOKEN=realtoken123",
		"TWILIO_ACCOUNT_SID=AC0123456789abcdef0123456789abcdef", "PUBLIC_URL=https://abc.ngrok.app"}
	startServe(t, env)
	var out bytes.Buffer
	// send signs for PUBLIC_URL + path while posting to localhost: what ngrok does.
	if err := run(context.Background(), []string{"send"}, env, nil, &out, &out); err != nil {
		t.Fatalf("send: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "signed for https://abc.ngrok.app/assignment") {
		t.Fatalf("send output:\n%s", out.String())
	}
}

func TestStartupErrorsNameTheVariable(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("rules: [{name: r, when: 'task.x ==', then: {instruction: accept}}]\ndefault: {instruction: accept}\non_error: {instruction: accept}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		env  []string
		want string
	}{
		{[]string{"PORT=0"}, "PORT: "},
		{[]string{"PUBLIC_URL=::nope"}, "PUBLIC_URL: "},
		{[]string{"POLICY_FILE=/nonexistent/policy.yaml"}, "POLICY_FILE: "},
		{[]string{"POLICY_FILE=" + bad}, `POLICY_FILE: ` + bad + `: rule "r": when`},
		{[]string{"TWILIO_AUTH_TOKEN=tok"}, "TWILIO_ACCOUNT_SID: the policy has async rules"},
	} {
		var out bytes.Buffer
		err := run(context.Background(), nil, append(tt.env, "DATA_DIR="+t.TempDir()), nil, &out, &out)
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%v: err = %v, want prefix %q", tt.env, err, tt.want)
		}
	}
}

func TestPolicyCheck(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"policy", "check", "../../policy/examples/assignment.yaml"}, nil, nil, &out, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "ok, 8 rules") {
		t.Fatalf("output: %s", out.String())
	}
}
