package pki

import (
	"errors"
	"time"
)

// Errors a caller can test for with errors.Is. Every error that wraps one of
// them also names the file and, for validity, the dates involved.
var (
	// ErrInvalidOptions is returned for options CreateCA or CreateCert
	// cannot honour: a malformed domain or DNS name, a negative validity,
	// SANs on a CLI certificate.
	ErrInvalidOptions = errors.New("invalid options")
	// ErrNoPEM is returned when a file or buffer holds no PEM block of the
	// expected type (a certificate where a key was expected, or the reverse).
	ErrNoPEM = errors.New("no PEM data of the expected type")
	// ErrNotCA is returned when the CA file holds a certificate that may not
	// sign others.
	ErrNotCA = errors.New("not a CA certificate")
	// ErrKeyMismatch is returned when a private key is not the key of the
	// certificate it comes with.
	ErrKeyMismatch = errors.New("private key does not match the certificate")
	// ErrNotSignedByCA is returned when a certificate does not chain to the
	// configured CA.
	ErrNotSignedByCA = errors.New("certificate not signed by the CA")
	// ErrExpired is returned for a certificate (or CA) past its NotAfter.
	ErrExpired = errors.New("certificate expired")
	// ErrNotYetValid is returned for a certificate (or CA) before its
	// NotBefore: usually a clock that is behind.
	ErrNotYetValid = errors.New("certificate not yet valid")
	// ErrWrongUsage is returned when a certificate's extended key usage does
	// not allow the role it is configured for, e.g. a CLI certificate given
	// to a server.
	ErrWrongUsage = errors.New("certificate not valid for this use")
	// ErrOutlivesCA is returned by CreateCert when the certificate asked for
	// would be valid after its CA expires.
	ErrOutlivesCA = errors.New("certificate would outlive its CA")
	// ErrDomainMismatch is returned by CreateCert when the domain asked for is
	// not the CA's.
	ErrDomainMismatch = errors.New("domain differs from the CA's")
	// ErrPeerName is returned during a handshake of a PeerConfig when the
	// peer's certificate, though signed by the CA, is not valid for the
	// required name (a client agent knocking on the Raft port).
	ErrPeerName = errors.New("peer certificate not valid for the required name")
)

// Defaults for the options' zero values.
const (
	// DefaultDomain is the cluster's domain when none is given: server
	// certificates are for server.gamesa.
	DefaultDomain = "gamesa"
	// DefaultCAValidity is how long a CA is valid: five years.
	DefaultCAValidity = 5 * 365 * 24 * time.Hour
	// DefaultCertValidity is how long a leaf certificate is valid: one year.
	DefaultCertValidity = 365 * 24 * time.Hour
	// backdate is subtracted from NotBefore so that a certificate made on
	// one machine is already valid on a peer whose clock is a little behind.
	backdate = time.Minute
)

// Kind is what a leaf certificate is for. The kinds follow `consul tls cert
// create`: -server, -client and -cli.
type Kind int

// The kinds of leaf certificate.
const (
	// Server is a Raft voter. It serves gRPC and Raft and dials its peers
	// (Raft, forwarding), so its certificate is good for both server and
	// client authentication, with the name server.<domain>.
	Server Kind = iota + 1
	// Client is an agent that is not a Raft voter. It still serves gRPC, so
	// its certificate is good for server and client authentication, with the
	// name client.<domain>: a PeerConfig requiring server.<domain> refuses
	// it, which keeps client agents out of the Raft transport.
	Client
	// CLI is a tool that only dials (gamesa status, a Go client): client
	// authentication only, no SANs; it cannot serve.
	CLI
)

// String returns the kind as it appears in file names and the CLI: server,
// client or cli.
func (k Kind) String() string {
	switch k {
	case Server:
		return "server"
	case Client:
		return "client"
	case CLI:
		return "cli"
	}
	return "unknown"
}

// Name returns the DNS name every certificate of this kind carries in a
// domain: "server.<domain>", "client.<domain>" or "cli.<domain>" (the CLI's
// only as its common name). It is the name a dialer verifies: pass
// Server.Name(domain) to ClientConfig to talk to a server.
func (k Kind) Name(domain string) string { return k.String() + "." + domain }
