package consensus

import (
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// countFSM counts applied entries; enough to see a command go through the log.
type countFSM struct{ n int }

func (f *countFSM) Apply(*raft.Log) any { f.n++; return f.n }

func (f *countFSM) Snapshot() (raft.FSMSnapshot, error) { return nil, raft.ErrNothingNewToSnapshot }

func (f *countFSM) Restore(rc io.ReadCloser) error { return rc.Close() }

// TestPinnedRaftStackCommits proves the pinned raft + raft-boltdb/v2 set
// works together: a single voter on real bolt storage in a temp dir becomes
// leader, commits an entry, and the entry is on disk after shutdown.
func TestPinnedRaftStackCommits(t *testing.T) {
	dir := t.TempDir()
	store, err := raftboltdb.NewBoltStore(filepath.Join(dir, "raft.db"))
	if err != nil {
		t.Fatalf("NewBoltStore: %v", err)
	}
	snaps, err := raft.NewFileSnapshotStore(dir, 2, io.Discard)
	if err != nil {
		t.Fatalf("NewFileSnapshotStore: %v", err)
	}
	addr, trans := raft.NewInmemTransport("")

	cfg := raft.DefaultConfig()
	cfg.LocalID = "n1"
	cfg.HeartbeatTimeout = 50 * time.Millisecond
	cfg.ElectionTimeout = 50 * time.Millisecond
	cfg.LeaderLeaseTimeout = 50 * time.Millisecond
	cfg.Logger = nil
	cfg.LogOutput = io.Discard

	boot := raft.Configuration{Servers: []raft.Server{{ID: cfg.LocalID, Address: addr}}}
	if err := raft.BootstrapCluster(cfg, store, store, snaps, trans, boot); err != nil {
		t.Fatalf("BootstrapCluster: %v", err)
	}
	fsm := &countFSM{}
	r, err := raft.NewRaft(cfg, fsm, store, store, snaps, trans)
	if err != nil {
		t.Fatalf("NewRaft: %v", err)
	}
	select {
	case <-r.LeaderCh():
	case <-time.After(5 * time.Second):
		t.Fatal("no leader within 5s")
	}
	if err := r.Apply([]byte("x"), time.Second).Error(); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if fsm.n != 1 {
		t.Fatalf("fsm applied %d entries; want 1", fsm.n)
	}
	if err := r.Shutdown().Error(); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	last, err := store.LastIndex()
	if err != nil {
		t.Fatalf("LastIndex: %v", err)
	}
	var entry raft.Log
	if err := store.GetLog(last, &entry); err != nil {
		t.Fatalf("GetLog(%d): %v", last, err)
	}
	if string(entry.Data) != "x" {
		t.Fatalf("last log entry = %q; want %q", entry.Data, "x")
	}
	if err := store.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}
