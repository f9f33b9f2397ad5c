package node

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/krystalstack/gamesa/consensus"
	"github.com/krystalstack/gamesa/gossip"
	"github.com/krystalstack/gamesa/optimizer/alloc"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

var t0 = time.Date(2025, 6, 1, 20, 0, 0, 0, time.UTC)

// replicated is a log built command by command, for decide's
// tests: every decision is applied like the leader commits it.
type replicated struct {
	t    *testing.T
	cmds []*gamesav1.Command
}

func (h *replicated) add(cmds ...*gamesav1.Command) *consensus.State {
	h.t.Helper()
	h.cmds = append(h.cmds, cmds...)
	st, res, err := consensus.Replay(h.cmds...)
	if err != nil {
		h.t.Fatal(err)
	}
	for i, r := range res[len(res)-len(cmds):] {
		if r.GetError() != "" {
			h.t.Fatalf("command %v refused: %s", cmds[i], r.GetError())
		}
	}
	return st
}

func (h *replicated) state() *consensus.State {
	h.t.Helper()
	st, _, err := consensus.Replay(h.cmds...)
	if err != nil {
		h.t.Fatal(err)
	}
	return st
}

func regNode(id string, jobs bool, floor, ceil float64) *gamesav1.Command {
	return &gamesav1.Command{Op: &gamesav1.Command_RegisterNode{RegisterNode: &gamesav1.RegisterNode{Node: &gamesav1.NodeResources{
		NodeId: id, Cores: 8, MemoryBytes: 16 << 30, JobsEnabled: jobs,
		PowerFloorWatts: floor, PowerCeilingWatts: ceil, PowerEnforced: ceil > 0,
	}}}}
}

func submit(id string) *gamesav1.Command {
	return &gamesav1.Command{Op: &gamesav1.Command_SubmitJob{SubmitJob: &gamesav1.SubmitJob{Spec: &gamesav1.JobSpec{
		Id: id, Cores: 2, MemoryBytes: 1 << 30, Command: []string{"render"},
	}}}}
}

func budgetCmd(w float64) *gamesav1.Command {
	return &gamesav1.Command{Op: &gamesav1.Command_SetPowerBudget{SetPowerBudget: &gamesav1.SetPowerBudget{BudgetWatts: w}}}
}

func commitCmd(c *gamesav1.CommitAllocation) *gamesav1.Command {
	return &gamesav1.Command{Op: &gamesav1.Command_CommitAllocation{CommitAllocation: c}}
}

// member is a gossip member with a digest: draw and cap in force in
// watts, cool, idle CPU.
func member(id string, state gossip.MemberState, since time.Time, drawW, capW float64) gossip.Member {
	return gossip.Member{
		Meta: gossip.Meta{ID: id}, State: state, StateSince: since,
		Digest: &gamesav1.Digest{NodeId: id, PowerWatts: drawW, PowerCapWatts: capW, CpuUtilizationPercent: 5,
			MaxTemperatureCelsius: 50, ThermalHeadroomCelsius: 40},
	}
}

func view(ms ...gossip.Member) gossip.ClusterView {
	slices.SortFunc(ms, func(a, b gossip.Member) int { return strings.Compare(a.Meta.ID, b.Meta.ID) })
	return gossip.ClusterView{Time: t0, Members: ms}
}

func input(st *consensus.State, v gossip.ClusterView, now time.Time) decideInput {
	return decideInput{
		now: now, state: st, view: v, split: alloc.DefaultSplitConfig(), place: alloc.DefaultPolicy(),
		fence: 5 * time.Second, missingSince: map[string]time.Time{}, capHold: capHold,
	}
}

func placement(st *consensus.State, job string) *gamesav1.JobRun {
	j, _ := st.Job(job)
	return j.GetCurrent()
}

