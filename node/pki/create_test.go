package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"slices"
	"testing"
	"time"
)

func parseOne(t *testing.T, certPEM []byte) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(certPEM)
	if b == nil || b.Type != "CERTIFICATE" {
		t.Fatalf("no CERTIFICATE block in %q", certPEM)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCreateCA(t *testing.T) {
	for _, tc := range []struct {
		opts     CAOptions
		wantName string
		wantLife time.Duration
	}{
		{CAOptions{}, "GAMESA CA gamesa", DefaultCAValidity},
		{CAOptions{Domain: "lan.example", Validity: 48 * time.Hour}, "GAMESA CA lan.example", 48 * time.Hour},
	} {
		certPEM, keyPEM, err := CreateCA(tc.opts)
		if err != nil {
			t.Fatalf("CreateCA(%+v): %v", tc.opts, err)
		}
		c := parseOne(t, certPEM)
		if c.Subject.CommonName != tc.wantName {
			t.Errorf("CreateCA(%+v) name = %q; want %q", tc.opts, c.Subject.CommonName, tc.wantName)
		}
		if !c.IsCA || !c.BasicConstraintsValid || c.MaxPathLen != 0 || !c.MaxPathLenZero {
			t.Errorf("CreateCA(%+v): IsCA %v, constraints %v, MaxPathLen %d (zero %v); want a CA with path length 0",
				tc.opts, c.IsCA, c.BasicConstraintsValid, c.MaxPathLen, c.MaxPathLenZero)
		}
		if c.KeyUsage&x509.KeyUsageCertSign == 0 {
			t.Errorf("CreateCA(%+v) key usage %b lacks cert sign", tc.opts, c.KeyUsage)
		}
		if pub, ok := c.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
			t.Errorf("CreateCA(%+v) key is %T; want ECDSA P-256", tc.opts, c.PublicKey)
		}
		if len(c.SubjectKeyId) != 20 || c.SerialNumber.Sign() <= 0 {
			t.Errorf("CreateCA(%+v): subject key id %x, serial %v; want 20 bytes and a positive serial", tc.opts, c.SubjectKeyId, c.SerialNumber)
		}
		if life := c.NotAfter.Sub(c.NotBefore) - backdate; life < tc.wantLife-time.Minute || life > tc.wantLife+time.Minute {
			t.Errorf("CreateCA(%+v) validity %v; want %v", tc.opts, life, tc.wantLife)
		}
		if err := c.CheckSignatureFrom(c); err != nil {
			t.Errorf("CreateCA(%+v) is not self-signed: %v", tc.opts, err)
		}
		if _, _, err := ParseCA(certPEM, keyPEM); err != nil {
			t.Errorf("ParseCA(CreateCA(%+v)): %v", tc.opts, err)
		}
	}
	// Serials are random: two CAs never share one.
	a, _, _ := CreateCA(CAOptions{})
	b, _, _ := CreateCA(CAOptions{})
	if parseOne(t, a).SerialNumber.Cmp(parseOne(t, b).SerialNumber) == 0 {
		t.Error("two CAs have the same serial number")
	}
}

func TestCreateCAInvalid(t *testing.T) {
	for _, opts := range []CAOptions{
		{Domain: "Upper.case"},
		{Domain: "../etc"},
		{Domain: "a b"},
		{Domain: "-lead"},
		{Domain: "double..dot"},
		{Domain: "x", Validity: -time.Hour},
	} {
		if _, _, err := CreateCA(opts); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("CreateCA(%+v) = %v; want ErrInvalidOptions", opts, err)
		}
	}
}

