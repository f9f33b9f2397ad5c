package main

import (
	"bytes"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/krystalstack/gamesa/node/auth"
	"github.com/krystalstack/gamesa/node/pki"
)

// execute runs a command tree in-process, as the root would.
func execute(cmd *cobra.Command, args ...string) (string, error) {
	var out bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	err := cmd.Execute()
	return out.String(), err
}

func runTLS(t *testing.T, args ...string) string {
	t.Helper()
	out, err := execute(newTLSCmd(), args...)
	if err != nil {
		t.Fatalf("gamesa tls %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// TestTLSCommands makes a CA and certificates with the commands and then
// shakes hands with the files they wrote.
func TestTLSCommands(t *testing.T) {
	dir := t.TempDir()
	caCert, caKey := filepath.Join(dir, pki.CAFile), filepath.Join(dir, pki.CAKeyFile)
	if out := runTLS(t, "ca", "create", "--dir", dir); out != "wrote "+caCert+"\nwrote "+caKey+"\n" {
		t.Errorf("tls ca create printed %q; want the two files", out)
	}
	server0 := filepath.Join(dir, "gamesa-server-gamesa-0")
	if out := runTLS(t, "cert", "create", "--server", "--dir", dir, "--dns", "node1.lan", "--ip", "10.1.2.3"); out != "wrote "+server0+".pem\nwrote "+server0+"-key.pem\n" {
		t.Errorf("tls cert create --server printed %q; want %s.pem and -key.pem", out, server0)
	}
	// The index counts up, per kind.
	if out := runTLS(t, "cert", "create", "--server", "--dir", dir, "--days", "30"); !strings.Contains(out, "gamesa-server-gamesa-1.pem") {
		t.Errorf("second tls cert create --server printed %q; want index 1", out)
	}
	if out := runTLS(t, "cert", "create", "--cli", "--dir", dir); !strings.Contains(out, "gamesa-cli-gamesa-0-key.pem") {
		t.Errorf("tls cert create --cli printed %q; want index 0", out)
	}
	// --ca and --key from elsewhere, an explicit index, another output dir.
	other := t.TempDir()
	if out := runTLS(t, "cert", "create", "--client", "--dir", other, "--ca", caCert, "--key", caKey, "--node-index", "7"); !strings.Contains(out, filepath.Join(other, "gamesa-client-gamesa-7.pem")) {
		t.Errorf("tls cert create --client --node-index 7 printed %q", out)
	}

	for path, want := range map[string]os.FileMode{caCert: 0o644, caKey: 0o600, server0 + ".pem": 0o644, server0 + "-key.pem": 0o600} {
		if st, err := os.Stat(path); err != nil || st.Mode().Perm() != want {
			t.Errorf("%s: %v, %v; want mode %o", path, st, err, want)
		}
	}

	server, err := pki.ServerConfig(pki.Files{CA: caCert, Cert: server0 + ".pem", Key: server0 + "-key.pem"})
	if err != nil {
		t.Fatal(err)
	}
	client, err := pki.ClientConfig(pki.Files{CA: caCert, Cert: filepath.Join(dir, "gamesa-cli-gamesa-0.pem"), Key: filepath.Join(dir, "gamesa-cli-gamesa-0-key.pem")}, "server.gamesa")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", server)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			peer <- err.Error()
			return
		}
		defer c.Close()
		tc := c.(*tls.Conn)
		if err := tc.Handshake(); err != nil {
			peer <- err.Error()
			return
		}
		peer <- tc.ConnectionState().PeerCertificates[0].Subject.CommonName
		_, _ = tc.Write([]byte("ok")) // the client waits for it; its failure shows there
	}()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 20 * time.Second}, "tcp", ln.Addr().String(), client)
	if err != nil {
		t.Fatalf("dial with the written files: %v", err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second)) // the read's error is the failure
	if _, err := conn.Read(make([]byte, 2)); err != nil {
		t.Fatalf("read over TLS: %v", err)
	}
	if got := <-peer; got != "cli.gamesa" {
		t.Errorf("server saw %q; want cli.gamesa", got)
	}
	leaf := conn.ConnectionState().PeerCertificates[0]
	if !strings.Contains(strings.Join(leaf.DNSNames, " "), "node1.lan") || len(leaf.IPAddresses) != 3 {
		t.Errorf("server certificate SANs %q %v; want node1.lan and 10.1.2.3 besides loopback", leaf.DNSNames, leaf.IPAddresses)
	}
}

