// Command assignd answers Twilio TaskRouter's assignment callback.
//
//	assignd [serve]                  run the service (the default)
//	assignd dev                      run the service in development mode
//	assignd send [flags]             send a callback signed like Twilio's
//	assignd policy init [FILE]       write a commented starter policy
//	assignd policy check FILE        compile a rules file and report every error
//	assignd policy test FILE CASES   run a rules file against expected decisions
//	assignd policy explain FILE      show which rule matches a reservation, and why
//	assignd policy replay NEW.yaml   decide the logged callbacks again with NEW.yaml
//	assignd emulator [flags]         run a local TaskRouter (the emulator) alone
//	assignd simulate SCENARIO -policy A [-policy B]  simulate a day of the center
//	assignd help env                 every environment variable, default and meaning
//	assignd version                  module version and VCS revision
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/assignd/assignd/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Environ(), os.Stdin, os.Stdout, os.Stderr); err != nil {
		var ec exitCode
		if errors.As(err, &ec) {
			os.Exit(int(ec))
		}
		report(os.Stderr, err)
		os.Exit(1)
	}
}

// report prints err for the user: a production refusal's reason first,
// then one line per configuration problem.
func report(w io.Writer, err error) {
	var pr *productionRefusal
	if errors.As(err, &pr) {
		fmt.Fprintln(w, "assignd:", pr.header())
		err = pr.err
	}
	var ce config.Errors
	if errors.As(err, &ce) {
		for _, e := range ce {
			fmt.Fprintln(w, "assignd:", e)
		}
		return
	}
	fmt.Fprintln(w, "assignd:", err)
}

// productionRefusal is start-up refused in production mode: err lists the
// problems, reason says which variables made it production (config's
// ModeReason), since that is often the surprise.
type productionRefusal struct {
	reason string
	err    error
}

// Error is the reason's line, then the problems' lines.
func (r *productionRefusal) Error() string { return r.header() + "\n" + r.err.Error() }

func (r *productionRefusal) header() string {
	return "production mode because " + r.reason + "; refusing to start:"
}

func (r *productionRefusal) Unwrap() error { return r.err }

// refusal is a start-up error as the user should see it: in production, with
// the reason for the mode.
func refusal(cfg config.Config, err error) error {
	if cfg.Mode != config.Production {
		return err
	}
	return &productionRefusal{reason: cfg.ModeReason, err: err}
}

