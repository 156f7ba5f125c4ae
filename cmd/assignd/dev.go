package main

import (
	"flag"
	"io"
	"net"

	"github.com/rs/zerolog"

	"github.com/assignd/assignd/config"
	"github.com/assignd/assignd/handlers"
)

// devOptions are `assignd dev`'s flags: where development mode's
// in-process TaskRouter emulator listens and which workspace it loads.
// Implicit development mode (serve with no variables) gets the defaults.
type devOptions struct {
	EmulatorAddr string
	// AddrSet is true when -emulator-addr was given: then a taken address is
	// an error; the default falls back to a free port.
	AddrSet   bool
	Workspace string
	// AllowUnsupported is -allow-unsupported: the emulator accepts what it
	// does not carry out, with a warning, instead of refusing it.
	AllowUnsupported bool
	Out              io.Writer // the guide (SIDs, curl lines) is printed here
	// started, when set, is given the emulator once it serves: tests use
	// it to script faults, as they would on any emulator they built.
	started func(*runningEmulator)
}

const defaultEmulatorAddr = "127.0.0.1:8081"

// devFlags registers dev's flags on fs; finish fills AddrSet after parsing.
func devFlags(fs *flag.FlagSet, d *devOptions) (finish func()) {
	fs.StringVar(&d.EmulatorAddr, "emulator-addr", defaultEmulatorAddr, "listen address of the in-process TaskRouter emulator (taken: a free port, unless given explicitly)")
	fs.StringVar(&d.Workspace, "workspace", "", "workspace YAML file for the emulator (default: the tutorial's workspace)")
	fs.BoolVar(&d.AllowUnsupported, "allow-unsupported", false, allowUnsupportedUsage)
	return func() {
		fs.Visit(func(f *flag.Flag) {
			if f.Name == "emulator-addr" {
				d.AddrSet = true
			}
		})
	}
}

// startDevEmulator is development mode's TaskRouter: the emulator in this
// process, its workflow calling this service's callback URL, its events
// going to this service's /events, its account the one the service checks
// signatures with and calls the REST API with (acct, from emulatorAccount). It replaces Twilio for the
// whole tutorial flow, offline.
func startDevEmulator(cfg config.Config, acct account, log zerolog.Logger, dev devOptions) (*runningEmulator, error) {
	spec, err := workspaceSpec(dev.Workspace)
	if err != nil {
		return nil, &config.Error{Var: "-workspace", Msg: err.Error()}
	}
	addr := dev.EmulatorAddr
	if addr == "" {
		addr = defaultEmulatorAddr
	}
	elog := log.With().Str("component", "emulator").Logger()
	base := callbackBase(cfg)
	emu, err := startEmulator(emulatorSetup{
		Addr: addr, AddrFlag: "-emulator-addr", AnyPortIfTaken: !dev.AddrSet, Account: acct, Spec: spec,
		CallbackURL: base + cfg.CallbackPath, EventURL: base + handlers.DefaultEventsPath,
		AllowUnsupported: dev.AllowUnsupported, Log: &elog,
	})
	if err != nil {
		return nil, err
	}
	if dev.Out != nil {
		writeGuide(dev.Out, emu, acct, "assignd")
	}
	if dev.started != nil {
		dev.started(emu)
	}
	return emu, nil
}

// listenOrFreePort listens on addr or, when anyPort is set and addr cannot
// be had (a second development run, say), on a free loopback port; taken,
// when set, hears why addr could not be used.
func listenOrFreePort(addr string, anyPort bool, taken func(error)) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil && anyPort {
		if taken != nil {
			taken(err)
		}
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	return ln, err
}
