package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"

	"github.com/assignd/assignd/config"
	"github.com/assignd/assignd/policy"
	"github.com/assignd/assignd/policy/examples"
	"github.com/assignd/assignd/policy/rules"
)

const policyUsage = `usage:
  assignd policy init [FILE]            write a commented starter policy (default policy.yaml)
  assignd policy check FILE             compile a rules file, report every error and placeholder
  assignd policy test FILE CASES.yaml   check a rules file against expected decisions
  assignd policy explain [FILE] [flags] show which rule matches, and why (FILE defaults to POLICY_FILE)
  assignd policy replay NEW.yaml [flags] decide the logged callbacks again with NEW.yaml: what would change
Each subcommand takes -h; flags may come before or after its arguments.
`

func policyCmd(ctx context.Context, args, environ []string, _ io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, "assignd policy: needs a subcommand\n"+policyUsage)
		return exitCode(2)
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, policyUsage)
		return nil
	}
	for _, s := range policySubcommands() {
		if s.name == args[0] {
			return s.run(ctx, args[1:], environ, stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "assignd policy: unknown subcommand %q\n%s", args[0], policyUsage)
	return exitCode(2)
}

// policySubcommand is one of `assignd policy`'s subcommands.
type policySubcommand struct {
	name string
	run  func(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error
}

// policySubcommands is policy's dispatch table.
func policySubcommands() []policySubcommand {
	return []policySubcommand{
		{"init", func(_ context.Context, args, _ []string, stdout, stderr io.Writer) error {
			return policyInit(args, stdout, stderr)
		}},
		{"check", func(_ context.Context, args, _ []string, stdout, stderr io.Writer) error {
			return policyCheck(args, stdout, stderr)
		}},
		{"test", func(ctx context.Context, args, _ []string, stdout, stderr io.Writer) error {
			return policyTest(ctx, args, stdout, stderr)
		}},
		{"explain", policyExplain},
		{"replay", policyReplay},
	}
}

// policyInit writes the starter policy; it never overwrites a file.
func policyInit(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("policy init", `usage: assignd policy init [FILE]

Writes a commented starter policy to FILE (default policy.yaml), refusing to
overwrite one. Then set POLICY_FILE to it.
`)
	if ok, err := parseFlags(fs, args, stdout, stderr); !ok {
		return err
	}
	if fs.NArg() > 1 {
		return usageError(fs, stderr, fmt.Sprintf("takes at most one FILE, got %q", fs.Args()))
	}
	path := "policy.yaml"
	if fs.NArg() == 1 {
		path = fs.Arg(0)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, iofs.ErrExist) {
		return fmt.Errorf("%s exists; not overwriting it (name another FILE)", path)
	}
	if err != nil {
		return fmt.Errorf("policy init: %w", err)
	}
	if _, err := f.Write(examples.Starter()); err != nil {
		f.Close()
		return fmt.Errorf("policy init: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("policy init: %w", err)
	}
	fmt.Fprintf(stdout, "wrote %s: edit it, check it with `assignd policy check %s`, and run the service with POLICY_FILE=%s\n", path, path, path)
	return nil
}

// policyCheck compiles a file and warns about the example's placeholders.
func policyCheck(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("policy check", `usage: assignd policy check [-strict] FILE

Compiles and type-checks a rules file, listing every problem with its rule, and
warns about placeholder values of the example policy (SIDs such as WA000…,
Twilio's test phone numbers, example.com URLs) still in it. With -strict a
warning fails the check too (exit 1), so CI or an image build can gate on it.
`)
	strict := fs.Bool("strict", false, "exit 1 when there are warnings, not only errors")
	if ok, err := parseFlags(fs, args, stdout, stderr); !ok {
		return err
	}
	if fs.NArg() != 1 {
		return usageError(fs, stderr, "needs exactly one FILE")
	}
	path := fs.Arg(0)
	// One read: the rules compiled and the placeholder warnings are about
	// the same bytes.
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(stderr, fmt.Errorf("read policy: %w", err))
		return exitCode(1)
	}
	p, err := rules.Parse(path, data)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitCode(1)
	}
	warnings := examples.Placeholders(data)
	for _, w := range warnings {
		fmt.Fprintf(stderr, "%s: warning: %s\n", path, w)
	}
	fmt.Fprintf(stdout, "%s: ok, %d rules: %v", path, len(p.Rules()), p.Rules())
	if len(warnings) > 0 {
		fmt.Fprintf(stdout, " (%d warnings)", len(warnings))
	}
	fmt.Fprintln(stdout)
	if *strict && len(warnings) > 0 {
		fmt.Fprintf(stderr, "%s: %d warnings fail the check (-strict)\n", path, len(warnings))
		return exitCode(1)
	}
	return nil
}

func policyTest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("policy test", `usage: assignd policy test FILE CASES.yaml

Runs a rules file against expected decisions and exits non-zero with a diff on
any mismatch (see policy/examples/assignment_cases.yaml).
`)
	if ok, err := parseFlags(fs, args, stdout, stderr); !ok {
		return err
	}
	if fs.NArg() != 2 {
		return usageError(fs, stderr, "needs FILE and CASES.yaml")
	}
	p, err := rules.LoadFile(fs.Arg(0))
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitCode(1)
	}
	cases, err := rules.LoadCases(fs.Arg(1))
	if err != nil {
		return err
	}
	failed := 0
	for _, r := range p.RunCases(ctx, cases) {
		if len(r.Diffs) == 0 {
			fmt.Fprintf(stdout, "ok    %s (%s)\n", r.Name, r.Rule)
			continue
		}
		failed++
		fmt.Fprintf(stdout, "FAIL  %s\n", r.Name)
		for _, d := range r.Diffs {
			fmt.Fprintf(stdout, "    %s\n", d)
		}
	}
	fmt.Fprintf(stdout, "policy test: %d cases, %d ok, %d failing\n", len(cases), len(cases)-failed, failed)
	if failed > 0 {
		return exitCode(1)
	}
	return nil
}

