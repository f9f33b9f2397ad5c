package gossip

import (
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// TestPinnedMemberlistJoins proves the pinned memberlist works: two members on
// loopback with OS-chosen ports join and each sees the other.
func TestPinnedMemberlistJoins(t *testing.T) {
	start := func(name string) *memberlist.Memberlist {
		t.Helper()
		cfg := memberlist.DefaultLocalConfig()
		cfg.Name = name
		cfg.BindAddr = "127.0.0.1"
		cfg.BindPort = 0
		cfg.LogOutput = io.Discard
		m, err := memberlist.Create(cfg)
		if err != nil {
			t.Fatalf("Create(%s): %v", name, err)
		}
		t.Cleanup(func() { _ = m.Shutdown() }) // best effort: the test is over
		return m
	}
	a, b := start("a"), start("b")
	self := a.LocalNode()
	if _, err := b.Join([]string{fmt.Sprintf("%s:%d", self.Addr, self.Port)}); err != nil {
		t.Fatalf("Join: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for a.NumMembers() != 2 || b.NumMembers() != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("members: a sees %d, b sees %d; want 2 each", a.NumMembers(), b.NumMembers())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
