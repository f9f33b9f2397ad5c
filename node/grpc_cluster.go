package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/krystalstack/gamesa/consensus"
	"github.com/krystalstack/gamesa/gossip"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// clusterService implements gamesa.v1.ClusterService. Any node answers:
// what only the leader can do is forwarded to it (see cluster.write).
type clusterService struct {
	gamesav1.UnimplementedClusterServiceServer
	n *Node
}

var _ gamesav1.ClusterServiceServer = (*clusterService)(nil)

// Register adds the service to gs.
func (s *clusterService) Register(gs *grpc.Server) { gamesav1.RegisterClusterServiceServer(gs, s) }

// mutatingClusterMethods need the admin scope when the node checks tokens.
var mutatingClusterMethods = []string{
	gamesav1.ClusterService_Join_FullMethodName,
	gamesav1.ClusterService_Leave_FullMethodName,
	gamesav1.ClusterService_TransferLeadership_FullMethodName,
	gamesav1.ClusterService_SetSetting_FullMethodName,
	gamesav1.ClusterService_DeleteSetting_FullMethodName,
}

// GetClusterState answers from the leader (consistent) unless the request
// allows a stale answer from this node's replica.
func (s *clusterService) GetClusterState(ctx context.Context, req *gamesav1.GetClusterStateRequest) (*gamesav1.GetClusterStateResponse, error) {
	c := s.n.cluster
	if req.GetStale() {
		if c.raft == nil { // a client has no replica: any server's is as good
			return s.forwardRead(ctx, req)
		}
		return c.localState(), nil
	}
	if c.raft != nil && c.leading.Load() {
		st, err := c.raft.ConsistentState(ctx)
		if err == nil {
			resp := c.localStateFrom(st)
			resp.Consistent = true
			return resp, nil
		}
		if ctx.Err() != nil {
			return nil, status.FromContextError(ctx.Err()).Err()
		}
		// Lost leadership while verifying: ask the new leader.
	}
	return s.forwardRead(ctx, req)
}

// forwardRead asks the node that can answer: the leader for a consistent
// read, any server for a client's stale read. It holds, like a write, while
// no leader is known.
func (s *clusterService) forwardRead(ctx context.Context, req *gamesav1.GetClusterStateRequest) (*gamesav1.GetClusterStateResponse, error) {
	c := s.n.cluster
	hold, cancel := context.WithTimeout(ctx, writeHold)
	defer cancel()
	for attempt := 0; ; attempt++ {
		if _, addr := c.target(); addr != "" {
			fctx, cl, err := c.fwd.to(ctx, addr)
			if err != nil {
				return nil, err
			}
			resp, err := cl.GetClusterState(fctx, req)
			if status.Code(err) != codes.Unavailable {
				if resp != nil {
					resp.SelfId = c.id
				}
				return resp, err
			}
		} else if c.raft != nil && c.leading.Load() {
			return s.GetClusterState(ctx, req) // became leader meanwhile
		}
		if err := holdForLeader(hold, attempt); err != nil {
			if ctx.Err() != nil {
				return nil, status.FromContextError(ctx.Err()).Err()
			}
			return nil, status.Errorf(codes.Unavailable, "no leader within %v: the cluster has no quorum (ask with stale: true for this node's view)", writeHold)
		}
	}
}

// WatchClusterState streams this node's view (members, and the local
// replica on a server) at the requested interval and on membership events.
func (s *clusterService) WatchClusterState(req *gamesav1.WatchClusterStateRequest, stream grpc.ServerStreamingServer[gamesav1.WatchClusterStateResponse]) error {
	interval := time.Second
	if req.Interval != nil {
		if err := req.Interval.CheckValid(); err != nil {
			return invalidArg("interval", "%v", err)
		}
		interval = req.Interval.AsDuration()
		if interval < MinInterval || interval > MaxInterval {
			return invalidArg("interval", "must be between %v and %v; got %v", MinInterval, MaxInterval, interval)
		}
	}
	c := s.n.cluster
	events, stop := c.mesh.Subscribe(16)
	defer stop()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := stream.Send(&gamesav1.WatchClusterStateResponse{State: c.localState()}); err != nil {
			return err
		}
		select {
		case <-stream.Context().Done():
			return nil
		case <-events:
		case <-t.C:
		}
	}
}

