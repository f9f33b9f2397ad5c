package node

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/krystalstack/gamesa/consensus"
	"github.com/krystalstack/gamesa/gossip"
	"github.com/krystalstack/gamesa/optimizer/alloc"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// decideInput is everything one decision of the leader reads. decide is a
// function of it alone (no clock, no I/O), so every rule below is tested
// without a cluster.
type decideInput struct {
	now   time.Time
	state *consensus.State
	view  gossip.ClusterView
	split alloc.SplitConfig
	place alloc.Policy
	// fence is how long a failed node's runs are held before they are
	// declared lost and moved: its lease and stop grace (JobsConfig.fence).
	fence time.Duration
	// missingSince is when this leader first missed a node that holds job
	// runs from the gossip view (a node forgotten, or never seen by this
	// leader); it is fenced from then.
	missingSince map[string]time.Time
	// decreaseSince is when caps went down that some node has not yet
	// taken up; zero when none. Raises wait for them until capHold.
	decreaseSince time.Time
	capHold       time.Duration
}

// decision is decide's answer.
type decision struct {
	// cmd is the allocation to commit; nil when nothing changed.
	cmd *gamesav1.CommitAllocation
	// changes says in words what changed, for the log.
	changes []string
	// pendingDecrease: a node has not yet taken up a lower cap, so raises
	// were held back.
	pendingDecrease bool
	// splitErr is why the budget could not be split (the caps in force
	// were kept).
	splitErr error
}

// Priority from telemetry, when a node's registration does not fix it:
// thresholds on the digest's GPU and CPU use.
const (
	gameGPUPercent        = 30
	backgroundCPUPercent  = 50
	interactiveCPUPercent = 10
	// capDeadband is the part of a node's ceiling a new cap must differ by
	// before it is committed: telemetry noise moves the water level a
	// little every interval, and each commit is a log entry.
	capDeadband = 0.02
)

// priorityOf is a node's claim on the budget: fixed by its registration,
// else its workload class from the models, else its GPU and CPU use (a
// busy GPU is most likely a game).
func priorityOf(reg *gamesav1.NodeResources, d *gamesav1.Digest) int {
	if p := reg.GetPowerPriority(); p > 0 {
		return int(p - 1)
	}
	switch d.GetAppClass() {
	case "game":
		return alloc.PriorityActive
	case "render", "compile":
		return alloc.PriorityBackground
	case "browser":
		return alloc.PriorityInteractive
	case "idle":
		return alloc.PriorityIdle
	}
	switch {
	case d.GetGpuUtilizationPercent() >= gameGPUPercent:
		return alloc.PriorityActive
	case d.GetCpuUtilizationPercent() >= backgroundCPUPercent:
		return alloc.PriorityBackground
	case d.GetCpuUtilizationPercent() >= interactiveCPUPercent:
		return alloc.PriorityInteractive
	}
	return alloc.PriorityIdle
}

// finiteIn clamps v into lo..hi; NaN and ±Inf become lo. Digests come from
// peers: a bad one must not make the leader's input invalid.
func finiteIn(v, lo, hi float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return lo
	}
	return min(max(v, lo), hi)
}

