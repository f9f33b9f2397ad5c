package consensus

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// The federated learning state: the rounds and the committed global model
// versions (their metadata; the weights never enter the log). Its rules,
// which every server applies alike:
//
//   - Rounds are numbered 1, 2, ... and an OpenRound must carry exactly
//     the next number, so of two leaders that open one on the same state
//     only the first succeeds (the second is REJECTION_STALE).
//   - One round is open at a time; it must be closed or aborted first.
//   - A round trains from its kind's latest version (base), named by
//     version and hash; an OpenRound naming another base is stale.
//   - CloseRound and AbortRound must name the open round: a deposed
//     leader's late decision about a round already ended is stale.
//   - A CloseRound's contributors are participants, at least the round's
//     minimum, and its version is the base's plus one.

// fedState is the federated part of a State. It is small (at most
// MaxRounds rounds and MaxModelVersions versions per kind) and changes a
// few times per round, so a write copies its slices; the messages in it
// are never modified once stored.
type fedState struct {
	lastRound uint64
	// rounds are sorted by number; only the last may be open.
	rounds []*gamesav1.FederatedRound
	// models are sorted by kind, then version.
	models []*gamesav1.GlobalModel
}

var emptyFed = &fedState{}

func (f *fedState) clone() *fedState {
	return &fedState{lastRound: f.lastRound, rounds: slices.Clone(f.rounds), models: slices.Clone(f.models)}
}

// open returns the open round, or nil.
func (f *fedState) open() *gamesav1.FederatedRound {
	if n := len(f.rounds); n > 0 && f.rounds[n-1].GetState() == gamesav1.RoundState_ROUND_STATE_OPEN {
		return f.rounds[n-1]
	}
	return nil
}

// latest returns the kind's latest version, or nil.
func (f *fedState) latest(kind string) *gamesav1.GlobalModel {
	var out *gamesav1.GlobalModel
	for _, m := range f.models {
		if m.GetKind() == kind {
			out = m
		}
	}
	return out
}

func (f *fedState) kinds() int {
	n := 0
	for i, m := range f.models {
		if i == 0 || m.GetKind() != f.models[i-1].GetKind() {
			n++
		}
	}
	return n
}

// LastRound is the number of the latest round opened, 0 before the first.
func (s *State) LastRound() uint64 { return s.fed.lastRound }

// OpenRound returns a copy of the open round, or nil when none is open.
func (s *State) OpenRound() *gamesav1.FederatedRound {
	if r := s.fed.open(); r != nil {
		return proto.CloneOf(r)
	}
	return nil
}

// Round returns a copy of round r while the state remembers it.
func (s *State) Round(r uint64) (*gamesav1.FederatedRound, bool) {
	i, ok := slices.BinarySearchFunc(s.fed.rounds, r, func(x *gamesav1.FederatedRound, r uint64) int {
		return cmp.Compare(x.GetRound(), r)
	})
	if !ok {
		return nil, false
	}
	return proto.CloneOf(s.fed.rounds[i]), true
}

// Rounds returns copies of the remembered rounds, oldest first; with
// limit > 0 only the newest limit of them.
func (s *State) Rounds(limit int) []*gamesav1.FederatedRound {
	rs := s.fed.rounds
	if limit > 0 && len(rs) > limit {
		rs = rs[len(rs)-limit:]
	}
	out := make([]*gamesav1.FederatedRound, len(rs))
	for i, r := range rs {
		out[i] = proto.CloneOf(r)
	}
	return out
}

// GlobalModel returns a copy of the latest committed version of kind, or
// nil when there is none.
func (s *State) GlobalModel(kind string) *gamesav1.GlobalModel {
	if m := s.fed.latest(kind); m != nil {
		return proto.CloneOf(m)
	}
	return nil
}

// GlobalModels returns copies of the remembered versions of kind (every
// kind when empty), sorted by kind, then version.
func (s *State) GlobalModels(kind string) []*gamesav1.GlobalModel {
	var out []*gamesav1.GlobalModel
	for _, m := range s.fed.models {
		if kind == "" || m.GetKind() == kind {
			out = append(out, proto.CloneOf(m))
		}
	}
	return out
}

// LatestModels returns a copy of the latest version of each kind, sorted
// by kind.
func (s *State) LatestModels() []*gamesav1.GlobalModel {
	var out []*gamesav1.GlobalModel
	ms := s.fed.models
	for i, m := range ms {
		if i == len(ms)-1 || ms[i+1].GetKind() != m.GetKind() {
			out = append(out, proto.CloneOf(m))
		}
	}
	return out
}

// ModelByHash returns a copy of the remembered version whose content hash
// is h.
func (s *State) ModelByHash(h []byte) (*gamesav1.GlobalModel, bool) {
	for _, m := range s.fed.models {
		if bytes.Equal(m.GetHash(), h) {
			return proto.CloneOf(m), true
		}
	}
	return nil, false
}

