package consensus

import (
	"fmt"
	"maps"
	"math"
	"slices"

	"google.golang.org/protobuf/types/known/timestamppb"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// Limits on the federated learning commands. Like the other command
// limits they define the state machine: every server enforces the same.
const (
	// MaxParticipants bounds the nodes invited to one round.
	MaxParticipants = 1024
	// MaxRounds is how many rounds the state remembers; the oldest ended
	// round is dropped beyond it (the open one never is).
	MaxRounds = 256
	// MaxModelVersions is how many versions of each model kind the state
	// remembers; the oldest is dropped beyond it.
	MaxModelVersions = 64
	// MaxModelKinds bounds the model kinds with committed versions.
	MaxModelKinds = 16
	// MaxNameLen bounds a model kind, a rule or a metric name, each
	// [a-z][a-z0-9_]*.
	MaxNameLen = 32
	// MaxRoundMetrics bounds the figures a closed round records.
	MaxRoundMetrics = 16
	// ModelHashLen is the length of a model's content hash (SHA-256).
	ModelHashLen = 32
)

// validateFedOp checks the federated operations; handled is false for an
// operation it does not know.
func validateFedOp(cmd *gamesav1.Command) (handled bool, err error) {
	switch op := cmd.GetOp().(type) {
	case *gamesav1.Command_OpenRound:
		return true, checkOp("open_round", op.OpenRound, func() error { return validateOpenRound(op.OpenRound) })
	case *gamesav1.Command_CloseRound:
		return true, checkOp("close_round", op.CloseRound, func() error { return validateCloseRound(op.CloseRound) })
	case *gamesav1.Command_AbortRound:
		return true, checkOp("abort_round", op.AbortRound, func() error { return validateAbortRound(op.AbortRound) })
	}
	return false, nil
}

// ValidateName checks a model kind or rule name as the state machine
// does: [a-z][a-z0-9_]{0,31}. Its errors are plain.
func ValidateName(what, s string) error {
	if s == "" {
		return fmt.Errorf("%s is empty", what)
	}
	if len(s) > MaxNameLen {
		return fmt.Errorf("%s is %d bytes, more than %d", what, len(s), MaxNameLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || i > 0 && (c >= '0' && c <= '9' || c == '_')) {
			return fmt.Errorf("%s %q: byte %d (%q) is not allowed: names are [a-z][a-z0-9_]*", what, s, i, c)
		}
	}
	return nil
}

// validateNodeList checks a sorted list of unique node ids, at most
// MaxParticipants of them.
func validateNodeList(what string, ids []string) error {
	if len(ids) > MaxParticipants {
		return fmt.Errorf("%s: %d nodes, more than %d", what, len(ids), MaxParticipants)
	}
	for i, id := range ids {
		if err := validateNodeID(id); err != nil {
			return fmt.Errorf("%s %d: %w", what, i, err)
		}
		if i > 0 && id <= ids[i-1] {
			return fmt.Errorf("%s: %s is not after %s: node ids must be sorted and unique", what, id, ids[i-1])
		}
	}
	return nil
}

func validateTime(what string, t *timestamppb.Timestamp, required bool) error {
	if t == nil {
		if required {
			return fmt.Errorf("%s is required", what)
		}
		return nil
	}
	if err := t.CheckValid(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

func validateOpenRound(o *gamesav1.OpenRound) error {
	if o.GetRound() == 0 {
		return fmt.Errorf("open_round: round must be at least 1")
	}
	if err := ValidateName("open_round: kind", o.GetKind()); err != nil {
		return err
	}
	if err := ValidateName("open_round: rule", o.GetRule()); err != nil {
		return err
	}
	if len(o.GetParticipants()) == 0 {
		return fmt.Errorf("open_round: no participants")
	}
	if err := validateNodeList("open_round: participant", o.GetParticipants()); err != nil {
		return err
	}
	if m := o.GetMinParticipants(); m == 0 || int(m) > len(o.GetParticipants()) {
		return fmt.Errorf("open_round: min_participants %d must be within 1..%d (the participants)", m, len(o.GetParticipants()))
	}
	if err := validateBase(o.GetBaseVersion(), o.GetBaseHash()); err != nil {
		return fmt.Errorf("open_round: %w", err)
	}
	if err := validateNodeID(o.GetLeaderId()); err != nil {
		return fmt.Errorf("open_round: leader: %w", err)
	}
	if err := validateTime("open_round: opened_at", o.GetOpenedAt(), true); err != nil {
		return err
	}
	if err := validateTime("open_round: deadline", o.GetDeadline(), true); err != nil {
		return err
	}
	if !o.GetDeadline().AsTime().After(o.GetOpenedAt().AsTime()) {
		return fmt.Errorf("open_round: deadline %v is not after opened_at %v", o.GetDeadline().AsTime(), o.GetOpenedAt().AsTime())
	}
	return nil
}

// validateBase checks a base version and its hash: none (0, empty) or a
// version with a full hash.
func validateBase(version uint64, hash []byte) error {
	switch {
	case version == 0 && len(hash) != 0:
		return fmt.Errorf("base_hash set without a base_version")
	case version != 0 && len(hash) != ModelHashLen:
		return fmt.Errorf("base_hash is %d bytes, want %d", len(hash), ModelHashLen)
	}
	return nil
}

func validateCloseRound(c *gamesav1.CloseRound) error {
	if c.GetRound() == 0 {
		return fmt.Errorf("close_round: round must be at least 1")
	}
	if len(c.GetContributors()) == 0 {
		return fmt.Errorf("close_round: no contributors")
	}
	if err := validateNodeList("close_round: contributor", c.GetContributors()); err != nil {
		return err
	}
	if c.GetModelVersion() == 0 {
		return fmt.Errorf("close_round: model_version must be at least 1")
	}
	if len(c.GetModelHash()) != ModelHashLen {
		return fmt.Errorf("close_round: model_hash is %d bytes, want %d", len(c.GetModelHash()), ModelHashLen)
	}
	if err := validateMetrics(c.GetMetrics()); err != nil {
		return fmt.Errorf("close_round: %w", err)
	}
	if err := validateTime("close_round: ended_at", c.GetEndedAt(), false); err != nil {
		return err
	}
	if err := validateNodeID(c.GetHolder()); err != nil {
		return fmt.Errorf("close_round: holder: %w", err)
	}
	return nil
}

func validateMetrics(ms map[string]float64) error {
	if len(ms) > MaxRoundMetrics {
		return fmt.Errorf("%d metrics, more than %d", len(ms), MaxRoundMetrics)
	}
	// Sorted, so that the first bad key, named in the error, is the same
	// on every server.
	for _, k := range slices.Sorted(maps.Keys(ms)) {
		v := ms[k]
		if err := ValidateName("metric", k); err != nil {
			return err
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("metric %s = %v: must be finite", k, v)
		}
	}
	return nil
}

func validateAbortRound(a *gamesav1.AbortRound) error {
	if a.GetRound() == 0 {
		return fmt.Errorf("abort_round: round must be at least 1")
	}
	if err := validateReason("abort_round: reason", a.GetReason()); err != nil {
		return err
	}
	return validateTime("abort_round: ended_at", a.GetEndedAt(), false)
}
