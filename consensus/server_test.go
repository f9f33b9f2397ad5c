package consensus_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/krystalstack/gamesa/consensus"
	"github.com/krystalstack/gamesa/consensus/consensustest"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// openSingle opens one server on loopback TCP with test timings.
func openSingle(t *testing.T, dir string) *consensus.Server {
	t.Helper()
	cfg := consensus.DefaultConfig()
	cfg.NodeID = "solo"
	cfg.DataDir = dir
	cfg.BindAddr = "127.0.0.1:0"
	consensustest.FastTimings(&cfg)
	s, err := consensus.Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Shutdown() }) // a second Shutdown is a no-op
	return s
}

func waitReady(t *testing.T, s *consensus.Server) {
	t.Helper()
	consensustest.Eventually(t, 20*time.Second, func() bool { return s.Stats().Ready }, "%s never became a ready leader", s.ID())
}

func TestSingleServerLifecycle(t *testing.T) {
	dir := t.TempDir()
	s := openSingle(t, dir)
	if s.HasState() {
		t.Fatal("HasState() = true on a new data directory")
	}
	if err := s.Bootstrap([]consensus.Peer{{ID: "other", Addr: "127.0.0.1:1"}}); err == nil || !strings.Contains(err.Error(), "do not include this server") {
		t.Errorf("Bootstrap without self = %v; want a refusal", err)
	}
	if err := s.Bootstrap([]consensus.Peer{{ID: "solo", Addr: s.Addr()}}); err != nil {
		t.Fatalf("Bootstrap: %v", err)
	}
	if !s.HasState() {
		t.Error("HasState() = false after Bootstrap")
	}
	if err := s.Bootstrap([]consensus.Peer{{ID: "solo", Addr: s.Addr()}}); !errors.Is(err, consensus.ErrAlreadyBootstrapped) {
		t.Errorf("second Bootstrap = %v; want ErrAlreadyBootstrapped", err)
	}
	changes, stop := s.LeadershipChanges()
	defer stop()
	waitReady(t, s)
	consensustest.Eventually(t, 10*time.Second, func() bool {
		select {
		case v := <-changes:
			return v
		default:
			return false
		}
	}, "LeadershipChanges never said true")

	ctx := context.Background()
	res, err := s.Apply(ctx, set("req-1", "power/budget", "1200", 0))
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if res.GetSetting().GetVersion() != res.GetIndex() || res.GetSetting().GetValue() != "1200" {
		t.Errorf("Apply result = %v; want the setting at version = index", res)
	}
	// Changing the returned result must not reach the dedup table.
	res.Setting.Value = "scribbled"
	dup, err := s.Apply(ctx, set("req-1", "power/budget", "1200", 0))
	if err != nil || !dup.GetDuplicate() || dup.GetIndex() != res.GetIndex() || dup.GetSetting().GetValue() != "1200" {
		t.Errorf("retried Apply = %v, %v; want the first result, marked duplicate", dup, err)
	}
	// A CAS on a stale version is a result, not an error.
	rej, err := s.Apply(ctx, set("", "power/budget", "900", res.GetIndex()+100))
	if err != nil || rej.GetRejection() != gamesav1.Rejection_REJECTION_VERSION_MISMATCH || rej.GetSetting().GetValue() != "1200" {
		t.Errorf("stale CAS = %v, %v; want a version-mismatch result showing the current value", rej, err)
	}
	// An invalid command is refused before the log.
	last := s.Stats().LastIndex
	if _, err := s.Apply(ctx, set("", "Bad Key", "x", 0)); !errors.Is(err, consensus.ErrInvalidCommand) {
		t.Errorf("Apply(invalid) = %v; want ErrInvalidCommand", err)
	}
	if got := s.Stats().LastIndex; got != last {
		t.Errorf("last index moved from %d to %d after an invalid command", last, got)
	}
	// A context that is already over submits nothing.
	done, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Apply(done, set("", "a", "b", 0)); !errors.Is(err, context.Canceled) {
		t.Errorf("Apply(cancelled ctx) = %v; want context.Canceled", err)
	}
	if err := s.Barrier(ctx); err != nil {
		t.Errorf("Barrier: %v", err)
	}
	if err := s.Snapshot(); err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	st := s.Stats()
	if st.LastSnapshotIndex == 0 || st.RaftState != "Leader" || st.Term == 0 || st.CommitIndex < res.GetIndex() {
		t.Errorf("Stats() = %+v; want a leader with a snapshot and the writes committed", st)
	}
	cfg, err := s.Configuration()
	if err != nil || len(cfg) != 1 || cfg[0] != (consensus.ServerInfo{ID: "solo", Addr: s.Addr(), Voter: true}) {
		t.Errorf("Configuration() = %v, %v; want solo as the one voter", cfg, err)
	}

	// A second server on the same directory is refused while this one runs.
	cfg2 := consensus.DefaultConfig()
	cfg2.NodeID, cfg2.DataDir, cfg2.BindAddr = "solo", dir, "127.0.0.1:0"
	if _, err := consensus.Open(cfg2); !errors.Is(err, consensus.ErrDataDirLocked) {
		t.Errorf("Open on a held data directory = %v; want ErrDataDirLocked", err)
	}

	if err := s.Shutdown(); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if _, ok := <-changes; ok {
		// Drain the last value; the channel must then be closed.
		if _, ok := <-changes; ok {
			t.Error("LeadershipChanges channel still open after Shutdown")
		}
	}
	if _, err := s.Apply(ctx, set("", "a", "b", 0)); !errors.Is(err, consensus.ErrShutdown) {
		t.Errorf("Apply after Shutdown = %v; want ErrShutdown", err)
	}

	// Reopened, the server finds its state and leads again by itself.
	s2 := openSingle(t, dir)
	if !s2.HasState() {
		t.Fatal("HasState() = false after a restart")
	}
	waitReady(t, s2)
	got, ok := s2.State().Setting("power/budget")
	if !ok || got.GetValue() != "1200" || got.GetVersion() != res.GetIndex() {
		t.Errorf("after restart Setting(power/budget) = %v, %v; want 1200 at version %d", got, ok, res.GetIndex())
	}
	if dup, err := s2.Apply(ctx, set("req-1", "power/budget", "1200", 0)); err != nil || !dup.GetDuplicate() {
		t.Errorf("retry after restart = %v, %v; want a duplicate", dup, err)
	}
}