// exitCode is an error that has already been reported to the user.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// run is the whole program with its inputs made explicit, so tests can run
// it in-process with their own arguments, environment and streams.
func run(ctx context.Context, args, environ []string, stdin io.Reader, stdout, stderr io.Writer) error {
	name := "serve"
	if len(args) > 0 {
		name, args = args[0], args[1:]
	}
	switch name {
	case "-h", "-help", "--help":
		name = "help"
	}
	for _, c := range commands() {
		if c.name == name {
			return c.run(ctx, args, environ, stdin, stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "assignd: unknown command %q\n%s", name, usage)
	return exitCode(2)
}

// command is one of assignd's commands: its name and what runs it with the
// arguments after the name.
type command struct {
	name string
	run  func(ctx context.Context, args, environ []string, stdin io.Reader, stdout, stderr io.Writer) error
}

// commands is the dispatch table: every command assignd has.
func commands() []command {
	return []command{
		{"serve", func(ctx context.Context, args, environ []string, _ io.Reader, stdout, stderr io.Writer) error {
			return serveCmd(ctx, "serve", args, environ, stdout, stderr)
		}},
		{"dev", func(ctx context.Context, args, environ []string, _ io.Reader, stdout, stderr io.Writer) error {
			return serveCmd(ctx, "dev", args, environ, stdout, stderr)
		}},
		{"send", func(ctx context.Context, args, environ []string, _ io.Reader, stdout, stderr io.Writer) error {
			return send(ctx, args, environ, stdout, stderr)
		}},
		{"policy", policyCmd},
		{"emulator", func(ctx context.Context, args, environ []string, _ io.Reader, stdout, stderr io.Writer) error {
			return emulatorCmd(ctx, args, environ, stdout, stderr)
		}},
		{"simulate", func(ctx context.Context, args, _ []string, _ io.Reader, stdout, stderr io.Writer) error {
			return simulateCmd(ctx, args, stdout, stderr)
		}},
		{"version", func(_ context.Context, args, _ []string, _ io.Reader, stdout, stderr io.Writer) error {
			return version(args, stdout, stderr)
		}},
		{"help", func(_ context.Context, args, _ []string, _ io.Reader, stdout, stderr io.Writer) error {
			return help(args, stdout, stderr)
		}},
	}
}

// serveCmd is serve and dev: their flags, then the service.
func serveCmd(ctx context.Context, name string, args, environ []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(name, serveUsage)
	dev, devParsed := devOptions{Out: stdout}, func() {}
	if name == "dev" {
		devParsed = devFlags(fs, &dev)
	}
	if ok, err := parseFlags(fs, args, stdout, stderr); !ok {
		return err
	}
	devParsed()
	if fs.NArg() > 0 {
		return usageError(fs, stderr, fmt.Sprintf("%s takes no arguments (configure it with environment variables), got %q", name, fs.Args()))
	}
	if name == "dev" {
		// Later entries win: asking for development overrides the
		// environment's ASSIGND_MODE.
		environ = append(environ[:len(environ):len(environ)], "ASSIGND_MODE=development")
	}
	return serve(ctx, environ, stdout, dev)
}

// version prints the module version and the revision built from.
func version(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", "usage: assignd version\n\nPrints the module version and the VCS revision the binary was built from.\n")
	if ok, err := parseFlags(fs, args, stdout, stderr); !ok {
		return err
	}
	fmt.Fprintln(stdout, versionString())
	return nil
}

// help prints the usage, or with "env" every environment variable. Like
// every other command it takes -h/--help (its own usage on stdout, exit 0).
func help(args []string, stdout, stderr io.Writer) error {
	name, text := "help", helpUsage
	if len(args) > 0 && args[0] == "env" {
		name, text, args = "help env", helpEnvUsage, args[1:]
	}
	fs := newFlagSet(name, text)
	if ok, err := parseFlags(fs, args, stdout, stderr); !ok {
		return err
	}
	if fs.NArg() > 0 {
		return usageError(fs, stderr, fmt.Sprintf("takes no argument or \"env\", got %q", fs.Args()))
	}
	if name == "help" {
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stdout, "Environment variables (assignd is configured by these alone):\n\n")
	return config.WriteHelp(stdout)
}

const helpUsage = `usage: assignd help
       assignd help env

help prints the list of commands; help env lists every environment variable,
its default and meaning.
`

const helpEnvUsage = `usage: assignd help env

Lists every environment variable assignd reads, its default and meaning.
`

const usage = `usage:
  assignd [serve]                       run the service (configured by environment; see assignd help env)
  assignd dev [flags]                   run the service and a local TaskRouter emulator wired together (see assignd dev -h)
  assignd send [flags]                  send a signed test callback (see assignd send -h)
  assignd policy init [FILE]            write a commented starter policy (default policy.yaml)
  assignd policy check FILE             compile a rules file, report every error
  assignd policy test FILE CASES.yaml   check a rules file against expected decisions
  assignd policy explain [FILE] [flags] show which rule matches, and why
  assignd policy replay NEW.yaml [flags] decide the logged callbacks again with NEW.yaml: what would change
  assignd emulator -callback-url URL    run a local TaskRouter emulator alone (see assignd emulator -h)
  assignd simulate SCENARIO -policy A   simulate a day of the center on the emulator (see assignd simulate -h)
  assignd help env                      list every environment variable, its default and meaning
  assignd version                       print the version and VCS revision
Every command takes -h; flags may come before or after its arguments.
`

const serveUsage = `usage: assignd serve
       assignd dev

serve runs the service, configured by environment variables alone (assignd help env).
With no Twilio or deployment variable set it runs in development mode; as soon as
one is set (or ASSIGND_MODE=production) every production requirement is checked
and start-up refuses, listing every problem.

dev runs it in development mode even so: a generated signing token unless
TWILIO_AUTH_TOKEN is set, the embedded example policy unless POLICY_FILE is set,
and, unless Twilio credentials or TWILIO_API_BASE_URL are set, a TaskRouter
emulator in the same process wired to the service: its workflow calls the
service's callback URL, its events go to /events, the service's REST calls
go to it, all with the same account. It prints the emulator's base URL, the
workspace's SIDs and the tutorial's curl lines (README: "Run the tutorial
offline"). serve in development mode does the same with dev's defaults.
The emulator refuses what it does not carry out (400 naming it) unless
-allow-unsupported.
`

// newFlagSet returns a flag set whose usage text is usageText followed by
// the flags' defaults.
func newFlagSet(name, usageText string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageText)
		hasFlags := false
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintln(fs.Output(), "\nflags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parseFlags parses args the same way for every command: flags before or
// after the arguments; -h/--help prints the usage to stdout (exit 0); a bad
// flag prints the problem and the usage to stderr (exit 2). ok is false when
// the command must stop with err.
func parseFlags(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (ok bool, err error) {
	err = parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(stdout)
		fs.Usage()
		return false, nil
	}
	if err != nil {
		return false, usageError(fs, stderr, err.Error())
	}
	return true, nil
}

// parseInterspersed is fs.Parse with flags allowed among the arguments
// (`policy check FILE -strict`), which the flag package stops at. After "--"
// everything is an argument. fs.Args() is the arguments, in order.
func parseInterspersed(fs *flag.FlagSet, args []string) error {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		rest := fs.Args()
		if consumed := args[:len(args)-len(rest)]; len(consumed) > 0 && consumed[len(consumed)-1] == "--" {
			positional = append(positional, rest...)
			break
		}
		if len(rest) == 0 {
			break
		}
		positional, args = append(positional, rest[0]), rest[1:]
	}
	return fs.Parse(append([]string{"--"}, positional...))
}

// usageError reports a wrong invocation on stderr with the usage, exit 2.
func usageError(fs *flag.FlagSet, stderr io.Writer, msg string) error {
	fmt.Fprintf(stderr, "assignd %s: %s\n", fs.Name(), msg)
	fs.SetOutput(stderr)
	fs.Usage()
	return exitCode(2)
}

// revision is the VCS revision given at build time, for builds that have no
// VCS facts of their own: the Docker build context has no .git, so the
// Dockerfile passes its VERSION build argument as
// -ldflags "-X main.revision=…". A variable only because -X can set nothing
// else; nothing assigns it at run time.
var revision string

// versionString is the module version and the VCS facts the Go toolchain
// stamped into the binary, or the revision given at build time.
func versionString() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "assignd (no build information)"
	}
	return formatVersion(bi, revision)
}

// formatVersion prefers the toolchain's VCS facts (they carry the commit
// time and the dirty flag) and falls back to stamped, the -X revision.
func formatVersion(bi *debug.BuildInfo, stamped string) string {
	s := "assignd " + bi.Main.Version
	settings := map[string]string{}
	for _, kv := range bi.Settings {
		settings[kv.Key] = kv.Value
	}
	switch rev := settings["vcs.revision"]; {
	case rev != "":
		s += " revision " + rev
		if t := settings["vcs.time"]; t != "" {
			s += " (" + t + ")"
		}
		if settings["vcs.modified"] == "true" {
			s += " modified"
		}
	case stamped != "":
		s += " revision " + stamped
	default:
		s += " (no VCS revision: built outside a git checkout or with -buildvcs=false, and without -ldflags -X main.revision=…)"
	}
	return s + " " + bi.GoVersion
}
