package pki

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testCA is a CA written to a temporary directory, with the leaves issued
// from it written beside it.
type testCA struct {
	domain   string
	cert     []byte
	key      []byte
	dir      string
	certPath string
}

// newTestCA makes a CA dated three days back, so tests can issue
// certificates that have already expired.
func newTestCA(t testing.TB, domain string) *testCA {
	t.Helper()
	cert, key, err := CreateCA(CAOptions{Domain: domain, Now: time.Now().Add(-72 * time.Hour)})
	if err != nil {
		t.Fatalf("CreateCA(%q): %v", domain, err)
	}
	dir := t.TempDir()
	ca := &testCA{domain: domain, cert: cert, key: key, dir: dir, certPath: filepath.Join(dir, CAFile)}
	if err := WritePair(ca.certPath, filepath.Join(dir, CAKeyFile), cert, key); err != nil {
		t.Fatal(err)
	}
	return ca
}

// issue makes a leaf and writes it under the next free index.
func (ca *testCA) issue(t testing.TB, opts CertOptions) Files {
	t.Helper()
	certPEM, keyPEM, err := CreateCert(ca.cert, ca.key, opts)
	if err != nil {
		t.Fatalf("CreateCert(%v): %v", opts.Kind, err)
	}
	i, err := NextIndex(ca.dir, ca.domain, opts.Kind)
	if err != nil {
		t.Fatal(err)
	}
	c, k := CertFileNames(ca.domain, opts.Kind, i)
	f := Files{CA: ca.certPath, Cert: filepath.Join(ca.dir, c), Key: filepath.Join(ca.dir, k)}
	if err := WritePair(f.Cert, f.Key, certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	return f
}

// pemPair issues a leaf without writing it, for tls.Configs built by hand.
func (ca *testCA) pemPair(t *testing.T, opts CertOptions) tls.Certificate {
	t.Helper()
	certPEM, keyPEM, err := CreateCert(ca.cert, ca.key, opts)
	if err != nil {
		t.Fatalf("CreateCert(%v): %v", opts.Kind, err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return pair
}

func mustServer(t *testing.T, f Files, opts ...Option) *tls.Config {
	t.Helper()
	cfg, err := ServerConfig(f, opts...)
	if err != nil {
		t.Fatalf("ServerConfig(%+v): %v", f, err)
	}
	return cfg
}

func mustClient(t *testing.T, f Files, serverName string, opts ...Option) *tls.Config {
	t.Helper()
	cfg, err := ClientConfig(f, serverName, opts...)
	if err != nil {
		t.Fatalf("ClientConfig(%+v, %q): %v", f, serverName, err)
	}
	return cfg
}

// result is what each side of one handshake saw.
type result struct {
	serverErr, clientErr error
	server, client       tls.ConnectionState
}

// handshake runs one real TLS connection over 127.0.0.1; it may run on any
// goroutine, so it reports every failure in the result. The server writes
// "ok" after its handshake succeeds; the client reads it, because in TLS 1.3
// the client's handshake ends before the server has judged the client's
// certificate, and a refusal reaches the client only as an alert on read.
func handshake(t *testing.T, server, client *tls.Config) result {
	t.Helper()
	var r result
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		r.serverErr = err
		return r
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	done := make(chan struct{})
	go func() {
		defer close(done)
		raw, err := ln.Accept()
		if err != nil {
			r.serverErr = err
			return
		}
		conn := tls.Server(raw, server)
		defer conn.Close()
		if r.serverErr = conn.HandshakeContext(ctx); r.serverErr != nil {
			return
		}
		r.server = conn.ConnectionState()
		_, r.serverErr = conn.Write([]byte("ok"))
	}()

	d := tls.Dialer{Config: client, NetDialer: &net.Dialer{Timeout: 20 * time.Second}}
	conn, err := d.DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		r.clientErr = err
	} else {
		tc := conn.(*tls.Conn)
		r.client = tc.ConnectionState()
		_ = tc.SetReadDeadline(time.Now().Add(20 * time.Second)) // a failure shows as the read's error
		buf := make([]byte, 2)
		if _, err := tc.Read(buf); err != nil {
			r.clientErr = err
		} else if string(buf) != "ok" {
			r.clientErr = fmt.Errorf("server wrote %q; want ok", buf)
		}
		conn.Close()
	}
	<-done
	return r
}

// rename writes data to a temporary file in path's directory and renames it
// over path: how a careful operator rotates a file.
func rename(t *testing.T, path string, data []byte, mode os.FileMode) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}
