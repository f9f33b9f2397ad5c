package alloc

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Priorities a node's power claim can have. They index
// SplitConfig.PriorityWeights, so a configuration may define more levels
// than these four; the names are the ones a LAN party and a render farm
// use.
const (
	// PriorityIdle is a machine nobody is using.
	PriorityIdle = 0
	// PriorityBackground is batch work: a render, a download, a build.
	PriorityBackground = 1
	// PriorityInteractive is a user at the machine doing light work.
	PriorityInteractive = 2
	// PriorityActive is a game in active play or another latency-critical
	// foreground task.
	PriorityActive = 3
)

// NodeState is what the leader knows about one node when it decides: the
// node's telemetry digest from gossip, its limits from configuration, and
// the cap currently committed for it. SplitBudget reads the power fields,
// Place the resource, label and health fields; both read ID and Alive.
type NodeState struct {
	// ID names the node; unique within one call.
	ID string
	// Alive is false for a node that gossip reports failed or left.
	Alive bool

	// Priority weighs the node's claim on the power budget; an index into
	// SplitConfig.PriorityWeights (PriorityIdle .. PriorityActive by
	// default).
	Priority int
	// FloorWatts is the least cap the node may be given (below it the
	// machine cannot run: its idle draw, or the lowest limit its hardware
	// takes).
	FloorWatts float64
	// CeilingWatts is the most cap worth giving it (its uncapped peak, or
	// the highest limit its hardware takes); at least FloorWatts.
	CeilingWatts float64
	// DemandWatts is what the node would draw uncapped now, from
	// telemetry. A node held at its cap cannot see that; EstimateDemand
	// turns its measured draw into a demand that lets it ask for more.
	DemandWatts float64
	// CapWatts is the cap currently committed for the node, 0 if none.
	// SplitBudget reserves it for a node that is not alive (it may still
	// draw it); Place scores power headroom against it.
	CapWatts float64
	// PowerWatts is the node's measured draw.
	PowerWatts float64

	// ThermalHeadroomC is how far (°C) the hottest sensor is below the
	// temperature where the machine throttles; negative when already
	// throttling. NaN when the node has no thermal sensor: neither hot nor
	// cool, it scores in the middle.
	ThermalHeadroomC float64
	// Load is the node's CPU utilisation, 0..1.
	Load float64

	// Cores, MemBytes and GPUs are the node's capacity for jobs.
	Cores    int
	MemBytes uint64
	GPUs     int
	// Labels are the node's attributes that job constraints match
	// (key=value, exact).
	Labels map[string]string
}

// finite reports whether v is neither NaN nor infinite.
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// checkID refuses empty ids and control characters: ids appear in error
// messages and move reasons that users read.
func checkID(kind, id string) error {
	if id == "" {
		return fmt.Errorf("alloc: %s with an empty id: %w", kind, ErrInvalidInput)
	}
	if strings.ContainsFunc(id, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return fmt.Errorf("alloc: %s id %q has control characters: %w", kind, id, ErrInvalidInput)
	}
	return nil
}

// sortNodes returns a copy of nodes sorted by ID and refuses duplicates,
// so that nothing downstream depends on the caller's slice order.
func sortNodes(nodes []NodeState) ([]NodeState, error) {
	// Sort pointers, then copy once: NodeState is large, and swapping it
	// took most of a 1,000-node split.
	ptrs := make([]*NodeState, len(nodes))
	for i := range nodes {
		ptrs[i] = &nodes[i]
	}
	slices.SortFunc(ptrs, func(a, b *NodeState) int { return strings.Compare(a.ID, b.ID) })
	out := make([]NodeState, len(nodes))
	for i, p := range ptrs {
		out[i] = *p
		if err := checkID("node", p.ID); err != nil {
			return nil, err
		}
		if i > 0 && p.ID == ptrs[i-1].ID {
			return nil, fmt.Errorf("alloc: node %q listed twice: %w", p.ID, ErrInvalidInput)
		}
	}
	return out, nil
}

// checkPower validates the fields SplitBudget reads.
func (n *NodeState) checkPower(levels int) error {
	bad := func(field string, v any, why string) error {
		return fmt.Errorf("alloc: node %q: %s = %v: %s: %w", n.ID, field, v, why, ErrInvalidInput)
	}
	for _, f := range []struct {
		name string
		v    float64
	}{
		{"FloorWatts", n.FloorWatts}, {"CeilingWatts", n.CeilingWatts},
		{"DemandWatts", n.DemandWatts}, {"CapWatts", n.CapWatts},
	} {
		if !finite(f.v) || f.v < 0 || f.v > maxWatts {
			return bad(f.name, f.v, fmt.Sprintf("must be within 0..%g", float64(maxWatts)))
		}
	}
	if n.CeilingWatts < n.FloorWatts {
		return bad("CeilingWatts", n.CeilingWatts, fmt.Sprintf("must be at least FloorWatts (%g)", n.FloorWatts))
	}
	if n.Alive && n.CeilingWatts == 0 {
		return bad("CeilingWatts", n.CeilingWatts, "must be above 0 for a live node")
	}
	if n.Priority < 0 || n.Priority >= levels {
		return bad("Priority", n.Priority, fmt.Sprintf("must be within 0..%d (one per PriorityWeights entry)", levels-1))
	}
	return nil
}

// checkPlacement validates the fields Place reads (the power fields feed
// the power-headroom score).
func (n *NodeState) checkPlacement() error {
	bad := func(field string, v any, why string) error {
		return fmt.Errorf("alloc: node %q: %s = %v: %s: %w", n.ID, field, v, why, ErrInvalidInput)
	}
	switch {
	case n.Cores < 0:
		return bad("Cores", n.Cores, "must not be negative")
	case n.GPUs < 0:
		return bad("GPUs", n.GPUs, "must not be negative")
	case !(n.Load >= 0 && n.Load <= 1):
		return bad("Load", n.Load, "must be within 0..1")
	case math.IsInf(n.ThermalHeadroomC, 0):
		return bad("ThermalHeadroomC", n.ThermalHeadroomC, "must be finite (NaN for unknown)")
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"PowerWatts", n.PowerWatts}, {"CapWatts", n.CapWatts}, {"FloorWatts", n.FloorWatts}, {"CeilingWatts", n.CeilingWatts}} {
		if !finite(f.v) || f.v < 0 || f.v > maxWatts {
			return bad(f.name, f.v, fmt.Sprintf("must be within 0..%g", float64(maxWatts)))
		}
	}
	for k, v := range n.Labels {
		if k == "" {
			return bad("Labels", fmt.Sprintf("%q=%q", k, v), "empty key")
		}
	}
	return nil
}
