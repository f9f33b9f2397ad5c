package pki

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestHandshake(t *testing.T) {
	ca := newTestCA(t, "gamesa")
	other := newTestCA(t, "gamesa") // same names, different CA
	server := ca.issue(t, CertOptions{Kind: Server})
	client := ca.issue(t, CertOptions{Kind: Client})
	cli := ca.issue(t, CertOptions{Kind: CLI})
	foreign := other.issue(t, CertOptions{Kind: Client})
	past := time.Now().Add(-48 * time.Hour)
	expired := ca.pemPair(t, CertOptions{Kind: Client, Now: past, Validity: 24 * time.Hour})

	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.cert)
	// handBuilt is a client config that skips ClientConfig's own checks, to
	// show what the server does with a certificate ClientConfig would refuse
	// to load.
	handBuilt := func(certs ...tls.Certificate) *tls.Config {
		return &tls.Config{RootCAs: roots, ServerName: "server.gamesa", Certificates: certs, MinVersion: tls.VersionTLS13}
	}
	// foreignClient trusts our CA (so it reaches the server's check) but
	// presents a certificate from the other CA.
	foreignClient := mustClient(t, Files{CA: ca.certPath, Cert: client.Cert, Key: client.Key}, "server.gamesa")
	foreignPair, err := tls.LoadX509KeyPair(foreign.Cert, foreign.Key)
	if err != nil {
		t.Fatal(err)
	}
	foreignClient.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &foreignPair, nil }

	for _, tc := range []struct {
		name          string
		server        *tls.Config
		client        *tls.Config
		wantPeerCN    string // the client's name as the server saw it
		wantServerErr string // empty: success
		wantClientErr string
	}{
		{"server and client agent", mustServer(t, server), mustClient(t, client, "server.gamesa"), "client.gamesa", "", ""},
		{"server and server", mustServer(t, server), mustClient(t, server, "server.gamesa"), "server.gamesa", "", ""},
		{"server and cli", mustServer(t, server), mustClient(t, cli, "server.gamesa"), "cli.gamesa", "", ""},
		{"client agent serving", mustServer(t, client), mustClient(t, cli, "client.gamesa"), "cli.gamesa", "", ""},
		{"by localhost", mustServer(t, server), mustClient(t, cli, "localhost"), "cli.gamesa", "", ""},
		{"by 127.0.0.1", mustServer(t, server), mustClient(t, cli, "127.0.0.1"), "cli.gamesa", "", ""},
		{"client certificate from another CA", mustServer(t, server), foreignClient, "", "unknown authority", "unknown certificate authority"},
		{"no client certificate", mustServer(t, server), handBuilt(), "", "didn't provide a certificate", "certificate required"},
		{"expired client certificate", mustServer(t, server), handBuilt(expired), "", "expired", "expired certificate"},
		{"wrong server name", mustServer(t, server), mustClient(t, cli, "server.other"), "", "bad certificate", "not server.other"},
		{"dialing a client agent as a server", mustServer(t, client), mustClient(t, cli, "server.gamesa"), "", "bad certificate", "not server.gamesa"},
		{"server from another CA", mustServer(t, foreign), mustClient(t, cli, "client.gamesa"), "", "bad certificate", "unknown authority"},
		{"peer: server", mustPeer(t, server, "server.gamesa"), mustClient(t, server, "server.gamesa"), "server.gamesa", "", ""},
		{"peer: client agent", mustPeer(t, server, "server.gamesa"), mustClient(t, client, "server.gamesa"), "", ErrPeerName.Error(), "bad certificate"},
		{"peer: cli", mustPeer(t, server, "server.gamesa"), mustClient(t, cli, "server.gamesa"), "", ErrPeerName.Error(), "bad certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := handshake(t, tc.server, tc.client)
			if tc.wantServerErr == "" {
				if r.serverErr != nil || r.clientErr != nil {
					t.Fatalf("handshake: server %v, client %v; want success", r.serverErr, r.clientErr)
				}
				if r.server.Version != tls.VersionTLS13 {
					t.Errorf("handshake version %x; want TLS 1.3", r.server.Version)
				}
				if got := r.server.PeerCertificates[0].Subject.CommonName; got != tc.wantPeerCN {
					t.Errorf("server saw client %q; want %q", got, tc.wantPeerCN)
				}
				return
			}
			if r.serverErr == nil || !strings.Contains(r.serverErr.Error(), tc.wantServerErr) {
				t.Errorf("server handshake error = %v; want one mentioning %q", r.serverErr, tc.wantServerErr)
			}
			if r.clientErr == nil || !strings.Contains(r.clientErr.Error(), tc.wantClientErr) {
				t.Errorf("client error = %v; want one mentioning %q", r.clientErr, tc.wantClientErr)
			}
		})
	}
}

func mustPeer(t *testing.T, f Files, name string) *tls.Config {
	t.Helper()
	cfg, err := PeerConfig(f, name)
	if err != nil {
		t.Fatalf("PeerConfig(%+v, %q): %v", f, name, err)
	}
	return cfg
}

