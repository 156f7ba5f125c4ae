package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/assignd/assignd/config"
	"github.com/assignd/assignd/taskrouter"
)

// `assignd emulator` alone: the account from TWILIO_ACCOUNT_SID and
// TWILIO_AUTH_TOKEN, the tutorial's workspace calling -callback-url (signed
// with that token, as Twilio signs) and -fallback-url, the SIDs and curl
// lines printed; the printed task creation line creates the task and, once
// Alice is Idle, the callback arrives.
func TestEmulatorCommand(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []url.Values
	var sigOK []bool
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		mu.Lock()
		got = append(got, r.PostForm)
		sigOK = append(sigOK, r.Header.Get("X-Twilio-Signature") == taskrouter.Sign(testToken, "http://"+r.Host+r.URL.Path, r.PostForm))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"instruction":"accept"}`)
	}))
	t.Cleanup(app.Close)

	// The emulator takes any free port; the guide names the one it got.
	env := []string{"TWILIO_ACCOUNT_SID=" + testAccount, "TWILIO_AUTH_TOKEN=" + testToken, "DATA_DIR=" + filepath.Join(t.TempDir(), "data")}
	out := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"emulator", "-addr", "127.0.0.1:0", "-callback-url", app.URL + "/assignment", "-fallback-url", app.URL + "/fallback"}, env, nil, out, out)
	}()
	t.Cleanup(func() { cancel(); <-done })
	waitUntil(t, "the guide printed", func() bool { return strings.Contains(out.String(), "Finish a task") },
		func() string { return out.String() })
	guide := out.String()
	addr := boundEmulatorAddr(t, guide)
	// The operator's token is masked: the banner shows its last characters
	// and the curl lines name the variable, which a shell expands.
	if strings.Contains(strings.ReplaceAll(guide, testAccount, "AC"), testToken) { // the test SID holds the token's digits
		t.Fatalf("the guide prints TWILIO_AUTH_TOKEN:\n%s", guide)
	}
	for _, want := range []string{"TaskRouter emulator on http://" + addr, "account    " + testAccount + "  auth token …" + testToken[len(testToken)-4:] + " (masked",
		"workspace  " + tutorialSid("WS") + "  TaskRouter Tutorial", "worker     " + tutorialSid("WK", "Alice") + "  Alice",
		`workflow "Tutorial Workflow" calls ` + app.URL + "/assignment (fallback " + app.URL + "/fallback)",
		// The README's variables, as its tutorial exports them.
		"export TR=http://" + addr + "/v1/Workspaces/" + tutorialSid("WS") + " AUTH=" + testAccount + ":$TWILIO_AUTH_TOKEN\n"} {
		if !strings.Contains(guide, want) {
			t.Fatalf("guide lacks %q:\n%s", want, guide)
		}
	}
	if strings.Contains(guide, "development credentials") {
		t.Fatalf("with TWILIO_* set the account is not the development one:\n%s", guide)
	}
	cmds := guideCurls(t, strings.ReplaceAll(guide, "$TWILIO_AUTH_TOKEN", testToken))
	status, task := find(t, cmds, `Attributes='{"selected_language": "es"}'`).run(t)
	if status != http.StatusCreated || task["assignment_status"] != "pending" {
		t.Fatalf("task: %d %v", status, task)
	}
	if status, _ := find(t, cmds, "/Workers/"+tutorialSid("WK", "Alice")+" -d ActivitySid="+tutorialSid("WA", "Idle")).run(t); status != http.StatusOK {
		t.Fatalf("Alice Idle: %d", status)
	}
	waitUntil(t, "the callback", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 1 }, func() string { return out.String() })
	mu.Lock()
	defer mu.Unlock()
	if got[0].Get("TaskSid") != task["sid"] || got[0].Get("AccountSid") != testAccount || !sigOK[0] {
		t.Fatalf("callback %v (signature valid: %v), want the task's, signed with TWILIO_AUTH_TOKEN", got[0], sigOK[0])
	}
}

// An emulator address that is taken stops start-up with one line naming
// the flag; dev's default address falls back to a free port instead.
func TestEmulatorAddressTaken(t *testing.T) {
	t.Parallel()
	taken := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(taken.Close)
	addr := strings.TrimPrefix(taken.URL, "http://")
	env := []string{"DATA_DIR=" + filepath.Join(t.TempDir(), "data")}
	_, _, err := runOut([]string{"emulator", "-addr", addr, "-callback-url", "http://127.0.0.1:1/assignment"}, env)
	if err == nil || !strings.HasPrefix(err.Error(), "-addr: ") {
		t.Fatalf("emulator on a taken address: %v, want an error naming -addr", err)
	}
	_, port := listenLocal(t, "127.0.0.1") // held: dev stops before listening on PORT, and could not take it
	_, _, err = runOut([]string{"dev", "-emulator-addr", addr}, append(env, "PORT="+port))
	if err == nil || !strings.HasPrefix(err.Error(), "-emulator-addr: ") {
		t.Fatalf("dev with a taken -emulator-addr: %v, want an error naming -emulator-addr", err)
	}

	// Not given: the default address, or a free port when it is taken.
	d := &devOptions{EmulatorAddr: addr}
	cfg := config.Config{Port: 8080, CallbackPath: "/assignment", DataDir: filepath.Join(t.TempDir(), "data")}
	acct, err := emulatorAccount(cfg)
	if err != nil {
		t.Fatal(err)
	}
	emu, err := startDevEmulator(cfg, acct, zerolog.Nop(), *d)
	if err != nil {
		t.Fatalf("dev's default address taken: %v, want a free port", err)
	}
	defer emu.Close()
	if emu.Base == taken.URL || !strings.HasPrefix(emu.Base, "http://127.0.0.1:") {
		t.Fatalf("emulator base %s, want another loopback port than %s", emu.Base, taken.URL)
	}
}

// boundEmulatorAddr is the address the guide says the emulator listens on,
// for one started on port 0.
func boundEmulatorAddr(t *testing.T, guide string) string {
	t.Helper()
	m := regexp.MustCompile(`TaskRouter emulator on http://(127\.0\.0\.1:[1-9][0-9]*)`).FindStringSubmatch(guide)
	if m == nil {
		t.Fatalf("the guide names no emulator address on a port it bound:\n%s", guide)
	}
	return m[1]
}

