package consensus_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/krystalstack/gamesa/consensus"
	"github.com/krystalstack/gamesa/consensus/consensustest"
)

// members describes every running server of c as alive since since, with
// its applied index, the way node builds Reconcile's input from gossip.
func members(c *consensustest.Cluster, since time.Time) []consensus.MemberStatus {
	var out []consensus.MemberStatus
	for _, i := range c.Running() {
		s := c.Server(i)
		out = append(out, consensus.MemberStatus{
			ID: s.ID(), RaftAddr: s.Addr(), Status: consensus.StatusAlive, Since: since, AppliedIndex: s.Stats().AppliedIndex,
		})
	}
	return out
}

// TestReconcileOnCluster grows a three-server cluster to four through
// Reconcile and ApplyChanges (add as non-voter, promote once caught up),
// then shrinks it back when the newcomer fails.
func TestReconcileOnCluster(t *testing.T) {
	c := consensustest.New(t, 3, consensustest.Options{})
	_, leader := c.WaitLeader(20 * time.Second)
	for i := range 5 {
		applyOnLeader(t, c, set("", key(i), "v", 0), 20*time.Second)
	}
	newcomer := c.Add()
	policy := consensus.ReconcilePolicy{PromoteAfter: time.Second, CatchUpSlack: 0, RemoveFailedAfter: time.Minute}
	ctx := consensustest.Ctx(t, 60*time.Second)

	reconcile := func(now time.Time, ms []consensus.MemberStatus) []consensus.Change {
		t.Helper()
		cfg, err := leader.Configuration()
		if err != nil {
			t.Fatalf("Configuration: %v", err)
		}
		changes := consensus.Reconcile(cfg, ms, leader.ID(), leader.Stats().CommitIndex, now, policy)
		if err := leader.ApplyChanges(ctx, changes); err != nil {
			t.Fatalf("ApplyChanges(%v): %v", changes, err)
		}
		// Applying the same list again changes nothing and fails nothing.
		if err := leader.ApplyChanges(ctx, changes); err != nil {
			t.Fatalf("ApplyChanges(%v) a second time: %v", changes, err)
		}
		return changes
	}
	joined := time.Now()
	changes := reconcile(joined, members(c, joined))
	if len(changes) != 1 || changes[0].Kind != consensus.ChangeAddNonvoter || changes[0].ID != c.ID(newcomer) {
		t.Fatalf("first reconcile = %v; want server-3 added as a non-voter", changes)
	}
	// The newcomer replicates the log without a vote.
	consensustest.Eventually(t, 20*time.Second, func() bool {
		return settingValue(c.Server(newcomer), key(4)) == "v"
	}, "the non-voter never caught up")
	cfg, _ := leader.Configuration()
	if got := cfg[len(cfg)-1]; got.ID != c.ID(newcomer) || got.Voter {
		t.Fatalf("configuration after add = %v; want server-3 as a non-voter", cfg)
	}
	// Stable and caught up: promoted.
	consensustest.Eventually(t, 20*time.Second, func() bool {
		changes = reconcile(joined.Add(2*time.Second), members(c, joined))
		cfg, _ = leader.Configuration()
		return len(cfg) == 4 && cfg[3].Voter
	}, "server-3 was never promoted; last changes %v", &changes)

	// The newcomer fails; after RemoveFailedAfter it is removed.
	c.Stop(newcomer)
	failed := append(members(c, joined), consensus.MemberStatus{ID: c.ID(newcomer), Status: consensus.StatusFailed, Since: time.Now()})
	if changes := reconcile(time.Now(), failed); len(changes) != 0 {
		t.Fatalf("reconcile right after the failure = %v; want none", changes)
	}
	changes = reconcile(time.Now().Add(2*time.Minute), failed)
	if len(changes) != 1 || changes[0].Kind != consensus.ChangeRemove {
		t.Fatalf("reconcile after RemoveFailedAfter = %v; want server-3 removed", changes)
	}
	if cfg, _ := leader.Configuration(); len(cfg) != 3 {
		t.Fatalf("configuration after removal = %v; want three servers", cfg)
	}
	// The cluster still commits.
	applyOnLeader(t, c, set("", "after-removal", "ok", 0), 20*time.Second)

	// The leader never removes itself, and followers refuse changes.
	err := leader.ApplyChanges(ctx, []consensus.Change{{Kind: consensus.ChangeRemove, ID: leader.ID()}})
	if err == nil {
		t.Error("ApplyChanges removed the leader itself")
	}
	for _, i := range c.Running() {
		if s := c.Server(i); !s.IsLeader() {
			if err := s.ApplyChanges(ctx, nil); !errors.Is(err, consensus.ErrNotLeader) {
				t.Errorf("follower ApplyChanges = %v; want ErrNotLeader", err)
			}
		}
	}
}

// TestTransferLeadership hands leadership to a named server.
func TestTransferLeadership(t *testing.T) {
	c := consensustest.New(t, 3, consensustest.Options{})
	li, leader := c.WaitLeader(20 * time.Second)
	target := (li + 1) % 3
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := leader.TransferLeadership(ctx, c.ID(target)); err != nil {
		t.Fatalf("TransferLeadership(%s): %v", c.ID(target), err)
	}
	consensustest.Eventually(t, 20*time.Second, func() bool {
		i, _ := c.Leader()
		return i == target
	}, "server-%d never became the ready leader", target)
	_, now := c.Leader()
	if err := now.TransferLeadership(ctx, "nobody"); !errors.Is(err, consensus.ErrUnknownServer) {
		t.Errorf("TransferLeadership(nobody) = %v; want ErrUnknownServer", err)
	}
}
