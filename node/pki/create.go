package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"strings"
	"time"
)

// caNamePrefix starts every CA's common name; the domain follows it, which
// is how CreateCert learns the CA's domain.
const caNamePrefix = "GAMESA CA "

// CAOptions shape a new CA. The zero value is a valid request for the
// default domain.
type CAOptions struct {
	// Domain is the cluster's DNS-style domain (lowercase letters, digits,
	// '-' and '.'); empty means DefaultDomain.
	Domain string
	// Validity is how long the CA is valid; 0 means DefaultCAValidity.
	Validity time.Duration
	// Now is the creation time; zero means time.Now(). NotBefore is a minute
	// earlier, for peers whose clock is behind.
	Now time.Time
}

// CertOptions shape a leaf certificate.
type CertOptions struct {
	// Kind is Server, Client or CLI. Required.
	Kind Kind
	// Domain is the cluster's domain; empty means the CA's. A domain other
	// than the CA's is refused with ErrDomainMismatch.
	Domain string
	// DNSNames are added to the Subject Alternative Names of a Server or
	// Client certificate, after <kind>.<domain> and localhost: the host's
	// own names, so peers can dial it by name. "*.example" wildcards are
	// allowed. Not allowed on a CLI certificate.
	DNSNames []string
	// IPs are added to the SANs of a Server or Client certificate, after
	// 127.0.0.1 and ::1. Not allowed on a CLI certificate.
	IPs []net.IP
	// Validity is how long the certificate is valid; 0 means
	// DefaultCertValidity. It may not extend past the CA's expiry.
	Validity time.Duration
	// Now is the creation time; zero means time.Now().
	Now time.Time
}

// CreateCA makes a new cluster CA: an ECDSA P-256 key and a self-signed
// certificate named "GAMESA CA <domain>" that may sign leaf certificates
// only (MaxPathLen 0). It returns both PEM encoded; keep the key secret
// (WritePair writes it 0600).
func CreateCA(opts CAOptions) (certPEM, keyPEM []byte, err error) {
	domain := opts.Domain
	if domain == "" {
		domain = DefaultDomain
	}
	if err := checkDomain(domain); err != nil {
		return nil, nil, err
	}
	validity := opts.Validity
	if validity == 0 {
		validity = DefaultCAValidity
	}
	if validity < 0 {
		return nil, nil, fmt.Errorf("pki: CA validity %v is negative: %w", validity, ErrInvalidOptions)
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: generating the CA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, err
	}
	skid, err := keyID(&key.PublicKey)
	if err != nil {
		return nil, nil, err
	}
	name := pkix.Name{CommonName: caNamePrefix + domain, Organization: []string{"GAMESA"}}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               name,
		NotBefore:             now.Add(-backdate).UTC(),
		NotAfter:              now.Add(validity).UTC(),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		// Only leaves below this CA: a stolen leaf key can never mint
		// certificates of its own.
		MaxPathLen:     0,
		MaxPathLenZero: true,
		SubjectKeyId:   skid,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: signing the CA certificate: %w", err)
	}
	keyPEM, err = encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM, nil
}

// CreateCert makes a leaf certificate signed by the CA whose PEM certificate
// and key are ca and caKey, with a fresh ECDSA P-256 key.
//
// A Server certificate is named server.<domain>, a Client one
// client.<domain>; both also carry localhost, 127.0.0.1 and ::1 (so a node
// and the tools beside it can always dial it on loopback, the --dev case:
// loopback names only ever reach the machine itself, so they grant nothing
// a remote peer could use), then opts.DNSNames and opts.IPs. Both are good
// for server and client authentication: servers dial each other (Raft,
// forwarding) and every agent serves gRPC. A CLI certificate is named
// cli.<domain> as its common name only and is good for client
// authentication only.
func CreateCert(ca, caKey []byte, opts CertOptions) (certPEM, keyPEM []byte, err error) {
	caCert, signer, err := ParseCA(ca, caKey)
	if err != nil {
		return nil, nil, err
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	domain, err := certDomain(caCert, opts.Domain)
	if err != nil {
		return nil, nil, err
	}
	validity := opts.Validity
	if validity == 0 {
		validity = DefaultCertValidity
	}
	if validity < 0 {
		return nil, nil, fmt.Errorf("pki: certificate validity %v is negative: %w", validity, ErrInvalidOptions)
	}
	if err := checkValidAt("CA certificate", "", caCert, now); err != nil {
		return nil, nil, err
	}
	notAfter := now.Add(validity).UTC()
	if notAfter.After(caCert.NotAfter) {
		return nil, nil, fmt.Errorf("pki: a certificate valid until %s would outlive the CA, which expires %s; ask for a shorter validity or make a new CA: %w",
			stamp(notAfter), stamp(caCert.NotAfter), ErrOutlivesCA)
	}

	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: opts.Kind.Name(domain), Organization: []string{"GAMESA"}},
		NotBefore:             now.Add(-backdate).UTC(),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	switch opts.Kind {
	case Server, Client:
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
		tmpl.DNSNames = []string{opts.Kind.Name(domain), "localhost"}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
		for _, n := range opts.DNSNames {
			if err := checkDNSName(n); err != nil {
				return nil, nil, err
			}
			tmpl.DNSNames = appendNew(tmpl.DNSNames, strings.ToLower(n))
		}
		for _, ip := range opts.IPs {
			if ip == nil || ip.IsUnspecified() {
				return nil, nil, fmt.Errorf("pki: IP SAN %q: need a concrete address: %w", ip, ErrInvalidOptions)
			}
			tmpl.IPAddresses = appendNewIP(tmpl.IPAddresses, ip)
		}
	case CLI:
		if len(opts.DNSNames) > 0 || len(opts.IPs) > 0 {
			return nil, nil, fmt.Errorf("pki: a CLI certificate cannot serve, so it takes no DNS names or IPs: %w", ErrInvalidOptions)
		}
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	default:
		return nil, nil, fmt.Errorf("pki: certificate kind %d: want Server, Client or CLI: %w", int(opts.Kind), ErrInvalidOptions)
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: generating the certificate key: %w", err)
	}
	if tmpl.SerialNumber, err = randomSerial(); err != nil {
		return nil, nil, err
	}
	if tmpl.SubjectKeyId, err = keyID(&key.PublicKey); err != nil {
		return nil, nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, signer)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: signing the %s certificate: %w", opts.Kind, err)
	}
	keyPEM, err = encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM, nil
}

