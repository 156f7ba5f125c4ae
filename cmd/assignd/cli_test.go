package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/assignd/assignd/config"
	"github.com/assignd/assignd/policy/examples"
)

// runOut runs assignd in-process and returns its stdout, stderr and error.
func runOut(args []string, environ []string) (stdout, stderr string, err error) {
	var o, e bytes.Buffer
	err = run(context.Background(), args, environ, nil, &o, &e)
	return o.String(), e.String(), err
}

// Every command and subcommand answers -h and --help with its usage on
// stdout and success.
func TestHelpEverywhere(t *testing.T) {
	t.Parallel()
	for _, cmd := range [][]string{
		{}, {"serve"}, {"dev"}, {"send"}, {"policy"}, {"policy", "init"}, {"policy", "check"}, {"policy", "test"},
		{"policy", "explain"}, {"policy", "replay"}, {"emulator"}, {"simulate"}, {"version"}, {"help"}, {"help", "env"},
	} {
		for _, h := range []string{"-h", "--help"} {
			args := append(append([]string{}, cmd...), h)
			out, errOut, err := runOut(args, nil)
			if err != nil || errOut != "" || !strings.Contains(out, "usage") {
				t.Errorf("%v: err %v, stderr %q, stdout:\n%s", args, err, errOut, out)
			}
		}
	}
	out, _, err := runOut([]string{"help"}, nil)
	if err != nil || !strings.Contains(out, "assignd help env") || !strings.Contains(out, "assignd policy init") {
		t.Errorf("help: %v\n%s", err, out)
	}
}

// Unknown flags, commands and stray arguments go to stderr with exit 2.
func TestUsageErrors(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"send", "-bogus"}, {"serve", "extra"}, {"serve", "-bogus"}, {"-bogus"}, {"bogus"}, {"policy"}, {"policy", "bogus"},
		{"policy", "check"}, {"policy", "check", "-bogus", "x.yaml"}, {"policy", "test", "one.yaml"},
		{"policy", "explain", "a.yaml", "b.yaml"}, {"help", "nope"}, {"help", "env", "extra"}, {"help", "-bogus"}, {"version", "-x"},
		{"emulator"}, {"emulator", "-callback-url", "localhost:8080/assignment"}, {"emulator", "-callback-url", "http://x/a", "extra"},
		{"emulator", "-callback-url", "http://x/a", "-fault-rate", "2"}, {"dev", "-bogus"},
		{"policy", "replay"}, {"policy", "replay", "a.yaml", "b.yaml"}, {"policy", "replay", "a.yaml", "-max-changed", "five"},
		{"policy", "replay", "a.yaml", "-limit", "-1"},
		{"simulate"}, {"simulate", "day.yaml"}, {"simulate", "a.yaml", "b.yaml", "-policy", "p.yaml"}, {"simulate", "day.yaml", "-policy", "p.yaml", "-sl", "x"},
	} {
		out, errOut, err := runOut(args, nil)
		var ec exitCode
		if !errors.As(err, &ec) || ec != 2 || out != "" || !strings.Contains(errOut, "usage") {
			t.Errorf("%v: err %v, stdout %q, stderr:\n%s", args, err, out, errOut)
		}
	}
	_, errOut, _ := runOut([]string{"send", "-bogus"}, nil)
	if !strings.Contains(errOut, "flag provided but not defined: -bogus") {
		t.Errorf("send -bogus does not say why:\n%s", errOut)
	}
}

// send -h shows no random SIDs as defaults.
func TestSendHelpHasNoRandomDefaults(t *testing.T) {
	t.Parallel()
	a, _, _ := runOut([]string{"send", "-h"}, nil)
	b, _, _ := runOut([]string{"send", "-h"}, nil)
	if a != b || strings.Contains(a, "(default \"WR") || !strings.Contains(a, "-reservation-sid") {
		t.Fatalf("send -h differs between runs or shows a random default:\n%s", a)
	}
}

