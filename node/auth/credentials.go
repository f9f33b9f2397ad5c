package auth

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"google.golang.org/grpc/credentials"
)

// bearerCreds attaches a token to every call. It never prints the token.
type bearerCreds struct {
	header        string
	requireSecure bool
}

// Bearer returns per-call credentials that send token as
// "authorization: Bearer <token>". gRPC refuses to send them over a
// connection without transport security (use it with TLS).
func Bearer(token string) credentials.PerRPCCredentials {
	return &bearerCreds{header: "Bearer " + token, requireSecure: true}
}

// LoopbackBearer is Bearer for a --dev node on loopback without TLS: it
// also works over plaintext, and so refuses (ErrNotLoopback) a target that
// is not on this machine: "localhost", a loopback IP, or a unix socket,
// optionally with a "dns:///" or "passthrough:///" scheme.
func LoopbackBearer(token, target string) (credentials.PerRPCCredentials, error) {
	if !loopbackTarget(target) {
		return nil, fmt.Errorf("auth: %q: a token travels in plaintext only to this machine; use TLS and Bearer: %w", target, ErrNotLoopback)
	}
	return &bearerCreds{header: "Bearer " + token, requireSecure: false}, nil
}

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (b *bearerCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": b.header}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials.
func (b *bearerCreds) RequireTransportSecurity() bool { return b.requireSecure }

// String keeps the token out of logs and %v.
func (b *bearerCreds) String() string { return "bearer token (redacted)" }

// GoString keeps the token out of %#v.
func (b *bearerCreds) GoString() string { return b.String() }

func loopbackTarget(target string) bool {
	if strings.HasPrefix(target, "unix:") || strings.HasPrefix(target, "unix-abstract:") {
		return true
	}
	for _, scheme := range []string{"dns:///", "passthrough:///"} {
		target = strings.TrimPrefix(target, scheme)
	}
	host := target
	if h, _, err := net.SplitHostPort(target); err == nil {
		host = h
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && ip.IsLoopback()
}