// TestDecideFencesAFailedNode: a failed node's job stays put (held) until
// the fence has passed, since the node may only be cut off and still run
// it until its lease runs out; then one command declares the run lost and
// places the job elsewhere, and the new run may start at once.
func TestDecideFencesAFailedNode(t *testing.T) {
	h := &replicated{t: t}
	h.add(regNode("s1", true, 0, 0), regNode("s2", true, 0, 0), submit("j1"))
	d := decide(input(h.state(), view(member("s1", gossip.StateAlive, t0, 10, 0), member("s2", gossip.StateAlive, t0, 10, 0)), t0))
	if d.cmd == nil || len(d.cmd.GetPlacements()) != 1 {
		t.Fatalf("first decision = %v; want j1 placed", d.cmd)
	}
	st := h.add(commitCmd(d.cmd))
	first := placement(st, "j1")
	on := first.GetNodeId()
	other := map[string]string{"s1": "s2", "s2": "s1"}[on]
	st = h.add(&gamesav1.Command{Op: &gamesav1.Command_ReportJobState{ReportJobState: &gamesav1.ReportJobState{
		JobId: "j1", NodeId: on, RunId: first.GetRunId(), State: gamesav1.RunState_RUN_STATE_RUNNING, Pid: 7}}})

	failed := view(member(on, gossip.StateFailed, t0.Add(10*time.Second), 0, 0), member(other, gossip.StateAlive, t0, 10, 0))
	tests := []struct {
		at       time.Duration // after the failure
		wantNode string
		wantLost bool
	}{
		{0, on, false},
		{4 * time.Second, on, false},
		{5 * time.Second, other, true},
	}
	for _, tt := range tests {
		d := decide(input(st, failed, t0.Add(10*time.Second+tt.at)))
		var ps []*gamesav1.JobPlacement
		if d.cmd != nil {
			ps = d.cmd.GetPlacements()
		} else {
			ps = st.Allocation().GetPlacements()
		}
		if len(ps) != 1 || ps[0].GetNodeId() != tt.wantNode || (len(d.cmd.GetLost()) == 1) != tt.wantLost {
			t.Fatalf("%v after the failure: placements %v, lost %v; want j1 on %s, lost %v", tt.at, ps, d.cmd.GetLost(), tt.wantNode, tt.wantLost)
		}
		if tt.wantLost {
			st = h.add(commitCmd(d.cmd))
		} else if d.cmd != nil {
			st = h.add(commitCmd(d.cmd)) // the note that it waits
			if j, _ := st.Job("j1"); !strings.Contains(j.GetReason(), "waiting for its lease") {
				t.Errorf("held job's reason = %q; want it to say it waits for the lease", j.GetReason())
			}
		}
	}
	j, _ := st.Job("j1")
	if j.GetCurrent().GetNodeId() != other || j.GetDraining() != nil || j.GetHistory()[0].GetState() != gamesav1.RunState_RUN_STATE_LOST {
		t.Errorf("after the fence: %v; want j1 placed on %s with nothing draining and the first run lost", j, other)
	}
	// Nothing changed since: no command.
	if d := decide(input(st, failed, t0.Add(20*time.Second))); d.cmd != nil {
		t.Errorf("decision with nothing new = %v (%v); want none", d.cmd, d.changes)
	}
}

// TestDecideLeftAndMissingNodes: a node that left stopped its jobs before
// saying so, and one that came back without jobs lost them with its old
// agent, so their runs are lost at once; a node gossip does not list at
// all is fenced from when this leader first missed it.
func TestDecideLeftAndMissingNodes(t *testing.T) {
	h := &replicated{t: t}
	h.add(regNode("s1", true, 0, 0), regNode("s2", true, 0, 0), submit("j1"))
	st := h.add(commitCmd(&gamesav1.CommitAllocation{Epoch: 1, DecidedAt: timestamppb.New(t0),
		Placements: []*gamesav1.JobPlacement{{JobId: "j1", NodeId: "s1"}}}))

	d := decide(input(st, view(member("s1", gossip.StateLeft, t0, 0, 0), member("s2", gossip.StateAlive, t0, 5, 0)), t0.Add(time.Second)))
	if d.cmd == nil || len(d.cmd.GetLost()) != 1 || d.cmd.GetPlacements()[0].GetNodeId() != "s2" {
		t.Errorf("after s1 left: %v; want its run lost and j1 on s2 at once", d.cmd)
	}

	// A node restarted without jobs: its runs died with its old agent.
	restarted := &replicated{t: t, cmds: append(append([]*gamesav1.Command(nil), h.cmds...), regNode("s1", false, 0, 0))}
	d = decide(input(restarted.state(), view(member("s1", gossip.StateAlive, t0, 5, 0), member("s2", gossip.StateAlive, t0, 5, 0)), t0.Add(time.Second)))
	if d.cmd == nil || len(d.cmd.GetLost()) != 1 || d.cmd.GetPlacements()[0].GetNodeId() != "s2" {
		t.Errorf("after s1 came back without jobs: %v; want its run lost and j1 on s2", d.cmd)
	}

	missing := view(member("s2", gossip.StateAlive, t0, 5, 0))
	in := input(st, missing, t0.Add(3*time.Second))
	in.missingSince["s1"] = t0
	if d := decide(in); d.cmd != nil && len(d.cmd.GetLost()) > 0 {
		t.Errorf("3s after s1 went missing: lost %v; want the run held", d.cmd.GetLost())
	}
	in.now = t0.Add(6 * time.Second)
	if d := decide(in); d.cmd == nil || len(d.cmd.GetLost()) != 1 || d.cmd.GetPlacements()[0].GetNodeId() != "s2" {
		t.Errorf("6s after s1 went missing: %v; want its run lost and j1 on s2", d.cmd)
	}
}

