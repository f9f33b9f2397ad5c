package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/krystalstack/gamesa/node/auth"
	"github.com/krystalstack/gamesa/node/pki"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// clientFlags are shared by every command that talks to a node.
type clientFlags struct {
	addr    string
	output  string
	timeout time.Duration
	// TLS: the cluster CA and a certificate it signed (gamesa tls cert create).
	tlsCA, tlsCert, tlsKey, tlsDomain string
	// tokenFile holds a bearer token; GAMESA_TOKEN is read when it is empty.
	tokenFile string
}

func (cf *clientFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&cf.addr, "addr", "127.0.0.1:7070", "the node's gRPC address")
	fs.StringVarP(&cf.output, "output", "o", "text", "output format: text or json")
	fs.DurationVar(&cf.timeout, "timeout", 5*time.Second, "time limit for each call")
	fs.StringVar(&cf.tlsCA, "tls-ca", "", "cluster CA certificate: talk TLS to the node (with --tls-cert and --tls-key)")
	fs.StringVar(&cf.tlsCert, "tls-cert", "", "client certificate signed by the cluster CA")
	fs.StringVar(&cf.tlsKey, "tls-key", "", "the client certificate's key")
	fs.StringVar(&cf.tlsDomain, "tls-domain", "gamesa", "the cluster's TLS domain: the node must present server.<domain> or client.<domain>")
	fs.StringVar(&cf.tokenFile, "token-file", "", "file with a bearer token (default: $GAMESA_TOKEN)")
}

func (cf *clientFlags) validate() error {
	if cf.output != "text" && cf.output != "json" {
		return usageError{fmt.Errorf("--output must be text or json; got %q", cf.output)}
	}
	if cf.timeout <= 0 {
		return usageError{fmt.Errorf("--timeout must be positive; got %v", cf.timeout)}
	}
	return nil
}

// client is a connection to one node.
type client struct {
	conn    *grpc.ClientConn
	node    gamesav1.NodeServiceClient
	cluster gamesav1.ClusterServiceClient
	act     gamesav1.ActuatorServiceClient
}

// dial connects lazily; the first call reports an unreachable node. With
// --tls-ca it speaks mutual TLS; a token goes along when one is given, and
// over plaintext only to a node on this machine.
func (cf *clientFlags) dial() (*client, error) {
	if err := cf.validate(); err != nil {
		return nil, err
	}
	opts, err := cf.dialOptions()
	if err != nil {
		return nil, usageError{err}
	}
	conn, err := grpc.NewClient(cf.addr, opts...)
	if err != nil {
		return nil, usageError{fmt.Errorf("--addr %q: %w", cf.addr, err)}
	}
	return &client{
		conn:    conn,
		node:    gamesav1.NewNodeServiceClient(conn),
		cluster: gamesav1.NewClusterServiceClient(conn),
		act:     gamesav1.NewActuatorServiceClient(conn),
	}, nil
}

func (cf *clientFlags) dialOptions() ([]grpc.DialOption, error) {
	creds := insecure.NewCredentials()
	secure := cf.tlsCA != "" || cf.tlsCert != "" || cf.tlsKey != ""
	if secure {
		tc, err := pki.AgentClientConfig(pki.Files{CA: cf.tlsCA, Cert: cf.tlsCert, Key: cf.tlsKey}, cf.tlsDomain)
		if err != nil {
			return nil, fmt.Errorf("--tls-*: %w", err)
		}
		creds = credentials.NewTLS(tc)
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(creds)}
	token := os.Getenv("GAMESA_TOKEN")
	if cf.tokenFile != "" {
		t, err := auth.ReadTokenFile(cf.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("--token-file: %w", err)
		}
		token = t
	}
	if token == "" {
		return opts, nil
	}
	if secure {
		return append(opts, grpc.WithPerRPCCredentials(auth.Bearer(token))), nil
	}
	pc, err := auth.LoopbackBearer(token, cf.addr)
	if err != nil {
		return nil, fmt.Errorf("a token without --tls-ca: %w", err)
	}
	return append(opts, grpc.WithPerRPCCredentials(pc)), nil
}

func (c *client) Close() error { return c.conn.Close() }

func (cf *clientFlags) callCtx(parent context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(parent, cf.timeout)
}

// jsonOpts writes proto messages with their proto field names, the same names
// grpcurl shows.
var jsonOpts = protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: false}

// printJSON writes one message as one line of JSON.
func printJSON(w io.Writer, m proto.Message) error {
	b, err := jsonOpts.Marshal(m)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}
