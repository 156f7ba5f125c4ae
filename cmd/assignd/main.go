// Command assignd answers Twilio TaskRouter's assignment callback.
//
//	assignd [serve]                  run the service (the default)
//	assignd send [flags]             send a callback signed like Twilio's
//	assignd policy check FILE        compile a rules file and report every error
//	assignd policy test FILE CASES   run a rules file against expected decisions
//	assignd policy explain FILE      show which rule matches a reservation, and why
//	assignd fake-taskrouter          run the local fake of the Reservations API
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Environ(), os.Stdin, os.Stdout, os.Stderr); err != nil {
		var ec exitCode
		if !errors.As(err, &ec) {
			fmt.Fprintln(os.Stderr, "assignd:", err)
		}
		os.Exit(1)
	}
}

// exitCode is an error that has already been reported to the user.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// run is the whole program with its inputs made explicit, so tests can run
// it in-process with their own arguments, environment and streams.
func run(ctx context.Context, args, environ []string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, args, environ, stdout)
	case "send":
		return send(ctx, args, environ, stdout)
	case "policy":
		return policyCmd(ctx, args, environ, stdin, stdout, stderr)
	case "fake-taskrouter":
		return fakeTaskRouter(ctx, args, environ, stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n%s", cmd, usage)
}

const usage = `usage:
  assignd [serve]                       run the service (configured by environment)
  assignd send [flags]                  send a signed test callback (see assignd send -h)
  assignd policy check FILE             compile a rules file, report every error
  assignd policy test FILE CASES.yaml   check a rules file against expected decisions
  assignd policy explain FILE [flags]   show which rule matches, and why
  assignd fake-taskrouter [-addr A]     run the local fake Reservations API
`