// TestDecideLowersBeforeRaising: when the split moves watts from one node
// to another, the lower cap is committed first and the raise only once
// the lowered node gossips the lower cap in force (or capHold passed), so
// the caps in force never sum above the budget.
func TestDecideLowersBeforeRaising(t *testing.T) {
	h := &replicated{t: t}
	h.add(regNode("a", false, 10, 100), regNode("b", false, 10, 100), budgetCmd(120))
	st := h.add(commitCmd(&gamesav1.CommitAllocation{Epoch: 1, BudgetWatts: 120, Caps: []*gamesav1.NodeCap{
		{NodeId: "a", CapMilliwatts: 60000}, {NodeId: "b", CapMilliwatts: 60000}}}))
	capOf := func(c *gamesav1.CommitAllocation, node string) int64 {
		for _, cp := range c.GetCaps() {
			if cp.GetNodeId() == node {
				return cp.GetCapMilliwatts()
			}
		}
		return -1
	}
	// a idles at 20 W; b presses against its 60 W cap and wants more.
	busy := func(aInForce float64) gossip.ClusterView {
		return view(member("a", gossip.StateAlive, t0, 20, aInForce), member("b", gossip.StateAlive, t0, 60, 60))
	}
	d := decide(input(st, busy(60), t0))
	if d.cmd == nil || capOf(d.cmd, "a") >= 60000 || capOf(d.cmd, "b") != 60000 || !d.pendingDecrease {
		t.Fatalf("first decision: caps %v pending %v; want a lowered and b held at 60 W", d.cmd.GetCaps(), d.pendingDecrease)
	}
	lowered := capOf(d.cmd, "a")
	st = h.add(commitCmd(d.cmd))

	// a has not taken the lower cap up yet: b still waits.
	if d := decide(input(st, busy(60), t0.Add(time.Second))); d.cmd != nil && capOf(d.cmd, "b") != 60000 {
		t.Fatalf("while a still has 60 W in force: b's cap %d; want it held at 60000", capOf(d.cmd, "b"))
	}
	// Once it has, b gets its raise, within the budget.
	d = decide(input(st, busy(float64(lowered)/1000), t0.Add(2*time.Second)))
	if d.cmd == nil || capOf(d.cmd, "b") <= 60000 || capOf(d.cmd, "a")+capOf(d.cmd, "b") > 120000 {
		t.Fatalf("after a took up %d mW: caps %v; want b raised within the budget", lowered, d.cmd.GetCaps())
	}
	// A node that never takes its lower cap up holds raises for capHold
	// only.
	in := input(st, busy(60), t0.Add(time.Minute))
	in.decreaseSince = t0
	if d := decide(in); d.cmd == nil || capOf(d.cmd, "b") <= 60000 {
		t.Errorf("after capHold: caps %v; want b raised anyway", d.cmd.GetCaps())
	}
}

// TestDecideKeepsCapsWithinTheDeadband: telemetry noise moves the split a
// little every interval; a cap that would move by less than 2 % of the
// node's ceiling is not worth a log entry.
func TestDecideKeepsCapsWithinTheDeadband(t *testing.T) {
	h := &replicated{t: t}
	h.add(regNode("a", false, 10, 100), regNode("b", false, 10, 100), budgetCmd(150))
	v := func(a, b float64) gossip.ClusterView {
		return view(member("a", gossip.StateAlive, t0, a, 0), member("b", gossip.StateAlive, t0, b, 0))
	}
	d := decide(input(h.state(), v(40, 40), t0))
	st := h.add(commitCmd(d.cmd))
	v2 := view(member("a", gossip.StateAlive, t0, 40.5, capWattsOf(st, "a")), member("b", gossip.StateAlive, t0, 39.6, capWattsOf(st, "b")))
	if d := decide(input(st, v2, t0.Add(time.Second))); d.cmd != nil {
		t.Errorf("half a watt of noise: %v (%v); want no command", d.cmd.GetCaps(), d.changes)
	}
	v3 := view(member("a", gossip.StateAlive, t0, 80, capWattsOf(st, "a")), member("b", gossip.StateAlive, t0, 20, capWattsOf(st, "b")))
	if d := decide(input(st, v3, t0.Add(2*time.Second))); d.cmd == nil {
		t.Error("a real shift of demand: no command; want new caps")
	}
}

