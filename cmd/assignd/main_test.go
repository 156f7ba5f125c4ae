package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/assignd/assignd/internal/testwait"
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

// listenLocal listens on host:0 for a server the test runs in-process and
// returns the listener and its port: serve is handed the listener
// (handedListeners), so no other process can take the port in between.
// serve closes it on shutdown; the cleanup covers a serve that never started.
func listenLocal(t testing.TB, host string) (net.Listener, string) {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	_, port, err := net.SplitHostPort(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return ln, port
}

// freePort picks a port for a server the test cannot hand a listener: a
// built binary, which binds PORT itself, and must bind the same port again
// when restarted (crash and restart tests). It is drawn below Linux's ephemeral range
// (32768 up): a port from ":0" is freed before serve binds it, and under
// parallel tests the kernel could hand it meanwhile to an outgoing
// connection (to PostgreSQL, the emulator…), which it never does here.
func freePort(t testing.TB) string {
	t.Helper()
	const low, high = 20000, 32768
	for range 100 {
		port := strconv.Itoa(low + rand.IntN(high-low))
		ln, err := net.Listen("tcp", "127.0.0.1:"+port)
		if err != nil {
			continue // taken: draw again
		}
		ln.Close()
		return port
	}
	t.Fatal("no free port below the ephemeral range after 100 draws")
	return ""
}

// startServe runs `assignd serve` in-process and waits until it is healthy.
func startServe(t *testing.T, environ []string, h handedListeners) (stop func() error, logs *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(withHandedListeners(context.Background(), h))
	logs = &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, environ, nil, logs, logs) }()
	port := ""
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, "PORT="); ok {
			port = v
		}
	}
	t.Cleanup(cancel)
	waitHealthy(t, port, done, logs)
	var once sync.Once
	var stopErr error
	stop = func() error {
		once.Do(func() { cancel(); stopErr = <-done })
		return stopErr
	}
	t.Cleanup(func() { _ = stop() })
	return stop, logs
}

// waitHealthy waits until the server on port answers /healthz, failing if
// it exits first.
func waitHealthy(t testing.TB, port string, done <-chan error, logs *syncBuffer) {
	t.Helper()
	var err error
	if !testwait.Until(30*time.Second, func() bool {
		select {
		case err := <-done:
			t.Fatalf("serve exited early: %v\n%s", err, logs)
		default:
		}
		var resp *http.Response
		if resp, err = http.Get("http://127.0.0.1:" + port + "/healthz"); err != nil {
			return false
		}
		resp.Body.Close()
		return true
	}) {
		t.Fatalf("serve never became healthy: %v\n%s", err, logs)
	}
}

func TestDevModeServeAndSend(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	pub, port := listenLocal(t, "127.0.0.1")
	env := []string{"PORT=" + port, "DATA_DIR=" + dir}
	stop, logs := startServe(t, env, handedListeners{public: pub})

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

const (
	testToken   = "0123456789abcdef0123456789abcdef"
	testAccount = "AC0123456789abcdef0123456789abcdef"
)

// prodEnv is a complete production configuration on a loopback listener,
// handed over with the environment (PORT is its port).
func prodEnv(t *testing.T) ([]string, handedListeners) {
	pub, port := listenLocal(t, "127.0.0.1")
	return []string{"PORT=" + port, "DATA_DIR=" + t.TempDir(), "TWILIO_AUTH_TOKEN=" + testToken,
		"TWILIO_ACCOUNT_SID=" + testAccount, "PUBLIC_URL=https://abc.ngrok.app", "POLICY_FILE=" + starterFile(t)}, handedListeners{public: pub}
}

// refusedEnv is prodEnv for a run config must refuse: its port stays held
// by the test, so a run that got past config fails on it rather than serve.
func refusedEnv(t *testing.T) []string {
	env, _ := prodEnv(t)
	return env
}

// starterFile writes the starter policy with `policy init`.
func starterFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "policy.yaml")
	var out bytes.Buffer
	if err := run(context.Background(), []string{"policy", "init", path}, nil, nil, &out, &out); err != nil {
		t.Fatalf("policy init: %v\n%s", err, out.String())
	}
	return path
}

