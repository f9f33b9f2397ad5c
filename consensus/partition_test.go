package consensus_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/krystalstack/gamesa/consensus"
	"github.com/krystalstack/gamesa/consensus/consensustest"
)

// TestPartitionMinorityCannotCommit cuts the leader and one follower off
// from the other three of five servers: the minority's writes never
// commit, the majority elects a leader and commits, and after healing
// every server holds the majority's history and none of the minority's.
func TestPartitionMinorityCannotCommit(t *testing.T) {
	c := consensustest.New(t, 5, consensustest.Options{Inmem: true})
	old, oldLeader := c.WaitLeader(20 * time.Second)
	applyOnLeader(t, c, set("before", "before", "1", 0), 20*time.Second)

	minority := []int{old, (old + 1) % 5}
	var majority []int
	for i := range 5 {
		if !slices.Contains(minority, i) {
			majority = append(majority, i)
		}
	}
	c.Partition(minority, majority)

	// The old leader cannot commit: it answers unknown (it submitted, then
	// lost leadership) or not-leader (it already stepped down).
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	_, err := oldLeader.Apply(ctx, set("lost", "minority", "x", 0))
	cancel()
	if err == nil {
		t.Fatal("the minority's leader committed a write")
	}
	if !errors.Is(err, consensus.ErrUnknownOutcome) && !errors.Is(err, consensus.ErrNotLeader) {
		t.Errorf("minority Apply = %v; want ErrUnknownOutcome or ErrNotLeader", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 3*time.Second)
	_, err = oldLeader.ConsistentState(ctx)
	cancel()
	if err == nil {
		t.Error("the minority's old leader served a consistent read")
	}

	// The majority elects a leader of its own and commits.
	var newLeader *consensus.Server
	consensustest.Eventually(t, 20*time.Second, func() bool {
		i, s := c.Leader()
		if s != nil && slices.Contains(majority, i) {
			newLeader = s
			return true
		}
		return false
	}, "the majority elected no leader")
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	res, err := newLeader.Apply(ctx, set("majority", "majority", "y", 0))
	cancel()
	if err != nil {
		t.Fatalf("majority Apply: %v", err)
	}
	for _, i := range minority {
		if got := settingValue(c.Server(i), "majority"); got != "<missing>" {
			t.Errorf("partitioned server-%d already has majority = %q", i, got)
		}
	}

	c.Heal()
	c.WaitConverged(30 * time.Second)
	for _, i := range c.Running() {
		s := c.Server(i)
		if got := settingValue(s, "majority"); got != "y" {
			t.Errorf("server-%d: majority = %q after healing; want y", i, got)
		}
		if got := settingValue(s, "minority"); got != "<missing>" {
			t.Errorf("server-%d: the minority's uncommitted write survived: minority = %q", i, got)
		}
		if got, _ := s.State().Setting("majority"); got.GetVersion() != res.GetIndex() {
			t.Errorf("server-%d: majority at version %d; want %d", i, got.GetVersion(), res.GetIndex())
		}
	}
}

// TestRestartEveryServer stops all three servers after enough writes for
// snapshots and log truncation, starts them again, and finds the whole
// state: from snapshots plus the log tail in bbolt.
func TestRestartEveryServer(t *testing.T) {
	c := consensustest.New(t, 3, consensustest.Options{
		Tune: func(_ int, cfg *consensus.Config) {
			cfg.SnapshotThreshold = 16
			cfg.SnapshotInterval = 20 * time.Millisecond
			cfg.TrailingLogs = 4
		},
	})
	c.WaitLeader(20 * time.Second)
	const n = 60
	for i := range n {
		applyOnLeader(t, c, set(key(i), key(i%20), key(i), 0), 20*time.Second)
	}
	c.WaitConverged(20 * time.Second)
	consensustest.Eventually(t, 20*time.Second, func() bool {
		for _, i := range c.Running() {
			if c.Server(i).Stats().LastSnapshotIndex == 0 {
				return false
			}
		}
		return true
	}, "not every server took a snapshot")
	_, leader := c.Leader()
	want, err := consensus.EncodeSnapshot(leader.State())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		c.Stop(i)
	}
	for i := range 3 {
		c.Restart(i)
	}
	// Before any election, each server has rebuilt its state from disk
	// (snapshot restore, then the committed tail once a leader says so).
	c.WaitLeader(20 * time.Second)
	c.WaitConverged(20 * time.Second)
	for i := range 3 {
		got, err := consensus.EncodeSnapshot(c.Server(i).State())
		if err != nil {
			t.Fatal(err)
		}
		st := c.Server(i).State()
		for k := range 20 {
			if v := settingValue(c.Server(i), key(k)); v != key(40+k) {
				t.Errorf("server-%d after restart: %s = %q; want %q", i, key(k), v, key(40+k))
			}
		}
		if st.Requests() != n {
			t.Errorf("server-%d after restart remembers %d request ids; want %d", i, st.Requests(), n)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("server-%d's state after restart differs from the leader's before (index %d)", i, st.Index())
		}
	}
	// Retrying an old request is still a duplicate after the restart.
	res := applyOnLeader(t, c, set(key(5), key(5), "retried", 0), 20*time.Second)
	if !res.GetDuplicate() {
		t.Errorf("retry of %s after a full restart = %v; want a duplicate", key(5), res)
	}
}
