package consensus

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"google.golang.org/protobuf/proto"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// snapshotMagic starts every snapshot this package writes; the last byte
// is the format version, so a later format can be told apart.
var snapshotMagic = []byte("GAMESA-FSM\x01")

// MaxSnapshotSize is the largest snapshot Restore reads.
const MaxSnapshotSize = 1 << 30

// snapshotProto lays the state out for a snapshot: settings sorted by key
// and the dedup table oldest first, so equal states encode alike.
func (s *State) snapshotProto() *gamesav1.ClusterStateSnapshot {
	snap := &gamesav1.ClusterStateSnapshot{
		AppliedIndex: s.index,
		Settings:     make([]*gamesav1.Setting, 0, s.settings.Len()),
		Requests:     make([]*gamesav1.RequestRecord, 0, s.requestCount),
	}
	s.settings.Root().Walk(func(_ []byte, v any) bool {
		snap.Settings = append(snap.Settings, v.(*gamesav1.Setting))
		return false
	})
	s.order.Root().Walk(func(_ []byte, v any) bool {
		id := v.(string)
		r, _ := s.requests.Get([]byte(id))
		snap.Requests = append(snap.Requests, &gamesav1.RequestRecord{RequestId: id, Result: r.(*gamesav1.CommandResult)})
		return false
	})
	s.nodes.Root().Walk(func(_ []byte, v any) bool {
		snap.Nodes = append(snap.Nodes, v.(*gamesav1.NodeResources))
		return false
	})
	s.jobs.Root().Walk(func(_ []byte, v any) bool {
		snap.Jobs = append(snap.Jobs, v.(*gamesav1.Job))
		return false
	})
	snap.PowerBudget, snap.Allocation = s.budget, s.alloc
	snap.FederatedLastRound, snap.FederatedRounds, snap.FederatedModels = s.fed.lastRound, s.fed.rounds, s.fed.models
	return snap
}

// EncodeSnapshot returns the bytes a snapshot of s holds.
func EncodeSnapshot(s *State) ([]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(s.snapshotProto())
	if err != nil {
		return nil, fmt.Errorf("encoding snapshot: %w", err)
	}
	return append(append(make([]byte, 0, len(snapshotMagic)+len(b)), snapshotMagic...), b...), nil
}

// DecodeSnapshot parses a snapshot written by EncodeSnapshot and checks the
// state's invariants (valid, sorted, unique keys; a consistent dedup
// table), so a damaged or foreign file is refused rather than half loaded.
// Its errors wrap ErrInvalidSnapshot.
func DecodeSnapshot(data []byte) (*State, error) {
	st, err := decodeSnapshot(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidSnapshot, err)
	}
	return st, nil
}

func decodeSnapshot(data []byte) (*State, error) {
	if !bytes.HasPrefix(data, snapshotMagic) {
		return nil, errors.New("missing header (not a GAMESA state snapshot, or a newer format)")
	}
	var snap gamesav1.ClusterStateSnapshot
	if err := proto.Unmarshal(data[len(snapshotMagic):], &snap); err != nil {
		return nil, err
	}
	applied := snap.GetAppliedIndex()
	b := emptyState().edit(dedupLimits{})
	b.index = applied
	prev := ""
	for i, s := range snap.GetSettings() {
		if err := validateKey(s.GetKey()); err != nil {
			return nil, fmt.Errorf("setting %d: %w", i, err)
		}
		if i > 0 && s.GetKey() <= prev {
			return nil, fmt.Errorf("setting %d: key %q is not after %q", i, s.GetKey(), prev)
		}
		if err := validateSetting(s, applied); err != nil {
			return nil, fmt.Errorf("setting %q: %w", s.GetKey(), err)
		}
		prev = s.GetKey()
		b.settings.Insert([]byte(s.GetKey()), s)
	}
	var last uint64
	for i, r := range snap.GetRequests() {
		id, res := r.GetRequestId(), r.GetResult()
		if id == "" {
			return nil, fmt.Errorf("request %d: empty request id", i)
		}
		if err := validateRequestID(id); err != nil {
			return nil, fmt.Errorf("request %d: %w", i, err)
		}
		if res == nil {
			return nil, fmt.Errorf("request %q: no result", id)
		}
		if res.GetIndex() <= last || res.GetIndex() > applied {
			return nil, fmt.Errorf("request %q: index %d is not in (%d, %d]", id, res.GetIndex(), last, applied)
		}
		if res.GetDuplicate() {
			return nil, fmt.Errorf("request %q: a stored result cannot be a duplicate", id)
		}
		if s := res.GetSetting(); s != nil {
			if err := validateKey(s.GetKey()); err != nil {
				return nil, fmt.Errorf("request %q: %w", id, err)
			}
			if err := validateSetting(s, applied); err != nil {
				return nil, fmt.Errorf("request %q: %w", id, err)
			}
		}
		if _, dup := b.requests.Get([]byte(id)); dup {
			return nil, fmt.Errorf("request %q appears twice", id)
		}
		last = res.GetIndex()
		b.requests.Insert([]byte(id), res)
		b.order.Insert(indexKey(res.GetIndex()), id)
		b.requestCount++
		b.requestBytes += recordCost(id, res)
	}
	if err := decodeAllocState(&snap, b); err != nil {
		return nil, err
	}
	if err := decodeFedState(&snap, b); err != nil {
		return nil, err
	}
	return b.state(), nil
}

func validateSetting(s *gamesav1.Setting, applied uint64) error {
	if err := validateValue(s.GetValue()); err != nil {
		return err
	}
	if s.GetVersion() == 0 || s.GetVersion() > applied {
		return fmt.Errorf("version %d is not in [1, %d]", s.GetVersion(), applied)
	}
	return nil
}

// readSnapshot reads a whole snapshot, refusing one over MaxSnapshotSize.
func readSnapshot(r io.Reader) (*State, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxSnapshotSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading snapshot: %w", err)
	}
	if len(data) > MaxSnapshotSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrInvalidSnapshot, MaxSnapshotSize)
	}
	return DecodeSnapshot(data)
}