// send signs exactly the URL the server checks: PUBLIC_URL plus the path and
// query it posts to, trailing slash included, while posting to localhost as
// ngrok does.
func TestSendBehindPublicURL(t *testing.T) {
	t.Parallel()
	env, h := prodEnv(t)
	startServe(t, env, h)
	port := strings.TrimPrefix(env[0], "PORT=")
	for _, tt := range []struct{ url, signed string }{
		{"", "https://abc.ngrok.app/assignment"},
		{"http://127.0.0.1:" + port + "/assignment?tenant=a&x=%2F", "https://abc.ngrok.app/assignment?tenant=a&x=%2F"},
		{"http://127.0.0.1:" + port + "/assignment/", "https://abc.ngrok.app/assignment/"},
		{"http://localhost:" + port + "/assignment/?tenant=b", "https://abc.ngrok.app/assignment/?tenant=b"},
	} {
		args := []string{"send"}
		if tt.url != "" {
			args = append(args, "-url", tt.url)
		}
		var out bytes.Buffer
		if err := run(context.Background(), args, env, nil, &out, &out); err != nil {
			t.Errorf("send %s: %v\n%s", tt.url, err, out.String())
			continue
		}
		if !strings.Contains(out.String(), "(signed for "+tt.signed+")") || !strings.Contains(out.String(), "200 OK") {
			t.Errorf("send %s:\n%s", tt.url, out.String())
		}
	}
}

// In production, start-up refuses a half-configured service with every
// problem, each naming its variable; one case per refusal.
func TestStartupErrorsNameTheVariable(t *testing.T) {
	t.Parallel()
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("rules: [{name: r, when: 'task.x ==', then: {instruction: accept}}]\ndefault: {instruction: accept}\non_error: {instruction: accept}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	without := func(env []string, name string) []string {
		var out []string
		for _, kv := range env {
			if !strings.HasPrefix(kv, name+"=") {
				out = append(out, kv)
			}
		}
		return out
	}
	for _, tt := range []struct {
		env  []string
		want string
	}{
		{[]string{"PORT=0"}, "PORT: "},
		{[]string{"PUBLIC_URL=::nope"}, "PUBLIC_URL: "},
		{[]string{"POLICY_FILE=/nonexistent/policy.yaml"}, "POLICY_FILE: "},
		{append(refusedEnv(t), "POLICY_FILE="+bad), `POLICY_FILE: ` + bad + `:1: rule "r": when`},
		{[]string{"TWILIO_AUTH_TOKEN=" + testToken, "PUBLIC_URL=https://x.example", "POLICY_FILE=" + examplePolicyFile}, "TWILIO_ACCOUNT_SID: the policy has async rules"},
		{without(refusedEnv(t), "TWILIO_AUTH_TOKEN"), "TWILIO_AUTH_TOKEN: required in production"},
		{append(refusedEnv(t), "TWILIO_AUTH_TOKEN=…"), "TWILIO_AUTH_TOKEN: want the account's auth token"},
		{without(refusedEnv(t), "POLICY_FILE"), "POLICY_FILE: required in production"},
		{without(refusedEnv(t), "PUBLIC_URL"), "PUBLIC_URL: required in production"},
		{append(refusedEnv(t), "PUBLIC_URL=https://x.ngrok.app/assignment"), "PUBLIC_URL: \"https://x.ngrok.app/assignment\" ends in the callback path"},
		{append(refusedEnv(t), "TRUST_PROXY=true"), "TRUST_PROXY: set PUBLIC_URL or TRUST_PROXY, not both"},
		{append(refusedEnv(t), "CALLBACK_PATH=/healthz"), "CALLBACK_PATH: \"/healthz\" collides"},
		{append(refusedEnv(t), "ADMIN_ADDR=0.0.0.0:9090"), "ADMIN_ADDR: \"0.0.0.0:9090\" is reachable"},
		{append(refusedEnv(t), "DEBUG_ADDR=127.0.0.1:6060"), "DEBUG_ADDR: removed"},
		{append(refusedEnv(t), "TWILIO_API_BASE_URL=http://fake.example.com"), "TWILIO_API_BASE_URL: plain http"},
		{append(refusedEnv(t), "DECISION_DEADLINE=abc"), `DECISION_DEADLINE: want a duration such as 3s, 500ms or 2m, got "abc"`},
		{[]string{"FLY_APP_NAME=assignd"}, "TWILIO_AUTH_TOKEN: required in production"},
		{[]string{"K_SERVICE=assignd"}, "POLICY_FILE: required in production"},
	} {
		var out bytes.Buffer
		err := run(context.Background(), nil, append(tt.env, "DATA_DIR="+t.TempDir()), nil, &out, &out)
		found := false
		for _, line := range strings.Split(fmt.Sprint(err), "\n") {
			found = found || strings.HasPrefix(line, tt.want)
		}
		if err == nil || !found {
			t.Errorf("%v: err = %v, want a line starting %q", tt.env, err, tt.want)
		}
	}
}