// ParseCA decodes a CA certificate and its private key, as CreateCA returns
// them, and checks that they belong together and that the certificate may
// sign others.
func ParseCA(certPEM, keyPEM []byte) (*x509.Certificate, crypto.Signer, error) {
	certs, err := parseCerts(certPEM, "CA certificate")
	if err != nil {
		return nil, nil, err
	}
	ca := certs[0]
	if !ca.IsCA || ca.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, nil, fmt.Errorf("pki: %q may not sign certificates: %w", ca.Subject.CommonName, ErrNotCA)
	}
	key, err := parseKey(keyPEM, "CA key")
	if err != nil {
		return nil, nil, err
	}
	if !samePublicKey(ca.PublicKey, key.Public()) {
		return nil, nil, fmt.Errorf("pki: the CA key is not the key of %q: %w", ca.Subject.CommonName, ErrKeyMismatch)
	}
	return ca, key, nil
}

// certDomain is the domain a leaf is made for: the CA's when none is asked
// for, and never another.
func certDomain(ca *x509.Certificate, asked string) (string, error) {
	caDomain, fromCA := strings.CutPrefix(ca.Subject.CommonName, caNamePrefix)
	if fromCA && checkDomain(caDomain) != nil {
		fromCA = false // not one of ours: trust the caller's domain
	}
	switch {
	case asked == "" && fromCA:
		return caDomain, nil
	case asked == "":
		return DefaultDomain, nil
	case fromCA && asked != caDomain:
		return "", fmt.Errorf("pki: domain %q, but the CA is for %q: %w", asked, caDomain, ErrDomainMismatch)
	}
	return asked, checkDomain(asked)
}

// randomSerial returns a random positive 127-bit serial number: unique
// without any state, and well inside RFC 5280's 20 octets.
func randomSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("pki: generating a serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}

// keyID is RFC 7093 method 1: the leftmost 160 bits of the SHA-256 of the
// subjectPublicKey bits.
func keyID(pub *ecdsa.PublicKey) ([]byte, error) {
	k, err := pub.ECDH()
	if err != nil {
		return nil, fmt.Errorf("pki: key id: %w", err)
	}
	sum := sha256.Sum256(k.Bytes())
	return sum[:20], nil
}

func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("pki: encoding the key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// checkDomain accepts lowercase DNS names: the domain ends up in file names
// and certificate names, so nothing that could be a path or need quoting.
func checkDomain(d string) error {
	if !validName(d, false) || strings.ToLower(d) != d {
		return fmt.Errorf("pki: domain %q: want lowercase letters, digits, '-' and '.', labels of 1-63 characters: %w", d, ErrInvalidOptions)
	}
	return nil
}

func checkDNSName(n string) error {
	if !validName(n, true) {
		return fmt.Errorf("pki: DNS name %q: want letters, digits, '-' and '.', labels of 1-63 characters, optionally starting with \"*.\": %w", n, ErrInvalidOptions)
	}
	return nil
}

// validName reports whether n is a DNS name of at most 253 characters whose
// labels are 1-63 letters, digits or inner hyphens; wildcard allows a
// leading "*." label.
func validName(n string, wildcard bool) bool {
	if wildcard {
		if rest, ok := strings.CutPrefix(n, "*."); ok {
			n = rest
		}
	}
	if n == "" || len(n) > 253 {
		return false
	}
	for label := range strings.SplitSeq(n, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range []byte(label) {
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

func appendNew(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

func appendNewIP(list []net.IP, ip net.IP) []net.IP {
	for _, x := range list {
		if x.Equal(ip) {
			return list
		}
	}
	return append(list, ip)
}

// stamp formats a certificate date for an error message.
func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
