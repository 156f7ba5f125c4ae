package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/rs/zerolog"

	"github.com/assignd/assignd/config"
	"github.com/assignd/assignd/emulator"
)

const emulatorUsage = `usage: assignd emulator -callback-url URL [flags]

Runs a local TaskRouter (the emulator package): Twilio's TaskRouter REST API
under /v1/Workspaces with the routing lifecycle behind it, posting signed
assignment callbacks to -callback-url and events to -event-url.

The account is TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN when set, otherwise the
development credentials kept in DATA_DIR (the ones assignd dev, serve in
development mode and assignd send use), so callbacks verify in either case.
TWILIO_API_KEY / TWILIO_API_SECRET, when set, are accepted too. The banner
prints a development token whole and masks TWILIO_AUTH_TOKEN (its curl lines
say $TWILIO_AUTH_TOKEN).

It loads the tutorial's workspace (workers Alice and Bob, Offline), or the
-workspace file (YAML, see the emulator package), and prints its SIDs and the
tutorial's curl lines with the local base URL. Point assignd at it with
TWILIO_API_BASE_URL=http://ADDR.

What the emulator does not carry out (a request parameter such as
IgnoreCapacity, a value such as Template=FIFO, or a misspelt workflow
Configuration key) is refused with Twilio's 400 20001 naming it; -allow-unsupported accepts
it instead, logging a warning that names what was ignored.
`

// emulatorCmd is `assignd emulator`: the emulator alone, for a service run
// separately (or any other TaskRouter client) and for the load scripts.
func emulatorCmd(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("emulator", emulatorUsage)
	addr := fs.String("addr", "127.0.0.1:8081", "listen address")
	callbackURL := fs.String("callback-url", "", "assignment callback URL of every workflow (required), e.g. http://127.0.0.1:8080/assignment")
	fallbackURL := fs.String("fallback-url", "", "fallback assignment callback URL of every workflow")
	eventURL := fs.String("event-url", "", "the workspace's event_callback_url, e.g. http://127.0.0.1:8080/events")
	workspace := fs.String("workspace", "", "workspace YAML file (default: the tutorial's workspace)")
	latency := fs.Duration("latency", 0, "delay every REST answer by this much, after applying it (load and soak runs)")
	faultRate := fs.Float64("fault-rate", 0, "share of reservation updates answered 429 or 500 at random, some after applying (soak runs)")
	allowUnsupported := fs.Bool("allow-unsupported", false, allowUnsupportedUsage)
	if ok, err := parseFlags(fs, args, stdout, stderr); !ok {
		return err
	}
	if fs.NArg() > 0 {
		return usageError(fs, stderr, fmt.Sprintf("takes no arguments, got %q", fs.Args()))
	}
	for _, u := range []struct{ name, value string }{{"-callback-url", *callbackURL}, {"-fallback-url", *fallbackURL}, {"-event-url", *eventURL}} {
		if u.value == "" && u.name != "-callback-url" {
			continue
		}
		if p, err := url.Parse(u.value); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return usageError(fs, stderr, fmt.Sprintf("%s: want an absolute http(s) URL such as http://127.0.0.1:8080/assignment, got %q", u.name, u.value))
		}
	}
	if *faultRate < 0 || *faultRate > 1 {
		return usageError(fs, stderr, fmt.Sprintf("-fault-rate: want 0 to 1, got %v", *faultRate))
	}
	if *latency < 0 {
		return usageError(fs, stderr, fmt.Sprintf("-latency: want 0 or more, got %s", *latency))
	}

	cfg, err := config.Parse(environ)
	if err != nil {
		return err
	}
	acct, err := emulatorAccount(cfg)
	if err != nil {
		return err
	}
	spec, err := workspaceSpec(*workspace)
	if err != nil {
		return fmt.Errorf("-workspace: %w", err)
	}
	log := newLogger(stdout, cfg.Level).With().Str("component", "emulator").Logger()
	emu, err := startEmulator(emulatorSetup{
		Addr: *addr, AddrFlag: "-addr", Account: acct, Spec: spec,
		CallbackURL: *callbackURL, FallbackURL: *fallbackURL, EventURL: *eventURL,
		Latency: *latency, FaultRate: *faultRate, AllowUnsupported: *allowUnsupported, Log: &log,
	})
	if err != nil {
		return err
	}
	defer emu.Close()
	writeGuide(stdout, emu, acct, "")
	<-ctx.Done()
	return nil
}

// emulatorAccount is the account the emulator serves: TWILIO_ACCOUNT_SID
// and TWILIO_AUTH_TOKEN when set, each filled from the development
// credentials in DATA_DIR otherwise, so that serve in development mode and
// `assignd send` (which use those) agree with it.
func emulatorAccount(cfg config.Config) (account, error) {
	a := account{Sid: cfg.AccountSid, Token: cfg.AuthToken}
	if cfg.APIKey != "" {
		a.APIKeys = map[string]string{cfg.APIKey: cfg.APISecret}
	}
	if a.Sid != "" && a.Token != "" {
		return a, nil
	}
	creds, _, err := config.LoadOrCreateDevCredentials(cfg.DataDir)
	if err != nil {
		return a, &config.Error{Var: "DATA_DIR", Msg: err.Error()}
	}
	if a.Sid == "" {
		a.Sid = creds.AccountSid
	}
	if a.Token == "" {
		a.Token = creds.AuthToken
		a.CredentialsFile = config.DevCredentialsPath(cfg.DataDir)
	}
	return a, nil
}