// Development mode, explicitly asked for, runs with production markers set
// and says so; the same environment without it is refused.
func TestDevCommand(t *testing.T) {
	t.Parallel()
	pub, port := listenLocal(t, "127.0.0.1")
	env := []string{"PORT=" + port, "DATA_DIR=" + t.TempDir(), "PUBLIC_URL=https://abc.ngrok.app"}
	var out bytes.Buffer
	if err := run(context.Background(), nil, env, nil, &out, &out); err == nil || !strings.Contains(err.Error(), "TWILIO_AUTH_TOKEN: required in production") {
		t.Fatalf("serve with PUBLIC_URL alone: %v", err)
	}
	ctx, cancel := context.WithCancel(withHandedListeners(context.Background(), handedListeners{public: pub}))
	logs := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"dev"}, env, nil, logs, logs) }()
	waitHealthy(t, strings.TrimPrefix(env[0], "PORT="), done, logs)
	out.Reset()
	if err := run(context.Background(), []string{"send"}, env, nil, &out, &out); err != nil {
		t.Errorf("send to dev: %v\n%s", err, out.String())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("dev: %v\n%s", err, logs)
	}
	for _, want := range []string{"DEVELOPMENT MODE", `"mode":"development"`, "embedded:assignment.yaml"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("dev logs lack %q:\n%s", want, logs)
		}
	}
}

func TestPolicyCheck(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"policy", "check", "../../policy/examples/assignment.yaml"}, nil, nil, &out, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "ok, 8 rules") || !strings.Contains(out.String(), "(9 warnings)") ||
		!strings.Contains(out.String(), "placeholder SID WA00000000000000000000000000000001") || !strings.Contains(out.String(), "Twilio test phone number +15005550006") ||
		!strings.Contains(out.String(), "example URL https://example.com/twiml/transfer") {
		t.Fatalf("output: %s", out.String())
	}
}

// Config's warnings reach the log: a token with a trailing newline (trimmed,
// and then it verifies) and REST calls going somewhere other than Twilio.
func TestStartupWarningsAreLogged(t *testing.T) {
	t.Parallel()
	env, h := prodEnv(t)
	env = append(env, "TWILIO_AUTH_TOKEN="+testToken+"\n", "TWILIO_API_BASE_URL=http://127.0.0.1:9")
	_, logs := startServe(t, env, h)
	var out bytes.Buffer
	if err := run(context.Background(), []string{"send", "-token", testToken}, env, nil, &out, &out); err != nil {
		t.Fatalf("the trimmed token must verify: %v\n%s", err, out.String())
	}
	for _, want := range []string{"TWILIO_AUTH_TOKEN: surrounding whitespace removed", "TWILIO_API_BASE_URL: REST calls, with their credentials, go to 127.0.0.1:9, which is not Twilio's", `"mode":"production"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}

// The admin listener asks for ADMIN_PASSWORD when one is set.
func TestAdminListenerPassword(t *testing.T) {
	t.Parallel()
	adm, adminPort := listenLocal(t, "127.0.0.1")
	admin := "127.0.0.1:" + adminPort
	const password = "correct-horse-battery-staple"
	env, h := prodEnv(t)
	h.admin = adm
	startServe(t, append(env, "ADMIN_ADDR="+admin, "ADMIN_PASSWORD="+password), h)
	get := func(pass string) int {
		req, _ := http.NewRequest(http.MethodGet, "http://"+admin+"/debug/pprof/", nil)
		if pass != "" {
			req.SetBasicAuth("admin", pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := get(""); s != http.StatusUnauthorized {
		t.Errorf("no password: %d", s)
	}
	if s := get("wrong-password-000000"); s != http.StatusUnauthorized {
		t.Errorf("wrong password: %d", s)
	}
	if s := get(password); s != http.StatusOK {
		t.Errorf("right password: %d", s)
	}
}
