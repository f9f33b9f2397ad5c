package consensustest_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/krystalstack/gamesa/consensus/consensustest"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

func write(t *testing.T, c *consensustest.Cluster, key, value string) {
	t.Helper()
	cmd := &gamesav1.Command{Op: &gamesav1.Command_SetSetting{SetSetting: &gamesav1.SetSetting{Key: key, Value: value}}}
	consensustest.Eventually(t, 20*time.Second, func() bool {
		_, s := c.Leader()
		if s == nil {
			return false
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := s.Apply(ctx, cmd)
		return err == nil
	}, "no leader accepted %s=%s", key, value)
}

// TestPartitionIsolatesAndHealReconnects checks the helper's links: an
// isolated leader is replaced, and after Heal (and a restart over the
// in-memory transport) every server converges again.
func TestPartitionIsolatesAndHealReconnects(t *testing.T) {
	c := consensustest.New(t, 3, consensustest.Options{Inmem: true})
	old, _ := c.WaitLeader(20 * time.Second)
	var rest []int
	for i := range c.Len() {
		if i != old {
			rest = append(rest, i)
		}
	}
	c.Partition([]int{old}, rest)
	consensustest.Eventually(t, 20*time.Second, func() bool {
		i, _ := c.Leader()
		return slices.Contains(rest, i)
	}, "the connected pair elected no leader")
	write(t, c, "during", "partition")
	if st, ok := c.Server(old).State().Setting("during"); ok {
		t.Fatalf("the isolated server saw %v through a partition", st)
	}
	c.Heal()
	c.WaitConverged(20 * time.Second)

	c.Stop(rest[0])
	write(t, c, "while", "stopped")
	c.Restart(rest[0])
	c.WaitConverged(20 * time.Second)
	if st, ok := c.Server(rest[0]).State().Setting("while"); !ok || st.GetValue() != "stopped" {
		t.Fatalf("restarted server-%d has while = %v, %v; want stopped", rest[0], st, ok)
	}
}

// TestRestartKeepsAddress restarts a TCP server at the address its peers
// know.
func TestRestartKeepsAddress(t *testing.T) {
	c := consensustest.New(t, 1, consensustest.Options{})
	c.WaitLeader(20 * time.Second)
	addr := c.Server(0).Addr()
	write(t, c, "a", "1")
	c.Stop(0)
	if c.Server(0) != nil || len(c.Running()) != 0 {
		t.Fatal("a stopped server still counts as running")
	}
	if got := c.Restart(0).Addr(); got != addr {
		t.Fatalf("restarted at %s; want %s", got, addr)
	}
	c.WaitLeader(20 * time.Second)
	if st, ok := c.Server(0).State().Setting("a"); !ok || st.GetValue() != "1" {
		t.Fatalf("after restart a = %v, %v; want 1", st, ok)
	}
}
