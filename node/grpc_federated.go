package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/krystalstack/gamesa/consensus"
	"github.com/krystalstack/gamesa/optimizer/neural/thermal"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// fedService implements gamesa.v1.FederatedService. Uploads go to the
// leader that opened the round (the uploader finds it in the round); reads
// are leader-verified unless stale; StartRound is forwarded to the leader;
// any node serves a model file it has, and fetches one it lacks.
type fedService struct {
	gamesav1.UnimplementedFederatedServiceServer
	n *Node
}

var _ gamesav1.FederatedServiceServer = (*fedService)(nil)

// Register adds the service to gs.
func (s *fedService) Register(gs *grpc.Server) { gamesav1.RegisterFederatedServiceServer(gs, s) }

// readFedMethods may be called with a read token; adminFedMethods change
// the cluster's models (an agent uploads with its auth.token_file token).
var (
	readFedMethods = []string{
		gamesav1.FederatedService_GetModel_FullMethodName,
		gamesav1.FederatedService_ListModels_FullMethodName,
		gamesav1.FederatedService_ListRounds_FullMethodName,
	}
	adminFedMethods = []string{
		gamesav1.FederatedService_UploadUpdate_FullMethodName,
		gamesav1.FederatedService_StartRound_FullMethodName,
	}
)

// UploadUpdate receives one node's update for the round this leader
// collects. The header is checked before the body is read, so a late,
// misdirected or oversized upload is refused at once.
func (s *fedService) UploadUpdate(stream grpc.ClientStreamingServer[gamesav1.UploadUpdateRequest, gamesav1.UploadUpdateResponse]) error {
	f := s.n.fed
	first, err := stream.Recv()
	if errors.Is(err, io.EOF) {
		return status.Error(codes.InvalidArgument, "empty upload: send the header first")
	}
	if err != nil {
		return err
	}
	h := first.GetHeader()
	if err := checkHeader(h); err != nil {
		f.uploads.WithLabelValues(outcomeOf(err)).Inc()
		return err
	}
	col, err := f.collectorFor(h)
	if err != nil {
		f.uploads.WithLabelValues(outcomeOf(err)).Inc()
		return err
	}
	data, err := receiveUpdate(stream, h, first.GetChunk())
	if err != nil {
		f.uploads.WithLabelValues(outcomeOf(err)).Inc()
		return err
	}
	resp, err := f.accept(col, h, data)
	f.uploads.WithLabelValues(outcomeOf(err)).Inc()
	if err != nil {
		f.log.Info("federated upload refused", "round", h.GetRound(), "node", h.GetNodeId(), "err", err)
		return err
	}
	return stream.SendAndClose(resp)
}

// checkHeader refuses a header that names no round or node, or declares
// more bytes than an upload may hold.
func checkHeader(h *gamesav1.UpdateHeader) error {
	switch {
	case h == nil:
		return invalidArg("header", "the first message must carry the header")
	case h.GetRound() == 0:
		return invalidArg("header.round", "required")
	case !validNodeID(h.GetNodeId()):
		return invalidArg("header.node_id", "%q is not a node id", h.GetNodeId())
	case h.GetSamples() == 0:
		return invalidArg("header.samples", "must be at least 1")
	case h.GetSizeBytes() == 0:
		return invalidArg("header.size_bytes", "required: the file's size")
	case h.GetSizeBytes() > maxUpdateBytes:
		return status.Errorf(codes.ResourceExhausted, "header.size_bytes: %d bytes, more than an update may hold (%d)", h.GetSizeBytes(), maxUpdateBytes)
	}
	return nil
}

// receiveUpdate reads the chunks that follow the header: exactly the
// declared size.
func receiveUpdate(stream grpc.ClientStreamingServer[gamesav1.UploadUpdateRequest, gamesav1.UploadUpdateResponse], h *gamesav1.UpdateHeader, first []byte) ([]byte, error) {
	size := int(h.GetSizeBytes())
	if len(first) > size {
		return nil, status.Errorf(codes.ResourceExhausted, "more bytes than the %d declared", size)
	}
	data := make([]byte, 0, size)
	data = append(data, first...)
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if msg.GetHeader() != nil {
			return nil, invalidArg("header", "sent twice: only the first message carries it")
		}
		if len(data)+len(msg.GetChunk()) > size {
			return nil, status.Errorf(codes.ResourceExhausted, "more bytes than the %d declared", size)
		}
		data = append(data, msg.GetChunk()...)
	}
	if len(data) != size {
		return nil, invalidArg("header.size_bytes", "declared %d bytes, sent %d", size, len(data))
	}
	return data, nil
}