// nodeStates turns every registered node and its gossip member into the
// optimizer's input. caps are the committed caps in milliwatts.
func nodeStates(regs []*gamesav1.NodeResources, view gossip.ClusterView, caps map[string]int64, split alloc.SplitConfig) []alloc.NodeState {
	out := make([]alloc.NodeState, 0, len(regs))
	for _, r := range regs {
		m, _ := view.Get(r.GetNodeId())
		d := m.Digest
		ns := alloc.NodeState{
			ID:           r.GetNodeId(),
			Alive:        m.State == gossip.StateAlive,
			Priority:     priorityOf(r, d),
			FloorWatts:   r.GetPowerFloorWatts(),
			CeilingWatts: max(r.GetPowerCeilingWatts(), r.GetPowerFloorWatts()),
			CapWatts:     float64(caps[r.GetNodeId()]) / 1000,
			PowerWatts:   finiteIn(d.GetPowerWatts(), 0, consensus.MaxWatts),
			Load:         finiteIn(d.GetCpuUtilizationPercent()/100, 0, 1),
			// Unknown without a digest, or without any sensor (the digest
			// says 0 for both then).
			ThermalHeadroomC: math.NaN(),
		}
		if h := d.GetThermalHeadroomCelsius(); d != nil && !math.IsNaN(h) && (d.GetMaxTemperatureCelsius() != 0 || h != 0) {
			ns.ThermalHeadroomC = min(max(h, -1000), 1000)
		}
		ns.DemandWatts = min(split.EstimateDemand(ns.PowerWatts, finiteIn(d.GetPowerCapWatts(), 0, consensus.MaxWatts)), consensus.MaxWatts)
		if r.GetJobsEnabled() {
			ns.Cores, ns.MemBytes, ns.GPUs = int(r.GetCores()), r.GetMemoryBytes(), int(r.GetGpus())
		}
		if len(r.GetLabels()) > 0 {
			ns.Labels = make(map[string]string, len(r.GetLabels()))
			for _, l := range r.GetLabels() {
				ns.Labels[l.GetKey()] = l.GetValue()
			}
		}
		out = append(out, ns)
	}
	return out
}

// runFate is what becomes of a job run whose node is not alive.
type runFate int

const (
	runKept runFate = iota // the node is alive
	runHeld                // the node failed recently: wait for its lease to run out
	runLost                // the node left, or failed before the fence: the run has ended
)

// fateOf judges the runs on node from the gossip view: a node that left
// stopped its jobs before it said goodbye, and one whose registration says
// it runs no jobs was restarted without them (its jobs died with the old
// agent), so their runs are lost at once; a failed or missing one may only
// be cut off and still running them until its lease runs out, so its runs
// are held for the fence first.
func (in *decideInput) fateOf(node string, reg *gamesav1.NodeResources) (runFate, string) {
	m, ok := in.view.Get(node)
	var since time.Time
	switch {
	case reg != nil && !reg.GetJobsEnabled():
		return runLost, "node " + node + " no longer runs jobs"
	case ok && m.State == gossip.StateAlive:
		return runKept, ""
	case ok && m.State == gossip.StateLeft:
		return runLost, "node " + node + " left the cluster"
	case ok:
		since = m.StateSince
	default:
		since = in.missingSince[node]
		if since.IsZero() {
			since = in.now
		}
	}
	if in.now.Sub(since) >= in.fence {
		return runLost, fmt.Sprintf("node %s failed and its lease of its jobs has run out", node)
	}
	return runHeld, fmt.Sprintf("node %s failed: waiting for its lease on the job to run out before moving it", node)
}