func TestConfigValidate(t *testing.T) {
	base := consensus.DefaultConfig()
	base.NodeID, base.DataDir = "n1", "/tmp/x"
	tests := []struct {
		name   string
		change func(*consensus.Config)
	}{
		{"no node id", func(c *consensus.Config) { c.NodeID = "" }},
		{"space in node id", func(c *consensus.Config) { c.NodeID = "a b" }},
		{"no data dir", func(c *consensus.Config) { c.DataDir = "" }},
		{"bad bind", func(c *consensus.Config) { c.BindAddr = "localhost" }},
		{"bad port", func(c *consensus.Config) { c.BindAddr = "127.0.0.1:99999" }},
		{"lease above heartbeat", func(c *consensus.Config) { c.LeaderLeaseTimeout = time.Second }},
		{"election below heartbeat", func(c *consensus.Config) { c.ElectionTimeout = 100 * time.Millisecond }},
		{"tiny heartbeat", func(c *consensus.Config) { c.HeartbeatTimeout = time.Millisecond }},
		{"no snapshots kept", func(c *consensus.Config) { c.SnapshotRetain = 0 }},
		{"too many entries", func(c *consensus.Config) { c.MaxAppendEntries = 5000 }},
		{"client tls alone", func(c *consensus.Config) { c.ClientTLS = testTLSConfigForValidate() }},
	}
	if err := base.Validate(); err != nil {
		t.Fatalf("Validate(default + id + dir) = %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			tt.change(&c)
			if err := c.Validate(); !errors.Is(err, consensus.ErrInvalidConfig) {
				t.Errorf("Validate(%s) = %v; want ErrInvalidConfig", tt.name, err)
			}
		})
	}
}

func TestOpenRefusesWildcardWithoutAdvertise(t *testing.T) {
	cfg := consensus.DefaultConfig()
	cfg.NodeID, cfg.DataDir, cfg.BindAddr = "n1", filepath.Join(t.TempDir(), "d"), "0.0.0.0:0"
	if s, err := consensus.Open(cfg); !errors.Is(err, consensus.ErrInvalidConfig) {
		if s != nil {
			_ = s.Shutdown() // only reached when the test already failed
		}
		t.Fatalf("Open(wildcard bind, no advertise) = %v; want ErrInvalidConfig", err)
	}
	cfg.AdvertiseAddr = "127.0.0.1:0"
	s, err := consensus.Open(cfg)
	if err != nil {
		t.Fatalf("Open(wildcard bind, advertise 127.0.0.1:0) = %v", err)
	}
	defer s.Shutdown()
	if !strings.HasPrefix(s.Addr(), "127.0.0.1:") || strings.HasSuffix(s.Addr(), ":0") {
		t.Errorf("Addr() = %q; want 127.0.0.1 with the bound port", s.Addr())
	}
}

// TestChangedWakesOnApply: the channel Changed returns stays open while
// nothing is applied and is closed by the next applied command, whose
// effect the state then shows; a channel taken after that waits again.
func TestChangedWakesOnApply(t *testing.T) {
	s := openSingle(t, t.TempDir())
	if err := s.Bootstrap([]consensus.Peer{{ID: "solo", Addr: s.Addr()}}); err != nil {
		t.Fatalf("Bootstrap: %v", err)
	}
	waitReady(t, s)
	changed := s.Changed()
	before := s.State().Index()
	select {
	case <-changed:
		// Raft may still be applying its own entries after the election:
		// take a fresh channel once they settled.
		time.Sleep(100 * time.Millisecond)
		changed, before = s.Changed(), s.State().Index()
	default:
	}
	select {
	case <-changed:
		t.Fatal("Changed closed with nothing applied")
	case <-time.After(200 * time.Millisecond):
	}
	if _, err := s.Apply(context.Background(), set("req-c", "k", "v", 0)); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	select {
	case <-changed:
	case <-time.After(5 * time.Second):
		t.Fatal("Changed not closed by an applied command")
	}
	if st := s.State(); st.Index() <= before || settingValue(s, "k") != "v" {
		t.Errorf("after the wake: index %d (was %d), k = %q; want the applied command", st.Index(), before, settingValue(s, "k"))
	}
	again := s.Changed()
	select {
	case <-again:
		t.Fatal("a channel taken after the change is already closed")
	default:
	}
}
