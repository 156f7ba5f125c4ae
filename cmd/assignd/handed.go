package main

import (
	"context"
	"net"
)

// handedListeners are listeners bound by whoever runs serve in-process (the
// tests, on 127.0.0.1:0) and handed over instead of serve listening itself:
// no other process can take the port between its choice and the listen.
// Config still checks PORT and ADMIN_ADDR, which the caller sets to these
// listeners' addresses; PORT stays 1 to 65535, as a deployment needs.
type handedListeners struct {
	public, admin net.Listener
}

type handedKey struct{}

// withHandedListeners returns ctx carrying h for serve.
func withHandedListeners(ctx context.Context, h handedListeners) context.Context {
	return context.WithValue(ctx, handedKey{}, h)
}

// handed returns the listeners ctx carries; none for a real run.
func handed(ctx context.Context) handedListeners {
	h, _ := ctx.Value(handedKey{}).(handedListeners)
	return h
}
