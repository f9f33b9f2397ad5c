package pki

import (
	"crypto/tls"
	"net"
	"testing"
)

// BenchmarkReloadCheck is what every handshake pays for rotation without
// restart: a stat of the certificate and the key, unchanged.
func BenchmarkReloadCheck(b *testing.B) {
	cfg, err := ServerConfig(newTestCA(b, "gamesa").issue(b, CertOptions{Kind: Server}))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := cfg.GetCertificate(nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHandshake is a full mutual TLS 1.3 handshake (both sides, over an
// in-memory pipe), for scale against BenchmarkReloadCheck.
func BenchmarkHandshake(b *testing.B) {
	ca := newTestCA(b, "gamesa")
	server, err := ServerConfig(ca.issue(b, CertOptions{Kind: Server}))
	if err != nil {
		b.Fatal(err)
	}
	client, err := ClientConfig(ca.issue(b, CertOptions{Kind: CLI}), "server.gamesa")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		c, s := net.Pipe()
		errc := make(chan error, 1)
		go func() { errc <- tls.Server(s, server).Handshake() }()
		if err := tls.Client(c, client).Handshake(); err != nil {
			b.Fatal(err)
		}
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
		c.Close()
		s.Close()
	}
}

// BenchmarkCreateCert is `gamesa tls cert create` without the disk.
func BenchmarkCreateCert(b *testing.B) {
	ca, key, err := CreateCA(CAOptions{})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, _, err := CreateCert(ca, key, CertOptions{Kind: Server}); err != nil {
			b.Fatal(err)
		}
	}
}