func TestCreateCertKinds(t *testing.T) {
	ca := newTestCA(t, "lab")
	caCert := parseOne(t, ca.cert)
	roots := x509.NewCertPool()
	roots.AddCert(caCert)
	loop := []string{"127.0.0.1", "::1"}
	for _, tc := range []struct {
		opts      CertOptions
		wantCN    string
		wantDNS   []string
		wantIPs   []string
		wantUsage []x509.ExtKeyUsage
	}{
		{
			CertOptions{Kind: Server},
			"server.lab", []string{"server.lab", "localhost"}, loop,
			[]x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		},
		{
			CertOptions{Kind: Server, Domain: "lab", DNSNames: []string{"node1.lab.example", "*.rack1", "localhost"}, IPs: []net.IP{net.ParseIP("10.0.0.5"), net.ParseIP("127.0.0.1")}},
			"server.lab", []string{"server.lab", "localhost", "node1.lab.example", "*.rack1"}, append(slices.Clone(loop), "10.0.0.5"),
			[]x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		},
		{
			CertOptions{Kind: Client, IPs: []net.IP{net.ParseIP("fd00::7")}},
			"client.lab", []string{"client.lab", "localhost"}, append(slices.Clone(loop), "fd00::7"),
			[]x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		},
		{
			CertOptions{Kind: CLI},
			"cli.lab", nil, nil,
			[]x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		},
	} {
		certPEM, keyPEM, err := CreateCert(ca.cert, ca.key, tc.opts)
		if err != nil {
			t.Fatalf("CreateCert(%+v): %v", tc.opts, err)
		}
		c := parseOne(t, certPEM)
		if c.Subject.CommonName != tc.wantCN {
			t.Errorf("CreateCert(%+v) CN = %q; want %q", tc.opts, c.Subject.CommonName, tc.wantCN)
		}
		if !slices.Equal(c.DNSNames, tc.wantDNS) {
			t.Errorf("CreateCert(%+v) DNS SANs = %q; want %q", tc.opts, c.DNSNames, tc.wantDNS)
		}
		var ips []string
		for _, ip := range c.IPAddresses {
			ips = append(ips, ip.String())
		}
		if !slices.Equal(ips, tc.wantIPs) {
			t.Errorf("CreateCert(%+v) IP SANs = %q; want %q", tc.opts, ips, tc.wantIPs)
		}
		if !slices.Equal(c.ExtKeyUsage, tc.wantUsage) {
			t.Errorf("CreateCert(%+v) ext key usage = %v; want %v", tc.opts, c.ExtKeyUsage, tc.wantUsage)
		}
		if c.IsCA {
			t.Errorf("CreateCert(%+v) is a CA", tc.opts)
		}
		if !bytes.Equal(c.AuthorityKeyId, caCert.SubjectKeyId) {
			t.Errorf("CreateCert(%+v) authority key id %x; want the CA's %x", tc.opts, c.AuthorityKeyId, caCert.SubjectKeyId)
		}
		if life := c.NotAfter.Sub(c.NotBefore) - backdate; life < DefaultCertValidity-time.Minute || life > DefaultCertValidity+time.Minute {
			t.Errorf("CreateCert(%+v) validity %v; want %v", tc.opts, life, DefaultCertValidity)
		}
		if _, err := c.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: tc.wantUsage}); err != nil {
			t.Errorf("CreateCert(%+v) does not verify against its CA: %v", tc.opts, err)
		}
		if _, err := parseKey(keyPEM, "key"); err != nil {
			t.Errorf("CreateCert(%+v) key: %v", tc.opts, err)
		}
	}
}

func TestCreateCertErrors(t *testing.T) {
	ca := newTestCA(t, "gamesa")
	other := newTestCA(t, "gamesa")
	leaf, leafKey, err := CreateCert(ca.cert, ca.key, CertOptions{Kind: Server})
	if err != nil {
		t.Fatal(err)
	}
	expiredCA, expiredKey, err := CreateCA(CAOptions{Now: time.Now().Add(-48 * time.Hour), Validity: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name        string
		caPEM, key  []byte
		opts        CertOptions
		want        error
		wantMessage string
	}{
		{"outlives the CA", ca.cert, ca.key, CertOptions{Kind: Server, Validity: 6 * 365 * 24 * time.Hour}, ErrOutlivesCA, "expires"},
		{"other domain", ca.cert, ca.key, CertOptions{Kind: Server, Domain: "other"}, ErrDomainMismatch, `the CA is for "gamesa"`},
		{"CLI with names", ca.cert, ca.key, CertOptions{Kind: CLI, DNSNames: []string{"x"}}, ErrInvalidOptions, "CLI"},
		{"no kind", ca.cert, ca.key, CertOptions{}, ErrInvalidOptions, "kind"},
		{"bad DNS name", ca.cert, ca.key, CertOptions{Kind: Server, DNSNames: []string{"a/b"}}, ErrInvalidOptions, `"a/b"`},
		{"unspecified IP", ca.cert, ca.key, CertOptions{Kind: Server, IPs: []net.IP{net.IPv4zero}}, ErrInvalidOptions, "0.0.0.0"},
		{"negative validity", ca.cert, ca.key, CertOptions{Kind: Server, Validity: -time.Hour}, ErrInvalidOptions, "negative"},
		{"another CA's key", ca.cert, other.key, CertOptions{Kind: Server}, ErrKeyMismatch, "GAMESA CA gamesa"},
		{"leaf as CA", leaf, leafKey, CertOptions{Kind: Server}, ErrNotCA, "server.gamesa"},
		{"key as certificate", ca.key, ca.key, CertOptions{Kind: Server}, ErrNoPEM, "swapped"},
		{"certificate as key", ca.cert, ca.cert, CertOptions{Kind: Server}, ErrNoPEM, "swapped"},
		{"garbage", []byte("not pem"), ca.key, CertOptions{Kind: Server}, ErrNoPEM, "no PEM"},
		{"expired CA", expiredCA, expiredKey, CertOptions{Kind: Server}, ErrExpired, "expired on"},
	} {
		_, _, err := CreateCert(tc.caPEM, tc.key, tc.opts)
		if !errors.Is(err, tc.want) || !bytes.Contains([]byte(err.Error()), []byte(tc.wantMessage)) {
			t.Errorf("CreateCert(%s) = %v; want %v mentioning %q", tc.name, err, tc.want, tc.wantMessage)
		}
	}
}
