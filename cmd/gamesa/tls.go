package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/krystalstack/gamesa/node/auth"
	"github.com/krystalstack/gamesa/node/pki"
)

const day = 24 * time.Hour

// newTLSCmd groups the commands that make the cluster's CA and certificates,
// after `consul tls`. They need no running node.
func newTLSCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tls",
		Short: "Make the cluster CA and the nodes' certificates for mutual TLS",
		Long: `Make a cluster CA once, then one certificate per machine from it:
--server for the Raft voters, --client for every other agent, --cli for tools
that only dial (gamesa status, a Go client). Files are never overwritten; keys
are written 0600. Keep the CA key off the nodes.`,
		Example: `  gamesa tls ca create
  gamesa tls cert create --server --dns node1.lan --ip 192.168.1.10
  gamesa tls cert create --client
  gamesa tls cert create --cli`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// Flag parse errors are usage errors (exit 2), as under the root.
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	ca := &cobra.Command{Use: "ca", Short: "The cluster's certificate authority"}
	ca.AddCommand(newTLSCACreateCmd())
	cert := &cobra.Command{Use: "cert", Short: "Certificates signed by the cluster CA"}
	cert.AddCommand(newTLSCertCreateCmd())
	cmd.AddCommand(ca, cert)
	return cmd
}

func newTLSCACreateCmd() *cobra.Command {
	var (
		domain string
		days   int
		dir    string
	)
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create the cluster CA: " + pki.CAFile + " and " + pki.CAKeyFile,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if days < 1 {
				return usageError{fmt.Errorf("--days must be at least 1; got %d", days)}
			}
			certPEM, keyPEM, err := pki.CreateCA(pki.CAOptions{Domain: domain, Validity: time.Duration(days) * day})
			if err != nil {
				return tlsError(err)
			}
			certPath, keyPath := filepath.Join(dir, pki.CAFile), filepath.Join(dir, pki.CAKeyFile)
			if err := pki.WritePair(certPath, keyPath, certPEM, keyPEM); err != nil {
				return err
			}
			return printWritten(cmd.OutOrStdout(), certPath, keyPath)
		},
	}
	cmd.Flags().StringVar(&domain, "domain", pki.DefaultDomain, "the cluster's domain: servers are named server.<domain>")
	cmd.Flags().IntVar(&days, "days", int(pki.DefaultCAValidity/day), "days the CA is valid")
	cmd.Flags().StringVar(&dir, "dir", ".", "directory to write the files to")
	return cmd
}

