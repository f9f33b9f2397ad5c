package alloc_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/krystalstack/gamesa/optimizer/alloc"
)

// A LAN party on one circuit: eight PCs share a 3,500 W breaker. Six are
// in a game, two sit idle. The leader splits the breaker's budget every
// interval; the idle PCs get what they draw, the gamers share the rest.
func ExampleSplitBudget() {
	cfg := alloc.DefaultSplitConfig()
	var in alloc.BudgetInput
	in.BudgetWatts = 3500
	for i := range 8 {
		pc := alloc.NodeState{
			ID: fmt.Sprintf("pc%d", i+1), Alive: true,
			FloorWatts: 60, CeilingWatts: 600,
			// What the PC would draw uncapped; the node derives it from
			// its measured draw and cap with cfg.EstimateDemand.
			DemandWatts: 550, Priority: alloc.PriorityActive,
		}
		if i >= 6 {
			pc.DemandWatts, pc.Priority = 70, alloc.PriorityIdle
		}
		in.Nodes = append(in.Nodes, pc)
	}
	split, err := alloc.SplitBudget(in, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, c := range split.Caps {
		fmt.Printf("%s %6.1f W  %s\n", c.Node, c.Watts(), c.Reason())
	}
	fmt.Printf("total %.1f W of %.0f W\n", split.Total(), in.BudgetWatts)

	// A budget that cannot cover the floors is refused, and the caps in
	// force stay.
	in.BudgetWatts = 400
	_, err = alloc.SplitBudget(in, cfg)
	fmt.Println(errors.Is(err, alloc.ErrBudgetBelowFloors), errors.Is(err, alloc.ErrInfeasible))
	// Output:
	// pc1  558.8 W  budget short: 558.8 W of the 577.5 W it wants (demand 550.0 W; priority 3, weight 8)
	// pc2  558.8 W  budget short: 558.8 W of the 577.5 W it wants (demand 550.0 W; priority 3, weight 8)
	// pc3  558.8 W  budget short: 558.8 W of the 577.5 W it wants (demand 550.0 W; priority 3, weight 8)
	// pc4  558.8 W  budget short: 558.8 W of the 577.5 W it wants (demand 550.0 W; priority 3, weight 8)
	// pc5  558.8 W  budget short: 558.8 W of the 577.5 W it wants (demand 550.0 W; priority 3, weight 8)
	// pc6  558.8 W  budget short: 558.8 W of the 577.5 W it wants (demand 550.0 W; priority 3, weight 8)
	// pc7   73.5 W  wants 73.5 W (demand 70.0 W plus margin): met
	// pc8   73.5 W  wants 73.5 W (demand 70.0 W plus margin): met
	// total 3500.0 W of 3500 W
	// true true
}

// A render farm: r3 has failed and r2 runs hot. The failed node's job
// moves at once, to r4, the node with the most thermal and power headroom;
// the new job goes to r1, now the emptier of the two cool nodes (spread);
// the hot node sheds one job (one a round), to r4; and the job asking for
// more than any node has is refused with the reason.
func ExamplePlace() {
	node := func(id string, headroomC, powerW float64) alloc.NodeState {
		return alloc.NodeState{
			ID: id, Alive: true, Cores: 32, MemBytes: 128 << 30,
			ThermalHeadroomC: headroomC, Load: 0.3,
			CapWatts: 400, PowerWatts: powerW,
		}
	}
	nodes := []alloc.NodeState{node("r1", 25, 220), node("r2", 3, 380), node("r3", 20, 0), node("r4", 30, 150)}
	nodes[2].Alive = false
	jobs := []alloc.JobSpec{
		{ID: "frame-001", Cores: 8, MemBytes: 16 << 30},
		{ID: "frame-002", Cores: 8, MemBytes: 16 << 30},
		{ID: "frame-003", Cores: 8, MemBytes: 16 << 30},
		{ID: "frame-004", Cores: 8, MemBytes: 16 << 30},
		{ID: "sim-big", Cores: 64, MemBytes: 64 << 30},
	}
	now := time.Date(2025, 6, 1, 20, 0, 0, 0, time.UTC)
	current := []alloc.Placement{
		{Job: "frame-001", Node: "r2", Since: now.Add(-time.Minute)},
		{Job: "frame-002", Node: "r2", Since: now.Add(-time.Minute)},
		{Job: "frame-003", Node: "r3", Since: now.Add(-time.Minute)},
	}
	p := alloc.DefaultPolicy()
	p.Candidates = 0 // a small farm: score every node, no rng needed
	plan, err := alloc.Place(nodes, jobs, current, now, p, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, m := range plan.Moves {
		fmt.Printf("move %s %s -> %s: %s\n", m.Job, m.From, m.To, m.Reason)
	}
	for _, pl := range plan.Placed {
		fmt.Printf("place %s on %s\n", pl.Job, pl.Node)
	}
	for _, u := range plan.Unplaced {
		fmt.Printf("unplaced %s: %v (too big: %v)\n", u.Job, u.Err, errors.Is(u.Err, alloc.ErrInsufficientResources))
	}
	// Output:
	// move frame-003 r3 -> r4: node r3 failed
	// move frame-001 r2 -> r4: node r2 over the thermal limit: 3.0 °C headroom, under 5.0 °C
	// place frame-004 on r1
	// unplaced sim-big: alloc: job "sim-big": needs more than any node has: 64 cores (most: 32 on r1): job larger than any node (too big: true)
}
