package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/assignd/assignd/config"
	"github.com/assignd/assignd/policy"
	"github.com/assignd/assignd/policy/rules"
)

func policyCmd(ctx context.Context, args, environ []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("policy needs a subcommand: check, test or explain\n%s", usage)
	}
	switch sub, rest := args[0], args[1:]; sub {
	case "check":
		if len(rest) != 1 {
			return errors.New("usage: assignd policy check FILE")
		}
		p, err := rules.LoadFile(rest[0])
		if err != nil {
			fmt.Fprintln(stderr, err)
			return exitCode(1)
		}
		fmt.Fprintf(stdout, "%s: ok, %d rules: %v\n", rest[0], len(p.Rules()), p.Rules())
		return nil
	case "test":
		return policyTest(ctx, rest, stdout, stderr)
	case "explain":
		return policyExplain(ctx, rest, environ, stdout)
	}
	return fmt.Errorf("unknown policy subcommand %q (want check, test or explain)", args[0])
}

func policyTest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) != 2 {
		return errors.New("usage: assignd policy test FILE CASES.yaml")
	}
	p, err := rules.LoadFile(args[0])
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitCode(1)
	}
	cases, err := rules.LoadCases(args[1])
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
func policyExplain(ctx context.Context, args, environ []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("policy explain", flag.ContinueOnError)
	fs.SetOutput(stdout)
	task := fs.String("task", `{}`, "task attributes (JSON object)")
	worker := fs.String("worker", `{}`, "worker attributes (JSON object)")
	r := &policy.Reservation{}
	fs.IntVar(&r.TaskAge, "task-age", 0, "TaskAge in seconds")
	fs.IntVar(&r.TaskPriority, "priority", 0, "TaskPriority")
	fs.StringVar(&r.TaskQueueSid, "queue-sid", "", "TaskQueueSid")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return exitCode(2)
	}
	if err := decodeAttributes(r, *task, *worker); err != nil {
		return err
	}
	var p *rules.Policy
	var err error
	if fs.NArg() > 0 {
		p, err = rules.LoadFile(fs.Arg(0))
	} else {
		cfg, cerr := config.Load(environ)
		if cerr != nil {
			return cerr
		}
		p, err = loadPolicy(cfg) // POLICY_FILE or the embedded example
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
