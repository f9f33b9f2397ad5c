package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// Files names a node's PEM files: the cluster CA certificate (or a bundle of
// CAs, during a CA rotation), the node's certificate (leaf first, then any
// intermediates) and its private key.
type Files struct {
	CA, Cert, Key string
}

// Validate reports a missing file name.
func (f Files) Validate() error {
	var missing []string
	for _, x := range []struct{ name, path string }{{"CA", f.CA}, {"certificate", f.Cert}, {"key", f.Key}} {
		if x.path == "" {
			missing = append(missing, x.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("pki: TLS needs a CA, a certificate and a key file; missing: %v: %w", missing, ErrInvalidOptions)
	}
	return nil
}

// Option adjusts ServerConfig, ClientConfig and PeerConfig.
type Option func(*options)

type options struct {
	log *slog.Logger
}

// WithLogger receives one line per certificate reload and per failed reload
// (once per change of the files, not per handshake). Without it, reloads are
// silent.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.log = l }
}

func buildOptions(opts []Option) options {
	o := options{}
	for _, fn := range opts {
		fn(&o)
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	return o
}

// ServerConfig is the tls.Config of a listener that only accepts clients
// with a certificate from the cluster CA (mutual TLS), TLS 1.3 only. It fails
// now, naming the file, when a file is missing, the key does not match the
// certificate, the certificate is not from the CA, is not valid for serving,
// or is outside its validity dates.
//
// The certificate and key are read again when either file changes (checked
// with a stat of each at every handshake): rotate them by writing new files
// and renaming them into place, key first. A pair that fails the checks
// above is not used; the previous one stays in service until a good pair
// appears. The CA is read once: to rotate the CA, first give every node a
// CA file holding both the old and the new CA, and restart.
func ServerConfig(f Files, opts ...Option) (*tls.Config, error) {
	o := buildOptions(opts)
	if err := f.Validate(); err != nil {
		return nil, err
	}
	roots, err := loadCA(f.CA, time.Now())
	if err != nil {
		return nil, err
	}
	kp, err := newKeyPair(f, x509.ExtKeyUsageServerAuth, roots, o.log)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		ClientAuth: tls.RequireAndVerifyClientCert,
		ClientCAs:  roots,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return kp.get(), nil
		},
	}, nil
}

// PeerConfig is ServerConfig for listeners only servers may use (the Raft
// transport, forwarding): the client's certificate must also be valid for
// peerName, normally Server.Name(domain). A client agent's or a CLI's
// certificate, though signed by the same CA, fails the handshake with
// ErrPeerName. The dialing side uses ClientConfig with its server
// certificate.
func PeerConfig(f Files, peerName string, opts ...Option) (*tls.Config, error) {
	if peerName == "" {
		return nil, fmt.Errorf("pki: PeerConfig needs the peers' name (server.<domain>): %w", ErrInvalidOptions)
	}
	cfg, err := ServerConfig(f, opts...)
	if err != nil {
		return nil, err
	}
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		// RequireAndVerifyClientCert has checked the chain; what is left is
		// which name the CA vouched for.
		if len(cs.PeerCertificates) == 0 {
			return fmt.Errorf("pki: the peer sent no certificate: %w", ErrPeerName)
		}
		leaf := cs.PeerCertificates[0]
		if err := leaf.VerifyHostname(peerName); err != nil {
			return fmt.Errorf("pki: the peer's certificate (%s) is not valid for %s: %w", leaf.Subject.CommonName, peerName, ErrPeerName)
		}
		return nil
	}
	return cfg, nil
}

// ClientConfig is the tls.Config of a dialer that trusts only the cluster CA,
// expects the server's certificate to be valid for serverName (normally
// Server.Name(domain), or Client.Name(domain) to dial a client agent), and
// presents its own certificate when asked. TLS 1.3 only. The same checks and
// the same reloading as ServerConfig apply, except that the certificate must
// be valid for client authentication (every kind is).
//
// serverName is checked against the certificate instead of the dialed
// address, so peers are dialed by IP without a certificate per address;
// with gRPC, credentials.NewTLS keeps a ServerName that is set.
func ClientConfig(f Files, serverName string, opts ...Option) (*tls.Config, error) {
	o := buildOptions(opts)
	if err := f.Validate(); err != nil {
		return nil, err
	}
	if serverName == "" {
		return nil, fmt.Errorf("pki: ClientConfig needs the server name to verify (server.<domain>): %w", ErrInvalidOptions)
	}
	roots, err := loadCA(f.CA, time.Now())
	if err != nil {
		return nil, err
	}
	kp, err := newKeyPair(f, x509.ExtKeyUsageClientAuth, roots, o.log)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		RootCAs:    roots,
		ServerName: serverName,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return kp.get(), nil
		},
	}, nil
}