func newTLSCertCreateCmd() *cobra.Command {
	var (
		server, client, cli bool
		index               int
		dnsNames, ips       []string
		days                int
		caFile, caKeyFile   string
		domain, dir         string
	)
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create a certificate and key signed by the cluster CA",
		Long: `Create a certificate and key signed by the cluster CA, named like consul's:
<domain>-<kind>-gamesa-<N>.pem and <domain>-<kind>-gamesa-<N>-key.pem, N one past
the highest already in --dir unless --node-index says otherwise.

--server: a Raft voter, named server.<domain>. --client: any other agent, named
client.<domain>. Both also carry localhost, 127.0.0.1 and ::1, plus --dns and
--ip, and can serve and dial. --cli: a tool that only dials.`,
		Example: `  gamesa tls cert create --server --dns node1.lan --ip 192.168.1.10
  gamesa tls cert create --cli --days 30`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var kind pki.Kind
			n := 0
			for _, k := range []struct {
				set  bool
				kind pki.Kind
			}{{server, pki.Server}, {client, pki.Client}, {cli, pki.CLI}} {
				if k.set {
					kind = k.kind
					n++
				}
			}
			if n != 1 {
				return usageError{errors.New("give exactly one of --server, --client and --cli")}
			}
			if days < 1 {
				return usageError{fmt.Errorf("--days must be at least 1; got %d", days)}
			}
			if index < -1 {
				return usageError{fmt.Errorf("--node-index must be 0 or more; got %d", index)}
			}
			opts := pki.CertOptions{Kind: kind, Domain: domain, DNSNames: dnsNames, Validity: time.Duration(days) * day}
			for _, s := range ips {
				ip := net.ParseIP(s)
				if ip == nil {
					return usageError{fmt.Errorf("--ip %q is not an IP address", s)}
				}
				opts.IPs = append(opts.IPs, ip)
			}
			if caFile == "" {
				caFile = filepath.Join(dir, pki.CAFile)
			}
			if caKeyFile == "" {
				caKeyFile = filepath.Join(dir, pki.CAKeyFile)
			}
			caPEM, err := os.ReadFile(caFile)
			if err != nil {
				return fmt.Errorf("reading the CA (make one with gamesa tls ca create, or pass --ca): %w", err)
			}
			caKey, err := os.ReadFile(caKeyFile)
			if err != nil {
				return fmt.Errorf("reading the CA key (pass --key): %w", err)
			}
			certPEM, keyPEM, err := pki.CreateCert(caPEM, caKey, opts)
			if err != nil {
				return tlsError(err)
			}
			if index == -1 {
				if index, err = pki.NextIndex(dir, domain, kind); err != nil {
					return err
				}
			}
			certName, keyName := pki.CertFileNames(domain, kind, index)
			certPath, keyPath := filepath.Join(dir, certName), filepath.Join(dir, keyName)
			if err := pki.WritePair(certPath, keyPath, certPEM, keyPEM); err != nil {
				return err
			}
			return printWritten(cmd.OutOrStdout(), certPath, keyPath)
		},
	}
	fs := cmd.Flags()
	fs.BoolVar(&server, "server", false, "a certificate for a server (Raft voter)")
	fs.BoolVar(&client, "client", false, "a certificate for an agent that is not a server")
	fs.BoolVar(&cli, "cli", false, "a certificate for a tool that only dials")
	fs.IntVar(&index, "node-index", -1, "N in the file names (default: one past the highest in --dir)")
	fs.StringArrayVar(&dnsNames, "dns", nil, "another DNS name for the certificate (repeatable)")
	fs.StringArrayVar(&ips, "ip", nil, "another IP address for the certificate (repeatable)")
	fs.IntVar(&days, "days", int(pki.DefaultCertValidity/day), "days the certificate is valid")
	fs.StringVar(&caFile, "ca", "", "the CA certificate (default: <dir>/"+pki.CAFile+")")
	fs.StringVar(&caKeyFile, "key", "", "the CA key (default: <dir>/"+pki.CAKeyFile+")")
	fs.StringVar(&domain, "domain", pki.DefaultDomain, "the cluster's domain, as given to gamesa tls ca create")
	fs.StringVar(&dir, "dir", ".", "directory to write the files to")
	return cmd
}

// tlsError marks the pki errors a user fixes with other flags as usage
// errors.
func tlsError(err error) error {
	if errors.Is(err, pki.ErrDomainMismatch) {
		return usageError{fmt.Errorf("pass the CA's domain with --domain: %w", err)}
	}
	for _, target := range []error{pki.ErrInvalidOptions, pki.ErrOutlivesCA} {
		if errors.Is(err, target) {
			return usageError{err}
		}
	}
	return err
}

func printWritten(w io.Writer, paths ...string) error {
	for _, p := range paths {
		if _, err := fmt.Fprintln(w, "wrote", p); err != nil {
			return err
		}
	}
	return nil
}

// newACLCmd groups the commands for the gRPC API's bearer tokens.
func newACLCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:           "acl",
		Short:         "Bearer tokens for the gRPC API",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	token := &cobra.Command{Use: "token", Short: "Tokens of scope read or admin"}
	token.AddCommand(newACLTokenCreateCmd())
	cmd.AddCommand(token)
	return cmd
}

func newACLTokenCreateCmd() *cobra.Command {
	var scope, name string
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Print a new random token as a line of a tokens file",
		Long: `Print a new random token (256 bits, base64url) as a line of a tokens file:
"<scope> <token> [name]". Append it to the node's tokens file (mode 0600), and
give the token to whoever calls the API.`,
		Example: `  gamesa acl token create --scope admin --name alice >> /etc/gamesa/tokens`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := auth.ParseScope(scope); err != nil {
				return usageError{fmt.Errorf("--scope must be read or admin; got %q", scope)}
			}
			token, err := auth.GenerateToken()
			if err != nil {
				return err
			}
			line := scope + " " + token
			if name != "" {
				line += " " + name
			}
			// The tokens file parser is the judge of a good name.
			if _, err := auth.ParseTokens([]byte(line)); err != nil {
				return usageError{fmt.Errorf("--name must be one word of letters, digits, '.', '_', '@' or '-', at most 64 characters; got %q", name)}
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), line)
			return err
		},
	}
	cmd.Flags().StringVar(&scope, "scope", "read", "read (may look) or admin (may also change things)")
	cmd.Flags().StringVar(&name, "name", "", "the token's name, which the node logs (default: line-<n> in the file)")
	return cmd
}