// help env lists every variable from the config struct with its default.
func TestHelpEnv(t *testing.T) {
	t.Parallel()
	out, _, err := runOut([]string{"help", "env"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range config.Variables() {
		line := ""
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, v.Name+" ") {
				line = l
			}
		}
		def := v.Default
		if def == "" {
			def = "-"
		}
		if line == "" || !strings.Contains(line, " "+def+" ") || !strings.Contains(line, v.Help) {
			t.Errorf("help env: %s missing or wrong: %q", v.Name, line)
		}
	}
}

// The README's configuration table is the generated one, so it cannot drift
// from the code.
func TestREADMEConfigurationTable(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(readme, []byte(config.MarkdownTable())) {
		t.Fatalf("README.md's configuration table differs from the code; replace it with:\n%s", config.MarkdownTable())
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	out, _, err := runOut([]string{"version"}, nil)
	bi, _ := debug.ReadBuildInfo()
	if err != nil || !strings.HasPrefix(out, "assignd "+bi.Main.Version) || !strings.Contains(out, bi.GoVersion) {
		t.Fatalf("version: %v %q", err, out)
	}
}

func TestFormatVersion(t *testing.T) {
	t.Parallel()
	bi := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "ef38a03"}, {Key: "vcs.time", Value: "2026-11-29T05:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}
	if got, want := formatVersion(bi, "v9-stamped"), "assignd v1.2.3 revision ef38a03 (2026-11-29T05:00:00Z) modified go1.26.0"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	bi.Settings = nil
	if got, want := formatVersion(bi, "v0.3.0-4-gef38a03-dirty"), "assignd v1.2.3 revision v0.3.0-4-gef38a03-dirty go1.26.0"; got != want {
		t.Fatalf("stamped at build time: got %q, want %q", got, want)
	}
	if got := formatVersion(bi, ""); !strings.Contains(got, "no VCS revision") {
		t.Fatalf("without VCS facts: %q", got)
	}
}

// The order README and usage show: FILE first, then the flags.
func TestPolicyExplainFlagsAfterFile(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"policy", "explain", examplePolicyFile, "-task", `{"selected_language":"es"}`, "-worker", `{"languages":["en"]}`},
		{"policy", "explain", "-task", `{"selected_language":"es"}`, "-worker", `{"languages":["en"]}`, examplePolicyFile},
	} {
		out, errOut, err := runOut(args, nil)
		if err != nil || !strings.Contains(out, `answer (rule spanish-non-speaker): {"instruction":"reject"`) {
			t.Errorf("%v: %v %s\n%s", args, err, errOut, out)
		}
	}
}

