package admin

import (
	"fmt"
	"net"
	"strings"
)

// IsLoopback reports whether addr (host:port, as in ADMIN_ADDR) listens on
// the loopback interface only. An empty host or an unspecified address
// (0.0.0.0, ::) listens everywhere; a host name other than localhost may
// resolve to anything, so only literal loopback IPs and "localhost" count.
// This is the one definition of "loopback" for the admin listener: config
// refuses a non-loopback ADMIN_ADDR without credentials with it, and Handler
// applies the same rule to each client's address.
func IsLoopback(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, fmt.Errorf("admin address %q: want host:port, e.g. 127.0.0.1:9091: %w", addr, err)
	}
	return loopbackHost(host), nil
}

func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	// A zone (fe80::1%eth0) is never loopback; ParseIP rejects it.
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// loopbackClient reports whether a request's RemoteAddr is a loopback peer.
// It is the TCP peer, never a forwarded header: a header is whatever the
// client wrote.
func loopbackClient(remoteAddr string) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
