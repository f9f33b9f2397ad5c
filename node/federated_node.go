package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/krystalstack/gamesa/gossip"
	"github.com/krystalstack/gamesa/optimizer/neural/thermal"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// The node side of federated learning: answer rounds, adopt new versions.
const (
	// fedChunk is the size of one chunk of a model file on the wire, well
	// under the server's 64 KiB message limit.
	fedChunk = 32 << 10
	// fedCallTimeout bounds one upload or download between nodes.
	fedCallTimeout = 30 * time.Second
	// uploadMargin is kept free before a round's deadline for the upload
	// itself (at most a fifth of the round).
	uploadMargin = 2 * time.Second
	// participateIdle bounds a server's wait for its replica to change.
	participateIdle = 5 * time.Second
)

// participate watches the committed rounds and versions (this server's
// replica, or a server's from a client): it answers the rounds this node
// is invited to, and hands each new version to adoptLoop, which adopts it
// on its own goroutine so that a slow personalisation never makes the
// node miss a round. It returns when ctx is done.
func (f *federation) participate(ctx context.Context) {
	versions := make(chan fedVersions, 1)
	done := make(chan struct{})
	go func() { defer close(done); f.adoptLoop(ctx, versions) }()
	defer func() { <-done }()
	var answered uint64
	var changed <-chan struct{}
	if f.c.raft != nil {
		changed = f.c.raft.Changed()
	}
	for {
		// A server's replica says when the rounds change; the poll is
		// what hands adoptLoop a version again after a failed fetch. A
		// client asks a server, two calls a look.
		poll := 2 * time.Second
		if f.c.raft != nil {
			poll = participateIdle
		}
		if !wait(ctx, poll, changed) {
			return
		}
		if f.c.raft != nil {
			changed = f.c.raft.Changed()
		}
		round, models, err := f.view(ctx)
		if err != nil {
			f.log.Debug("federated: reading the rounds", "err", err)
			continue
		}
		if g := latestOf(models, thermal.Kind); g != nil {
			select { // replace a version adoptLoop has not taken yet
			case <-versions:
			default:
			}
			versions <- fedVersions{latest: g, all: models}
		}
		if round.GetState() == gamesav1.RoundState_ROUND_STATE_OPEN && round.GetRound() > answered &&
			slices.Contains(round.GetParticipants(), f.c.id) {
			answered = round.GetRound()
			if err := f.answer(ctx, round); err != nil && ctx.Err() == nil {
				f.log.Info("federated round not answered", "round", round.GetRound(), "err", err)
			}
		}
	}
}

// fedVersions is what participate hands adoptLoop: the newest version of
// the federated kind, and every version the cluster remembers.
type fedVersions struct {
	latest *gamesav1.GlobalModel
	all    []*gamesav1.GlobalModel
}

// adoptLoop adopts each newer version it is handed (retrying one that
// cannot be fetched yet on the next hand-over), until ctx is done.
func (f *federation) adoptLoop(ctx context.Context, versions <-chan fedVersions) {
	var adopted uint64
	lastErr := ""
	for {
		var v fedVersions
		select {
		case <-ctx.Done():
			return
		case v = <-versions:
		}
		if v.latest.GetVersion() <= adopted {
			continue
		}
		if err := f.adopt(ctx, v.latest); err != nil {
			if msg := err.Error(); msg != lastErr && ctx.Err() == nil {
				f.log.Info("federated model not adopted yet", "version", v.latest.GetVersion(), "err", err)
				lastErr = msg
			}
			continue
		}
		adopted, lastErr = v.latest.GetVersion(), ""
		if err := f.store.prune(hashes(v.all), time.Now()); err != nil {
			f.log.Debug("federated: pruning the store", "err", err)
		}
	}
}

