package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/krystalstack/gamesa/node"
)

// TestClientAgainstNode runs the example against a real node on the
// simulated machine, over loopback.
func TestClientAgainstNode(t *testing.T) {
	cfg := node.DevConfig()
	cfg.DataDir = t.TempDir()
	cfg.GRPC.Address, cfg.HTTP.Address = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Telemetry.Source = "sim"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	n, err := node.New(cfg, "example")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	select {
	case <-n.Ready():
	case err := <-done:
		t.Fatalf("node: %v", err)
	}

	var out bytes.Buffer
	if err := run(ctx, n.GRPCAddr().String(), 3, 100*time.Millisecond, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 || !strings.Contains(lines[0], "source sim") || !strings.HasPrefix(lines[3], "seq ") {
		t.Errorf("output:\n%s\nwant a node line and 3 sample lines", out.String())
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("node stopped with %v", err)
	}
}