// Join joins the members at the given gossip addresses.
func (s *clusterService) Join(ctx context.Context, req *gamesav1.JoinRequest) (*gamesav1.JoinResponse, error) {
	if len(req.GetAddresses()) == 0 {
		return nil, invalidArg("addresses", "name at least one gossip address (host:port)")
	}
	n, err := s.n.cluster.mesh.Join(ctx, req.GetAddresses())
	if n == 0 && err != nil {
		return nil, status.Errorf(codes.Unavailable, "join: %v", err)
	}
	return &gamesav1.JoinResponse{Joined: uint32(n)}, nil
}

// Leave makes the node leave the cluster gracefully and stop.
func (s *clusterService) Leave(context.Context, *gamesav1.LeaveRequest) (*gamesav1.LeaveResponse, error) {
	s.n.log.Info("asked to leave the cluster; stopping")
	s.n.cluster.leave()
	return &gamesav1.LeaveResponse{}, nil
}

// TransferLeadership hands leadership to another server; any node accepts
// the request and forwards it to the leader.
func (s *clusterService) TransferLeadership(ctx context.Context, req *gamesav1.TransferLeadershipRequest) (*gamesav1.TransferLeadershipResponse, error) {
	c := s.n.cluster
	if c.raft != nil && c.raft.IsLeader() {
		if err := c.raft.TransferLeadership(ctx, req.GetTargetId()); err != nil {
			return nil, status.Errorf(codes.FailedPrecondition, "transfer leadership: %v", err)
		}
		return &gamesav1.TransferLeadershipResponse{LeaderId: c.raft.Leader().ID}, nil
	}
	_, addr := c.target()
	if addr == "" {
		return nil, status.Error(codes.Unavailable, "no leader known")
	}
	fctx, cl, err := c.fwd.to(ctx, addr)
	if err != nil {
		return nil, err
	}
	return cl.TransferLeadership(fctx, req)
}

// SetSetting writes one replicated setting through the leader.
func (s *clusterService) SetSetting(ctx context.Context, req *gamesav1.SetSettingRequest) (*gamesav1.SetSettingResponse, error) {
	if req.GetRequestId() == "" {
		req.RequestId = newRequestID()
	}
	cmd := &gamesav1.Command{RequestId: req.GetRequestId(), Op: &gamesav1.Command_SetSetting{SetSetting: &gamesav1.SetSetting{
		Key: req.GetKey(), Value: req.GetValue(), ExpectedVersion: req.GetExpectedVersion(),
	}}}
	var fwd *gamesav1.SetSettingResponse
	res, err := s.n.cluster.write(ctx, cmd, func(ctx context.Context, cl gamesav1.ClusterServiceClient) (err error) {
		fwd, err = cl.SetSetting(ctx, req)
		return err
	})
	if err != nil || fwd != nil {
		return fwd, err
	}
	return &gamesav1.SetSettingResponse{Setting: res.GetSetting(), Index: res.GetIndex(), Duplicate: res.GetDuplicate()}, nil
}

// DeleteSetting removes one replicated setting through the leader.
func (s *clusterService) DeleteSetting(ctx context.Context, req *gamesav1.DeleteSettingRequest) (*gamesav1.DeleteSettingResponse, error) {
	if req.GetRequestId() == "" {
		req.RequestId = newRequestID()
	}
	cmd := &gamesav1.Command{RequestId: req.GetRequestId(), Op: &gamesav1.Command_DeleteSetting{DeleteSetting: &gamesav1.DeleteSetting{
		Key: req.GetKey(), ExpectedVersion: req.GetExpectedVersion(),
	}}}
	var fwd *gamesav1.DeleteSettingResponse
	res, err := s.n.cluster.write(ctx, cmd, func(ctx context.Context, cl gamesav1.ClusterServiceClient) (err error) {
		fwd, err = cl.DeleteSetting(ctx, req)
		return err
	})
	if err != nil || fwd != nil {
		return fwd, err
	}
	return &gamesav1.DeleteSettingResponse{Index: res.GetIndex(), Duplicate: res.GetDuplicate()}, nil
}

