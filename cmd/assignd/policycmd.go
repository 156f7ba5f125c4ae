package main

import (
	"context"
	"fmt"
	"io"

	"github.com/assignd/assignd/policy/rules"
)

func policyCmd(ctx context.Context, args, environ []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("policy needs a subcommand: check, test or explain\n%s", usage)
	}
	switch args[0] {
	case "check":
		if len(args) != 2 {
			return fmt.Errorf("usage: assignd policy check FILE")
		}
		p, err := rules.LoadFile(args[1])
		if err != nil {
			fmt.Fprintln(stderr, err)
			return exitCode(1)
		}
		fmt.Fprintf(stdout, "%s: ok, %d rules: %v\n", args[1], len(p.Rules()), p.Rules())
		return nil
	}
	return fmt.Errorf("unknown policy subcommand %q (want check, test or explain)", args[0])
}
