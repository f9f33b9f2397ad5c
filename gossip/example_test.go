package gossip_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/krystalstack/gamesa/gossip"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// Two meshes on loopback, the second joining the first; a digest published
// by one shows up in the other's view.
func Example() {
	key, err := gossip.GenerateKey()
	if err != nil {
		log.Fatal(err)
	}
	start := func(id string, role gossip.Role) *gossip.Mesh {
		cfg := gossip.DefaultConfig()
		cfg.NodeID = id
		cfg.BindPort = 0 // any free port; real agents use 7946
		cfg.Timing = gossip.FastTiming()
		cfg.SecretKey = key // the same key on every node
		cfg.Meta = gossip.Meta{Role: role, GRPCAddr: "127.0.0.1:7070", Version: "dev"}
		m, err := gossip.New(cfg)
		if err != nil {
			log.Fatal(err)
		}
		return m
	}
	a := start("alpha", gossip.RoleServer)
	b := start("beta", gossip.RoleClient)
	// Shutdown's error only says memberlist's transport failed to close.
	defer a.Shutdown()
	defer b.Shutdown()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := b.Join(ctx, []string{a.LocalAddr()}); err != nil {
		log.Fatal(err)
	}

	// Every tick, the node publishes its numbers.
	if err := a.Publish(&gamesav1.Digest{CpuUtilizationPercent: 42, PowerWatts: 180, AppClass: "game"}); err != nil {
		log.Fatal(err)
	}

	// Anyone reads the cluster from its view.
	for ctx.Err() == nil {
		if m, ok := b.View().Get("alpha"); ok && m.Digest != nil {
			fmt.Printf("beta sees %s (%s, %s): seq %d, cpu %.0f%%, %.0f W, %s, stale %v\n",
				m.Meta.ID, m.Meta.Role, m.State, m.Digest.GetSeq(), m.Digest.GetCpuUtilizationPercent(),
				m.Digest.GetPowerWatts(), m.Digest.GetAppClass(), m.Stale)
			break
		}
		time.Sleep(10 * time.Millisecond)
	}

	// On exit, Leave first, so that peers record "left", not "failed".
	if err := b.Leave(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// beta sees alpha (server, alive): seq 1, cpu 42%, 180 W, game, stale false
}