// policyExplain shows how a policy decides one reservation: every rule it
// looked at, why each did or did not match, and the answer.
func policyExplain(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("policy explain", `usage: assignd policy explain [FILE] [flags]

Shows every rule looked at for one reservation, why each did or did not match,
and the answer. FILE defaults to POLICY_FILE (or, in development, the embedded
example). Flags may come before or after FILE.
`)
	task := fs.String("task", `{}`, "task attributes (JSON object)")
	worker := fs.String("worker", `{}`, "worker attributes (JSON object)")
	r := &policy.Reservation{}
	fs.IntVar(&r.TaskAge, "task-age", 0, "TaskAge in seconds")
	fs.IntVar(&r.TaskPriority, "priority", 0, "TaskPriority")
	fs.StringVar(&r.TaskQueueSid, "queue-sid", "", "TaskQueueSid")
	if ok, err := parseFlags(fs, args, stdout, stderr); !ok {
		return err
	}
	if fs.NArg() > 1 {
		return usageError(fs, stderr, fmt.Sprintf("unexpected arguments %q (one FILE at most)", fs.Args()))
	}
	file := fs.Arg(0) // "" when none
	if err := decodeAttributes(r, *task, *worker); err != nil {
		return err
	}
	var p *rules.Policy
	var err error
	if file != "" {
		p, err = rules.LoadFile(file)
	} else {
		cfg, cerr := config.Parse(environ)
		if cerr != nil {
			return cerr
		}
		p, err = cfg.LoadPolicy() // POLICY_FILE or the embedded example
	}
	if err != nil {
		return err
	}
	d, steps, err := p.Explain(ctx, r)
	fmt.Fprintf(stdout, "policy %s\n%s", p.Source(), rules.FormatSteps(steps))
	if err != nil {
		d = p.Fallback()
		fmt.Fprintf(stdout, "evaluation failed: %v\nanswer (on_error): ", err)
	} else if d.Rule == "default" {
		fmt.Fprint(stdout, "no rule matched; answer (default): ")
	} else {
		fmt.Fprintf(stdout, "answer (rule %s): ", d.Rule)
	}
	switch {
	case d.Async:
		b, _ := json.Marshal(d.Instruction)
		fmt.Fprintf(stdout, "{} now, then through the REST API after %s: %s\n", d.Delay, b)
	case d.Instruction == nil:
		fmt.Fprintln(stdout, "{} (later: the reservation is left to you)")
	default:
		b, _ := json.Marshal(d.Instruction)
		fmt.Fprintf(stdout, "%s\n", b)
	}
	return nil
}
