package consensus_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/krystalstack/gamesa/consensus"
	"github.com/krystalstack/gamesa/consensus/consensustest"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

func set(id, key, value string, expected uint64) *gamesav1.Command {
	return &gamesav1.Command{RequestId: id, Op: &gamesav1.Command_SetSetting{SetSetting: &gamesav1.SetSetting{
		Key: key, Value: value, ExpectedVersion: expected,
	}}}
}

func del(id, key string, expected uint64) *gamesav1.Command {
	return &gamesav1.Command{RequestId: id, Op: &gamesav1.Command_DeleteSetting{DeleteSetting: &gamesav1.DeleteSetting{
		Key: key, ExpectedVersion: expected,
	}}}
}

// applyOnLeader applies cmd on whichever server leads, retrying through
// elections with the same request id, and fails the test after timeout.
func applyOnLeader(t *testing.T, c *consensustest.Cluster, cmd *gamesav1.Command, timeout time.Duration) *gamesav1.CommandResult {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		_, s := c.Leader()
		if s == nil {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		res, err := s.Apply(ctx, cmd)
		cancel()
		if err == nil {
			return res
		}
		lastErr = err
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("Apply(%v) found no leader to accept it within %v; last error: %v", cmd, timeout, lastErr)
	return nil
}

// settingValue reads key from a server's local state.
func settingValue(s *consensus.Server, key string) string {
	if st, ok := s.State().Setting(key); ok {
		return st.GetValue()
	}
	return "<missing>"
}

func key(i int) string { return fmt.Sprintf("k%03d", i) }