// `assignd emulator` refuses a parameter the emulator does not carry out,
// naming it; with -allow-unsupported (before or after the other flags) it
// accepts it and the log names what was ignored.
func TestEmulatorAllowUnsupported(t *testing.T) {
	t.Parallel()
	for _, lax := range []bool{false, true} {
		t.Run(fmt.Sprint("allow=", lax), func(t *testing.T) {
			t.Parallel()
			env := []string{"TWILIO_ACCOUNT_SID=" + testAccount, "TWILIO_AUTH_TOKEN=" + testToken, "DATA_DIR=" + filepath.Join(t.TempDir(), "data")}
			args := []string{"emulator", "-addr", "127.0.0.1:0", "-callback-url", "http://127.0.0.1:9/assignment"}
			if lax {
				args = append([]string{"emulator", "-allow-unsupported"}, args[1:]...)
			}
			out := &syncBuffer{}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- run(ctx, args, env, nil, out, out) }()
			t.Cleanup(func() { cancel(); <-done })
			waitUntil(t, "the guide printed", func() bool { return strings.Contains(out.String(), "Finish a task") },
				func() string { return out.String() })
			addr := boundEmulatorAddr(t, out.String())
			req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/Workspaces",
				strings.NewReader(url.Values{"FriendlyName": {"W"}, "FriendlyNme": {"x"}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(testAccount, testToken)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			refused := resp.StatusCode == 400 && strings.Contains(string(body), "Parameter FriendlyNme is not supported by the emulator")
			warned := strings.Contains(out.String(), `"parameter":"FriendlyNme"`)
			if refused == lax || warned != lax || lax && resp.StatusCode != 201 {
				t.Fatalf("-allow-unsupported %v: %d %s; warned %v\n%s", lax, resp.StatusCode, body, warned, out.String())
			}
		})
	}
}

// assignd dev takes -allow-unsupported for its emulator.
func TestDevAllowUnsupportedFlag(t *testing.T) {
	t.Parallel()
	fs := newFlagSet("dev", serveUsage)
	var d devOptions
	finish := devFlags(fs, &d)
	if ok, err := parseFlags(fs, []string{"-allow-unsupported"}, io.Discard, io.Discard); !ok || err != nil {
		t.Fatalf("parse: %v %v", ok, err)
	}
	finish()
	if !d.AllowUnsupported {
		t.Fatal("-allow-unsupported did not set devOptions.AllowUnsupported")
	}
}
