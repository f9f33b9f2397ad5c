package consensus_test

import (
	"crypto/sha256"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/krystalstack/gamesa/consensus/consensustest"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// TestFedRoundsSurviveSnapshotAndRestart runs rounds on a real Raft
// cluster, snapshots every server, writes more, and restarts one: it comes
// back (snapshot, then log) with the same rounds and versions as the
// others, and the round left open is still open, so the leader that
// follows can end it.
func TestFedRoundsSurviveSnapshotAndRestart(t *testing.T) {
	c := consensustest.New(t, 3, consensustest.Options{Inmem: true})
	c.WaitLeader(10 * time.Second)
	t0 := time.Now()
	h1 := sha256.Sum256([]byte("version 1"))
	open := func(round, base uint64, hash []byte) *gamesav1.Command {
		return &gamesav1.Command{RequestId: "open-" + string(rune('0'+round)), Op: &gamesav1.Command_OpenRound{OpenRound: &gamesav1.OpenRound{
			Round: round, Kind: "thermal", Participants: []string{"a", "b", "c"}, MinParticipants: 2, Rule: "median",
			BaseVersion: base, BaseHash: hash, LeaderId: "server-0",
			OpenedAt: timestamppb.New(t0), Deadline: timestamppb.New(t0.Add(time.Minute)),
		}}}
	}
	for _, cmd := range []*gamesav1.Command{
		open(1, 0, nil),
		{Op: &gamesav1.Command_CloseRound{CloseRound: &gamesav1.CloseRound{
			Round: 1, Contributors: []string{"a", "c"}, ModelVersion: 1, ModelHash: h1[:], Samples: 900, Holder: "server-0",
		}}},
	} {
		if res := applyOnLeader(t, c, cmd, 10*time.Second); res.GetError() != "" {
			t.Fatalf("Apply(%v) = %s", cmd, res.GetError())
		}
	}
	for _, i := range c.Running() {
		if err := c.Server(i).Snapshot(); err != nil {
			t.Fatalf("Snapshot(server-%d): %v", i, err)
		}
	}
	if res := applyOnLeader(t, c, open(2, 1, h1[:]), 10*time.Second); res.GetError() != "" {
		t.Fatalf("OpenRound(2) = %s", res.GetError())
	}
	c.WaitConverged(10 * time.Second)
	c.Stop(2)
	s := c.Restart(2)
	c.WaitConverged(15 * time.Second)
	st := s.State()
	if m := st.GlobalModel("thermal"); m.GetVersion() != 1 || string(m.GetHash()) != string(h1[:]) {
		t.Errorf("restarted server: GlobalModel = %v; want version 1", m)
	}
	if r := st.OpenRound(); r.GetRound() != 2 || r.GetBaseVersion() != 1 {
		t.Errorf("restarted server: OpenRound = %v; want round 2 from version 1", r)
	}
	// The round stays open through the restart: the next leader aborts it,
	// and a late duplicate of its opening is recognised, not applied.
	res := applyOnLeader(t, c, &gamesav1.Command{Op: &gamesav1.Command_AbortRound{AbortRound: &gamesav1.AbortRound{Round: 2, Reason: "leader changed"}}}, 10*time.Second)
	if res.GetError() != "" || res.GetRound().GetState() != gamesav1.RoundState_ROUND_STATE_ABORTED {
		t.Fatalf("AbortRound(2) = %v", res)
	}
	if dup := applyOnLeader(t, c, open(2, 1, h1[:]), 10*time.Second); !dup.GetDuplicate() {
		t.Errorf("retried OpenRound(2) = %v; want the first result, marked duplicate", dup)
	}
	c.WaitConverged(10 * time.Second)
}