func capWattsOf(st *consensus.State, node string) float64 {
	for _, c := range st.Allocation().GetCaps() {
		if c.GetNodeId() == node {
			return float64(c.GetCapMilliwatts()) / 1000
		}
	}
	return 0
}

// TestDecideBudgetBelowWhatFailedNodesHold: a failed node keeps its cap
// (it may still draw it), so a lower budget may not cover it and the
// floors; the caps then still sum within the budget.
func TestDecideBudgetBelowWhatFailedNodesHold(t *testing.T) {
	h := &replicated{t: t}
	h.add(regNode("a", false, 10, 100), regNode("b", false, 10, 100), budgetCmd(120))
	st := h.add(commitCmd(&gamesav1.CommitAllocation{Epoch: 1, BudgetWatts: 120, Caps: []*gamesav1.NodeCap{
		{NodeId: "a", CapMilliwatts: 60000}, {NodeId: "b", CapMilliwatts: 60000}}}), budgetCmd(65))
	d := decide(input(st, view(member("a", gossip.StateFailed, t0, 0, 60), member("b", gossip.StateAlive, t0, 30, 60)), t0))
	if d.splitErr == nil {
		t.Fatal("splitErr = nil; want the budget refused (60 W reserved for a plus b's 10 W floor)")
	}
	var sum int64
	for _, c := range d.cmd.GetCaps() {
		sum += c.GetCapMilliwatts()
	}
	if d.cmd == nil || sum > 65000 || sum == 0 {
		t.Errorf("caps %v sum to %d mW; want some, within 65 W", d.cmd.GetCaps(), sum)
	}
	if _, res, _ := consensus.Replay(append(h.cmds, commitCmd(d.cmd))...); res[len(res)-1].GetError() != "" {
		t.Errorf("the state machine refuses the decision: %s", res[len(res)-1].GetError())
	}
}

func TestPriorityOf(t *testing.T) {
	tests := []struct {
		name string
		reg  uint32
		d    *gamesav1.Digest
		want int
	}{
		{"fixed by registration", 4, &gamesav1.Digest{AppClass: "idle"}, alloc.PriorityActive},
		{"game", 0, &gamesav1.Digest{AppClass: "game"}, alloc.PriorityActive},
		{"render", 0, &gamesav1.Digest{AppClass: "render"}, alloc.PriorityBackground},
		{"browser", 0, &gamesav1.Digest{AppClass: "browser"}, alloc.PriorityInteractive},
		{"busy GPU, no class", 0, &gamesav1.Digest{GpuUtilizationPercent: 80}, alloc.PriorityActive},
		{"busy CPU, no class", 0, &gamesav1.Digest{CpuUtilizationPercent: 90}, alloc.PriorityBackground},
		{"light CPU", 0, &gamesav1.Digest{CpuUtilizationPercent: 15}, alloc.PriorityInteractive},
		{"no digest", 0, nil, alloc.PriorityIdle},
	}
	for _, tt := range tests {
		if got := priorityOf(&gamesav1.NodeResources{PowerPriority: tt.reg}, tt.d); got != tt.want {
			t.Errorf("priorityOf(%s) = %d; want %d", tt.name, got, tt.want)
		}
	}
}

