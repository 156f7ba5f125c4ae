package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// readmeBlock is one fenced code block of README.md.
type readmeBlock struct {
	line int    // of the opening fence
	info string // the fence's info string: "sh", "yaml", "sh (not run: …)"
	body string // its lines, less the fence's indentation
}

// readmeBlocks returns README's fenced code blocks in order.
func readmeBlocks(readme string) []readmeBlock {
	var blocks []readmeBlock
	var cur *readmeBlock
	indent := ""
	for i, line := range strings.Split(readme, "\n") {
		trimmed := strings.TrimLeft(line, " ")
		if !strings.HasPrefix(trimmed, "```") {
			if cur != nil {
				cur.body += strings.TrimPrefix(line, indent) + "\n"
			}
			continue
		}
		if cur != nil {
			blocks = append(blocks, *cur)
			cur = nil
			continue
		}
		indent = line[:len(line)-len(trimmed)]
		cur = &readmeBlock{line: i + 1, info: strings.TrimSpace(strings.TrimPrefix(trimmed, "```"))}
	}
	return blocks
}

// notRun is how a shell block that cannot run here says why: it needs a
// running service, the network or an account.
var notRun = regexp.MustCompile(`^sh \(not run: [^)]+\)$`)

// The README's shell blocks are run, so they cannot drift from the code.
// The convention: every ```sh block runs, each in a fresh empty directory
// with the built assignd first on PATH (`go run ./cmd/assignd`, the
// README's spelling from a checkout, is run as `assignd`), under sh -e:
// every command must succeed. A block that needs a running service, the
// network or an account is fenced ```sh (not run: why) instead.
func TestREADMEShellBlocks(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	bin := buildBinary(t)
	ran := map[string]bool{}
	for _, b := range readmeBlocks(string(readme)) {
		switch {
		case notRun.MatchString(b.info):
			continue
		case strings.HasPrefix(b.info, "sh"):
			if b.info != "sh" {
				t.Errorf("README.md:%d: fence ```%s: want ```sh (run by this test) or ```sh (not run: why)", b.line, b.info)
				continue
			}
		case shellFence.MatchString(b.info):
			t.Errorf("README.md:%d: fence ```%s is a shell block this test would not run: fence it ```sh (run) or ```sh (not run: why)", b.line, b.info)
			continue
		default:
			continue
		}
		out, err := runShellBlock(t, bin, b.body)
		if err != nil {
			t.Errorf("README.md:%d: the block fails (%v); fix it, or fence it ```sh (not run: why) if it needs a server or the network:\n%s\noutput:\n%s", b.line, err, b.body, out)
		}
		for _, cmd := range []string{"policy init", "policy check", "policy test", "policy explain"} {
			ran[cmd] = ran[cmd] || strings.Contains(b.body, cmd)
		}
	}
	for _, cmd := range []string{"policy init", "policy check", "policy test", "policy explain"} {
		if !ran[cmd] {
			t.Errorf("no README shell block runs %s", cmd)
		}
	}
}

// runShellBlock runs a README block the way a reader would paste it, in a
// shellFence names the other ways to fence shell commands; README blocks
// use sh so that every one is either run or says why not.
var shellFence = regexp.MustCompile(`^(bash|console|shell|shell-session|zsh|terminal)\b`)

// fresh directory with assignd on PATH and none of the test's environment.
func runShellBlock(t *testing.T, bin, body string) (string, error) {
	t.Helper()
	dir := t.TempDir()
	script := strings.ReplaceAll(body, "go run ./cmd/assignd", "assignd")
	// A hang guard, not a speed assertion: an unmarked block that starts
	// the service would never end. Its whole process group goes.
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-e", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + filepath.Dir(bin) + string(os.PathListSeparator) + os.Getenv("PATH"), "HOME=" + dir}
	out, err := cmd.CombinedOutput()
	return string(out), err
}
