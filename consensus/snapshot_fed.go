package consensus

import (
	"fmt"
	"slices"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// decodeFedState loads and checks the federated part of a snapshot:
// rounds sorted by number, none beyond the last opened, each consistent
// with its state, only the newest open; model versions sorted by kind and
// version within the bounds the state machine keeps; indexes no later
// than the snapshot's.
func decodeFedState(snap *gamesav1.ClusterStateSnapshot, b *builder) error {
	applied := snap.GetAppliedIndex()
	f := &fedState{lastRound: snap.GetFederatedLastRound()}
	rounds := snap.GetFederatedRounds()
	if len(rounds) > MaxRounds {
		return fmt.Errorf("%d federated rounds, more than the %d the state keeps", len(rounds), MaxRounds)
	}
	for i, r := range rounds {
		if i > 0 && r.GetRound() <= rounds[i-1].GetRound() {
			return fmt.Errorf("federated round %d is not after %d", r.GetRound(), rounds[i-1].GetRound())
		}
		if r.GetRound() > f.lastRound {
			return fmt.Errorf("federated round %d is after the last opened, %d", r.GetRound(), f.lastRound)
		}
		if err := checkRound(r, applied); err != nil {
			return fmt.Errorf("federated round %d: %w", r.GetRound(), err)
		}
		if r.GetState() == gamesav1.RoundState_ROUND_STATE_OPEN && i != len(rounds)-1 {
			return fmt.Errorf("federated round %d is open but not the newest", r.GetRound())
		}
	}
	f.rounds = slices.Clone(rounds)
	models := snap.GetFederatedModels()
	perKind := 0
	for i, m := range models {
		if err := checkModel(m, applied); err != nil {
			return fmt.Errorf("federated model %s/%d: %w", m.GetKind(), m.GetVersion(), err)
		}
		if i > 0 {
			prev := models[i-1]
			switch {
			case m.GetKind() < prev.GetKind(), m.GetKind() == prev.GetKind() && m.GetVersion() <= prev.GetVersion():
				return fmt.Errorf("federated model %s/%d is not after %s/%d", m.GetKind(), m.GetVersion(), prev.GetKind(), prev.GetVersion())
			case m.GetKind() != prev.GetKind():
				perKind = 0
			}
		}
		if perKind++; perKind > MaxModelVersions {
			return fmt.Errorf("more than %d versions of federated model %s", MaxModelVersions, m.GetKind())
		}
	}
	f.models = slices.Clone(models)
	if f.kinds() > MaxModelKinds {
		return fmt.Errorf("%d federated model kinds, more than %d", f.kinds(), MaxModelKinds)
	}
	if open := f.open(); open != nil {
		if cur := f.latest(open.GetKind()); cur.GetVersion() != open.GetBaseVersion() {
			return fmt.Errorf("open federated round %d trains from %s version %d, but the latest is %d", open.GetRound(), open.GetKind(), open.GetBaseVersion(), cur.GetVersion())
		}
	}
	b.fed = f
	return nil
}

// checkRound checks that a stored round's fields agree with each other:
// what OpenRound required, and what its state implies.
func checkRound(r *gamesav1.FederatedRound, applied uint64) error {
	o := &gamesav1.OpenRound{
		Round: r.GetRound(), Kind: r.GetKind(), Participants: r.GetParticipants(), MinParticipants: r.GetMinParticipants(),
		Rule: r.GetRule(), BaseVersion: r.GetBaseVersion(), BaseHash: r.GetBaseHash(), LeaderId: r.GetLeaderId(),
		OpenedAt: r.GetOpenedAt(), Deadline: r.GetDeadline(),
	}
	if err := validateOpenRound(o); err != nil {
		return err
	}
	if i := r.GetOpenedIndex(); i == 0 || i > applied {
		return fmt.Errorf("opened_index %d is not in [1, %d]", i, applied)
	}
	ended := r.GetEndedIndex()
	switch r.GetState() {
	case gamesav1.RoundState_ROUND_STATE_OPEN:
		if ended != 0 || len(r.GetContributors()) > 0 || r.GetModelVersion() != 0 || r.GetReason() != "" {
			return fmt.Errorf("an open round has an end, contributors, a model or a reason")
		}
		return nil
	case gamesav1.RoundState_ROUND_STATE_CLOSED:
		c := &gamesav1.CloseRound{
			Round: r.GetRound(), Contributors: r.GetContributors(), ModelVersion: r.GetModelVersion(),
			ModelHash: r.GetModelHash(), Samples: r.GetSamples(), Metrics: r.GetMetrics(), EndedAt: r.GetEndedAt(),
			Holder: r.GetLeaderId(),
		}
		if err := validateCloseRound(c); err != nil {
			return err
		}
		if r.GetModelVersion() != r.GetBaseVersion()+1 {
			return fmt.Errorf("model version %d is not base %d + 1", r.GetModelVersion(), r.GetBaseVersion())
		}
		if len(r.GetContributors()) < int(r.GetMinParticipants()) {
			return fmt.Errorf("%d contributors, fewer than the minimum %d", len(r.GetContributors()), r.GetMinParticipants())
		}
		for _, id := range r.GetContributors() {
			if _, ok := slices.BinarySearch(r.GetParticipants(), id); !ok {
				return fmt.Errorf("contributor %s is not a participant", id)
			}
		}
	case gamesav1.RoundState_ROUND_STATE_ABORTED:
		if err := validateAbortRound(&gamesav1.AbortRound{Round: r.GetRound(), Reason: r.GetReason(), EndedAt: r.GetEndedAt()}); err != nil {
			return err
		}
		if len(r.GetContributors()) > 0 || r.GetModelVersion() != 0 {
			return fmt.Errorf("an aborted round has contributors or a model")
		}
	default:
		return fmt.Errorf("state %v is not a round state", r.GetState())
	}
	if ended <= r.GetOpenedIndex() || ended > applied {
		return fmt.Errorf("ended_index %d is not in (%d, %d]", ended, r.GetOpenedIndex(), applied)
	}
	return nil
}

// checkModel checks one committed version's metadata.
func checkModel(m *gamesav1.GlobalModel, applied uint64) error {
	if err := ValidateName("kind", m.GetKind()); err != nil {
		return err
	}
	switch {
	case m.GetVersion() == 0:
		return fmt.Errorf("version 0")
	case len(m.GetHash()) != ModelHashLen:
		return fmt.Errorf("hash is %d bytes, want %d", len(m.GetHash()), ModelHashLen)
	case m.GetRound() == 0:
		return fmt.Errorf("round 0")
	case m.GetIndex() == 0 || m.GetIndex() > applied:
		return fmt.Errorf("index %d is not in [1, %d]", m.GetIndex(), applied)
	}
	if err := validateNodeID(m.GetHolder()); err != nil {
		return fmt.Errorf("holder: %w", err)
	}
	return validateTime("created_at", m.GetCreatedAt(), false)
}
