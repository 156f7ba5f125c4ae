package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// flagOrderCase is one command's invocation: its positional arguments and
// its flags, which must mean the same before or after the arguments.
type flagOrderCase struct {
	args, flags []string
	code        int
	want        string // in stdout or stderr
}

// binaryResult is what the real binary did: exit code and both streams.
type binaryResult struct {
	code           int
	stdout, stderr string
}

// runBinary runs the built assignd in dir with a private DATA_DIR.
func runBinary(t *testing.T, bin, dir string, env []string, args ...string) binaryResult {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "DATA_DIR=" + filepath.Join(dir, "data")}, env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var xe *exec.ExitError
	switch {
	case errors.As(err, &xe):
		return binaryResult{xe.ExitCode(), o.String(), e.String()}
	case err != nil:
		t.Fatal(err)
	}
	return binaryResult{0, o.String(), e.String()}
}

// Every command and policy subcommand takes its flags before or after its
// arguments (`policy check FILE -strict` as well as `policy check -strict
// FILE`), with the same result. The commands are walked from the dispatch
// tables, so a new command without a case here fails the test.
func TestFlagsBeforeOrAfterArguments(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	example, _ := filepath.Abs(examplePolicyFile)
	exampleCases, _ := filepath.Abs("../../policy/examples/assignment_cases.yaml")
	cases := map[string]flagOrderCase{
		"serve":          {[]string{"stray"}, []string{"-h"}, 0, "usage: assignd serve"},
		"dev":            {[]string{"stray"}, []string{"-emulator-addr", "127.0.0.1:0"}, 2, `takes no arguments (configure it with environment variables), got ["stray"]`},
		"send":           {[]string{"stray"}, []string{"-token", "wrong"}, 2, `takes only flags, got ["stray"]`},
		"emulator":       {[]string{"stray"}, []string{"-callback-url", "http://127.0.0.1:1/a"}, 2, `takes no arguments, got ["stray"]`},
		"simulate":       {[]string{"day.yaml"}, []string{"-policy", example, "-runs", "0"}, 2, "-runs 0: want 1 to"},
		"version":        {[]string{"stray"}, []string{"-h"}, 0, "usage: assignd version"},
		"help":           {[]string{"stray"}, []string{"-h"}, 0, "usage: assignd help"},
		"help env":       {[]string{"stray"}, []string{"-h"}, 0, "usage: assignd help env"},
		"policy":         {nil, []string{"-h"}, 0, "assignd policy init"},
		"policy init":    {[]string{"new.yaml"}, []string{"-h"}, 0, "usage: assignd policy init"},
		"policy check":   {[]string{example}, []string{"-strict"}, 1, "fail the check (-strict)"},
		"policy test":    {[]string{example, exampleCases}, []string{"-h"}, 0, "usage: assignd policy test"},
		"policy replay":  {[]string{example}, []string{"-max-changed", "0"}, 2, "no decision log at"},
		"policy explain": {[]string{example}, []string{"-task", `{"selected_language":"es"}`, "-worker", `{"languages":["en"]}`}, 0, "answer (rule spanish-non-speaker)"},
	}
	var walked []string
	for _, c := range commands() {
		walked = append(walked, c.name)
	}
	for _, s := range policySubcommands() {
		walked = append(walked, "policy "+s.name)
	}
	walked = append(walked, "help env")

	bin := buildBinary(t)
	dir := t.TempDir()
	for _, name := range walked {
		tc, ok := cases[name]
		if !ok {
			t.Errorf("command %q has no case here: add one", name)
			continue
		}
		cmd := strings.Fields(name)
		before := runBinary(t, bin, dir, nil, append(append(append([]string{}, cmd...), tc.flags...), tc.args...)...)
		after := runBinary(t, bin, dir, nil, append(append(append([]string{}, cmd...), tc.args...), tc.flags...)...)
		if before != after {
			t.Errorf("%s: flags before the arguments:\n%+v\nafter them:\n%+v", name, before, after)
		}
		if after.code != tc.code || !strings.Contains(after.stdout+after.stderr, tc.want) {
			t.Errorf("%s %v %v: exit %d (want %d), want %q in:\nstdout %s\nstderr %s", name, tc.args, tc.flags, after.code, tc.code, tc.want, after.stdout, after.stderr)
		}
	}
}

// After "--" everything is an argument, even what looks like a flag.
func TestDoubleDashEndsFlags(t *testing.T) {
	_, errOut, err := runOut([]string{"policy", "check", "--", "-strict"}, nil)
	if err == nil || !strings.Contains(errOut, "-strict: no such file") {
		t.Fatalf("policy check -- -strict: %v\n%s", err, errOut)
	}
}

// The usage texts name every command of the dispatch tables.
func TestUsageListsEveryCommand(t *testing.T) {
	for _, c := range commands() {
		if !strings.Contains(usage, "assignd "+c.name) && !strings.Contains(usage, "assignd ["+c.name+"]") {
			t.Errorf("usage lacks %s", c.name)
		}
	}
	for _, s := range policySubcommands() {
		if !strings.Contains(usage, "assignd policy "+s.name) || !strings.Contains(policyUsage, "assignd policy "+s.name) {
			t.Errorf("usage lacks policy %s", s.name)
		}
	}
}
