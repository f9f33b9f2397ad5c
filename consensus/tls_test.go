package consensus_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/krystalstack/gamesa/consensus"
	"github.com/krystalstack/gamesa/consensus/consensustest"
)

// testCA is a throwaway cluster CA issuing certificates for 127.0.0.1.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t testing.TB, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// issue makes a certificate good for both sides of mTLS on 127.0.0.1.
func (ca *testCA) issue(t testing.TB, name string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func (ca *testCA) config(t testing.TB, name string) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{ca.issue(t, name)}, RootCAs: ca.pool, MinVersion: tls.VersionTLS13}
}

func testTLSConfigForValidate() *tls.Config { return &tls.Config{MinVersion: tls.VersionTLS13} }

// TestMutualTLSTransport runs three servers over mTLS, then shows the
// listener refusing a peer without a certificate and one from another CA.
func TestMutualTLSTransport(t *testing.T) {
	ca := newTestCA(t, "gamesa-cluster")
	c := consensustest.New(t, 3, consensustest.Options{
		TLS: func(i int) (*tls.Config, *tls.Config) {
			cfg := ca.config(t, c3name(i))
			return cfg, nil // the dialer's config derives from the listener's
		},
	})
	applyOnLeader(t, c, set("tls-1", "secure", "yes", 0), 20*time.Second)
	c.WaitConverged(20 * time.Second)
	_, leader := c.WaitLeader(20 * time.Second)

	handshake := func(cfg *tls.Config) error {
		d := tls.Dialer{Config: cfg, NetDialer: &net.Dialer{Timeout: 5 * time.Second}}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, err := d.DialContext(ctx, "tcp", leader.Addr())
		if err != nil {
			return err
		}
		defer conn.Close()
		// TLS 1.3 reports a rejected client certificate on the first read.
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = conn.Read(make([]byte, 1))
		return err
	}
	if err := handshake(&tls.Config{RootCAs: ca.pool, MinVersion: tls.VersionTLS13}); err == nil {
		t.Error("a client without a certificate completed a session with the Raft listener")
	}
	other := newTestCA(t, "someone-else")
	if err := handshake(&tls.Config{Certificates: []tls.Certificate{other.issue(t, "intruder")}, RootCAs: ca.pool, MinVersion: tls.VersionTLS13}); err == nil {
		t.Error("a client with a certificate from another CA completed a session with the Raft listener")
	}
	// And a dialer that trusts another CA refuses the server.
	if err := handshake(&tls.Config{Certificates: []tls.Certificate{ca.issue(t, "x")}, RootCAs: other.pool, MinVersion: tls.VersionTLS13}); err == nil {
		t.Error("a dialer that trusts another CA accepted the Raft listener's certificate")
	}
}

func c3name(i int) string { return []string{"server-0", "server-1", "server-2"}[i] }

// TestSilentPeerIsDropped connects to a TLS Raft listener and says
// nothing: the server gives up on the handshake after DialTimeout and
// closes the connection rather than holding it forever.
func TestSilentPeerIsDropped(t *testing.T) {
	ca := newTestCA(t, "gamesa-cluster")
	c := consensustest.New(t, 1, consensustest.Options{
		TLS: func(i int) (*tls.Config, *tls.Config) { return ca.config(t, "server-0"), nil },
		Tune: func(_ int, cfg *consensus.Config) {
			cfg.DialTimeout = 300 * time.Millisecond
		},
	})
	_, leader := c.WaitLeader(20 * time.Second)
	conn, err := net.DialTimeout("tcp", leader.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err = conn.Read(make([]byte, 1))
	var ne net.Error
	if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("Read on a silent connection = %v; want the server to close it", err)
	}
}
