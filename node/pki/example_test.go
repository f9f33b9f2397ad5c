package pki_test

import (
	"crypto/tls"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/krystalstack/gamesa/node/pki"
)

// A cluster CA, a server certificate, and mutual TLS between a server and a
// tool: what `gamesa tls ca create`, `gamesa tls cert create` and an agent
// do.
func Example() {
	dir, err := os.MkdirTemp("", "pki")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// Once per cluster.
	caPEM, caKey, err := pki.CreateCA(pki.CAOptions{Domain: "gamesa"})
	if err != nil {
		log.Fatal(err)
	}
	caFile := filepath.Join(dir, pki.CAFile)
	if err := pki.WritePair(caFile, filepath.Join(dir, pki.CAKeyFile), caPEM, caKey); err != nil {
		log.Fatal(err)
	}

	// Once per machine.
	issue := func(kind pki.Kind) pki.Files {
		certPEM, keyPEM, err := pki.CreateCert(caPEM, caKey, pki.CertOptions{Kind: kind})
		if err != nil {
			log.Fatal(err)
		}
		i, err := pki.NextIndex(dir, "gamesa", kind)
		if err != nil {
			log.Fatal(err)
		}
		cert, key := pki.CertFileNames("gamesa", kind, i)
		f := pki.Files{CA: caFile, Cert: filepath.Join(dir, cert), Key: filepath.Join(dir, key)}
		if err := pki.WritePair(f.Cert, f.Key, certPEM, keyPEM); err != nil {
			log.Fatal(err)
		}
		fmt.Println("wrote", cert, key)
		return f
	}
	server, cli := issue(pki.Server), issue(pki.CLI)

	// The server listens; the tool dials and verifies the name servers share.
	serverCfg, err := pki.ServerConfig(server)
	if err != nil {
		log.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", serverCfg)
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = c.Write([]byte("hello")) // the handshake happens here
	}()
	clientCfg, err := pki.ClientConfig(cli, pki.Server.Name("gamesa"))
	if err != nil {
		log.Fatal(err)
	}
	conn, err := tls.Dial("tcp", ln.Addr().String(), clientCfg)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	buf := make([]byte, 5)
	if _, err := conn.Read(buf); err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(buf), "from", conn.ConnectionState().PeerCertificates[0].Subject.CommonName)
	// Output:
	// wrote gamesa-server-gamesa-0.pem gamesa-server-gamesa-0-key.pem
	// wrote gamesa-cli-gamesa-0.pem gamesa-cli-gamesa-0-key.pem
	// hello from server.gamesa
}