// TestTLS12Refused: a client that stops at TLS 1.2 does not get in.
func TestTLS12Refused(t *testing.T) {
	ca := newTestCA(t, "gamesa")
	server := ca.issue(t, CertOptions{Kind: Server})
	client := mustClient(t, ca.issue(t, CertOptions{Kind: CLI}), "server.gamesa")
	client.MaxVersion = tls.VersionTLS12
	client.MinVersion = tls.VersionTLS12
	r := handshake(t, mustServer(t, server), client)
	if r.serverErr == nil || r.clientErr == nil {
		t.Fatalf("TLS 1.2 handshake: server %v, client %v; want both to fail", r.serverErr, r.clientErr)
	}
}

// TestLoadErrors: what ServerConfig and ClientConfig refuse, and that the
// error names the file (and the dates, for validity).
func TestLoadErrors(t *testing.T) {
	ca := newTestCA(t, "gamesa")
	other := newTestCA(t, "gamesa")
	server := ca.issue(t, CertOptions{Kind: Server})
	cli := ca.issue(t, CertOptions{Kind: CLI})
	foreign := other.issue(t, CertOptions{Kind: Server})
	expired := ca.issue(t, CertOptions{Kind: Server, Now: time.Now().Add(-48 * time.Hour), Validity: 24 * time.Hour})
	future := ca.issue(t, CertOptions{Kind: Server, Now: time.Now().Add(48 * time.Hour), Validity: 24 * time.Hour})
	missing := filepath.Join(t.TempDir(), "missing.pem")
	expiredCA := filepath.Join(t.TempDir(), "old-ca.pem")
	oldCA, _, err := CreateCA(CAOptions{Now: time.Now().Add(-48 * time.Hour), Validity: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(expiredCA, oldCA, 0o644); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name     string
		files    Files
		client   bool // ClientConfig instead of ServerConfig
		want     error
		mentions []string
	}{
		{"missing CA", Files{CA: missing, Cert: server.Cert, Key: server.Key}, false, fs.ErrNotExist, []string{missing}},
		{"missing certificate", Files{CA: ca.certPath, Cert: missing, Key: server.Key}, false, fs.ErrNotExist, []string{missing}},
		{"missing key", Files{CA: ca.certPath, Cert: server.Cert, Key: missing}, true, fs.ErrNotExist, []string{missing}},
		{"unset file", Files{CA: ca.certPath, Cert: server.Cert}, false, ErrInvalidOptions, []string{"key"}},
		{"key of another certificate", Files{CA: ca.certPath, Cert: server.Cert, Key: cli.Key}, false, ErrKeyMismatch, []string{cli.Key, server.Cert}},
		{"not signed by the CA", Files{CA: ca.certPath, Cert: foreign.Cert, Key: foreign.Key}, false, ErrNotSignedByCA, []string{foreign.Cert, ca.certPath}},
		{"expired", Files{CA: ca.certPath, Cert: expired.Cert, Key: expired.Key}, false, ErrExpired, []string{expired.Cert, "expired on", "valid from"}},
		{"not yet valid", Files{CA: ca.certPath, Cert: future.Cert, Key: future.Key}, true, ErrNotYetValid, []string{future.Cert, "clock"}},
		{"cli certificate serving", Files{CA: ca.certPath, Cert: cli.Cert, Key: cli.Key}, false, ErrWrongUsage, []string{cli.Cert, "cannot serve"}},
		{"swapped certificate and key", Files{CA: ca.certPath, Cert: server.Key, Key: server.Cert}, false, ErrNoPEM, []string{server.Key, "swapped"}},
		{"leaf as CA", Files{CA: server.Cert, Cert: server.Cert, Key: server.Key}, false, ErrNotCA, []string{server.Cert}},
		{"expired CA", Files{CA: expiredCA, Cert: server.Cert, Key: server.Key}, true, ErrExpired, []string{expiredCA, "expired on"}},
	} {
		var err error
		if tc.client {
			_, err = ClientConfig(tc.files, "server.gamesa")
		} else {
			_, err = ServerConfig(tc.files)
		}
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: config(%+v) = %v; want %v", tc.name, tc.files, err, tc.want)
			continue
		}
		for _, m := range tc.mentions {
			if !strings.Contains(err.Error(), m) {
				t.Errorf("%s: error %q does not mention %q", tc.name, err, m)
			}
		}
	}
	if _, err := ClientConfig(server, ""); !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("ClientConfig with no server name = %v; want ErrInvalidOptions", err)
	}
	if _, err := PeerConfig(server, ""); !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("PeerConfig with no peer name = %v; want ErrInvalidOptions", err)
	}
}