func TestTLSCommandErrors(t *testing.T) {
	dir := t.TempDir()
	runTLS(t, "ca", "create", "--dir", dir, "--domain", "lab")
	empty := t.TempDir()
	for _, tc := range []struct {
		args      []string
		wantUsage bool
		mentions  string
	}{
		{[]string{"cert", "create", "--dir", dir, "--domain", "lab"}, true, "exactly one"},
		{[]string{"cert", "create", "--server", "--client", "--dir", dir, "--domain", "lab"}, true, "exactly one"},
		{[]string{"cert", "create", "--server", "--dir", dir, "--domain", "lab", "--days", "0"}, true, "--days"},
		{[]string{"cert", "create", "--server", "--dir", dir, "--domain", "lab", "--days", "9999"}, true, "outlive"},
		{[]string{"cert", "create", "--server", "--dir", dir, "--domain", "lab", "--ip", "10.0.0.300"}, true, "10.0.0.300"},
		{[]string{"cert", "create", "--server", "--dir", dir, "--domain", "lab", "--dns", "a b"}, true, `"a b"`},
		{[]string{"cert", "create", "--cli", "--dir", dir, "--domain", "lab", "--dns", "x"}, true, "CLI"},
		{[]string{"cert", "create", "--server", "--dir", dir}, true, `the CA is for "lab"`},
		{[]string{"cert", "create", "--server", "--dir", dir, "--bogus"}, true, "bogus"},
		{[]string{"cert", "create", "--server", "--dir", empty}, false, "gamesa tls ca create"},
		{[]string{"ca", "create", "--dir", dir}, false, "already exists"},
		{[]string{"ca", "create", "--dir", empty, "--domain", "../x"}, true, "domain"},
		{[]string{"ca", "create", "--dir", empty, "--days", "-1"}, true, "--days"},
	} {
		out, err := execute(newTLSCmd(), tc.args...)
		var ue usageError
		if err == nil || errors.As(err, &ue) != tc.wantUsage || !strings.Contains(err.Error(), tc.mentions) {
			t.Errorf("gamesa tls %s = %v (usage %v); want an error mentioning %q, usage %v\n%s",
				strings.Join(tc.args, " "), err, errors.As(err, &ue), tc.mentions, tc.wantUsage, out)
		}
	}
	// The failed runs wrote nothing: the CA and nothing else in dir, nothing in empty.
	for d, want := range map[string]int{dir: 2, empty: 0} {
		if entries, _ := os.ReadDir(d); len(entries) != want {
			t.Errorf("%s holds %d files after failed commands; want %d", d, len(entries), want)
		}
	}
}

func TestACLTokenCreate(t *testing.T) {
	seen := map[string]bool{}
	for _, tc := range []struct {
		args      []string
		wantScope auth.Scope
		wantName  string
	}{
		{nil, auth.ScopeRead, "line-1"},
		{[]string{"--scope", "admin", "--name", "alice"}, auth.ScopeAdmin, "alice"},
		{[]string{"--scope", "read", "--name", "wall.screen"}, auth.ScopeRead, "wall.screen"},
	} {
		out, err := execute(newACLCmd(), append([]string{"token", "create"}, tc.args...)...)
		if err != nil {
			t.Fatalf("acl token create %v: %v", tc.args, err)
		}
		toks, err := auth.ParseTokens([]byte(out))
		if err != nil {
			t.Fatalf("acl token create %v printed %q, not a tokens line: %v", tc.args, out, err)
		}
		token := strings.Fields(out)[1]
		if id, ok := toks.Lookup(token); !ok || id.Scope != tc.wantScope || id.Name != tc.wantName {
			t.Errorf("acl token create %v = %+v; want scope %v, name %q", tc.args, id, tc.wantScope, tc.wantName)
		}
		if seen[token] {
			t.Errorf("acl token create repeated a token")
		}
		seen[token] = true
	}
	for _, args := range [][]string{{"--scope", "root"}, {"--name", "two words"}, {"--name", strings.Repeat("n", 65)}} {
		var ue usageError
		if _, err := execute(newACLCmd(), append([]string{"token", "create"}, args...)...); !errors.As(err, &ue) {
			t.Errorf("acl token create %v = %v; want a usage error", args, err)
		}
	}
}
