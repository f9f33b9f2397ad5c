package consensus

import (
	"fmt"
	"testing"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// bigCluster is a state with nodes registered and jobs submitted, and the
// allocation that places every job (round robin), as the leader of a big
// cluster commits it.
func bigCluster(b *testing.B, nodes, jobs int) (*fsm, *gamesav1.Command) {
	b.Helper()
	f := newFSM(defaultDedupLimits)
	var index uint64
	apply := func(c *gamesav1.Command) {
		index++
		data, err := proto.Marshal(c)
		if err != nil {
			b.Fatal(err)
		}
		if r := f.Apply(&raft.Log{Type: raft.LogCommand, Index: index, Data: data}).(*gamesav1.CommandResult); r.GetError() != "" {
			b.Fatal(r.GetError())
		}
	}
	for i := range nodes {
		apply(registerCmd(fmt.Sprintf("node-%04d", i), 64, 50, 500))
	}
	apply(&gamesav1.Command{Op: &gamesav1.Command_SetPowerBudget{SetPowerBudget: &gamesav1.SetPowerBudget{BudgetWatts: float64(nodes) * 400}}})
	c := &gamesav1.CommitAllocation{Epoch: 1, BudgetWatts: float64(nodes) * 400}
	for i := range nodes {
		c.Caps = append(c.Caps, &gamesav1.NodeCap{NodeId: fmt.Sprintf("node-%04d", i), CapMilliwatts: 400000, Reason: "wants 380.0 W (demand 362.0 W plus margin): met"})
	}
	for i := range jobs {
		id := fmt.Sprintf("frame-%05d", i)
		apply(submitCmd(id, 1, "blender", "-b", "scene.blend", "-f", fmt.Sprint(i)))
		c.Placements = append(c.Placements, &gamesav1.JobPlacement{JobId: id, NodeId: fmt.Sprintf("node-%04d", i%nodes)})
	}
	return f, &gamesav1.Command{Op: &gamesav1.Command_CommitAllocation{CommitAllocation: c}}
}

// BenchmarkCommitAllocation applies one allocation of 10,000 jobs on 1,000
// nodes (every job placed anew) to a state that holds them, and reports
// the command's size in the log.
//
//	go test -run='^$' -bench=CommitAllocation -count=5 ./consensus
func BenchmarkCommitAllocation(b *testing.B) {
	f, cmd := bigCluster(b, 1000, 10000)
	data, err := EncodeCommand(cmd)
	if err != nil {
		b.Fatal(err)
	}
	base := f.state.Load()
	b.ResetTimer()
	for range b.N {
		f.state.Store(base)
		r := f.Apply(&raft.Log{Type: raft.LogCommand, Index: base.Index() + 1, Data: data}).(*gamesav1.CommandResult)
		if r.GetError() != "" {
			b.Fatal(r.GetError())
		}
	}
	b.StopTimer()
	snap, err := EncodeSnapshot(f.state.Load())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(len(snap)), "snapshot-bytes")
	b.ReportMetric(float64(len(data)), "cmd-bytes")
}

// BenchmarkCommitAllocationSteady applies the next allocation of the same
// cluster when nothing moved: the common case, each interval.
func BenchmarkCommitAllocationSteady(b *testing.B) {
	f, cmd := bigCluster(b, 1000, 10000)
	first, _ := EncodeCommand(cmd)
	f.Apply(&raft.Log{Type: raft.LogCommand, Index: f.state.Load().Index() + 1, Data: first})
	cmd.GetCommitAllocation().Epoch = 2
	data, _ := EncodeCommand(cmd)
	base := f.state.Load()
	b.ResetTimer()
	for range b.N {
		f.state.Store(base)
		if r := f.Apply(&raft.Log{Type: raft.LogCommand, Index: base.Index() + 1, Data: data}).(*gamesav1.CommandResult); r.GetError() != "" {
			b.Fatal(r.GetError())
		}
	}
}
