package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// clientFlags are shared by every command that talks to a node.
type clientFlags struct {
	addr    string
	output  string
	timeout time.Duration
}

func (cf *clientFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&cf.addr, "addr", "127.0.0.1:7070", "the node's gRPC address")
	fs.StringVarP(&cf.output, "output", "o", "text", "output format: text or json")
	fs.DurationVar(&cf.timeout, "timeout", 5*time.Second, "time limit for each call")
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
}

// dial connects lazily; the first call reports an unreachable node. TLS comes
// with the cluster issue; until then nodes listen on loopback or, explicitly,
// insecure.
func (cf *clientFlags) dial() (*client, error) {
	if err := cf.validate(); err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(cf.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, usageError{fmt.Errorf("--addr %q: %w", cf.addr, err)}
	}
	return &client{
		conn:    conn,
		node:    gamesav1.NewNodeServiceClient(conn),
		cluster: gamesav1.NewClusterServiceClient(conn),
	}, nil
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