// TestNodeStatesSanitiseDigests: a peer's digest with impossible numbers
// must not make the optimizer's input invalid.
func TestNodeStatesSanitiseDigests(t *testing.T) {
	v := view(gossip.Member{Meta: gossip.Meta{ID: "x"}, State: gossip.StateAlive, Digest: &gamesav1.Digest{
		PowerWatts: math.Inf(1), CpuUtilizationPercent: 250, ThermalHeadroomCelsius: math.NaN(), MaxTemperatureCelsius: 60,
		PowerCapWatts: -4,
	}})
	ns := nodeStates([]*gamesav1.NodeResources{{NodeId: "x", PowerFloorWatts: 5, PowerCeilingWatts: 50, JobsEnabled: true, Cores: 4}}, v, nil, alloc.DefaultSplitConfig())
	_, err := alloc.SplitBudget(alloc.BudgetInput{BudgetWatts: 100, Nodes: ns}, alloc.DefaultSplitConfig())
	if err != nil {
		t.Errorf("SplitBudget(sanitised) = %v", err)
	}
	if err := alloc.CheckJob(ns, alloc.JobSpec{ID: "j", Cores: 1}, alloc.DefaultPolicy()); err != nil {
		t.Errorf("CheckJob(sanitised) = %v", err)
	}
	if n := ns[0]; n.Load != 1 || n.PowerWatts != 0 || !math.IsNaN(n.ThermalHeadroomC) || n.DemandWatts != 0 {
		t.Errorf("sanitised node = load %v power %v headroom %v demand %v; want 1, 0, NaN (unknown), 0", n.Load, n.PowerWatts, n.ThermalHeadroomC, n.DemandWatts)
	}
}

// TestShareNeverGoesBack: a node refuses a share from a replica behind one
// it has applied (a lagging server), by epoch and by index.
func TestShareNeverGoesBack(t *testing.T) {
	cur := &share{epoch: 5, index: 100}
	tests := []struct {
		next *share
		want bool
	}{
		{&share{epoch: 5, index: 100}, true},
		{&share{epoch: 6, index: 120}, true},
		{&share{epoch: 5, index: 130}, true},
		{&share{epoch: 4, index: 140}, false},
		{&share{epoch: 5, index: 99}, false},
	}
	for _, tt := range tests {
		if got := newer(cur, tt.next); got != tt.want {
			t.Errorf("newer(epoch 5 index 100, epoch %d index %d) = %v; want %v", tt.next.epoch, tt.next.index, got, tt.want)
		}
	}
	if !newer(nil, &share{}) {
		t.Error("newer(nil, anything) = false; want true")
	}
}

// FuzzNodeStates feeds arbitrary digests (a peer's numbers are outside
// input) through nodeStates: the optimizer must always accept what comes
// out, so one bad peer cannot stop the leader's decisions.
func FuzzNodeStates(f *testing.F) {
	f.Add(40.0, 20.0, 50.0, 45.0, 30.0, 10.0, "game")
	f.Add(math.NaN(), math.Inf(1), -5.0, math.Inf(-1), 1e300, -1e300, "")
	f.Add(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, "idle")
	f.Fuzz(func(t *testing.T, power, capW, cpu, temp, headroom, gpu float64, class string) {
		v := view(gossip.Member{Meta: gossip.Meta{ID: "x"}, State: gossip.StateAlive, Digest: &gamesav1.Digest{
			PowerWatts: power, PowerCapWatts: capW, CpuUtilizationPercent: cpu, MaxTemperatureCelsius: temp,
			ThermalHeadroomCelsius: headroom, GpuUtilizationPercent: gpu, AppClass: class,
		}})
		regs := []*gamesav1.NodeResources{{NodeId: "x", PowerFloorWatts: 5, PowerCeilingWatts: 50, JobsEnabled: true, Cores: 4, MemoryBytes: 1 << 30}}
		ns := nodeStates(regs, v, map[string]int64{"x": 20000}, alloc.DefaultSplitConfig())
		if _, err := alloc.SplitBudget(alloc.BudgetInput{BudgetWatts: 100, Nodes: ns}, alloc.DefaultSplitConfig()); err != nil {
			t.Fatalf("SplitBudget(%+v) = %v", ns[0], err)
		}
		if _, err := alloc.Place(ns, []alloc.JobSpec{{ID: "j", Cores: 1}}, nil, t0, alloc.DefaultPolicy(), nil); err != nil {
			t.Fatalf("Place(%+v) = %v", ns[0], err)
		}
	})
}