// TestCABundle: during a CA rotation the CA file holds both CAs, and
// certificates from either are accepted.
func TestCABundle(t *testing.T) {
	oldCA, newCA := newTestCA(t, "gamesa"), newTestCA(t, "gamesa")
	bundle := filepath.Join(t.TempDir(), "bundle.pem")
	if err := os.WriteFile(bundle, append(append([]byte{}, oldCA.cert...), newCA.cert...), 0o644); err != nil {
		t.Fatal(err)
	}
	server := oldCA.issue(t, CertOptions{Kind: Server})
	server.CA = bundle
	for _, ca := range []*testCA{oldCA, newCA} {
		client := ca.issue(t, CertOptions{Kind: Client})
		client.CA = bundle
		if r := handshake(t, mustServer(t, server), mustClient(t, client, "server.gamesa")); r.serverErr != nil || r.clientErr != nil {
			t.Errorf("handshake with a bundle, client from %s: server %v, client %v; want success", ca.certPath, r.serverErr, r.clientErr)
		}
	}
}

// logBuffer collects log lines from concurrent handshakes.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

// TestRotation: new files on disk are served at the next handshake, on the
// server and on the client side, and a broken pair leaves the last good one
// in service (logged once).
func TestRotation(t *testing.T) {
	ca := newTestCA(t, "gamesa")
	server := ca.issue(t, CertOptions{Kind: Server})
	client := ca.issue(t, CertOptions{Kind: Client})
	logs := &logBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	sc := mustServer(t, server, WithLogger(log))
	cc := mustClient(t, client, "server.gamesa", WithLogger(log))

	serials := func() (server, client string) {
		t.Helper()
		r := handshake(t, sc, cc)
		if r.serverErr != nil || r.clientErr != nil {
			t.Fatalf("handshake: server %v, client %v", r.serverErr, r.clientErr)
		}
		return r.client.PeerCertificates[0].SerialNumber.String(), r.server.PeerCertificates[0].SerialNumber.String()
	}
	s0, c0 := serials()

	// Rotate both, key first, as the doc says.
	newServer := ca.issue(t, CertOptions{Kind: Server})
	newClient := ca.issue(t, CertOptions{Kind: Client})
	for _, p := range []struct{ from, to Files }{{newServer, server}, {newClient, client}} {
		keyPEM, _ := os.ReadFile(p.from.Key)
		certPEM, _ := os.ReadFile(p.from.Cert)
		rename(t, p.to.Key, keyPEM, KeyMode)
		rename(t, p.to.Cert, certPEM, CertMode)
	}
	s1, c1 := serials()
	if want := serialOf(t, newServer.Cert); s1 != want || s1 == s0 {
		t.Errorf("after rotation the server presents serial %s; want the new %s (old %s)", s1, want, s0)
	}
	if want := serialOf(t, newClient.Cert); c1 != want || c1 == c0 {
		t.Errorf("after rotation the client presents serial %s; want the new %s (old %s)", c1, want, c0)
	}
	if n := logs.count("loaded a new certificate"); n != 2 {
		t.Errorf("%d reloads logged; want 2\n%s", n, logs.b.String())
	}

	// A key that is not the certificate's: keep serving the last good pair.
	wrongKey, _ := os.ReadFile(client.Key)
	rename(t, server.Key, wrongKey, KeyMode)
	for range 3 {
		if s, _ := serials(); s != s1 {
			t.Errorf("with a broken pair on disk the server presents %s; want the last good %s", s, s1)
		}
	}
	if n := logs.count("keeping the current certificate"); n != 1 {
		t.Errorf("a broken pair was logged %d times over 3 handshakes; want once\n%s", n, logs.b.String())
	}
	// The file vanishes mid-rotation: still the last good pair.
	if err := os.Remove(server.Cert); err != nil {
		t.Fatal(err)
	}
	if s, _ := serials(); s != s1 {
		t.Errorf("with the certificate file gone the server presents %s; want %s", s, s1)
	}
}

func serialOf(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return parseOne(t, b).SerialNumber.String()
}

// TestRotationConcurrent: handshakes running while the files are rotated
// (key first, so there is a window with a mismatched pair on disk) all
// succeed: each is served a whole, valid pair.
func TestRotationConcurrent(t *testing.T) {
	ca := newTestCA(t, "gamesa")
	server := ca.issue(t, CertOptions{Kind: Server})
	sc := mustServer(t, server)
	cc := mustClient(t, ca.issue(t, CertOptions{Kind: CLI}), "server.gamesa")
	next := make([]Files, 5)
	for i := range next {
		next[i] = ca.issue(t, CertOptions{Kind: Server})
	}

	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 4 {
		wg.Go(func() {
			for range 10 {
				if r := handshake(t, sc, cc); r.serverErr != nil || r.clientErr != nil {
					errs <- errors.Join(r.serverErr, r.clientErr)
				}
			}
		})
	}
	for _, f := range next {
		keyPEM, _ := os.ReadFile(f.Key)
		certPEM, _ := os.ReadFile(f.Cert)
		rename(t, server.Key, keyPEM, KeyMode)
		rename(t, server.Cert, certPEM, CertMode)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("handshake during rotation: %v", err)
	}
	// After the last rotation the last pair is served.
	r := handshake(t, sc, cc)
	if got, want := r.client.PeerCertificates[0].SerialNumber.String(), serialOf(t, next[len(next)-1].Cert); got != want {
		t.Errorf("after rotating 5 times the server presents %s; want the last, %s", got, want)
	}
}