// latestOf is the newest version of kind in ms, or nil.
func latestOf(ms []*gamesav1.GlobalModel, kind string) *gamesav1.GlobalModel {
	var out *gamesav1.GlobalModel
	for _, m := range ms {
		if m.GetKind() == kind && m.GetVersion() > out.GetVersion() {
			out = m
		}
	}
	return out
}

func hashes(ms []*gamesav1.GlobalModel) [][]byte {
	out := make([][]byte, len(ms))
	for i, m := range ms {
		out[i] = m.GetHash()
	}
	return out
}

// view returns the latest round (nil before the first) and the remembered
// versions: from this server's replica, or from any server's.
func (f *federation) view(ctx context.Context) (*gamesav1.FederatedRound, []*gamesav1.GlobalModel, error) {
	if f.c.raft != nil {
		st := f.c.raft.State()
		var round *gamesav1.FederatedRound
		if rs := st.Rounds(1); len(rs) == 1 {
			round = rs[0]
		}
		return round, st.GlobalModels(""), nil
	}
	_, addr := f.c.target()
	if addr == "" {
		return nil, nil, errors.New("no server known")
	}
	cl, cctx, cancel, err := f.dial(ctx, addr)
	if err != nil {
		return nil, nil, err
	}
	defer cancel()
	rr, err := cl.ListRounds(cctx, &gamesav1.ListRoundsRequest{Stale: true, Limit: 1})
	if err != nil {
		return nil, nil, err
	}
	mr, err := cl.ListModels(cctx, &gamesav1.ListModelsRequest{Stale: true})
	if err != nil {
		return nil, nil, err
	}
	var round *gamesav1.FederatedRound
	if rs := rr.GetRounds(); len(rs) > 0 {
		round = rs[len(rs)-1]
	}
	return round, mr.GetModels(), nil
}

// answer trains for an open round on this node's recent data and uploads
// the weights to the leader that opened it.
func (f *federation) answer(ctx context.Context, r *gamesav1.FederatedRound) error {
	margin := min(uploadMargin, r.GetDeadline().AsTime().Sub(r.GetOpenedAt().AsTime())/5)
	budget := min(f.cfg.TrainBudget, time.Until(r.GetDeadline().AsTime())-margin)
	if budget <= 0 {
		return fmt.Errorf("the deadline is too close to train (%v)", r.GetDeadline().AsTime().Format(time.RFC3339))
	}
	series := f.n.localSeries(time.Now())
	if n := len(series.Points); n < minThermalRows(f.thermal) {
		return fmt.Errorf("%d observations with temperature and load, fewer than the %d a window needs", n, minThermalRows(f.thermal))
	}
	var (
		data  []byte
		loss  float32
		steps int
		err   error
	)
	start := time.Now()
	if r.GetBaseVersion() == 0 {
		data, err = fitThermal(f.thermal, series)
	} else {
		var global []byte
		base := &gamesav1.GlobalModel{Kind: r.GetKind(), Version: r.GetBaseVersion(), Hash: r.GetBaseHash(), Holder: r.GetLeaderId()}
		if global, err = f.modelFile(ctx, base); err != nil {
			return fmt.Errorf("fetching the round's base: %w", err)
		}
		data, loss, steps, err = trainThermal(ctx, f.thermal, global, series, r.GetRound(), budget)
	}
	if err != nil {
		return err
	}
	resp, err := f.upload(ctx, r, data, uint64(len(series.Points)), float64(loss))
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	f.round.Store(r.GetRound())
	f.log.Info("federated round answered", "round", r.GetRound(), "base_version", r.GetBaseVersion(),
		"samples", len(series.Points), "steps", steps, "took", time.Since(start).Round(time.Millisecond),
		"norm", resp.GetNorm(), "clipped", resp.GetClipped(), "updates_at_leader", resp.GetUpdates())
	return nil
}

// memberAddr is the gRPC address of an alive member.
func memberAddr(v gossip.ClusterView, id string) (string, bool) {
	m, ok := v.Get(id)
	if !ok || m.State != gossip.StateAlive || m.Meta.GRPCAddr == "" {
		return "", false
	}
	return m.Meta.GRPCAddr, true
}

