package node

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/krystalstack/gamesa/consensus"
	"github.com/krystalstack/gamesa/gossip"
	"github.com/krystalstack/gamesa/optimizer/federated"
	"github.com/krystalstack/gamesa/optimizer/neural"
	"github.com/krystalstack/gamesa/optimizer/neural/thermal"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// fedPoll is how often the leader looks at its round: the deadline, the
// uploads, the timer. Rounds last minutes; a quarter second of slack is
// nothing, and the look is a few comparisons.
const fedPoll = 500 * time.Millisecond

// openRetry is how long the timer waits after a round could not open.
const openRetry = time.Minute

// collector gathers one round's uploads on the leader that opened it.
// The federation's mu guards it.
type collector struct {
	round *gamesav1.FederatedRound
	// base is the round's global model (nil in a round without one: the
	// nodes send fits that MergeThermalFits pools); global its tensors.
	base    *gamesav1.Model
	global  *federated.Global
	updates map[string]*upload
	refused int
	// closing is set once the merge began: later uploads are refused.
	closing bool
}

// upload is one accepted update.
type upload struct {
	update *federated.Update // a round with a base
	fit    federated.ThermalFit
	loss   float64
}

// samples is the update's weight: its sample count, or a fit's rows.
func (u *upload) samples() uint64 {
	if u.update != nil {
		return u.update.Samples
	}
	return u.fit.Rows
}

// complete reports whether every participant answered.
func (c *collector) complete() bool { return len(c.updates) == len(c.round.GetParticipants()) }

// lead runs rounds while this server leads: it ends the round it collects
// (all answered, or the deadline passed), aborts an open round it does not
// collect, and opens the next one federated.interval after the last ended.
//
// A server that loses leadership keeps its collection while the round
// stays open in its name: should it win again before another leader ended
// the round (a brief election on a loaded machine), it resumes the round;
// any other leader aborts it.
func (f *federation) lead(ctx context.Context) {
	var since time.Time // when this server began leading
	poll := fedPoll
	for {
		// Leadership and the replicated rounds wake the loop; the poll
		// covers what they do not show: uploads and the clock.
		won, changed := f.c.leading.Changed(), f.c.raft.Changed()
		if !wait(ctx, poll, won, changed) {
			return
		}
		if !f.c.leading.Load() {
			since = time.Time{}
			f.forgetEnded(f.c.raft.State())
			poll = idleWait
			continue
		}
		now := time.Now()
		if since.IsZero() {
			since = now
		}
		poll = f.step(ctx, now, since)
	}
}

// step is one look of the leader's loop. It returns how long the loop may
// wait for the next look when nothing wakes it: fedPoll while a round is
// open, else until the next round is due.
func (f *federation) step(ctx context.Context, now, since time.Time) time.Duration {
	st := f.c.raft.State()
	open := st.OpenRound()
	f.forgetEnded(st)
	f.mu.Lock()
	col := f.col
	var collecting uint64
	complete := false
	if col != nil {
		collecting, complete = col.round.GetRound(), col.complete()
	}
	f.mu.Unlock()
	switch {
	case open != nil && collecting != open.GetRound():
		why := "this leader no longer holds the round's uploads (it restarted, or a commit failed)"
		if open.GetLeaderId() != f.c.id {
			why = fmt.Sprintf("leader changed: %s took over from %s, which held the round's uploads", f.c.id, open.GetLeaderId())
		}
		f.abort(ctx, open.GetRound(), why)
	case open != nil && (complete || !now.Before(open.GetDeadline().AsTime())):
		f.finish(ctx, col)
	case open == nil && col == nil && f.cfg.Enabled && f.cfg.Interval > 0:
		last := since
		if rs := st.Rounds(1); len(rs) == 1 && rs[0].GetEndedAt().AsTime().After(last) {
			last = rs[0].GetEndedAt().AsTime()
		}
		if due := later(last.Add(f.cfg.Interval), f.openAfter); now.Before(due) {
			return min(max(due.Sub(now), fedPoll), idleWait)
		}
		if _, err := f.openRound(ctx, thermal.Kind, f.cfg.Rule); err != nil {
			// Too few nodes, say: try again later, not every poll.
			f.openAfter = now.Add(min(f.cfg.Interval, openRetry))
			f.log.Info("federated round not opened", "err", err, "retry_at", f.openAfter.Format(time.TimeOnly))
		}
	case open == nil && col == nil:
		return idleWait // rounds open on request only
	}
	return fedPoll
}

