package consensus_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/krystalstack/gamesa/consensus"
	"github.com/krystalstack/gamesa/consensus/consensustest"
)

// TestLeaderKilledKeepsAcknowledgedWrites kills the leader of three
// servers on loopback TCP: a new leader is elected and every write
// acknowledged before (and after) the kill is in every replica.
func TestLeaderKilledKeepsAcknowledgedWrites(t *testing.T) {
	c := consensustest.New(t, 3, consensustest.Options{})
	old, _ := c.WaitLeader(20 * time.Second)
	acked := map[string]string{}
	for i := range 20 {
		res := applyOnLeader(t, c, set(key(i)+"-req", key(i), "before", 0), 20*time.Second)
		acked[res.GetSetting().GetKey()] = "before"
	}
	c.Stop(old)
	next, _ := c.WaitLeader(20 * time.Second)
	if next == old {
		t.Fatalf("leader after killing server-%d is server-%d again", old, next)
	}
	for i := 20; i < 30; i++ {
		res := applyOnLeader(t, c, set(key(i)+"-req", key(i), "after", 0), 20*time.Second)
		acked[res.GetSetting().GetKey()] = "after"
	}
	c.WaitConverged(20 * time.Second)
	for _, i := range c.Running() {
		for k, want := range acked {
			if got := settingValue(c.Server(i), k); got != want {
				t.Errorf("server-%d: %s = %q; want %q", i, k, got, want)
			}
		}
	}
	// The killed server comes back from its disk and catches up.
	c.Restart(old)
	c.WaitConverged(20 * time.Second)
	if got := settingValue(c.Server(old), key(29)); got != "after" {
		t.Errorf("restarted server-%d: %s = %q; want %q", old, key(29), got, "after")
	}
}

// TestFollowerRefusesWrites checks that a follower names the leader and
// submits nothing, and that a ready leader serves consistent reads.
func TestFollowerRefusesWrites(t *testing.T) {
	c := consensustest.New(t, 3, consensustest.Options{})
	li, leader := c.WaitLeader(20 * time.Second)
	fi := (li + 1) % 3
	follower := c.Server(fi)
	// The Barrier needed only one follower; wait until this one knows too.
	consensustest.Eventually(t, 10*time.Second, func() bool { return follower.Leader().ID == c.ID(li) },
		"server-%d never learned the leader", fi)
	before := follower.Stats().LastIndex
	_, err := follower.Apply(context.Background(), set("", "a", "1", 0))
	var nl *consensus.NotLeaderError
	if !errors.As(err, &nl) || !errors.Is(err, consensus.ErrNotLeader) {
		t.Fatalf("follower Apply = %v; want a *NotLeaderError", err)
	}
	if nl.LeaderID != c.ID(li) || nl.LeaderAddr != leader.Addr() {
		t.Errorf("NotLeaderError names %s at %s; want %s at %s", nl.LeaderID, nl.LeaderAddr, c.ID(li), leader.Addr())
	}
	if _, err := follower.ConsistentState(context.Background()); !errors.Is(err, consensus.ErrNotLeader) {
		t.Errorf("follower ConsistentState error = %v; want ErrNotLeader", err)
	}
	if after := follower.Stats().LastIndex; after != before {
		t.Errorf("follower's last index moved from %d to %d after a refused write", before, after)
	}
	res, err := leader.Apply(context.Background(), set("r1", "a", "1", 0))
	if err != nil {
		t.Fatalf("leader Apply: %v", err)
	}
	st, err := leader.ConsistentState(context.Background())
	if err != nil {
		t.Fatalf("ConsistentState: %v", err)
	}
	if got, ok := st.Setting("a"); !ok || got.GetValue() != "1" || got.GetVersion() != res.GetIndex() {
		t.Errorf("ConsistentState().Setting(a) = %v, %v; want value 1 at version %d", got, ok, res.GetIndex())
	}
	// The follower's stale read catches up on its own.
	consensustest.Eventually(t, 10*time.Second, func() bool { return settingValue(follower, "a") == "1" }, "follower never saw a=1")
}