// decide makes one allocation: the jobs' placements (alloc.Place), the
// runs that ended with their node, and the power caps (alloc.SplitBudget),
// as one command with the next epoch. It returns no command when nothing
// would change.
func decide(in decideInput) decision {
	var d decision
	st := in.state
	cur := st.Allocation()
	committed := map[string]int64{}
	for _, c := range cur.GetCaps() {
		committed[c.GetNodeId()] = c.GetCapMilliwatts()
	}
	regs := st.Nodes()
	regByID := make(map[string]*gamesav1.NodeResources, len(regs))
	for _, r := range regs {
		regByID[r.GetNodeId()] = r
	}
	nodes := nodeStates(regs, in.view, committed, in.split)

	// Jobs: which go to the placer, which keep their node as it is.
	var (
		specs   []alloc.JobSpec
		current []alloc.Placement
		kept    []*gamesav1.JobPlacement // held (fenced) and stopping jobs
		lost    []*gamesav1.JobRunRef
		notes   = map[string]string{}
		reasons = map[string]string{} // the jobs' reasons now
		before  = map[string]string{} // job -> node now
	)
	for _, j := range st.Jobs() {
		if consensus.Ended(j.GetState()) {
			continue
		}
		id := j.GetSpec().GetId()
		reasons[id] = j.GetReason()
		if dr := j.GetDraining(); dr != nil {
			if fate, why := in.fateOf(dr.GetNodeId(), regByID[dr.GetNodeId()]); fate == runLost {
				lost = append(lost, &gamesav1.JobRunRef{JobId: id, RunId: dr.GetRunId(), Reason: why})
			}
		}
		c := j.GetCurrent()
		fate, why := runKept, ""
		if c != nil {
			before[id] = c.GetNodeId()
			if fate, why = in.fateOf(c.GetNodeId(), regByID[c.GetNodeId()]); fate == runLost {
				lost = append(lost, &gamesav1.JobRunRef{JobId: id, RunId: c.GetRunId(), Reason: why})
			}
		}
		keep := func() {
			kept = append(kept, &gamesav1.JobPlacement{JobId: id, NodeId: c.GetNodeId(), Since: j.GetSince()})
		}
		switch {
		case fate == runHeld:
			keep()
			notes[id] = why
		case j.GetStopRequested():
			if c != nil && fate == runKept {
				keep() // its node stops it and reports
			}
		default:
			specs = append(specs, jobSpecOf(j.GetSpec()))
			if c != nil {
				current = append(current, alloc.Placement{Job: id, Node: c.GetNodeId(), Since: j.GetSince().AsTime()})
			}
		}
	}
	// The placer sees the nodes gossip knows that run jobs; a run on a node
	// it does not know was lost above or is held.
	var placeNodes []alloc.NodeState
	for _, ns := range nodes {
		if _, ok := in.view.Get(ns.ID); ok && (ns.Cores > 0 || ns.MemBytes > 0 || ns.GPUs > 0) {
			placeNodes = append(placeNodes, ns)
		}
	}
	placements := kept
	if len(specs) > 0 {
		rng := rand.New(rand.NewPCG(st.Epoch()+1, uint64(len(specs))))
		plan, err := alloc.Place(placeNodes, specs, current, in.now, in.place, rng)
		if err != nil {
			// Input from the state machine and sanitised telemetry:
			// this is a bug, but keeping the placements is safe.
			d.changes = append(d.changes, "placement failed: "+err.Error())
			return d
		}
		for _, p := range plan.Placements {
			placements = append(placements, placementOf(p))
		}
		for _, m := range plan.Moves {
			notes[m.Job] = fmt.Sprintf("moved from %s: %s", m.From, m.Reason)
		}
		for _, u := range plan.Unplaced {
			why := "waiting: " + strings.TrimPrefix(u.Err.Error(), fmt.Sprintf("alloc: job %q: ", u.Job))
			if u.From != "" {
				why = fmt.Sprintf("left %s (%s); %s", u.From, u.Reason, why)
			}
			notes[u.Job] = why
		}
	}
	slices.SortFunc(placements, func(a, b *gamesav1.JobPlacement) int { return strings.Compare(a.GetJobId(), b.GetJobId()) })

	caps := in.caps(nodes, committed, &d)

	// Only a change is worth a log entry.
	after := map[string]string{}
	for _, p := range placements {
		after[p.GetJobId()] = p.GetNodeId()
		if before[p.GetJobId()] != p.GetNodeId() {
			d.changes = append(d.changes, fmt.Sprintf("%s to %s", p.GetJobId(), p.GetNodeId()))
		}
	}
	for job, node := range before {
		if _, ok := after[job]; !ok {
			d.changes = append(d.changes, fmt.Sprintf("%s off %s", job, node))
		}
	}
	for _, l := range lost {
		d.changes = append(d.changes, fmt.Sprintf("%s run %d lost", l.GetJobId(), l.GetRunId()))
	}
	var noteList []*gamesav1.JobNote
	for _, job := range slicesSortedKeys(notes) {
		noteList = append(noteList, &gamesav1.JobNote{JobId: job, Reason: clip(notes[job], consensus.MaxReasonLen)})
		if notes[job] != reasons[job] && before[job] == after[job] {
			d.changes = append(d.changes, job+": "+notes[job])
		}
	}
	budget := st.PowerBudget().GetBudgetWatts()
	if cur == nil || cur.GetBudgetWatts() != budget {
		d.changes = append(d.changes, fmt.Sprintf("budget %.1f W", budget))
	}
	if !sameCaps(cur.GetCaps(), caps) {
		d.changes = append(d.changes, "caps "+capsText(caps))
	}
	slices.Sort(d.changes)
	if len(d.changes) == 0 {
		return d
	}
	d.cmd = &gamesav1.CommitAllocation{
		Epoch: st.Epoch() + 1, DecidedAt: timestampOf(in.now), BudgetWatts: budget,
		Caps: caps, Placements: placements, Lost: lost, Notes: noteList,
	}
	return d
}

