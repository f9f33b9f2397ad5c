package alloc

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
)

// maxWatts bounds every power figure (a node's, and the budget) so that
// milliwatt sums fit an int64 and stay exact in a float64 (below 2^53).
const maxWatts = 1e9

// saturationBand is how close to its cap a node must draw to count as held
// by it (EstimateDemand): 2 % covers the ripple of a RAPL or NVML limit.
const saturationBand = 0.02

// SplitConfig tunes SplitBudget. Start from DefaultSplitConfig.
type SplitConfig struct {
	// PriorityWeights[p] is the weight of a node with Priority p when the
	// budget is short: nodes that want more than their share split what
	// is left in proportion to their weights. Its length is the number of
	// priority levels; every weight is above 0.
	PriorityWeights []float64
	// DemandMargin is the fraction added to a node's demand before it is
	// met, so a node given what it wants draws visibly below its cap and
	// EstimateDemand does not mistake it for a node held by its cap. Keep
	// it above 0.021 (the 2 % saturation band, seen from above).
	DemandMargin float64
	// Probe is the fraction above its cap that EstimateDemand asks for on
	// behalf of a node held by its cap, whose real demand cannot be seen:
	// each interval it may grow by this much until it is no longer held.
	Probe float64
}

// DefaultSplitConfig returns weights 1, 2, 4, 8 for PriorityIdle ..
// PriorityActive (a game in play outweighs an idle machine eight to one), a
// 5 % demand margin and a 10 % probe.
func DefaultSplitConfig() SplitConfig {
	return SplitConfig{
		PriorityWeights: []float64{1, 2, 4, 8},
		DemandMargin:    0.05,
		Probe:           0.10,
	}
}

// Validate reports every field out of range.
func (c SplitConfig) Validate() error {
	var errs []string
	if n := len(c.PriorityWeights); n < 1 || n > 64 {
		errs = append(errs, fmt.Sprintf("PriorityWeights has %d levels: must have 1..64", n))
	}
	for i, w := range c.PriorityWeights {
		if !finite(w) || w <= 0 || w > 1e6 {
			errs = append(errs, fmt.Sprintf("PriorityWeights[%d] = %v: must be within (0, 1e6]", i, w))
		}
	}
	if !(c.DemandMargin >= 0 && c.DemandMargin <= 1) {
		errs = append(errs, fmt.Sprintf("DemandMargin = %v: must be within 0..1", c.DemandMargin))
	}
	if !(c.Probe >= 0 && c.Probe <= 1) {
		errs = append(errs, fmt.Sprintf("Probe = %v: must be within 0..1", c.Probe))
	}
	if len(errs) > 0 {
		return fmt.Errorf("alloc: split config: %s: %w", strings.Join(errs, "; "), ErrInvalidInput)
	}
	return nil
}

// EstimateDemand turns a node's measured draw into the DemandWatts to pass
// to SplitBudget. A node drawing within 2 % of its cap is held by it and
// its real demand cannot be seen, so it is taken to want Probe more than
// the cap; the next split then gives it more if the budget allows, and
// the interval after shows whether it still presses against the cap. With
// no cap in force (capW = 0) the draw is the demand.
func (c SplitConfig) EstimateDemand(drawW, capW float64) float64 {
	if capW > 0 && drawW >= capW*(1-saturationBand) {
		return math.Max(drawW, capW*(1+c.Probe))
	}
	return drawW
}

// BudgetInput is one power-split question: share BudgetWatts among Nodes.
type BudgetInput struct {
	// BudgetWatts is the most the nodes may draw together (a breaker's
	// rating less a margin, a rack's power feed).
	BudgetWatts float64
	// Nodes lists every node that draws from the budget, alive or not:
	// a failed node may still be drawing its last cap. Order does not
	// matter.
	Nodes []NodeState
}

// CapKind says why a node got the cap it got.
type CapKind int

// The kinds of cap. The zero CapKind is none of them.
const (
	// CapReserved: the node is not alive; it keeps its last cap (or its
	// ceiling, if it never had one), which it may still be drawing and
	// which nobody can lower while it does not hear the cluster.
	CapReserved CapKind = iota + 1
	// CapShare: the budget is short and the node wants more than its
	// weighted share; it gets the share.
	CapShare
	// CapCeiling: the node wants at least its ceiling and got it.
	CapCeiling
	// CapFloor: the node's demand is at or below its floor.
	CapFloor
	// CapDemand: the node got what it wants (demand plus margin).
	CapDemand
)

// String names the kind.
func (k CapKind) String() string {
	switch k {
	case CapReserved:
		return "reserved"
	case CapShare:
		return "share"
	case CapCeiling:
		return "ceiling"
	case CapFloor:
		return "floor"
	case CapDemand:
		return "demand"
	}
	return fmt.Sprintf("CapKind(%d)", int(k))
}

// Cap is one node's power cap and why. Caps are whole milliwatts so that
// their sum is exact; Watts converts for display.
type Cap struct {
	// Node is the node's ID.
	Node string
	// MilliWatts is the cap.
	MilliWatts int64
	// Kind says which rule set the cap.
	Kind CapKind
	// WantedMilliWatts is what the node asked for: demand plus margin,
	// held within its floor and ceiling.
	WantedMilliWatts int64
	// SpareMilliWatts is the part of the cap above what the node wants:
	// budget nobody wanted, shared out (by weight, up to each ceiling) so
	// a node whose demand rises before the next split has room to grow.
	SpareMilliWatts int64

	// The inputs the reason quotes.
	demandW         float64
	floorMW, ceilMW int64
	priority        int
	weight          float64
	everCapped      bool
	wantsCeiling    bool
}

// Watts is the cap in watts.
func (c Cap) Watts() float64 { return float64(c.MilliWatts) / 1000 }

// Reason says in words why the node got this cap.
func (c Cap) Reason() string {
	w := func(mw int64) string { return fmt.Sprintf("%.1f W", float64(mw)/1000) }
	var s string
	switch c.Kind {
	case CapReserved:
		if c.everCapped {
			return "not alive: holding its last cap of " + w(c.MilliWatts) + ", which it may still draw"
		}
		return "not alive and never capped: reserving its ceiling of " + w(c.MilliWatts)
	case CapShare:
		s = fmt.Sprintf("budget short: %s of the %s it wants (demand %.1f W; priority %d, weight %g)",
			w(c.MilliWatts), w(c.WantedMilliWatts), c.demandW, c.priority, c.weight)
	case CapCeiling:
		s = fmt.Sprintf("wants its ceiling %s (demand %.1f W)", w(c.ceilMW), c.demandW)
	case CapFloor:
		s = fmt.Sprintf("demand %.1f W is at or below its floor %s", c.demandW, w(c.floorMW))
	case CapDemand:
		s = fmt.Sprintf("wants %s (demand %.1f W plus margin): met", w(c.WantedMilliWatts), c.demandW)
	default:
		s = c.Kind.String()
	}
	if c.SpareMilliWatts > 0 {
		s += ", plus " + w(c.SpareMilliWatts) + " spare"
	}
	return s
}

// Split is a power split: one cap per node, in node order.
type Split struct {
	// Caps holds one cap per input node, sorted by node ID.
	Caps []Cap
	// TotalMilliWatts is the sum of the caps; never above
	// BudgetMilliWatts.
	TotalMilliWatts int64
	// BudgetMilliWatts is the budget, rounded down to a milliwatt.
	BudgetMilliWatts int64
}

// Total is the sum of the caps in watts.
func (s Split) Total() float64 { return float64(s.TotalMilliWatts) / 1000 }

// Cap returns the cap of node id.
func (s Split) Cap(id string) (Cap, bool) {
	i, ok := slices.BinarySearchFunc(s.Caps, id, func(c Cap, id string) int { return strings.Compare(c.Node, id) })
	if !ok {
		return Cap{}, false
	}
	return s.Caps[i], true
}