// forgetEnded drops the collection of a round st shows ended (by a
// command this server did not see through, or another leader's); not one
// that openRound has yet to commit, which is newer than st's last round.
func (f *federation) forgetEnded(st *consensus.State) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.col == nil {
		return
	}
	r := f.col.round.GetRound()
	if r <= st.LastRound() && st.OpenRound().GetRound() != r {
		f.col = nil
	}
}

// dropCollector forgets col, if it is still the collection.
func (f *federation) dropCollector(col *collector) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.col == col {
		f.col = nil
	}
}

// participants are the members gossip shows alive, sorted: every node is
// invited; one that does not answer is a dropout.
func participants(v gossip.ClusterView) []string {
	var out []string
	for _, m := range v.Alive() {
		out = append(out, m.Meta.ID)
	}
	slices.Sort(out)
	return out
}

// openRound opens a round of kind with rule on this leader. Its errors are
// gRPC statuses: StartRound returns them as they are.
func (f *federation) openRound(ctx context.Context, kind, rule string) (*gamesav1.FederatedRound, error) {
	f.opening.Lock()
	defer f.opening.Unlock()
	if kind != thermal.Kind {
		return nil, status.Errorf(codes.InvalidArgument, "kind %q: federated learning trains %s only", kind, thermal.Kind)
	}
	if !slices.Contains(fedRules, rule) {
		return nil, status.Errorf(codes.InvalidArgument, "rule %q: want one of %s", rule, strings.Join(fedRules, ", "))
	}
	st := f.c.raft.State()
	if open := st.OpenRound(); open != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "round %d is open until %s: wait for it to end",
			open.GetRound(), open.GetDeadline().AsTime().Format(time.RFC3339))
	}
	who := participants(f.c.mesh.View())
	if len(who) < f.cfg.MinParticipants {
		return nil, status.Errorf(codes.FailedPrecondition, "%d nodes alive, fewer than federated.min_participants (%d)", len(who), f.cfg.MinParticipants)
	}
	col := &collector{updates: map[string]*upload{}}
	var baseVersion uint64
	var baseHash []byte
	if g := st.GlobalModel(kind); g != nil {
		data, err := f.modelFile(ctx, g)
		if err != nil {
			return nil, status.Errorf(codes.FailedPrecondition, "the round's base, %s version %d, is not available on the leader: %v", kind, g.GetVersion(), err)
		}
		m, err := neural.Decode(data, kind)
		if err != nil {
			return nil, status.Errorf(codes.Internal, "base %s version %d: %v", kind, g.GetVersion(), err)
		}
		col.base, baseVersion, baseHash = m, g.GetVersion(), g.GetHash()
	}
	now := time.Now()
	op := &gamesav1.OpenRound{
		Round: st.LastRound() + 1, Kind: kind, Participants: who, MinParticipants: uint32(f.cfg.MinParticipants),
		Rule: rule, BaseVersion: baseVersion, BaseHash: baseHash, LeaderId: f.c.id,
		OpenedAt: timestamppb.New(now), Deadline: timestamppb.New(now.Add(f.cfg.Deadline)),
	}
	// The round as it will be committed, until the commit returns it.
	col.round = &gamesav1.FederatedRound{
		Round: op.GetRound(), Kind: kind, Participants: who, MinParticipants: op.GetMinParticipants(), Rule: rule,
		BaseVersion: baseVersion, BaseHash: baseHash, LeaderId: f.c.id, OpenedAt: op.GetOpenedAt(), Deadline: op.GetDeadline(),
		State: gamesav1.RoundState_ROUND_STATE_OPEN,
	}
	if col.base != nil {
		col.global = federated.NewGlobal(op.GetRound(), col.base)
	}
	// Collect before the round is visible: a node may upload as soon as
	// its replica shows the round.
	f.mu.Lock()
	f.col = col
	f.mu.Unlock()
	actx, cancel := context.WithTimeout(ctx, applyTimeout)
	defer cancel()
	res, err := f.c.raft.Apply(actx, &gamesav1.Command{Op: &gamesav1.Command_OpenRound{OpenRound: op}})
	if err == nil && res.GetError() != "" {
		err = status.Error(rejectionCode(res.GetRejection()), res.GetError())
	}
	if err != nil {
		f.dropCollector(col)
		if _, ok := status.FromError(err); !ok {
			err = status.Errorf(codes.Unavailable, "opening round %d: %v", op.GetRound(), err)
		}
		return nil, err
	}
	f.mu.Lock()
	col.round = res.GetRound()
	f.mu.Unlock()
	f.leaderEnds.WithLabelValues("opened").Inc()
	f.log.Info("federated round opened", "round", op.GetRound(), "kind", kind, "rule", rule,
		"participants", len(who), "base_version", baseVersion, "deadline", f.cfg.Deadline)
	return res.GetRound(), nil
}