// caps splits the budget among the nodes in the power split, holds back
// raises while a node has not taken up a lower cap (so the caps in force
// never sum above the budget), and keeps a committed cap that moved by
// less than the deadband.
func (in *decideInput) caps(nodes []alloc.NodeState, committed map[string]int64, d *decision) []*gamesav1.NodeCap {
	st := in.state
	budget := st.PowerBudget().GetBudgetWatts()
	if budget <= 0 {
		return nil
	}
	regs := map[string]*gamesav1.NodeResources{}
	for _, r := range st.Nodes() {
		regs[r.GetNodeId()] = r
	}
	var inSplit []alloc.NodeState
	for _, ns := range nodes {
		m, ok := in.view.Get(ns.ID)
		if ns.CeilingWatts > 0 && ok && m.State != gossip.StateLeft {
			inSplit = append(inSplit, ns)
		}
	}
	if len(inSplit) == 0 {
		return nil
	}
	budgetMW := consensus.MilliWatts(budget)
	want := map[string]int64{}
	reason := map[string]string{}
	split, err := alloc.SplitBudget(alloc.BudgetInput{BudgetWatts: budget, Nodes: inSplit}, in.split)
	if err == nil {
		wanted := map[string]int64{}
		for _, c := range split.Caps {
			want[c.Node], reason[c.Node], wanted[c.Node] = c.MilliWatts, c.Reason(), c.WantedMilliWatts
		}
		// Stability: a committed cap stays while it still covers what its
		// node wants (the spare above that is only room to grow; moving it
		// on every wobble of the others' demand would be a commit each
		// interval), or when it moved less than the deadband. fitBudget
		// below falls back to the fresh split when the kept caps leave too
		// little for a node that wants more.
		for _, ns := range inSplit {
			c := committed[ns.ID]
			if c == 0 || c > ceilMW(ns.CeilingWatts) {
				continue
			}
			switch {
			case c >= wanted[ns.ID]:
				want[ns.ID] = c
				reason[ns.ID] = fmt.Sprintf("kept: covers the %.1f W it wants", float64(wanted[ns.ID])/1000)
			case math.Abs(float64(want[ns.ID]-c)) <= capDeadband*ns.CeilingWatts*1000:
				want[ns.ID] = c
			}
		}
	} else {
		// The budget cannot cover the floors (and what failed nodes may
		// still draw): keep the caps in force, or failing those, the
		// floors; fitBudget below scales them down if they do not fit.
		d.splitErr = err
		for _, ns := range inSplit {
			if c := committed[ns.ID]; c > 0 {
				want[ns.ID], reason[ns.ID] = c, "kept: the budget cannot be split now"
			} else {
				want[ns.ID], reason[ns.ID] = max(ceilMW(ns.FloorWatts), 1), "floor: the budget cannot be split now"
			}
		}
	}
	held := fitBudget(want, budgetMW, func(node string) int64 { return committed[node] }, err == nil, split)

	// Decreases first: while a node that enforces caps is being lowered,
	// now or by an earlier decision it has not taken up yet (its digest
	// shows a higher cap in force), raises wait, for at most capHold.
	// Then the caps in force never sum above the budget, whatever order
	// the nodes apply them in.
	for _, ns := range inSplit {
		c := committed[ns.ID]
		if c == 0 || !ns.Alive || !regs[ns.ID].GetPowerEnforced() {
			continue
		}
		m, _ := in.view.Get(ns.ID)
		inForce := consensus.MilliWatts(m.Digest.GetPowerCapWatts())
		if held[ns.ID] < c || inForce == 0 || inForce > c+1 {
			d.pendingDecrease = true
		}
	}
	waiting := d.pendingDecrease && (in.decreaseSince.IsZero() || in.now.Sub(in.decreaseSince) < in.capHold)
	out := make([]*gamesav1.NodeCap, 0, len(inSplit))
	for _, ns := range inSplit {
		w := held[ns.ID]
		why := reason[ns.ID]
		if c := committed[ns.ID]; waiting && c > 0 && w > c {
			w, why = c, "raise held until lower caps elsewhere are in force"
		}
		if w <= 0 {
			continue
		}
		out = append(out, &gamesav1.NodeCap{NodeId: ns.ID, CapMilliwatts: w, Reason: clip(why, consensus.MaxReasonLen)})
	}
	slices.SortFunc(out, func(a, b *gamesav1.NodeCap) int { return strings.Compare(a.GetNodeId(), b.GetNodeId()) })
	return out
}