// floorMW converts watts to whole milliwatts, rounding down, such that the
// result converted back is never above w.
func floorMW(w float64) int64 {
	m := int64(math.Floor(w * 1000))
	for m > 0 && float64(m)/1000 > w {
		m--
	}
	return m
}

// ceilMW converts watts to whole milliwatts, rounding up, such that the
// result converted back is never below w.
func ceilMW(w float64) int64 {
	m := int64(math.Ceil(w * 1000))
	for float64(m)/1000 < w {
		m++
	}
	return m
}

// SplitBudget shares in.BudgetWatts among in.Nodes:
//
//  1. A node that is not alive keeps its last cap (CapWatts, or its
//     ceiling if it never had one): it may still draw it and cannot be
//     told otherwise.
//  2. Every live node gets its floor. If the budget cannot cover step 1
//     and the floors, the result is an error wrapping
//     ErrBudgetBelowFloors, and the caller keeps the caps in force.
//  3. What is left is water-filled over what each live node wants above
//     its floor (demand plus DemandMargin, up to its ceiling), weighted by
//     priority: nodes wanting less than their weighted share get all they
//     want, the rest split the remainder in proportion to their weights.
//  4. Whatever nobody wanted is water-filled the same way up to each
//     node's ceiling, as room to grow before the next split.
//
// The sum of the caps never exceeds the budget, every live node's cap is
// within its floor and ceiling, and the result depends only on the input
// values, not on the order of in.Nodes.
func SplitBudget(in BudgetInput, cfg SplitConfig) (Split, error) {
	if err := cfg.Validate(); err != nil {
		return Split{}, err
	}
	if !finite(in.BudgetWatts) || in.BudgetWatts < 0 || in.BudgetWatts > maxWatts {
		return Split{}, fmt.Errorf("alloc: BudgetWatts = %v: must be within 0..%g: %w", in.BudgetWatts, float64(maxWatts), ErrInvalidInput)
	}
	nodes, err := sortNodes(in.Nodes)
	if err != nil {
		return Split{}, err
	}
	levels := len(cfg.PriorityWeights)
	for i := range nodes {
		if err := nodes[i].checkPower(levels); err != nil {
			return Split{}, err
		}
	}

	budget := floorMW(in.BudgetWatts)
	caps := make([]Cap, len(nodes))
	var floors, reserved int64
	var live, dead int
	for i := range nodes {
		n := &nodes[i]
		c := &caps[i]
		c.Node = n.ID
		c.demandW = n.DemandWatts
		c.priority = n.Priority
		c.weight = cfg.PriorityWeights[n.Priority]
		c.floorMW = ceilMW(n.FloorWatts)
		// A floor and ceiling within one milliwatt of each other: the
		// floor wins, the machine needs it to run.
		c.ceilMW = max(floorMW(n.CeilingWatts), c.floorMW)
		if !n.Alive {
			c.Kind = CapReserved
			c.everCapped = n.CapWatts > 0
			if c.everCapped {
				c.MilliWatts = ceilMW(n.CapWatts)
			} else {
				c.MilliWatts = c.ceilMW
			}
			c.WantedMilliWatts = c.MilliWatts
			reserved += c.MilliWatts
			dead++
			continue
		}
		live++
		floors += c.floorMW
		wanted := n.DemandWatts * (1 + cfg.DemandMargin)
		c.wantsCeiling = wanted >= float64(c.ceilMW)/1000
		c.WantedMilliWatts = min(max(ceilMW(wanted), c.floorMW), c.ceilMW)
	}
	if floors+reserved > budget {
		return Split{}, fmt.Errorf("alloc: budget %.1f W is below what the nodes must get: floors %.1f W of %d live nodes + %.1f W reserved for %d failed nodes: %w",
			float64(budget)/1000, float64(floors)/1000, live, float64(reserved)/1000, dead, ErrBudgetBelowFloors)
	}

	// Step 3: demand above the floors.
	idx := make([]int, 0, live)
	for i := range nodes {
		if nodes[i].Alive {
			idx = append(idx, i)
		}
	}
	wants := make([]int64, len(idx))
	weights := make([]float64, len(idx))
	for k, i := range idx {
		wants[k] = caps[i].WantedMilliWatts - caps[i].floorMW
		weights[k] = caps[i].weight
	}
	left := budget - floors - reserved
	got := waterfill(wants, weights, left)
	for k, i := range idx {
		c := &caps[i]
		c.MilliWatts = c.floorMW + got[k]
		left -= got[k]
		switch {
		case got[k] < wants[k]:
			c.Kind = CapShare
		case c.wantsCeiling:
			c.Kind = CapCeiling
		case c.demandW*(1+cfg.DemandMargin) <= float64(c.floorMW)/1000:
			c.Kind = CapFloor
		default:
			c.Kind = CapDemand
		}
	}

	// Step 4: spare up to the ceilings.
	if left > 0 {
		for k, i := range idx {
			wants[k] = caps[i].ceilMW - caps[i].MilliWatts
		}
		spare := waterfill(wants, weights, left)
		for k, i := range idx {
			caps[i].MilliWatts += spare[k]
			caps[i].SpareMilliWatts = spare[k]
		}
	}

	s := Split{Caps: caps, BudgetMilliWatts: budget}
	for i := range caps {
		s.TotalMilliWatts += caps[i].MilliWatts
	}
	return s, nil
}