// account is the emulator's Twilio account.
type account struct {
	Sid, Token      string
	APIKeys         map[string]string
	CredentialsFile string // where a development token is kept, if it is one
}

// tokenShown is how many of an operator's token's characters the banner
// shows: enough to tell two tokens apart, too few to sign with.
const tokenShown = 4

// shownToken is the token as the banner prints it. A generated development
// token is printed whole: the banner is how its user learns it. One the
// operator set (TWILIO_AUTH_TOKEN) is a real account's secret, and
// terminals are scrolled back, recorded and pasted into issues: masked.
func (a account) shownToken() string {
	switch {
	case a.CredentialsFile != "":
		return a.Token
	case len(a.Token) <= tokenShown:
		return "…"
	}
	return "…" + a.Token[len(a.Token)-tokenShown:]
}

// shellToken is the token in the printed curl lines: a generated one
// literally, an operator's as a reference to the variable they set.
func (a account) shellToken() string {
	if a.CredentialsFile != "" {
		return a.Token
	}
	return "$TWILIO_AUTH_TOKEN"
}

// workspaceSpec is the -workspace file, or the tutorial's workspace.
func workspaceSpec(path string) (emulator.WorkspaceSpec, error) {
	if path == "" {
		return emulator.Tutorial(), nil
	}
	return emulator.LoadWorkspaceFile(path)
}

// emulatorSetup is everything a running emulator is made from.
type emulatorSetup struct {
	Addr     string
	AddrFlag string // the flag that set Addr, named in a listen error
	// AnyPortIfTaken listens on a free loopback port when Addr is taken
	// (development's default address), instead of failing.
	AnyPortIfTaken bool
	Account        account
	Spec           emulator.WorkspaceSpec
	// CallbackURL (and FallbackURL when set) replace every workflow's; an
	// EventURL set replaces the workspace's event_callback_url.
	CallbackURL, FallbackURL, EventURL string
	Latency                            time.Duration
	FaultRate                          float64
	// AllowUnsupported is emulator.Options.AllowUnsupported
	// (-allow-unsupported).
	AllowUnsupported bool
	Log              *zerolog.Logger
}

// allowUnsupportedUsage is -allow-unsupported's help, the same on
// assignd emulator and assignd dev.
const allowUnsupportedUsage = "accept request parameters and workflow configuration keys the emulator does not carry out, logging a warning for each, instead of refusing them with a 400"

// runningEmulator is an emulator served on a loopback listener.
type runningEmulator struct {
	Base   string // http://host:port
	Loaded emulator.Loaded
	Emu    *emulator.Emulator
	spec   emulator.WorkspaceSpec
	srv    *http.Server
}

// startEmulator builds the emulator, loads the workspace with the URLs of
// s, and serves it. Close stops it.
func startEmulator(s emulatorSetup) (*runningEmulator, error) {
	for i := range s.Spec.Workflows {
		s.Spec.Workflows[i].AssignmentCallbackURL = s.CallbackURL
		if s.FallbackURL != "" {
			s.Spec.Workflows[i].FallbackAssignmentCallbackURL = s.FallbackURL
		}
	}
	if s.EventURL != "" {
		s.Spec.EventCallbackURL = s.EventURL
	}
	emu, err := emulator.New(emulator.Options{AccountSid: s.Account.Sid, AuthToken: s.Account.Token, APIKeys: s.Account.APIKeys,
		Latency: s.Latency, FaultRate: s.FaultRate, AllowUnsupported: s.AllowUnsupported, Log: s.Log})
	if err != nil {
		return nil, err
	}
	loaded, err := emu.Load(s.Spec)
	if err != nil {
		return nil, fmt.Errorf("workspace: %w", err)
	}
	ln, err := listenOrFreePort(s.Addr, s.AnyPortIfTaken, func(err error) {
		s.Log.Warn().Err(err).Str("addr", s.Addr).Msg("the emulator's usual address is taken: listening on a free port instead (see its base URL below)")
	})
	if err != nil {
		return nil, fmt.Errorf("%s: the emulator cannot listen: %w", s.AddrFlag, err)
	}
	srv := &http.Server{Handler: emu, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.Log.Error().Err(err).Msg("emulator stopped serving")
		}
	}()
	base := "http://" + ln.Addr().String()
	s.Log.Info().Str("base_url", base).Str("account_sid", s.Account.Sid).Str("workspace", loaded.Workspace).
		Str("callback_url", s.CallbackURL).Str("event_url", s.Spec.EventCallbackURL).Msg("TaskRouter emulator listening")
	return &runningEmulator{Base: base, Loaded: loaded, Emu: emu, spec: s.Spec, srv: srv}, nil
}