// fitBudget makes sure the caps sum within the budget: the deadband's kept
// caps may not fit with the others (then the split's own caps are used),
// and a budget below the floors cannot fit them (then all are scaled
// down, each to at least a milliwatt, or none are given when even that
// does not fit).
func fitBudget(want map[string]int64, budgetMW int64, committed func(string) int64, splitOK bool, split alloc.Split) map[string]int64 {
	var total int64
	for _, w := range want {
		total += w
	}
	if total <= budgetMW {
		return want
	}
	if splitOK {
		out := make(map[string]int64, len(split.Caps))
		for _, c := range split.Caps {
			out[c.Node] = c.MilliWatts
		}
		return out
	}
	if int64(len(want)) > budgetMW {
		return nil
	}
	out := make(map[string]int64, len(want))
	var sum int64
	for node, w := range want {
		out[node] = max(w*budgetMW/total, 1)
		sum += out[node]
	}
	for _, node := range slicesSortedKeys64(out) {
		if sum <= budgetMW {
			break
		}
		if out[node] > 1 {
			cut := min(out[node]-1, sum-budgetMW)
			out[node] -= cut
			sum -= cut
		}
	}
	return out
}

func slicesSortedKeys64(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// ceilMW rounds watts up to whole milliwatts.
func ceilMW(w float64) int64 { return int64(math.Ceil(w * 1000)) }

// sameCaps compares caps by node and milliwatts; reasons do not count.
func sameCaps(a, b []*gamesav1.NodeCap) bool {
	return slices.EqualFunc(a, b, func(x, y *gamesav1.NodeCap) bool {
		return x.GetNodeId() == y.GetNodeId() && x.GetCapMilliwatts() == y.GetCapMilliwatts()
	})
}

func capsText(caps []*gamesav1.NodeCap) string {
	if len(caps) == 0 {
		return "none"
	}
	parts := make([]string, len(caps))
	for i, c := range caps {
		parts[i] = fmt.Sprintf("%s=%.1fW", c.GetNodeId(), float64(c.GetCapMilliwatts())/1000)
	}
	return strings.Join(parts, " ")
}

func jobSpecOf(s *gamesav1.JobSpec) alloc.JobSpec {
	js := alloc.JobSpec{ID: s.GetId(), Cores: int(s.GetCores()), MemBytes: s.GetMemoryBytes(), GPUs: int(s.GetGpus())}
	if len(s.GetConstraints()) > 0 {
		js.Constraints = make(map[string]string, len(s.GetConstraints()))
		for _, l := range s.GetConstraints() {
			js.Constraints[l.GetKey()] = l.GetValue()
		}
	}
	return js
}

func placementOf(p alloc.Placement) *gamesav1.JobPlacement {
	return &gamesav1.JobPlacement{JobId: p.Job, NodeId: p.Node, Since: timestampOf(p.Since)}
}

func slicesSortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// clip shortens s to at most n bytes on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n]
}

func timestampOf(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }
