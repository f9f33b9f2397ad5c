package consensus

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Status is a server's liveness as gossip reports it.
type Status int

// The statuses Reconcile acts on. A suspect member should be left out of
// Reconcile's input: it is neither added nor removed until gossip decides.
const (
	// StatusAlive is a member that answers gossip.
	StatusAlive Status = iota + 1
	// StatusLeft is a member that announced its departure.
	StatusLeft
	// StatusFailed is a member that stopped answering without leaving.
	StatusFailed
)

// String names the status.
func (s Status) String() string {
	switch s {
	case StatusAlive:
		return "alive"
	case StatusLeft:
		return "left"
	case StatusFailed:
		return "failed"
	default:
		return fmt.Sprintf("status(%d)", int(s))
	}
}

// MemberStatus is one server as gossip sees it.
type MemberStatus struct {
	ID       string
	RaftAddr string
	Status   Status
	// Since is when the member entered Status.
	Since time.Time
	// AppliedIndex is the member's last applied Raft index, from its
	// gossip digest.
	AppliedIndex uint64
}

// ReconcilePolicy holds the reconciler's thresholds.
type ReconcilePolicy struct {
	// PromoteAfter is how long a non-voter must have been alive before it
	// becomes a voter.
	PromoteAfter time.Duration
	// CatchUpSlack is how many entries a non-voter may trail the leader's
	// commit index and still be promoted.
	CatchUpSlack uint64
	// RemoveFailedAfter is how long a server must have been failed before
	// it is removed (a reboot should not cost a server its seat).
	RemoveFailedAfter time.Duration
}

// DefaultReconcilePolicy promotes after 10 s of stable membership within
// 64 entries of the leader, and removes a failed server after 10 minutes.
func DefaultReconcilePolicy() ReconcilePolicy {
	return ReconcilePolicy{PromoteAfter: 10 * time.Second, CatchUpSlack: 64, RemoveFailedAfter: 10 * time.Minute}
}

// Validate rejects negative durations.
func (p ReconcilePolicy) Validate() error {
	if p.PromoteAfter < 0 || p.RemoveFailedAfter < 0 {
		return fmt.Errorf("%w: reconcile durations must not be negative", ErrInvalidConfig)
	}
	return nil
}

// ChangeKind is what a Change does to the Raft configuration.
type ChangeKind int

// The kinds of change.
const (
	// ChangeAddNonvoter adds a server without a vote.
	ChangeAddNonvoter ChangeKind = iota + 1
	// ChangePromote gives a non-voter a vote.
	ChangePromote
	// ChangeRemove removes a server.
	ChangeRemove
)

// String names the kind.
func (k ChangeKind) String() string {
	switch k {
	case ChangeAddNonvoter:
		return "add-nonvoter"
	case ChangePromote:
		return "promote"
	case ChangeRemove:
		return "remove"
	default:
		return fmt.Sprintf("change(%d)", int(k))
	}
}

// Change is one step Reconcile asks the leader to take.
type Change struct {
	Kind ChangeKind
	ID   string
	Addr string
	// Reason says why, for logs.
	Reason string
}

// String formats the change as the reconcile scenarios print it.
func (c Change) String() string {
	return fmt.Sprintf("%s %s %s (%s)", c.Kind, c.ID, c.Addr, c.Reason)
}