// loadCA reads the CA file into a pool. Every certificate in it must be a
// CA; at least one must be valid now (an expired one beside a valid one is
// the tail of a CA rotation and harmless: x509 will not chain through it).
func loadCA(path string, now time.Time) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pki: reading the CA certificate: %w", err)
	}
	certs, err := parseCerts(data, "CA file "+path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	var validErr error
	valid := 0
	for _, c := range certs {
		if !c.IsCA {
			return nil, fmt.Errorf("pki: CA file %s: %q may not sign certificates: %w", path, c.Subject.CommonName, ErrNotCA)
		}
		pool.AddCert(c)
		if err := checkValidAt("CA certificate", path, c, now); err != nil {
			validErr = errors.Join(validErr, err)
		} else {
			valid++
		}
	}
	if valid == 0 {
		return nil, validErr
	}
	return pool, nil
}

// keyPair is a certificate and key read from files and read again when the
// files change. Its methods are safe for concurrent use: every handshake
// calls get.
type keyPair struct {
	files Files
	usage x509.ExtKeyUsage
	roots *x509.CertPool
	log   *slog.Logger

	mu             sync.Mutex
	cur            *tls.Certificate
	certFI, keyFI  os.FileInfo // the files as last loaded or tried
	lastFailLogged string      // so a broken pair logs once, not per handshake
}

func newKeyPair(f Files, usage x509.ExtKeyUsage, roots *x509.CertPool, log *slog.Logger) (*keyPair, error) {
	kp := &keyPair{files: f, usage: usage, roots: roots, log: log}
	ci, ki, err := kp.stat()
	if err != nil {
		return nil, err
	}
	c, err := kp.load(time.Now())
	if err != nil {
		return nil, err
	}
	kp.cur, kp.certFI, kp.keyFI = c, ci, ki
	return kp, nil
}

func (kp *keyPair) stat() (ci, ki os.FileInfo, err error) {
	if ci, err = os.Stat(kp.files.Cert); err != nil {
		return nil, nil, fmt.Errorf("pki: certificate: %w", err)
	}
	if ki, err = os.Stat(kp.files.Key); err != nil {
		return nil, nil, fmt.Errorf("pki: key: %w", err)
	}
	return ci, ki, nil
}

// load reads and checks the pair.
func (kp *keyPair) load(now time.Time) (*tls.Certificate, error) {
	certPEM, err := os.ReadFile(kp.files.Cert)
	if err != nil {
		return nil, fmt.Errorf("pki: reading the certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(kp.files.Key)
	if err != nil {
		return nil, fmt.Errorf("pki: reading the key: %w", err)
	}
	certs, err := parseCerts(certPEM, "certificate "+kp.files.Cert)
	if err != nil {
		return nil, err
	}
	key, err := parseKey(keyPEM, "key "+kp.files.Key)
	if err != nil {
		return nil, err
	}
	leaf := certs[0]
	if !samePublicKey(leaf.PublicKey, key.Public()) {
		return nil, fmt.Errorf("pki: key %s is not the key of certificate %s (%s): %w", kp.files.Key, kp.files.Cert, leaf.Subject.CommonName, ErrKeyMismatch)
	}
	if err := verifyLeaf(leaf, certs[1:], kp.roots, kp.usage, now, kp.files.Cert, kp.files.CA); err != nil {
		return nil, err
	}
	c := &tls.Certificate{PrivateKey: key, Leaf: leaf}
	for _, x := range certs {
		c.Certificate = append(c.Certificate, x.Raw)
	}
	return c, nil
}

// get returns the pair to present, reloading it first when a file changed.
// It never fails: while the files are missing or hold a bad pair (say,
// halfway through a rotation), the last good pair is served.
func (kp *keyPair) get() *tls.Certificate {
	ci, ki, statErr := kp.stat()
	kp.mu.Lock()
	defer kp.mu.Unlock()
	if statErr != nil {
		kp.logFailure(statErr)
		return kp.cur
	}
	if unchanged(ci, kp.certFI) && unchanged(ki, kp.keyFI) {
		return kp.cur
	}
	// Remember what was tried even when it fails, so a broken pair is
	// parsed once rather than at every handshake.
	kp.certFI, kp.keyFI = ci, ki
	c, err := kp.load(time.Now())
	if err != nil {
		kp.logFailure(err)
		return kp.cur
	}
	kp.cur, kp.lastFailLogged = c, ""
	kp.log.Info("pki: loaded a new certificate", "cert", kp.files.Cert, "subject", c.Leaf.Subject.CommonName,
		"not_after", c.Leaf.NotAfter)
	return c
}

func (kp *keyPair) logFailure(err error) {
	if msg := err.Error(); msg != kp.lastFailLogged {
		kp.lastFailLogged = msg
		kp.log.Warn("pki: keeping the current certificate", "cert", kp.files.Cert, "err", err)
	}
}

// unchanged reports whether b is the file a was: same inode, size and
// modification time. Rotation by rename changes the inode, an edit in place
// the time.
func unchanged(a, b os.FileInfo) bool {
	return b != nil && os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}
