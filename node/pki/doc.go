// Package pki makes and loads the cluster's certificates: a cluster CA, a
// certificate per node signed by it, and the tls.Configs that give gRPC and
// the Raft transport mutual TLS. It is what `gamesa tls ca create` and
// `gamesa tls cert create` run, after `consul tls`.
//
// The caller's contract:
//
//  1. Once per cluster, CreateCA makes the CA and WritePair(CAFile,
//     CAKeyFile) stores it. The CA key signs certificates and nothing else:
//     keep it off the nodes.
//  2. Once per node, CreateCert makes a certificate of a Kind: Server for a
//     Raft voter (named server.<domain>), Client for any other agent
//     (client.<domain>), CLI for a tool that only dials. Server and Client
//     certificates also carry localhost, 127.0.0.1 and ::1, plus the host
//     names and addresses given. NextIndex and CertFileNames name the files
//     as consul does; WritePair never overwrites a file, writes keys 0600
//     and certificates 0644.
//  3. A node loads its Files with ServerConfig for its gRPC listener,
//     PeerConfig(Server.Name(domain)) for the Raft listener (so that only
//     servers get in), and ClientConfig(Server.Name(domain)) to dial
//     servers. Each fails at once, naming the file and the dates, for a
//     missing file, a key that is not the certificate's, a certificate the
//     CA did not sign or that cannot be used that way, or one outside its
//     validity dates. Only TLS 1.3 is spoken, and every connection is
//     mutual: a client without a certificate from the CA is refused.
//  4. Certificates are rotated without a restart: write the new key and
//     certificate under temporary names and rename them over the old ones.
//     The next handshake sees the change (one stat per file per handshake)
//     and loads the new pair if it passes the checks of step 3; if it does
//     not, the old pair stays in service and the failure is logged once
//     (WithLogger). The CA itself is read once, at ServerConfig or
//     ClientConfig time.
//
// The configs returned are ordinary *tls.Config values: use them with
// tls.Listen, tls.Dial, or gRPC's credentials.NewTLS. They are safe for
// concurrent use; the caller must not change them after the first
// handshake.
package pki