// Reconcile compares the Raft configuration with the servers gossip knows
// and returns the changes the leader should make now, removals first, then
// additions, then promotions, each sorted by ID. It is pure: the same
// inputs give the same changes, and applying them and calling it again
// with the new configuration gives none of the same changes again.
//
// The rules, after Consul's autopilot:
//   - an alive server missing from the configuration is added as a
//     non-voter;
//   - a non-voter alive for PromoteAfter and within CatchUpSlack of
//     commitIndex is promoted;
//   - a server that left is removed; a failed one once it has been failed
//     for RemoveFailedAfter; one whose address changed is removed and added
//     back at the new address;
//   - the leader is never removed, and voters are removed only while the
//     voters left keep a quorum of today's voters;
//   - a server in the configuration that gossip does not know is left
//     alone: gossip may not have converged yet.
func Reconcile(cfg []ServerInfo, members []MemberStatus, leaderID string, commitIndex uint64, now time.Time, p ReconcilePolicy) []Change {
	byID := make(map[string]MemberStatus, len(members))
	for _, m := range members {
		if _, dup := byID[m.ID]; !dup && m.ID != "" {
			byID[m.ID] = m
		}
	}
	inCfg := make(map[string]ServerInfo, len(cfg))
	usedAddr := make(map[string]string, len(cfg)) // address → ID
	voters := 0
	for _, s := range cfg {
		inCfg[s.ID] = s
		usedAddr[s.Addr] = s.ID
		if s.Voter {
			voters++
		}
	}
	// Removing a voter is allowed while the voters left still form a
	// quorum of the voters configured now.
	removableVoters := voters - (voters/2 + 1)

	type removal struct {
		Change
		voter bool
		rank  int // left, then failed, then moved
		readd string
	}
	var removals []removal
	var adds, promotes []Change
	sorted := slices.Clone(cfg)
	slices.SortFunc(sorted, func(a, b ServerInfo) int { return strings.Compare(a.ID, b.ID) })
	for _, s := range sorted {
		if s.ID == leaderID {
			continue
		}
		m, known := byID[s.ID]
		if !known {
			continue
		}
		switch m.Status {
		case StatusLeft:
			removals = append(removals, removal{Change: Change{ChangeRemove, s.ID, s.Addr, "left the cluster"}, voter: s.Voter, rank: 0})
		case StatusFailed:
			if down := now.Sub(m.Since); down >= p.RemoveFailedAfter {
				removals = append(removals, removal{
					Change: Change{ChangeRemove, s.ID, s.Addr, fmt.Sprintf("failed for %v", down.Truncate(time.Second))},
					voter:  s.Voter, rank: 1,
				})
			}
		case StatusAlive:
			switch {
			case m.RaftAddr != "" && m.RaftAddr != s.Addr:
				removals = append(removals, removal{
					Change: Change{ChangeRemove, s.ID, s.Addr, "address changed to " + m.RaftAddr},
					voter:  s.Voter, rank: 2, readd: m.RaftAddr,
				})
			case !s.Voter && now.Sub(m.Since) >= p.PromoteAfter && m.AppliedIndex+p.CatchUpSlack >= commitIndex:
				promotes = append(promotes, Change{ChangePromote, s.ID, s.Addr,
					fmt.Sprintf("alive for %v, applied %d of %d", now.Sub(m.Since).Truncate(time.Second), m.AppliedIndex, commitIndex)})
			}
		}
	}
	slices.SortStableFunc(removals, func(a, b removal) int { return cmp.Compare(a.rank, b.rank) })
	var removes []Change
	for _, r := range removals {
		if r.voter {
			if removableVoters == 0 {
				continue
			}
			removableVoters--
		}
		removes = append(removes, r.Change)
		delete(usedAddr, r.Addr)
		if r.readd != "" {
			adds = append(adds, Change{ChangeAddNonvoter, r.ID, r.readd, "rejoining at its new address"})
		}
	}
	var fresh []MemberStatus
	for _, m := range byID {
		if _, ok := inCfg[m.ID]; !ok && m.Status == StatusAlive && m.RaftAddr != "" {
			fresh = append(fresh, m)
		}
	}
	slices.SortFunc(fresh, func(a, b MemberStatus) int { return strings.Compare(a.ID, b.ID) })
	for _, m := range fresh {
		adds = append(adds, Change{ChangeAddNonvoter, m.ID, m.RaftAddr, "alive, not in the configuration"})
	}
	// Raft refuses two servers at one address; an add waits until the
	// server holding the address is removed.
	adds = slices.DeleteFunc(adds, func(c Change) bool {
		holder, taken := usedAddr[c.Addr]
		return taken && holder != c.ID
	})
	slices.SortStableFunc(adds, func(a, b Change) int { return strings.Compare(a.ID, b.ID) })
	return slices.Concat(removes, adds, promotes)
}

// ApplyChanges makes the changes on the leader, in order, skipping any that
// the configuration already reflects, so applying the same list twice is
// harmless. It stops at the first error.
func (s *Server) ApplyChanges(ctx context.Context, changes []Change) error {
	if err := s.ready(); err != nil {
		return err
	}
	for _, c := range changes {
		if err := s.applyChange(ctx, c); err != nil {
			return fmt.Errorf("%s %s: %w", c.Kind, c.ID, err)
		}
	}
	return nil
}

func (s *Server) applyChange(ctx context.Context, c Change) error {
	cfg, err := s.Configuration()
	if err != nil {
		return err
	}
	i := slices.IndexFunc(cfg, func(si ServerInfo) bool { return si.ID == c.ID })
	switch c.Kind {
	case ChangeAddNonvoter:
		if i >= 0 && cfg[i].Addr == c.Addr {
			return nil
		}
		return s.AddNonvoter(ctx, c.ID, c.Addr)
	case ChangePromote:
		if i < 0 {
			return ErrUnknownServer
		}
		if cfg[i].Voter {
			return nil
		}
		return s.AddVoter(ctx, c.ID, cfg[i].Addr)
	case ChangeRemove:
		if i < 0 {
			return nil
		}
		if c.ID == s.cfg.NodeID {
			return fmt.Errorf("the leader does not remove itself: transfer leadership first")
		}
		return s.RemoveServer(ctx, c.ID)
	default:
		return fmt.Errorf("unknown change kind %v", c.Kind)
	}
}