// policy init writes the starter policy, which checks clean, and never
// overwrites.
func TestPolicyInit(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.yaml")
	out, _, err := runOut([]string{"policy", "init", path}, nil)
	if err != nil || !strings.Contains(out, "POLICY_FILE="+path) {
		t.Fatalf("init: %v %s", err, out)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, examples.Starter()) {
		t.Fatal("init wrote something else than the starter policy")
	}
	out, errOut, err := runOut([]string{"policy", "check", path}, nil)
	if err != nil || errOut != "" || !strings.Contains(out, "ok, 1 rules") || strings.Contains(out, "warning") {
		t.Fatalf("starter policy check: %v\nstdout %s\nstderr %s", err, out, errOut)
	}
	if out, errOut, err := runOut([]string{"policy", "check", "-strict", path}, nil); err != nil || errOut != "" {
		t.Fatalf("starter policy check -strict: %v\nstdout %s\nstderr %s", err, out, errOut)
	}
	if _, _, err := runOut([]string{"policy", "init", path}, nil); err == nil || !strings.Contains(err.Error(), "not overwriting") {
		t.Fatalf("second init: %v", err)
	}
	// The default name, in the working directory.
	t.Chdir(dir)
	os.Remove(path)
	if _, _, err := runOut([]string{"policy", "init"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
}

// The real binary's exit codes and streams: help 0 on stdout, usage errors
// 2 on stderr, a refused configuration 1 with one stderr line per problem.
func TestBinaryExitCodes(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	for _, tt := range []struct {
		args   []string
		env    []string
		code   int
		stdout string
		stderr []string
	}{
		{[]string{"--help"}, nil, 0, "usage:", nil},
		{[]string{"serve", "--help"}, nil, 0, "usage: assignd serve", nil},
		{[]string{"policy", "check", "--help"}, nil, 0, "usage: assignd policy check [-strict] FILE", nil},
		{[]string{"help", "env", "--help"}, nil, 0, "usage: assignd help env", nil},
		// The Dockerfile's build (staticBuild) stamps the VERSION build argument.
		{[]string{"version"}, nil, 0, "revision " + testBuildVersion, nil},
		{[]string{"send", "-bogus"}, nil, 2, "", []string{"flag provided but not defined: -bogus"}},
		{[]string{"frobnicate"}, nil, 2, "", []string{`unknown command "frobnicate"`}},
		{nil, []string{"TWILIO_AUTH_TOKEN=…", "DECISION_DEADLINE=abc", "CALLBACK_PATH=/metrics"}, 1, "", []string{
			"assignd: TWILIO_AUTH_TOKEN: want the account's auth token",
			`assignd: DECISION_DEADLINE: want a duration such as 3s, 500ms or 2m, got "abc"`,
			`assignd: CALLBACK_PATH: "/metrics" collides`,
			"assignd: POLICY_FILE: required in production",
			"assignd: PUBLIC_URL: required in production",
		}},
		// Tracing's problems come in the same list as config's.
		{nil, []string{"TWILIO_AUTH_TOKEN=…", "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317", "OTEL_EXPORTER_OTLP_PROTOCOL=grpc"}, 1, "", []string{
			"assignd: TWILIO_AUTH_TOKEN: want the account's auth token",
			"assignd: POLICY_FILE: required in production",
			`assignd: OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" is not supported`,
		}},
	} {
		cmd := exec.Command(bin, tt.args...)
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "DATA_DIR=" + t.TempDir()}, tt.env...)
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		code := 0
		var xe *exec.ExitError
		if errors.As(err, &xe) {
			code = xe.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tt.code || !strings.Contains(o.String(), tt.stdout) || (tt.stdout == "" && o.Len() != 0) {
			t.Errorf("%v %v: exit %d (want %d)\nstdout %s\nstderr %s", tt.args, tt.env, code, tt.code, o.String(), e.String())
		}
		lines := strings.Split(strings.TrimSpace(e.String()), "\n")
		for _, want := range tt.stderr {
			found := false
			for _, l := range lines {
				found = found || strings.HasPrefix(l, want) || (tt.code == 2 && strings.Contains(l, want))
			}
			if !found {
				t.Errorf("%v %v: stderr lacks %q:\n%s", tt.args, tt.env, want, e.String())
			}
		}
	}
}

// policy check -strict fails on warnings (the example's placeholders), so a
// build can gate on it; without -strict they are warnings only.
func TestPolicyCheckStrict(t *testing.T) {
	t.Parallel()
	out, errOut, err := runOut([]string{"policy", "check", examplePolicyFile}, nil)
	if err != nil || !strings.Contains(out, "warnings)") || !strings.Contains(errOut, "warning:") {
		t.Fatalf("check: %v\nstdout %s\nstderr %s", err, out, errOut)
	}
	out, errOut, err = runOut([]string{"policy", "check", "-strict", examplePolicyFile}, nil)
	var ec exitCode
	if !errors.As(err, &ec) || ec != 1 || !strings.Contains(errOut, "fail the check (-strict)") {
		t.Fatalf("check -strict: %v\nstdout %s\nstderr %s", err, out, errOut)
	}
}