// Quiesce stops the emulator calling out: no new reservations, callbacks or
// event callbacks, and those in flight finished. Its REST API keeps
// answering. A service in the same process calls it before it stops
// listening, as TaskRouter would keep calling a service that is draining.
// Nil-safe.
func (r *runningEmulator) Quiesce() {
	if r != nil {
		r.Emu.Close()
	}
}

// Close stops taking requests, then waits for the callbacks and events the
// emulator has started. Nil-safe.
func (r *runningEmulator) Close() {
	if r == nil {
		return
	}
	_ = r.srv.Close()
	r.Emu.Close()
}

// writeGuide prints the base URL, the account, the SIDs and the tutorial's
// curl lines (shared/seed) with the local base URL. service, when not
// empty, names the service answering the callbacks in this process.
// Over 60 lines: it is the guide's text, printed in reading order.
func writeGuide(w io.Writer, r *runningEmulator, a account, service string) {
	fmt.Fprintf(w, "\nTaskRouter emulator on %s\n", r.Base)
	fmt.Fprintf(w, "account    %s  auth token %s", a.Sid, a.shownToken())
	if a.CredentialsFile != "" {
		fmt.Fprintf(w, " (development credentials, kept in %s)", a.CredentialsFile)
	} else {
		fmt.Fprintf(w, " (masked: TWILIO_AUTH_TOKEN's last %d characters)", tokenShown)
	}
	fmt.Fprintln(w)
	fmt.Fprint(w, r.Loaded)
	for _, wf := range r.spec.Workflows {
		fmt.Fprintf(w, "workflow %q calls %s", wf.Name, wf.AssignmentCallbackURL)
		if wf.FallbackAssignmentCallbackURL != "" {
			fmt.Fprintf(w, " (fallback %s)", wf.FallbackAssignmentCallbackURL)
		}
		fmt.Fprintln(w)
	}
	if service != "" {
		fmt.Fprintf(w, "the service in this process answers them; the emulator's REST API is its TWILIO_API_BASE_URL\n")
	}
	ws := r.Base + "/v1/Workspaces/" + r.Loaded.Workspace
	auth := "-u " + a.Sid + ":" + a.shellToken()
	alice, hasAlice := r.Loaded.Workers["Alice"]
	bob, hasBob := r.Loaded.Workers["Bob"]
	idle, hasIdle := r.Loaded.Activities["Idle"]
	offline, hasOffline := r.Loaded.Activities["Offline"]
	wfSid := ""
	if len(r.spec.Workflows) > 0 {
		wfSid = r.Loaded.Workflows[r.spec.Workflows[0].Name]
	}
	if !(hasAlice && hasBob && hasIdle && hasOffline) || wfSid == "" {
		if wfSid != "" {
			fmt.Fprintf(w, "\nCreate a task:\n  curl %s/Tasks \\\n    --data-urlencode Attributes='{}' \\\n    -d WorkflowSid=%s \\\n    %s\n", ws, wfSid, auth)
		}
		fmt.Fprintf(w, "List tasks:\n  curl %s/Tasks %s\n\n", ws, auth)
		return
	}
	fmt.Fprintf(w, `
The tutorial, offline (README: "Run the tutorial offline"); the README's steps use
  export TR=%[1]s AUTH=%[8]s
1. Alice is Offline (every worker starts Offline); check:
  curl %[1]s/Workers/%[2]s %[3]s
2. Create the Spanish task (the tutorial's curl, base URL swapped); it waits pending:
  curl %[1]s/Tasks \
    --data-urlencode Attributes='{"selected_language": "es"}' \
    -d WorkflowSid=%[4]s \
    %[3]s
3. Make Alice available: a reservation, the signed assignment callback and its answer follow:
  curl %[1]s/Workers/%[2]s -d ActivitySid=%[5]s %[3]s
4. See the reservation and the task (accepted, assigned):
  curl %[1]s/Workers/%[2]s/Reservations %[3]s
  curl %[1]s/Tasks %[3]s
5. Accept a reservation yourself over REST (when the callback answered {}):
  curl %[1]s/Tasks/{TaskSid}/Reservations/{ReservationSid} -d ReservationStatus=accepted %[3]s
Accepted later over REST (answered {}, then assignd's own REST accept): an email task, with Bob Idle:
  curl %[1]s/Workers/%[6]s -d ActivitySid=%[5]s %[3]s
  curl %[1]s/Tasks --data-urlencode Attributes='{"type": "email"}' -d WorkflowSid=%[4]s %[3]s
Finish a task (frees its worker):
  curl %[1]s/Tasks/{TaskSid} -d AssignmentStatus=completed %[3]s
Set a worker Offline again:
  curl %[1]s/Workers/%[2]s -d ActivitySid=%[7]s %[3]s

`, ws, alice, auth, wfSid, idle, bob, offline, a.Sid+":"+a.shellToken())
}

// callbackBase is the base URL the emulator in this process calls the
// service at: PUBLIC_URL when set (as Twilio would), else loopback.
func callbackBase(cfg config.Config) string {
	if cfg.Public != nil {
		return cfg.Public.String() // config has already dropped a trailing slash
	}
	return fmt.Sprintf("http://127.0.0.1:%d", cfg.Port)
}
