package consensus

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
)

// fsm is the Raft state machine. Raft calls Apply, ApplyBatch, Snapshot and
// Restore from one goroutine; readers take the current State through
// state, which is swapped atomically after each batch.
type fsm struct {
	limits dedupLimits
	state  atomic.Pointer[State]

	// changed is closed when the next state is published, so that readers
	// wait for a change instead of polling for one. It is made on demand:
	// nil while nobody waits.
	mu      sync.Mutex
	changed chan struct{}
}

// publish makes st the current state and wakes those waiting for a change.
func (f *fsm) publish(st *State) {
	f.state.Store(st)
	f.mu.Lock()
	if f.changed != nil {
		close(f.changed)
		f.changed = nil
	}
	f.mu.Unlock()
}

// next returns a channel closed when a state after the current one is
// published.
func (f *fsm) next() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.changed == nil {
		f.changed = make(chan struct{})
	}
	return f.changed
}

var _ raft.BatchingFSM = (*fsm)(nil)

func newFSM(lim dedupLimits) *fsm {
	f := &fsm{limits: lim}
	f.state.Store(emptyState())
	return f
}

// Apply applies one entry (raft uses ApplyBatch; this completes raft.FSM).
func (f *fsm) Apply(l *raft.Log) any {
	return f.ApplyBatch([]*raft.Log{l})[0]
}

// ApplyBatch applies committed entries in order and publishes the new state
// once. It returns a *gamesav1.CommandResult per command entry and nil for
// a configuration entry.
func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	b := f.state.Load().edit(f.limits)
	out := make([]any, len(logs))
	for i, l := range logs {
		switch l.Type {
		case raft.LogCommand:
			out[i] = b.applyCommand(l.Index, l.Data)
		default:
			// Configuration entries change raft's membership, not this
			// state; they still advance Index so it tracks the log.
			b.index = l.Index
		}
	}
	f.publish(b.state())
	return out
}

// Snapshot captures the current state; the immutable State is the snapshot.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	return &fsmSnapshot{state: f.state.Load()}, nil
}

// Restore replaces the whole state with the snapshot's.
func (f *fsm) Restore(rc io.ReadCloser) error {
	st, err := readSnapshot(rc)
	cerr := rc.Close()
	if err != nil {
		return err
	}
	if cerr != nil {
		return fmt.Errorf("closing snapshot: %w", cerr)
	}
	f.publish(st)
	return nil
}

type fsmSnapshot struct{ state *State }

// Persist writes the snapshot; it runs concurrently with Apply, which never
// touches this State.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	data, err := EncodeSnapshot(s.state)
	if err == nil {
		_, err = sink.Write(data)
	}
	if err != nil {
		return errors.Join(err, sink.Cancel())
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("closing snapshot sink: %w", err)
	}
	return nil
}

// Release has nothing to free: the State is garbage collected.
func (s *fsmSnapshot) Release() {}