// upload streams one update to the round's leader.
func (f *federation) upload(ctx context.Context, r *gamesav1.FederatedRound, data []byte, samples uint64, loss float64) (*gamesav1.UploadUpdateResponse, error) {
	addr, ok := memberAddr(f.c.mesh.View(), r.GetLeaderId())
	if !ok {
		return nil, fmt.Errorf("round %d's leader %s is not reachable", r.GetRound(), r.GetLeaderId())
	}
	cl, cctx, cancel, err := f.dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	defer cancel()
	h := &gamesav1.UpdateHeader{
		Round: r.GetRound(), BaseHash: r.GetBaseHash(), NodeId: f.c.id, Samples: samples,
		SizeBytes: uint64(len(data)), TrainLoss: loss,
	}
	return sendUpdate(cctx, cl, h, data)
}

// sendUpdate streams a header and a file in chunks; a refusal the server
// sends mid-stream is the result.
func sendUpdate(ctx context.Context, cl gamesav1.FederatedServiceClient, h *gamesav1.UpdateHeader, data []byte) (*gamesav1.UploadUpdateResponse, error) {
	stream, err := cl.UploadUpdate(ctx)
	if err != nil {
		return nil, err
	}
	msg := &gamesav1.UploadUpdateRequest{Header: h}
	for off := 0; ; off += fedChunk {
		msg.Chunk = data[off:min(off+fedChunk, len(data))]
		if err := stream.Send(msg); err != nil {
			if errors.Is(err, io.EOF) {
				break // the server has answered: CloseAndRecv says how
			}
			return nil, err
		}
		msg = &gamesav1.UploadUpdateRequest{}
		if off+fedChunk >= len(data) {
			break
		}
	}
	return stream.CloseAndRecv()
}

// modelFile returns the checked file of a committed version: from the
// store, else from a node that holds it (which it then keeps).
func (f *federation) modelFile(ctx context.Context, g *gamesav1.GlobalModel) ([]byte, error) {
	data, err := f.store.get(g.GetKind(), g.GetHash())
	if !errors.Is(err, errModelMissing) {
		return data, err
	}
	var errs []error
	for _, addr := range f.sources(g) {
		data, err := f.fetchFrom(ctx, addr, g)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", addr, err))
			continue
		}
		if err := f.store.put(g.GetKind(), g.GetHash(), data); err != nil {
			return nil, err
		}
		return data, nil
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("%s version %d: no other node is reachable to fetch it from", g.GetKind(), g.GetVersion())
	}
	return nil, fmt.Errorf("%s version %d: %w", g.GetKind(), g.GetVersion(), errors.Join(errs...))
}

// sources are the gRPC addresses to fetch a version from, in order: its
// holder, the leader (or, from a client, a server), then every other
// alive member. This node is never one of them.
func (f *federation) sources(g *gamesav1.GlobalModel) []string {
	view := f.c.mesh.View()
	self, _ := memberAddr(view, f.c.id)
	var out []string
	add := func(addr string) {
		if addr != "" && addr != self && !slices.Contains(out, addr) {
			out = append(out, addr)
		}
	}
	if a, ok := memberAddr(view, g.GetHolder()); ok && g.GetHolder() != f.c.id {
		add(a)
	}
	_, leader := f.c.target()
	add(leader)
	for _, m := range view.Alive() {
		if m.Meta.ID != f.c.id {
			add(m.Meta.GRPCAddr)
		}
	}
	return out
}

