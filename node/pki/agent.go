package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
)

// AgentClientConfig is ClientConfig for a tool that may talk to any agent
// of the cluster: the peer's certificate must chain to the cluster CA and
// be valid for serving as either server.<domain> or client.<domain> (a
// client agent serves gRPC too). A CLI certificate, which cannot serve, is
// refused. The CLI uses it; peers dialling servers use ClientConfig.
func AgentClientConfig(f Files, domain string, opts ...Option) (*tls.Config, error) {
	names := []string{Server.Name(domain), Client.Name(domain)}
	cfg, err := ClientConfig(f, names[0], opts...)
	if err != nil {
		return nil, err
	}
	roots := cfg.RootCAs
	// The standard check allows one name; this one allows two, and does
	// everything else the standard one does: the chain to the CA, the
	// validity dates and the server-auth usage.
	cfg.InsecureSkipVerify = true
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("pki: the agent sent no certificate")
		}
		leaf := cs.PeerCertificates[0]
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{
			Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}); err != nil {
			return fmt.Errorf("pki: the agent's certificate: %w", err)
		}
		for _, n := range names {
			if leaf.VerifyHostname(n) == nil {
				return nil
			}
		}
		return fmt.Errorf("pki: the agent's certificate (%s) is valid for neither %s nor %s: %w", leaf.Subject.CommonName, names[0], names[1], ErrPeerName)
	}
	return cfg, nil
}