// TestDeposedLeaderDecisionIsRefusedWhole: two leaders (an old one that
// has not yet learnt it was deposed, and the new one) decide on the same
// state from different views; whichever commits second is refused as
// stale and changes nothing, so the state is exactly one decision, never a
// mix of two.
func TestDeposedLeaderDecisionIsRefusedWhole(t *testing.T) {
	h := &replicated{t: t}
	h.add(regNode("s1", true, 20, 100), regNode("s2", true, 20, 100), budgetCmd(150), submit("j1"), submit("j2"))
	st := h.state()
	oldView := view(member("s1", gossip.StateAlive, t0, 90, 0), member("s2", gossip.StateFailed, t0.Add(-time.Minute), 0, 0))
	newView := view(member("s1", gossip.StateAlive, t0, 30, 0), member("s2", gossip.StateAlive, t0, 90, 0))
	old, fresh := decide(input(st, oldView, t0)), decide(input(st, newView, t0))
	if old.cmd == nil || fresh.cmd == nil || old.cmd.GetEpoch() != fresh.cmd.GetEpoch() {
		t.Fatalf("decisions: %v / %v; want two for the same epoch", old.cmd, fresh.cmd)
	}
	alone, _, _ := consensus.Replay(append(append([]*gamesav1.Command(nil), h.cmds...), commitCmd(fresh.cmd))...)
	both, res, _ := consensus.Replay(append(append([]*gamesav1.Command(nil), h.cmds...), commitCmd(fresh.cmd), commitCmd(old.cmd))...)
	if r := res[len(res)-1]; r.GetRejection() != gamesav1.Rejection_REJECTION_STALE {
		t.Fatalf("the deposed leader's decision = %v; want refused as stale", r)
	}
	a, b := alone.Allocation(), both.Allocation()
	if !sameCaps(a.GetCaps(), b.GetCaps()) || len(a.GetPlacements()) != len(b.GetPlacements()) {
		t.Fatalf("after the stale decision: %v; want exactly the first decision %v", b, a)
	}
	for i, p := range a.GetPlacements() {
		if q := b.GetPlacements()[i]; p.GetJobId() != q.GetJobId() || p.GetNodeId() != q.GetNodeId() || p.GetRunId() != q.GetRunId() {
			t.Errorf("placement %d: %v after the stale decision; want %v", i, q, p)
		}
	}
}

// TestFingerprint: the leader's fingerprint moves with what a decision
// reads (the replicated state, a member's liveness, its draw by a
// twentieth of its ceiling, class, heat, cap) and holds still otherwise.
func TestFingerprint(t *testing.T) {
	st, _, err := consensus.Replay(regNode("a", false, 50, 400), regNode("b", false, 50, 400))
	if err != nil {
		t.Fatal(err)
	}
	p := alloc.DefaultPolicy()
	base := func() gossip.ClusterView {
		return view(member("a", gossip.StateAlive, t0, 100, 0), member("b", gossip.StateAlive, t0, 200, 0))
	}
	want := fingerprint(st, base(), p)
	if got := fingerprint(st, base(), p); got != want {
		t.Fatalf("same inputs: %x then %x", want, got)
	}
	v := base()
	v.Members[0].Digest.PowerWatts = 104 // under a twentieth of 400 W
	v.Members[1].Digest.CpuUtilizationPercent = 90
	if got := fingerprint(st, v, p); got != want {
		t.Errorf("a 4 W move and a CPU change moved the fingerprint")
	}
	st2, _, err := consensus.Replay(regNode("a", false, 50, 400), regNode("b", false, 50, 400), budgetCmd(500))
	if err != nil {
		t.Fatal(err)
	}
	changes := map[string]func() (*consensus.State, gossip.ClusterView){
		"state": func() (*consensus.State, gossip.ClusterView) { return st2, base() },
		"draw": func() (*consensus.State, gossip.ClusterView) {
			v := base()
			v.Members[0].Digest.PowerWatts = 130
			return st, v
		},
		"liveness": func() (*consensus.State, gossip.ClusterView) {
			v := base()
			v.Members[1].State = gossip.StateFailed
			return st, v
		},
		"class": func() (*consensus.State, gossip.ClusterView) {
			v := base()
			v.Members[1].Digest.AppClass = "game"
			return st, v
		},
		"heat": func() (*consensus.State, gossip.ClusterView) {
			v := base()
			v.Members[0].Digest.ThermalHeadroomCelsius = 1
			return st, v
		},
		"cap": func() (*consensus.State, gossip.ClusterView) {
			v := base()
			v.Members[0].Digest.PowerCapWatts = 80
			return st, v
		},
		"member": func() (*consensus.State, gossip.ClusterView) {
			return st, view(member("a", gossip.StateAlive, t0, 100, 0))
		},
	}
	for name, f := range changes {
		if s, v := f(); fingerprint(s, v, p) == want {
			t.Errorf("%s changed, the fingerprint did not", name)
		}
	}
}
