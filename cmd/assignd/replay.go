package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/assignd/assignd/config"
	"github.com/assignd/assignd/decisionlog"
	"github.com/assignd/assignd/policy/rules"
	"github.com/assignd/assignd/whatif/replay"
)

const policyReplayUsage = `usage: assignd policy replay NEW.yaml [-since 24h] [-limit N] [-json] [-max-changed N|N%] [-examples N]

Decides the callbacks in the decision log again, with NEW.yaml and with the
policy in force (POLICY_FILE, or in development the embedded example, as serve
picks it), and prints what NEW.yaml would change: decisions unchanged and
changed, each rule's and each instruction's share on both sides, the first
changed callbacks with their SIDs, and a lint against the recorded callbacks
(rules that never matched, attribute names no recorded task or worker carried).
The log is read where serve writes it: DATABASE_URL, else DATA_DIR.

Refused callbacks (bad_signature, bad_request) never reached the policy, and
duplicates (TaskRouter's retries) were decided by the callback before them:
neither is decided again. Entries kept in summary mode recorded no attributes
or extra parameters: when either policy reads them, those entries are not
decided again, and the output says how many. The log is only read, never
written.

Exit status: 0 ok; 1 when -max-changed is given and more decisions changed
than it allows, or nothing could be decided again; 2 on bad usage, bad
configuration (the environment), no decision log or one at another schema
version, or a policy that does not compile; 3 when the log could not be read
(an I/O or database error) or the run did not finish (interrupted): its totals
are partial, and no gate passes on them. Flags may come before or after
NEW.yaml.
`

// policyReplay is `assignd policy replay`.
func policyReplay(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("policy replay", policyReplayUsage)
	since := fs.Duration("since", 24*time.Hour, "replay the callbacks of this last stretch of time (0: the whole log)")
	limit := fs.Int("limit", 0, "replay at most this many callbacks, the newest (0: every one in the window)")
	asJSON := fs.Bool("json", false, "write the result as one JSON document")
	maxChanged := fs.String("max-changed", "", "exit 1 when more decisions change than this: a count (5) or a share of those checked (5%)")
	examples := fs.Int("examples", replay.DefaultExamples, "how many changed callbacks to show")
	if ok, err := parseFlags(fs, args, stdout, stderr); !ok {
		return err
	}
	switch {
	case fs.NArg() != 1:
		return usageError(fs, stderr, "needs exactly one NEW.yaml, the policy to try")
	case *since < 0:
		return usageError(fs, stderr, fmt.Sprintf("-since must not be negative, got %s", *since))
	case *limit < 0:
		return usageError(fs, stderr, fmt.Sprintf("-limit must not be negative, got %d", *limit))
	case *examples < 0:
		return usageError(fs, stderr, fmt.Sprintf("-examples must not be negative, got %d", *examples))
	}
	var gate *replay.MaxChanged
	if *maxChanged != "" {
		m, err := replay.ParseMaxChanged(*maxChanged)
		if err != nil {
			return usageError(fs, stderr, "-max-changed: "+err.Error())
		}
		gate = &m
	}
	fail := func(code int, format string, args ...any) error {
		line, _, _ := strings.Cut(fmt.Sprintf(format, args...), "\n")
		fmt.Fprintf(stderr, "assignd policy replay: %s\n", line)
		return exitCode(code)
	}
	cfg, err := config.Parse(environ)
	if err != nil {
		var ce config.Errors
		if errors.As(err, &ce) && len(ce) > 1 {
			return fail(2, "%v (and %d more: assignd help env)", ce[0], len(ce)-1)
		}
		return fail(2, "%v", err)
	}
	candidate, err := rules.LoadFile(fs.Arg(0))
	if err != nil {
		return policyProblem(stderr, err)
	}
	if cfg.Mode == config.Production && cfg.PolicyFile == "" {
		// LoadPolicy would give the embedded example, which production
		// never runs: comparing with it would say nothing true.
		fmt.Fprintf(stderr, "assignd policy replay: POLICY_FILE is unset in production mode (%s): set it to the policy in force, to compare with\n", cfg.ModeReason)
		return exitCode(2)
	}
	inForce, err := cfg.LoadPolicy()
	if err != nil {
		return policyProblem(stderr, err)
	}
	log, err := decisionlog.OpenReader(ctx, decisionlog.Options{DatabaseURL: cfg.DatabaseURL, DataDir: cfg.DataDir})
	if errors.Is(err, decisionlog.ErrNoLog) || errors.Is(err, decisionlog.ErrSchema) {
		return fail(2, "%v", err)
	}
	if err != nil {
		return fail(3, "%v", err)
	}
	defer log.Close()
	o := replay.Options{Log: log, Candidate: candidate, InForce: inForce, Limit: *limit, Examples: *examples, Deadline: cfg.DecisionDeadline}
	if *examples == 0 {
		o.Examples = -1
	}
	if *since > 0 {
		o.Since = time.Now().Add(-*since)
	}
	res, err := replay.Run(ctx, o)
	if err != nil {
		return fail(3, "%v", err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(res)
	} else {
		err = res.WriteText(stdout)
	}
	if err != nil {
		return fail(3, "write the result: %v", err)
	}
	if !res.Complete {
		// Partial totals are no verdict, whether or not a gate was asked.
		return fail(3, "incomplete: stopped after %d entries, %s; no result for the rest of the window", res.Read, res.Stopped)
	}
	if gate != nil {
		if err := res.Gate(*gate); err != nil {
			fmt.Fprintf(stderr, "assignd policy replay: -max-changed %s: %v\n", gate, err)
			return exitCode(1)
		}
	}
	return nil
}

// policyProblem reports a policy that does not compile on one line and
// exits 2: the input is wrong, as with bad usage.
func policyProblem(stderr io.Writer, err error) error {
	fmt.Fprintf(stderr, "assignd policy replay: %s\n", policyErrorLine(err))
	return exitCode(2)
}

// policyErrorLine is a rules file's load error as one line: the first
// problem's (which starts with file:line:), and how many more `policy
// check` lists.
func policyErrorLine(err error) string {
	line, _, _ := strings.Cut(err.Error(), "\n")
	var le *rules.LoadError
	if errors.As(err, &le) && len(le.Problems) > 0 {
		line, _, _ = strings.Cut(le.Problems[0], "\n")
		if more := len(le.Problems) - 1; more > 0 {
			line += fmt.Sprintf(" (and %d more: assignd policy check %s)", more, le.Source)
		}
	}
	return line
}
