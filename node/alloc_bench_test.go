package node

import (
	"fmt"
	"testing"

	"github.com/krystalstack/gamesa/consensus"
	"github.com/krystalstack/gamesa/gossip"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// BenchmarkDecide is one decision of the leader on a settled cluster: 100
// nodes with a budget and 1,000 jobs placed, telemetry unchanged since
// the last commit, so the answer is "no command". It is what the leader
// pays every allocate_interval and on every fingerprint change.
//
//	go test -run='^$' -bench=Decide -count=5 ./node
func BenchmarkDecide(b *testing.B) {
	const nodes, jobs = 100, 1000
	var cmds []*gamesav1.Command
	var members []gossip.Member
	for i := range nodes {
		id := fmt.Sprintf("n%03d", i)
		cmds = append(cmds, regNode(id, true, 50, 500))
		members = append(members, member(id, gossip.StateAlive, t0, 300, 0))
	}
	cmds = append(cmds, budgetCmd(nodes*350))
	for i := range jobs {
		cmds = append(cmds, submit(fmt.Sprintf("j%04d", i)))
	}
	st, _, err := consensus.Replay(cmds...)
	if err != nil {
		b.Fatal(err)
	}
	v := view(members...)
	d := decide(input(st, v, t0))
	cmds = append(cmds, commitCmd(d.cmd))
	st, res, _ := consensus.Replay(cmds...)
	if e := res[len(res)-1].GetError(); e != "" {
		b.Fatal(e)
	}
	// The nodes took up their caps.
	for i := range v.Members {
		v.Members[i].Digest.PowerCapWatts = capWattsOf(st, v.Members[i].Meta.ID)
	}
	b.ResetTimer()
	for range b.N {
		if d := decide(input(st, v, t0)); d.cmd != nil {
			b.Fatalf("settled cluster: %v", d.changes)
		}
	}
}