// outcomeOf names an upload's outcome for the metric: accepted, or the
// status code in snake case (invalid_argument, failed_precondition, ...).
func outcomeOf(err error) string {
	if err == nil {
		return "accepted"
	}
	var b strings.Builder
	for i, r := range status.Code(err).String() {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// GetModel streams a committed version's file.
func (s *fedService) GetModel(req *gamesav1.GetModelRequest, stream grpc.ServerStreamingServer[gamesav1.GetModelResponse]) error {
	f := s.n.fed
	ctx := stream.Context()
	kind := req.GetKind()
	if kind == "" {
		kind = thermal.Kind
	}
	if err := consensus.ValidateName("kind", kind); err != nil {
		return invalidArg("kind", "%v", err)
	}
	if h := req.GetHash(); len(h) != 0 && len(h) != consensus.ModelHashLen {
		return invalidArg("hash", "%d bytes; a model's hash is %d", len(h), consensus.ModelHashLen)
	}
	if req.GetLocal() {
		if len(req.GetHash()) == 0 {
			return invalidArg("hash", "required with local")
		}
		data, err := f.store.get(kind, req.GetHash())
		if errors.Is(err, errModelMissing) {
			return status.Errorf(codes.NotFound, "%s does not hold %s model %x", s.n.cfg.NodeID, kind, req.GetHash())
		}
		if err != nil {
			return status.Error(codes.Internal, err.Error())
		}
		return sendModel(stream, &gamesav1.GlobalModel{Kind: kind, Hash: req.GetHash(), SizeBytes: uint64(len(data))}, data)
	}
	_, models, err := f.view(ctx)
	if err != nil {
		return status.Errorf(codes.Unavailable, "reading the committed versions: %v", err)
	}
	g := findModel(models, kind, req.GetVersion(), req.GetHash())
	if g == nil {
		return status.Errorf(codes.NotFound, "no committed %s model %s", kind, modelName(req))
	}
	data, err := f.modelFile(ctx, g)
	if err != nil {
		return status.Errorf(codes.Unavailable, "%s model version %d: %v", kind, g.GetVersion(), err)
	}
	return sendModel(stream, g, data)
}

func modelName(req *gamesav1.GetModelRequest) string {
	switch {
	case len(req.GetHash()) > 0:
		return fmt.Sprintf("with hash %x", req.GetHash())
	case req.GetVersion() > 0:
		return fmt.Sprintf("version %d", req.GetVersion())
	}
	return "yet"
}

// findModel picks a version by hash, else by version (0: the latest).
func findModel(ms []*gamesav1.GlobalModel, kind string, version uint64, hash []byte) *gamesav1.GlobalModel {
	if len(hash) > 0 {
		for _, m := range ms {
			if m.GetKind() == kind && string(m.GetHash()) == string(hash) {
				return m
			}
		}
		return nil
	}
	if version == 0 {
		return latestOf(ms, kind)
	}
	for _, m := range ms {
		if m.GetKind() == kind && m.GetVersion() == version {
			return m
		}
	}
	return nil
}

// sendModel streams the metadata, then the file in chunks.
func sendModel(stream grpc.ServerStreamingServer[gamesav1.GetModelResponse], g *gamesav1.GlobalModel, data []byte) error {
	if err := stream.Send(&gamesav1.GetModelResponse{Model: g}); err != nil {
		return err
	}
	for off := 0; off < len(data); off += fedChunk {
		if err := stream.Send(&gamesav1.GetModelResponse{Chunk: data[off:min(off+fedChunk, len(data))]}); err != nil {
			return err
		}
	}
	return nil
}

// ListModels lists the committed versions.
func (s *fedService) ListModels(ctx context.Context, req *gamesav1.ListModelsRequest) (*gamesav1.ListModelsResponse, error) {
	if k := req.GetKind(); k != "" {
		if err := consensus.ValidateName("kind", k); err != nil {
			return nil, invalidArg("kind", "%v", err)
		}
	}
	var resp *gamesav1.ListModelsResponse
	err := s.read(ctx, req.GetStale(), func(st *consensus.State) {
		resp = &gamesav1.ListModelsResponse{Models: st.GlobalModels(req.GetKind()), ServedBy: s.n.cluster.id}
	}, func(ctx context.Context, cl gamesav1.FederatedServiceClient) (err error) {
		resp, err = cl.ListModels(ctx, req)
		return err
	})
	return resp, err
}

// ListRounds lists the remembered rounds.
func (s *fedService) ListRounds(ctx context.Context, req *gamesav1.ListRoundsRequest) (*gamesav1.ListRoundsResponse, error) {
	var resp *gamesav1.ListRoundsResponse
	err := s.read(ctx, req.GetStale(), func(st *consensus.State) {
		resp = &gamesav1.ListRoundsResponse{Rounds: st.Rounds(int(req.GetLimit())), ServedBy: s.n.cluster.id}
	}, func(ctx context.Context, cl gamesav1.FederatedServiceClient) (err error) {
		resp, err = cl.ListRounds(ctx, req)
		return err
	})
	return resp, err
}

// StartRound opens a round on the leader.
func (s *fedService) StartRound(ctx context.Context, req *gamesav1.StartRoundRequest) (*gamesav1.StartRoundResponse, error) {
	kind, rule := req.GetKind(), req.GetRule()
	if kind == "" {
		kind = thermal.Kind
	}
	var resp *gamesav1.StartRoundResponse
	err := s.onLeader(ctx, func() error {
		f := s.n.fed
		if !f.cfg.Enabled {
			return status.Errorf(codes.FailedPrecondition, "federated.enabled is off on the leader %s", f.c.id)
		}
		if rule == "" {
			rule = f.cfg.Rule
		}
		r, err := f.openRound(ctx, kind, rule)
		if err == nil {
			resp = &gamesav1.StartRoundResponse{Round: r}
		}
		return err
	}, func(ctx context.Context, cl gamesav1.FederatedServiceClient) (err error) {
		resp, err = cl.StartRound(ctx, req)
		return err
	})
	return resp, err
}

// read answers from a replica: this server's own for a stale read, the
// leader's verified one otherwise; a node that cannot answer sends the
// request on, holding while no leader is known (as allocService.read).
func (s *fedService) read(ctx context.Context, stale bool, local func(*consensus.State), forward func(context.Context, gamesav1.FederatedServiceClient) error) error {
	c := s.n.cluster
	if stale && c.raft != nil {
		local(c.raft.State())
		return nil
	}
	return s.onLeader(ctx, func() error {
		st, err := c.raft.ConsistentState(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return status.FromContextError(ctx.Err()).Err()
			}
			return status.Errorf(codes.Unavailable, "verifying leadership: %v", err)
		}
		local(st)
		return nil
	}, forward)
}

// onLeader runs here on the leader, else forwards to the node that can
// answer (the leader, or from a client a server); an Unavailable answer is
// retried for up to writeHold while leadership settles.
func (s *fedService) onLeader(ctx context.Context, here func() error, forward func(context.Context, gamesav1.FederatedServiceClient) error) error {
	c := s.n.cluster
	hold, cancel := context.WithTimeout(ctx, writeHold)
	defer cancel()
	var last error
	for attempt := 0; ; attempt++ {
		if c.raft != nil && c.leading.Load() {
			last = here()
		} else if _, addr := c.target(); addr != "" {
			fctx, err := c.fwd.outgoing(ctx)
			if err != nil {
				return err
			}
			cl, err := c.fwd.fedClient(addr)
			if err != nil {
				return err
			}
			last = forward(fctx, cl)
		} else {
			last = status.Error(codes.Unavailable, "no leader known")
		}
		if status.Code(last) != codes.Unavailable {
			return last
		}
		if err := holdForLeader(hold, attempt); err != nil {
			if ctx.Err() != nil {
				return status.FromContextError(ctx.Err()).Err()
			}
			return status.Errorf(codes.Unavailable, "no leader within %v: %v", writeHold, last)
		}
	}
}
