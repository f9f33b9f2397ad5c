package consensus_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/krystalstack/gamesa/consensus"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// A single-server cluster: open, bootstrap, wait for leadership, write a
// setting with a request id, and read it back consistently.
func Example() {
	dir, err := os.MkdirTemp("", "consensus-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	cfg := consensus.DefaultConfig()
	cfg.NodeID = "n1"
	cfg.DataDir = dir
	cfg.BindAddr = "127.0.0.1:0"
	srv, err := consensus.Open(cfg)
	if err != nil {
		panic(err)
	}
	defer srv.Shutdown()

	if !srv.HasState() {
		if err := srv.Bootstrap([]consensus.Peer{{ID: cfg.NodeID, Addr: srv.Addr()}}); err != nil && !errors.Is(err, consensus.ErrAlreadyBootstrapped) {
			panic(err)
		}
	}
	leading, stop := srv.LeadershipChanges()
	defer stop()
	for isLeader := range leading {
		if isLeader {
			break
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := &gamesav1.Command{RequestId: "budget-1", Op: &gamesav1.Command_SetSetting{
		SetSetting: &gamesav1.SetSetting{Key: "power/budget", Value: "1200"},
	}}
	if _, err := srv.Apply(ctx, cmd); err != nil {
		panic(err)
	}
	// A retry with the same request id is not applied again.
	again, err := srv.Apply(ctx, cmd)
	if err != nil {
		panic(err)
	}
	st, err := srv.ConsistentState(ctx)
	if err != nil {
		panic(err)
	}
	budget, _ := st.Setting("power/budget")
	fmt.Println(budget.GetValue(), again.GetDuplicate())
	// Output: 1200 true
}