// fetchFrom downloads a version from the node at addr (from its own store
// only) and checks it.
func (f *federation) fetchFrom(ctx context.Context, addr string, g *gamesav1.GlobalModel) ([]byte, error) {
	cl, cctx, cancel, err := f.dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	defer cancel()
	stream, err := cl.GetModel(cctx, &gamesav1.GetModelRequest{Kind: g.GetKind(), Hash: g.GetHash(), Local: true})
	if err != nil {
		return nil, err
	}
	data, _, err := receiveModel(stream, maxUpdateBytes)
	if err != nil {
		return nil, err
	}
	if _, err := verifyModel(data, g.GetKind(), g.GetHash()); err != nil {
		return nil, err
	}
	return data, nil
}

// modelStream is what receiveModel reads: a GetModel stream.
type modelStream interface {
	Recv() (*gamesav1.GetModelResponse, error)
}

// receiveModel reads a GetModel stream: the metadata, then at most limit
// bytes of file.
func receiveModel(s modelStream, limit int) ([]byte, *gamesav1.GlobalModel, error) {
	var data []byte
	var meta *gamesav1.GlobalModel
	for {
		msg, err := s.Recv()
		if errors.Is(err, io.EOF) {
			if meta == nil {
				return nil, nil, errors.New("the stream ended before the model's metadata")
			}
			return data, meta, nil
		}
		if err != nil {
			return nil, nil, err
		}
		if m := msg.GetModel(); m != nil {
			meta = m
		}
		if len(data)+len(msg.GetChunk()) > limit {
			return nil, nil, fmt.Errorf("model file larger than %d bytes", limit)
		}
		data = append(data, msg.GetChunk()...)
	}
}

// adopt takes a new version: fetches and checks it, fine-tunes a
// personalised copy on the older part of this node's data, and hands the
// one that predicts the newest part better to the local loop.
func (f *federation) adopt(ctx context.Context, g *gamesav1.GlobalModel) error {
	data, err := f.modelFile(ctx, g)
	if err != nil {
		return err
	}
	chosen, personal := data, false
	var eg, ep float64
	series := f.n.localSeries(time.Now())
	train, test := splitHeldOut(series)
	if len(train.Points) >= minThermalRows(f.thermal) {
		p, _, _, err := trainThermal(ctx, f.thermal, data, train, g.GetRound(), f.cfg.TrainBudget)
		if err != nil {
			f.log.Debug("federated: personalising", "err", err)
		} else {
			var okg, okp bool
			eg, okg = thermalError(f.thermal, data, test)
			ep, okp = thermalError(f.thermal, p, test)
			if okg && okp && ep < eg {
				chosen, personal = p, true
				if err := writeFileAtomic(filepath.Join(f.store.dir, "personal-"+g.GetKind()+".model"), p); err != nil {
					f.log.Warn("federated: saving the personalised copy", "err", err)
				}
			}
		}
	}
	f.version.Store(g.GetVersion())
	f.personal.Store(personal)
	if f.n.models != nil { // set before the goroutines start; nil: no local loop models
		f.pending.Store(&handover{data: bytes.Clone(chosen), version: g.GetVersion(), personal: personal})
	}
	f.log.Info("federated model adopted", "kind", g.GetKind(), "version", g.GetVersion(), "personalised", personal,
		"rmse_30s_global", eg, "rmse_30s_personal", ep)
	return nil
}

// fedClient returns a FederatedService client for addr over the
// forwarder's connection to it.
func (fw *forwarder) fedClient(addr string) (gamesav1.FederatedServiceClient, error) {
	c, err := fw.conn(addr)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return gamesav1.NewFederatedServiceClient(c), nil
}

// dial returns the FederatedService of the node at addr and a context for
// one call to it, with this node's credentials and fedCallTimeout.
func (f *federation) dial(ctx context.Context, addr string) (gamesav1.FederatedServiceClient, context.Context, context.CancelFunc, error) {
	cl, err := f.c.fwd.fedClient(addr)
	if err != nil {
		return nil, nil, nil, err
	}
	octx, err := f.c.fwd.outgoing(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	cctx, cancel := context.WithTimeout(octx, fedCallTimeout)
	return cl, cctx, cancel, nil
}
