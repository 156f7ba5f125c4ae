package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/assignd/assignd/internal/testwait"
)

const examplePolicyFile = "../../policy/examples/assignment.yaml"

func TestPolicyTestCommand(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	err := run(context.Background(), []string{"policy", "test", examplePolicyFile, "../../policy/examples/assignment_cases.yaml"}, nil, nil, &out, &out)
	if err != nil || !strings.Contains(out.String(), "0 failing") {
		t.Fatalf("shipped cases: %v\n%s", err, out.String())
	}

	wrong := filepath.Join(t.TempDir(), "cases.yaml")
	os.WriteFile(wrong, []byte(`cases:
  - name: spanish
    task: {selected_language: es}
    worker: {languages: [es]}
    expect: {rule: voice-call, instruction: {instruction: reject, activity_sid: WA00000000000000000000000000000001}}
  - name: fine
    task: {type: chat}
    expect: {instruction: accept}
`), 0o600)
	out.Reset()
	err = run(context.Background(), []string{"policy", "test", examplePolicyFile, wrong}, nil, nil, &out, &out)
	if err == nil {
		t.Fatalf("a wrong expectation must fail:\n%s", out.String())
	}
	for _, want := range []string{"FAIL  spanish", "rule: got spanish-speaker, want voice-call",
		`got  {"instruction":"accept"}`, "ok    fine (default)", "2 cases, 1 ok, 1 failing"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestPolicyCheckReportsEveryError(t *testing.T) {
	t.Parallel()
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte(`rules:
  - {name: one, when: "task.x ==", then: {instruction: accept}}
  - {name: two, when: "true", then: {instruction: call}}
default: {instruction: accept}
on_error: {instruction: accept}
`), 0o600)
	var out bytes.Buffer
	if err := run(context.Background(), []string{"policy", "check", bad}, nil, nil, &out, &out); err == nil {
		t.Fatal("check must fail")
	}
	for _, want := range []string{`rule "one": when`, `rule "two": then: from: required`, `rule "two": then: url: required`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestPolicyExplain(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	err := run(context.Background(), []string{"policy", "explain", "-task", `{"selected_language":"es"}`, "-worker", `{"languages":["en"]}`, examplePolicyFile}, nil, nil, &out, &out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"spanish-speaker                  no match", "spanish-non-speaker              MATCH",
		`answer (rule spanish-non-speaker): {"instruction":"reject"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// A running server picks up a valid edit of its policy file, refuses a broken
// one while keeping the policy in force, and reloads on SIGHUP.
func TestPolicyHotReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "policy.yaml")
	write := func(body string) {
		t.Helper()
		tmp := filepath.Join(dir, "policy.yaml.tmp")
		if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, file); err != nil { // as editors save
			t.Fatal(err)
		}
	}
	reject := "rules: []\ndefault: {instruction: reject, activity_sid: WA00000000000000000000000000000001}\non_error: {instruction: accept}\n"
	accept := "rules: [{name: everyone, when: 'true', then: {instruction: accept}}]\ndefault: {instruction: accept}\non_error: {instruction: accept}\n"
	write(reject)
	pub, port := listenLocal(t, "127.0.0.1")
	env := []string{"PORT=" + port, "DATA_DIR=" + filepath.Join(dir, "data"), "POLICY_FILE=" + file}
	_, logs := startServe(t, env, handedListeners{public: pub})

	answer := func() string {
		var out bytes.Buffer
		if err := run(context.Background(), []string{"send"}, env, nil, &out, &out); err != nil {
			t.Fatalf("send: %v\n%s", err, out.String())
		}
		return out.String()
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		if !testwait.Until(30*time.Second, ok) {
			t.Fatalf("never saw %s\n%s", what, logs)
		}
	}
	if a := answer(); !strings.Contains(a, `"reject"`) {
		t.Fatalf("first policy: %s", a)
	}
	write(accept)
	waitFor("the edited policy in force", func() bool { return strings.Contains(answer(), `{"instruction":"accept"}`) })

	write("rules: [{name: broken, when: 'task.x ==', then: {instruction: accept}}]\n")
	waitFor("the broken file rejected", func() bool { return strings.Contains(logs.String(), "policy reload rejected") })
	if a := answer(); !strings.Contains(a, `{"instruction":"accept"}`) {
		t.Fatalf("a broken file must leave the policy in force: %s", a)
	}

	// SIGHUP reloads too (the file is valid again, and the counter moves).
	os.WriteFile(file, []byte(reject), 0o600)
	waitFor("the reject policy after a write", func() bool { return strings.Contains(answer(), `"reject"`) })
	before := strings.Count(logs.String(), `"trigger":"SIGHUP"`)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor("a SIGHUP reload", func() bool { return strings.Count(logs.String(), `"trigger":"SIGHUP"`) > before })
}

// In production without REST credentials, a reload that adds an async rule
// is refused like a broken file: the policy in force stays.
func TestReloadRefusesAsyncWithoutCredentials(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "policy.yaml")
	reject := "rules: []\ndefault: {instruction: reject, activity_sid: WA0123456789abcdef0123456789abcdef}\non_error: {instruction: accept}\n"
	if err := os.WriteFile(file, []byte(reject), 0o600); err != nil {
		t.Fatal(err)
	}
	pub, port := listenLocal(t, "127.0.0.1")
	env := []string{"PORT=" + port, "DATA_DIR=" + filepath.Join(dir, "data"), "POLICY_FILE=" + file,
		"TWILIO_AUTH_TOKEN=" + testToken, "PUBLIC_URL=http://127.0.0.1:" + port}
	_, logs := startServe(t, env, handedListeners{public: pub})

	tmp := filepath.Join(dir, "policy.yaml.tmp")
	os.WriteFile(tmp, []byte("rules: []\ndefault: {instruction: accept, async: true}\non_error: {instruction: accept}\n"), 0o600)
	if err := os.Rename(tmp, file); err != nil {
		t.Fatal(err)
	}
	if !testwait.Until(30*time.Second, func() bool { return strings.Contains(logs.String(), "policy reload rejected") }) {
		t.Fatalf("the async policy was not rejected:\n%s", logs)
	}
	if !strings.Contains(logs.String(), "TWILIO_ACCOUNT_SID: the policy has async rules") {
		t.Errorf("the rejection does not name the variable:\n%s", logs)
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"send"}, env, nil, &out, &out); err != nil || !strings.Contains(out.String(), `"instruction":"reject"`) {
		t.Fatalf("the policy in force must stay: %v\n%s", err, out.String())
	}
}
