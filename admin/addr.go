package admin

import (
	"net"
	"strings"
)

// LoopbackHost reports whether host (no port) names the loopback interface
// only: "localhost" or a literal loopback IP. An empty host or an
// unspecified address (0.0.0.0, ::) listens everywhere; a host name other
// than localhost may resolve to anything. This is the one definition of
// "loopback": config refuses a non-loopback ADMIN_ADDR without credentials
// (and an http PUBLIC_URL) with it, and the access rule applies it to each
// client's address and Host header.
func LoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	// A zone (fe80::1%eth0) is never loopback; ParseIP rejects it.
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// loopbackClient reports whether a request's RemoteAddr is a loopback peer.
// It is the TCP peer, never a forwarded header: a header is whatever the
// client wrote. RemoteAddr is always an IP, so "localhost" cannot pass.
func loopbackClient(remoteAddr string) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	return err == nil && net.ParseIP(host) != nil && LoopbackHost(host)
}

// hostOnly is the host of a Host header (or an address), brackets and port
// removed.
func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]")
}