// abort ends round r without a new version.
func (f *federation) abort(ctx context.Context, r uint64, why string) {
	actx, cancel := context.WithTimeout(ctx, applyTimeout)
	defer cancel()
	res, err := f.c.raft.Apply(actx, &gamesav1.Command{Op: &gamesav1.Command_AbortRound{AbortRound: &gamesav1.AbortRound{
		Round: r, Reason: truncate(why, consensus.MaxReasonLen), EndedAt: timestamppb.Now(),
	}}})
	switch {
	case err != nil:
		f.log.Info("federated round not aborted", "round", r, "err", err)
	case res.GetError() != "":
		f.log.Info("federated round abort refused", "round", r, "why", res.GetError())
	default:
		f.leaderEnds.WithLabelValues("aborted").Inc()
		f.log.Info("federated round aborted", "round", r, "why", why)
	}
	f.mu.Lock()
	if f.col != nil && f.col.round.GetRound() == r {
		f.col = nil
	}
	f.mu.Unlock()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// finish merges the round col collects (or aborts it with too few
// updates), stores the new version and commits its metadata.
func (f *federation) finish(ctx context.Context, col *collector) {
	f.mu.Lock()
	col.closing = true
	ups := maps.Clone(col.updates)
	refused := col.refused
	r := col.round
	f.mu.Unlock()
	if min := int(r.GetMinParticipants()); len(ups) < min {
		f.abort(ctx, r.GetRound(), fmt.Sprintf("deadline passed with %d of %d updates; at least %d needed", len(ups), len(r.GetParticipants()), min))
		return
	}
	model, data, res, err := f.merge(col, r.GetRule(), ups)
	if err != nil {
		f.abort(ctx, r.GetRound(), fmt.Sprintf("merge failed: %v", err))
		return
	}
	if err := f.store.put(r.GetKind(), model.GetContentHash(), data); err != nil {
		f.abort(ctx, r.GetRound(), fmt.Sprintf("storing the new version: %v", err))
		return
	}
	metrics := map[string]float64{
		"updates": float64(len(res.Accepted)),
		"refused": float64(refused + len(res.Refused)),
		"clipped": float64(len(res.Clipped)),
	}
	var lossSum, lossWeight float64
	for _, id := range res.Accepted {
		if u := ups[id]; u.loss > 0 {
			w := float64(u.samples())
			lossSum += w * u.loss
			lossWeight += w
		}
	}
	if lossWeight > 0 {
		metrics["train_loss"] = lossSum / lossWeight
	}
	cmd := &gamesav1.CloseRound{
		Round: r.GetRound(), Contributors: res.Accepted, ModelVersion: model.GetVersion(),
		ModelHash: model.GetContentHash(), Samples: res.Samples, SizeBytes: uint64(len(data)),
		Metrics: metrics, EndedAt: timestamppb.Now(), Holder: f.c.id,
	}
	actx, cancel := context.WithTimeout(ctx, applyTimeout)
	defer cancel()
	out, err := f.c.raft.Apply(actx, &gamesav1.Command{Op: &gamesav1.Command_CloseRound{CloseRound: cmd}})
	f.dropCollector(col)
	switch {
	case err != nil:
		f.log.Warn("federated round not closed", "round", r.GetRound(), "err", err)
	case out.GetError() != "":
		f.log.Warn("federated round close refused", "round", r.GetRound(), "why", out.GetError())
	default:
		f.leaderEnds.WithLabelValues("closed").Inc()
		f.log.Info("federated round closed", "round", r.GetRound(), "version", model.GetVersion(),
			"contributors", strings.Join(res.Accepted, ","), "samples", res.Samples, "refused", metrics["refused"])
	}
}

// merged is what a merge reports besides the model.
type merged struct {
	Accepted, Clipped []string
	Refused           []error
	Samples           uint64
}

// merge turns the updates into the next version: pooled fits in a round
// without a base, the round's rule over the updates otherwise.
func (f *federation) merge(col *collector, ruleName string, ups map[string]*upload) (*gamesav1.Model, []byte, merged, error) {
	ids := slices.Sorted(maps.Keys(ups))
	if col.base == nil {
		fits := make([]federated.ThermalFit, len(ids))
		var samples uint64
		for i, id := range ids {
			fits[i] = ups[id].fit
			samples += ups[id].fit.Rows
		}
		m, data, err := federated.MergeThermalFits(fits)
		if err != nil {
			return nil, nil, merged{}, err
		}
		return m, data, merged{Accepted: ids, Samples: samples}, nil
	}
	us := make([]*federated.Update, len(ids))
	for i, id := range ids {
		us[i] = ups[id].update
	}
	rule, err := ruleFor(ruleName, len(us))
	if err != nil {
		return nil, nil, merged{}, err
	}
	res, err := f.bounds.Merge(col.global, us, rule)
	if err != nil {
		return nil, nil, merged{}, err
	}
	m, data, err := federated.Seal(col.base, res)
	if err != nil {
		return nil, nil, merged{}, err
	}
	return m, data, merged{Accepted: res.Accepted, Clipped: res.Clipped, Refused: res.Refused, Samples: res.Samples}, nil
}

// ruleFor builds a round's rule for n updates: a fifth trimmed from each
// end for the trimmed mean; Krum tolerating as many Byzantine nodes as n
// allows (n ≥ 2F + 3).
func ruleFor(name string, n int) (federated.Rule, error) {
	switch name {
	case "fedavg":
		return federated.FedAvg{}, nil
	case "median":
		return federated.Median{}, nil
	case "trimmed_mean":
		return federated.TrimmedMean{Trim: 0.2}, nil
	case "krum":
		return federated.Krum{F: max(0, (n-3)/2)}, nil
	}
	return nil, fmt.Errorf("unknown rule %q", name)
}

// collectorFor finds the collection an upload with header h answers,
// refusing with the gRPC status the uploader should see.
func (f *federation) collectorFor(h *gamesav1.UpdateHeader) (*collector, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	col := f.col
	if col == nil || col.round.GetRound() != h.GetRound() || col.closing || !f.c.leading.Load() {
		return nil, status.Errorf(codes.FailedPrecondition, "round %d is not open for uploads on %s (%s)", h.GetRound(), f.c.id, f.roundWords(h.GetRound()))
	}
	if !slices.Contains(col.round.GetParticipants(), h.GetNodeId()) {
		return nil, status.Errorf(codes.FailedPrecondition, "node %s is not a participant of round %d", h.GetNodeId(), h.GetRound())
	}
	if string(h.GetBaseHash()) != string(col.round.GetBaseHash()) {
		return nil, status.Errorf(codes.FailedPrecondition, "base hash %x is not round %d's (%x): train from the round's global model",
			h.GetBaseHash(), h.GetRound(), col.round.GetBaseHash())
	}
	if _, dup := col.updates[h.GetNodeId()]; dup {
		return nil, status.Errorf(codes.AlreadyExists, "node %s already uploaded for round %d", h.GetNodeId(), h.GetRound())
	}
	return col, nil
}

// roundWords says where round r is, for a refusal: what this server's
// replica knows of it.
func (f *federation) roundWords(r uint64) string {
	if f.c.raft == nil {
		return "this node is not a server"
	}
	if !f.c.leading.Load() {
		return "this server does not lead"
	}
	rd, ok := f.c.raft.State().Round(r)
	if !ok {
		return "no such round"
	}
	if rd.GetState() == gamesav1.RoundState_ROUND_STATE_OPEN {
		return "open, but another leader collects it"
	}
	return roundStateWord(rd.GetState())
}

// accept checks an upload's file against col and records it; its errors
// are gRPC statuses. The check runs outside the lock; the record is
// refused if the round ended meanwhile, or the node uploaded twice.
func (f *federation) accept(col *collector, h *gamesav1.UpdateHeader, data []byte) (*gamesav1.UploadUpdateResponse, error) {
	up, resp, err := f.check(col, h, data)
	if err != nil {
		f.mu.Lock()
		col.refused++
		f.mu.Unlock()
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.col != col || col.closing {
		return nil, status.Errorf(codes.FailedPrecondition, "round %d ended while the upload was checked", h.GetRound())
	}
	if _, dup := col.updates[h.GetNodeId()]; dup {
		return nil, status.Errorf(codes.AlreadyExists, "node %s already uploaded for round %d", h.GetNodeId(), h.GetRound())
	}
	col.updates[h.GetNodeId()] = up
	resp.Round, resp.Updates = h.GetRound(), uint32(len(col.updates))
	return resp, nil
}

// check validates one upload as the round's merge will: a fit that pools
// (no base), or an update of the base's architecture with finite weights
// (federated.Check).
func (f *federation) check(col *collector, h *gamesav1.UpdateHeader, data []byte) (*upload, *gamesav1.UploadUpdateResponse, error) {
	node := h.GetNodeId()
	if col.base == nil {
		fit := federated.ThermalFit{Node: node, Model: data, Rows: h.GetSamples()}
		if _, _, err := federated.MergeThermalFits([]federated.ThermalFit{fit}); err != nil {
			return nil, nil, refusalStatus(err)
		}
		return &upload{fit: fit, loss: h.GetTrainLoss()}, &gamesav1.UploadUpdateResponse{}, nil
	}
	u, err := f.bounds.DecodeUpdate(data, col.base, federated.Envelope{
		Node: node, Round: h.GetRound(), BaseHash: h.GetBaseHash(), Samples: h.GetSamples(),
	})
	if err != nil {
		return nil, nil, refusalStatus(err)
	}
	d, err := f.bounds.Check(col.global, u)
	if err != nil {
		return nil, nil, refusalStatus(err)
	}
	return &upload{update: u, loss: h.GetTrainLoss()}, &gamesav1.UploadUpdateResponse{Norm: d.Norm, Clipped: d.Clipped}, nil
}

// refusalStatus maps a refused update to the status that says what the
// node did wrong.
func refusalStatus(err error) error {
	code := codes.InvalidArgument
	switch {
	case errors.Is(err, federated.ErrTooLarge):
		code = codes.ResourceExhausted
	case errors.Is(err, federated.ErrWrongRound), errors.Is(err, federated.ErrWrongBase):
		code = codes.FailedPrecondition
	case errors.Is(err, federated.ErrDuplicate):
		code = codes.AlreadyExists
	}
	return status.Error(code, err.Error())
}

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