// newRequestID names one logical write. The first node that sees a write
// picks it, so every forwarded hop and every retry carries the same id.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return hex.EncodeToString(b[:])
}

// localState is this node's view: gossip members and, on a server, its
// local (possibly stale) replica.
func (c *cluster) localState() *gamesav1.GetClusterStateResponse {
	if c.raft == nil {
		return c.localStateFrom(nil)
	}
	return c.localStateFrom(c.raft.State())
}

func (c *cluster) localStateFrom(st *consensus.State) *gamesav1.GetClusterStateResponse {
	resp := &gamesav1.GetClusterStateResponse{SelfId: c.id, ServedBy: c.id}
	now := time.Now()
	for _, m := range c.mesh.View().Members {
		resp.Members = append(resp.Members, memberProto(m, now))
	}
	if c.raft == nil {
		return resp
	}
	stats := c.raft.Stats()
	resp.LeaderId = c.raft.Leader().ID
	resp.Term, resp.CommitIndex, resp.AppliedIndex = stats.Term, stats.CommitIndex, stats.AppliedIndex
	if st != nil {
		resp.Settings = st.Settings()
		resp.Allocation = st.Allocation()
		if rs := st.Rounds(1); len(rs) == 1 {
			resp.FederatedRound = rs[0]
		}
		resp.FederatedModels = st.LatestModels()
	}
	if cfg, err := c.raft.Configuration(); err == nil {
		for _, srv := range cfg {
			resp.RaftServers = append(resp.RaftServers, &gamesav1.RaftServer{
				Id: srv.ID, Address: srv.Addr, Voter: srv.Voter, Leader: srv.ID == resp.LeaderId,
			})
		}
	}
	return resp
}

func memberProto(m gossip.Member, now time.Time) *gamesav1.Member {
	pm := &gamesav1.Member{
		Info:          &gamesav1.NodeInfo{NodeId: m.Meta.ID, Version: m.Meta.Version, GrpcAddress: m.Meta.GRPCAddr, Role: m.Meta.Role.String()},
		State:         memberState(m.State),
		Role:          gamesav1.NodeRole(m.Meta.Role),
		GossipAddress: m.Addr,
		RaftAddress:   m.Meta.RaftAddr,
		Digest:        m.Digest,
		Stale:         m.Stale,
	}
	if d := m.Digest; d != nil {
		pm.LastSeen = timestamppb.New(m.DigestReceived)
		pm.DigestAge = durationpb.New(now.Sub(m.DigestReceived))
		pm.Summary = &gamesav1.MemberSummary{
			CpuUtilizationPercent: d.GetCpuUtilizationPercent(),
			MemoryUsedPercent:     d.GetMemoryUsedPercent(),
			MaxTemperatureCelsius: d.GetMaxTemperatureCelsius(),
			PowerWatts:            d.GetPowerWatts(),
		}
	}
	return pm
}

func memberState(s gossip.MemberState) gamesav1.MemberState {
	switch s {
	case gossip.StateAlive:
		return gamesav1.MemberState_MEMBER_STATE_ALIVE
	case gossip.StateFailed:
		return gamesav1.MemberState_MEMBER_STATE_DEAD
	case gossip.StateLeft:
		return gamesav1.MemberState_MEMBER_STATE_LEFT
	}
	return gamesav1.MemberState_MEMBER_STATE_UNSPECIFIED
}

// Summarize reduces a sample to the few numbers a cluster view shows.
func Summarize(s *gamesav1.Sample) *gamesav1.MemberSummary {
	sum := &gamesav1.MemberSummary{
		CpuUtilizationPercent: s.GetCpu().GetUtilizationPercent(),
		MemoryUsedPercent:     s.GetMemory().GetUsedPercent(),
		PowerWatts:            s.GetPower().GetTotalWatts(),
	}
	for _, t := range s.GetThermal() {
		sum.MaxTemperatureCelsius = max(sum.MaxTemperatureCelsius, t.GetTemperatureCelsius())
	}
	for _, g := range s.GetGpus() {
		sum.MaxTemperatureCelsius = max(sum.MaxTemperatureCelsius, g.GetTemperatureCelsius())
	}
	return sum
}
