// Command lan-party is the power budget at work: five simulated PCs on one
// circuit, each running something else (two games, a render, a browser,
// an idle machine), form a cluster on loopback and share a budget. Every
// tick it prints each PC's draw and cap and the totals against the
// budget: the leader gives the games the most, the idle PC its floor, and
// the caps never sum above the budget.
//
//	go run ./examples/lan-party --budget 120 --ticks 30
//
// Each simulated PC may draw up to 95 W (a 45 W laptop package and a 50 W
// GPU), and the games and the render want most of that, so 120 W for five
// of them binds.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/krystalstack/gamesa/node"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// pcs are the party's machines and what each runs. pc1 is the Raft server
// (a LAN party needs one); the others are clients.
var pcs = []struct{ id, scenario string }{
	{"pc1", "game"}, {"pc2", "game"}, {"pc3", "render"}, {"pc4", "browser"}, {"pc5", "idle"},
}

func main() {
	budget := flag.Float64("budget", 120, "the circuit's budget in watts")
	ticks := flag.Int("ticks", 30, "how many ticks to print")
	interval := flag.Duration("interval", time.Second, "time between ticks")
	flag.Parse()
	// Ctrl-C ends the party cleanly: the nodes stop and the temporary
	// data directory goes.
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	if err := run(ctx, *budget, *ticks, *interval, os.Stdout, os.Stderr); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "lan-party:", err)
		os.Exit(1)
	}
}

// run starts the party, sets the budget, prints ticks, and stops the
// nodes.
func run(ctx context.Context, budget float64, ticks int, interval time.Duration, out, logs io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	dir, err := os.MkdirTemp("", "gamesa-lan-party-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	gossip, err := freeAddr()
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelError}))

	var nodes []*node.Node
	done := make(chan error, len(pcs))
	defer func() {
		cancel()
		for range nodes {
			<-done
		}
	}()
	for i, pc := range pcs {
		cfg := node.DevConfig()
		cfg.Dev = false
		cfg.NodeID, cfg.DataDir = pc.id, dir+"/"+pc.id
		cfg.GRPC.Address, cfg.HTTP.Address = "127.0.0.1:0", "127.0.0.1:0"
		cfg.Cluster.GossipAddress, cfg.Cluster.RaftAddress = "127.0.0.1:0", "127.0.0.1:0"
		cfg.Telemetry.Source, cfg.Sim.Scenario, cfg.Sim.Seed = "sim", pc.scenario, uint64(i+1)
		cfg.ML.Enabled = false // the leader judges each PC's claim from its GPU and CPU use
		cfg.History.Disk = false
		cfg.Cluster.AllocateInterval = time.Second
		// An idle PC draws about 5 W; 10 W is room enough (the default,
		// a fifth of the 95 W ceiling, would hold 19 W for each).
		cfg.Cluster.PowerFloorWatts = 10
		cfg.Logger = log.With("pc", pc.id)
		if i == 0 {
			cfg.Cluster.GossipAddress = gossip
		} else {
			cfg.Cluster.Role = "client"
			cfg.Cluster.Join = []string{gossip}
		}
		n, err := node.New(cfg, "lan-party")
		if err != nil {
			return err
		}
		nodes = append(nodes, n)
		go func() { done <- n.Run(ctx) }()
		select {
		case <-n.Ready():
		case err := <-done:
			nodes = nodes[:len(nodes)-1]
			return fmt.Errorf("%s: %w", pc.id, err)
		}
	}

	conn, err := grpc.NewClient(nodes[0].GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	alloc := gamesav1.NewAllocationServiceClient(conn)
	cluster := gamesav1.NewClusterServiceClient(conn)

	// Every PC registers its power range with the cluster first; the
	// budget is refused while it is below the floors of those known.
	var ceilings, floors float64
	if err := waitFor(ctx, 30*time.Second, func() bool {
		res, err := alloc.GetAllocation(ctx, &gamesav1.GetAllocationRequest{Stale: true})
		if err != nil || len(res.GetNodes()) != len(pcs) {
			return false
		}
		ceilings, floors = 0, 0
		for _, n := range res.GetNodes() {
			ceilings += n.GetPowerCeilingWatts()
			floors += n.GetPowerFloorWatts()
		}
		return true
	}); err != nil {
		return fmt.Errorf("waiting for the PCs to register: %w", err)
	}
	if _, err := alloc.SetPowerBudget(ctx, &gamesav1.SetPowerBudgetRequest{BudgetWatts: budget}); err != nil {
		return fmt.Errorf("setting the budget: %w", err)
	}
	fmt.Fprintf(out, "five PCs on one circuit, budget %.0f W: uncapped they could draw %.0f W, and their floors take %.0f W\n", budget, ceilings, floors)

	t := time.NewTicker(interval)
	defer t.Stop()
	for tick := 1; tick <= ticks; tick++ {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		st, err := cluster.GetClusterState(ctx, &gamesav1.GetClusterStateRequest{Stale: true})
		if err != nil {
			return err
		}
		printTick(out, tick, budget, st)
	}
	return nil
}

// printTick prints each PC's draw and cap, and the totals.
func printTick(out io.Writer, tick int, budget float64, st *gamesav1.GetClusterStateResponse) {
	a := st.GetAllocation()
	caps := map[string]*gamesav1.NodeCap{}
	var capSum float64
	for _, c := range a.GetCaps() {
		caps[c.GetNodeId()] = c
		capSum += float64(c.GetCapMilliwatts()) / 1000
	}
	var b strings.Builder
	fmt.Fprintf(&b, "tick %2d  epoch %d\n", tick, a.GetEpoch())
	var draw float64
	members := slices.Clone(st.GetMembers())
	slices.SortFunc(members, func(x, y *gamesav1.Member) int {
		return strings.Compare(x.GetInfo().GetNodeId(), y.GetInfo().GetNodeId())
	})
	for _, m := range members {
		id := m.GetInfo().GetNodeId()
		d := m.GetDigest()
		draw += d.GetPowerWatts()
		scenario := ""
		for _, pc := range pcs {
			if pc.id == id {
				scenario = pc.scenario
			}
		}
		capText, why := "   none", ""
		if c, ok := caps[id]; ok {
			capText = fmt.Sprintf("%5.1f W", float64(c.GetCapMilliwatts())/1000)
			why = c.GetReason()
		}
		fmt.Fprintf(&b, "  %-4s %-8s draw %5.1f W  cap %s  %s\n", id, scenario, d.GetPowerWatts(), capText, why)
	}
	verdict := "within the budget"
	if draw > budget {
		verdict = fmt.Sprintf("OVER the budget by %.1f W", draw-budget)
	}
	fmt.Fprintf(&b, "  total draw %5.1f W, caps %5.1f W, budget %.0f W: %s\n", draw, capSum, budget, verdict)
	fmt.Fprint(out, b.String())
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(ctx context.Context, timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return nil
}

// freeAddr finds a free loopback port for the first PC's gossip, which
// the others join.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	return addr, l.Close()
}