// waterfill shares avail among claimants that want wants[i] each, in
// proportion to weights[i] (all above 0): it finds the level L at which
// giving each min(wants[i], weights[i]·L) uses up avail, or gives everyone
// all they want if avail suffices. The result never sums to more than
// avail; milliwatts lost to rounding go one each to the claimants still
// short, in index order. O(n log n).
func waterfill(wants []int64, weights []float64, avail int64) []int64 {
	got := make([]int64, len(wants))
	var total int64
	for _, w := range wants {
		total += w
	}
	if total <= avail {
		copy(got, wants)
		return got
	}
	// Claimants in order of want per unit weight: the first ones are
	// satisfied before the level reaches the others.
	type claim struct {
		perWeight float64
		i         int
	}
	claims := make([]claim, len(wants))
	for i := range wants {
		claims[i] = claim{float64(wants[i]) / weights[i], i}
	}
	slices.SortFunc(claims, func(a, b claim) int {
		if c := cmp.Compare(a.perWeight, b.perWeight); c != 0 {
			return c
		}
		return cmp.Compare(a.i, b.i)
	})
	order := make([]int, len(claims))
	for k, c := range claims {
		order[k] = c.i
	}
	// suffix[k] is the weight of order[k:], summed from the end so every
	// prefix shares the same rounding.
	suffix := make([]float64, len(order)+1)
	for k := len(order) - 1; k >= 0; k-- {
		suffix[k] = suffix[k+1] + weights[order[k]]
	}
	left := avail
	k := 0
	for ; k < len(order); k++ {
		i := order[k]
		if float64(wants[i]) > float64(left)*weights[i]/suffix[k] {
			break
		}
		got[i] = wants[i]
		left -= wants[i]
	}
	if k == len(order) {
		return got // float rounding let the last claimant through: all met
	}
	// The rest are all short: each gets its share of what is left.
	level := float64(left) / suffix[k]
	short := order[k:]
	var given int64
	for _, i := range short {
		g := min(int64(math.Floor(level*weights[i])), wants[i])
		got[i] = g
		given += g
	}
	// Rounding: floor may leave up to one milliwatt per claimant, and
	// float error may overshoot by as much; settle both in index order.
	slices.Sort(short)
	for given > left {
		for _, i := range short {
			if given > left && got[i] > 0 {
				got[i]--
				given--
			}
		}
	}
	for given < left {
		moved := false
		for _, i := range short {
			if given < left && got[i] < wants[i] {
				got[i]++
				given++
				moved = true
			}
		}
		if !moved {
			break
		}
	}
	return got
}
