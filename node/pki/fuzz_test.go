package pki

import (
	"testing"
)

// FuzzParseCA: certificate and key files come from disk, written by anyone;
// decoding them must fail cleanly, never panic.
func FuzzParseCA(f *testing.F) {
	cert, key, err := CreateCA(CAOptions{})
	if err != nil {
		f.Fatal(err)
	}
	leaf, leafKey, err := CreateCert(cert, key, CertOptions{Kind: Server})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(cert, key)
	f.Add(leaf, leafKey)
	f.Add(key, cert)
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), []byte("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"))
	f.Add([]byte("-----BEGIN RSA PRIVATE KEY-----\nMAA=\n-----END RSA PRIVATE KEY-----\n"), []byte{})
	f.Fuzz(func(t *testing.T, certPEM, keyPEM []byte) {
		ca, signer, err := ParseCA(certPEM, keyPEM)
		if err == nil && (ca == nil || signer == nil || !ca.IsCA) {
			t.Fatalf("ParseCA accepted %q: ca %v, signer %v", certPEM, ca, signer)
		}
		// The same decoders read a node's own files.
		if certs, err := parseCerts(certPEM, "fuzz"); err == nil && len(certs) == 0 {
			t.Fatal("parseCerts returned no certificates and no error")
		}
		if k, err := parseKey(keyPEM, "fuzz"); err == nil && k == nil {
			t.Fatal("parseKey returned no key and no error")
		}
	})
}