// ModelVersion returns a copy of version v of kind while remembered.
func (s *State) ModelVersion(kind string, v uint64) (*gamesav1.GlobalModel, bool) {
	for _, m := range s.fed.models {
		if m.GetKind() == kind && m.GetVersion() == v {
			return proto.CloneOf(m), true
		}
	}
	return nil, false
}

// applyFedOp applies one federated command (already validated); handled
// is false for an operation it does not know.
func (b *builder) applyFedOp(index uint64, cmd *gamesav1.Command) (res *gamesav1.CommandResult, handled bool) {
	switch op := cmd.GetOp().(type) {
	case *gamesav1.Command_OpenRound:
		return b.openRound(index, op.OpenRound), true
	case *gamesav1.Command_CloseRound:
		return b.closeRound(index, op.CloseRound), true
	case *gamesav1.Command_AbortRound:
		return b.abortRound(index, op.AbortRound), true
	}
	return nil, false
}

// withRound is a result that carries a copy of round r (when there is one).
func withRound(res *gamesav1.CommandResult, r *gamesav1.FederatedRound) *gamesav1.CommandResult {
	if r != nil {
		res.Round = proto.CloneOf(r)
	}
	return res
}

func (b *builder) openRound(index uint64, o *gamesav1.OpenRound) *gamesav1.CommandResult {
	f := b.fed
	open := f.open()
	// Every check comes before the first change: a refused command
	// leaves the state as it was.
	switch {
	case o.GetRound() <= f.lastRound:
		return withRound(rejected(index, gamesav1.Rejection_REJECTION_STALE,
			fmt.Sprintf("round %d is stale: round %d was opened already (another leader opened one first)", o.GetRound(), f.lastRound)), open)
	case o.GetRound() > f.lastRound+1:
		return rejected(index, gamesav1.Rejection_REJECTION_FAILED_PRECONDITION,
			fmt.Sprintf("round %d skips rounds: the last opened is %d, so the next is %d", o.GetRound(), f.lastRound, f.lastRound+1))
	case open != nil:
		return withRound(rejected(index, gamesav1.Rejection_REJECTION_FAILED_PRECONDITION,
			fmt.Sprintf("round %d (%s) is open: it must be closed or aborted first", open.GetRound(), open.GetKind())), open)
	}
	cur := f.latest(o.GetKind())
	if o.GetBaseVersion() != cur.GetVersion() || !bytes.Equal(o.GetBaseHash(), cur.GetHash()) {
		return rejected(index, gamesav1.Rejection_REJECTION_STALE,
			fmt.Sprintf("round %d: base %s version %d is not the latest (%d)", o.GetRound(), o.GetKind(), o.GetBaseVersion(), cur.GetVersion()))
	}
	if cur == nil && f.kinds() >= MaxModelKinds {
		return rejected(index, gamesav1.Rejection_REJECTION_FAILED_PRECONDITION,
			fmt.Sprintf("round %d: the cluster holds %d model kinds, the most it takes", o.GetRound(), MaxModelKinds))
	}
	r := &gamesav1.FederatedRound{
		Round:           o.GetRound(),
		Kind:            o.GetKind(),
		Participants:    slices.Clone(o.GetParticipants()),
		MinParticipants: o.GetMinParticipants(),
		Rule:            o.GetRule(),
		BaseVersion:     o.GetBaseVersion(),
		BaseHash:        slices.Clone(o.GetBaseHash()),
		LeaderId:        o.GetLeaderId(),
		OpenedAt:        proto.CloneOf(o.GetOpenedAt()),
		Deadline:        proto.CloneOf(o.GetDeadline()),
		State:           gamesav1.RoundState_ROUND_STATE_OPEN,
		OpenedIndex:     index,
	}
	f = f.clone()
	f.lastRound = r.Round
	f.rounds = append(f.rounds, r)
	// Drop the oldest rounds beyond the bound; they have all ended (only
	// the newest, just added, is open).
	if n := len(f.rounds) - MaxRounds; n > 0 {
		f.rounds = slices.Delete(f.rounds, 0, n)
	}
	b.fed = f
	return withRound(&gamesav1.CommandResult{Index: index}, r)
}

// notOpen is the refusal of a command about a round that is not open.
func (b *builder) notOpen(index, round uint64) *gamesav1.CommandResult {
	open := b.fed.open()
	now := "no round is open"
	if open != nil {
		now = fmt.Sprintf("round %d is open", open.GetRound())
	}
	res := rejected(index, gamesav1.Rejection_REJECTION_STALE, fmt.Sprintf("round %d is not open (%s)", round, now))
	for _, r := range b.fed.rounds {
		if r.GetRound() == round {
			return withRound(res, r)
		}
	}
	return res
}

func (b *builder) closeRound(index uint64, c *gamesav1.CloseRound) *gamesav1.CommandResult {
	open := b.fed.open()
	if open == nil || open.GetRound() != c.GetRound() {
		return b.notOpen(index, c.GetRound())
	}
	fail := func(format string, args ...any) *gamesav1.CommandResult {
		return withRound(rejected(index, gamesav1.Rejection_REJECTION_FAILED_PRECONDITION, fmt.Sprintf(format, args...)), open)
	}
	var strangers []string
	for _, id := range c.GetContributors() {
		if _, ok := slices.BinarySearch(open.GetParticipants(), id); !ok {
			strangers = append(strangers, id)
		}
	}
	switch {
	case len(strangers) > 0:
		return fail("round %d: %s did not take part (not participants)", c.GetRound(), strings.Join(strangers, ", "))
	case len(c.GetContributors()) < int(open.GetMinParticipants()):
		return fail("round %d: %d contributors, fewer than its minimum of %d", c.GetRound(), len(c.GetContributors()), open.GetMinParticipants())
	case c.GetModelVersion() != open.GetBaseVersion()+1:
		return fail("round %d: model version %d, but the round trained from version %d, so the next is %d",
			c.GetRound(), c.GetModelVersion(), open.GetBaseVersion(), open.GetBaseVersion()+1)
	}
	r := proto.CloneOf(open)
	r.State = gamesav1.RoundState_ROUND_STATE_CLOSED
	r.EndedIndex = index
	r.EndedAt = proto.CloneOf(c.GetEndedAt())
	r.Contributors = slices.Clone(c.GetContributors())
	r.ModelVersion = c.GetModelVersion()
	r.ModelHash = slices.Clone(c.GetModelHash())
	r.Samples = c.GetSamples()
	if len(c.GetMetrics()) > 0 {
		r.Metrics = make(map[string]float64, len(c.GetMetrics()))
		for k, v := range c.GetMetrics() {
			r.Metrics[k] = v
		}
	}
	m := &gamesav1.GlobalModel{
		Kind: r.GetKind(), Version: r.GetModelVersion(), Hash: slices.Clone(r.GetModelHash()),
		Round: r.GetRound(), Samples: r.GetSamples(), SizeBytes: c.GetSizeBytes(),
		Holder: c.GetHolder(), Index: index, CreatedAt: proto.CloneOf(c.GetEndedAt()),
	}
	f := b.fed.clone()
	f.rounds[len(f.rounds)-1] = r
	f.models = insertModel(f.models, m)
	b.fed = f
	return withRound(&gamesav1.CommandResult{Index: index}, r)
}

// insertModel adds m after the last version of its kind, keeping models
// sorted by kind, and drops the kind's oldest beyond MaxModelVersions.
func insertModel(ms []*gamesav1.GlobalModel, m *gamesav1.GlobalModel) []*gamesav1.GlobalModel {
	at := len(ms)
	first, count := -1, 0
	for i, x := range ms {
		switch c := strings.Compare(x.GetKind(), m.GetKind()); {
		case c == 0:
			if first < 0 {
				first = i
			}
			count++
		case c > 0 && at == len(ms):
			at = i
		}
	}
	if first >= 0 {
		at = first + count
	}
	ms = slices.Insert(ms, at, m)
	if count+1 > MaxModelVersions {
		ms = slices.Delete(ms, first, first+1)
	}
	return ms
}

func (b *builder) abortRound(index uint64, a *gamesav1.AbortRound) *gamesav1.CommandResult {
	open := b.fed.open()
	if open == nil || open.GetRound() != a.GetRound() {
		return b.notOpen(index, a.GetRound())
	}
	r := proto.CloneOf(open)
	r.State = gamesav1.RoundState_ROUND_STATE_ABORTED
	r.EndedIndex = index
	r.EndedAt = proto.CloneOf(a.GetEndedAt())
	r.Reason = a.GetReason()
	f := b.fed.clone()
	f.rounds[len(f.rounds)-1] = r
	b.fed = f
	return withRound(&gamesav1.CommandResult{Index: index}, r)
}

// roundCost approximates a dedup record's round from its contents, like
// recordCost.
func roundCost(r *gamesav1.FederatedRound) int {
	if r == nil {
		return 0
	}
	n := 192 + len(r.GetKind()) + len(r.GetRule()) + len(r.GetReason()) + len(r.GetLeaderId()) +
		len(r.GetBaseHash()) + len(r.GetModelHash()) + 48*len(r.GetMetrics())
	for _, id := range r.GetParticipants() {
		n += 16 + len(id)
	}
	for _, id := range r.GetContributors() {
		n += 16 + len(id)
	}
	return n
}
