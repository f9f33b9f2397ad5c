package node

import (
	"context"

	"google.golang.org/grpc"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// clusterService implements gamesa.v1.ClusterService. Until the cluster
// issue brings gossip and Raft, the cluster is this node alone, and it leads.
type clusterService struct {
	gamesav1.UnimplementedClusterServiceServer
	n *Node
}

var _ gamesav1.ClusterServiceServer = (*clusterService)(nil)

// Register adds the service to gs.
func (s *clusterService) Register(gs *grpc.Server) { gamesav1.RegisterClusterServiceServer(gs, s) }

// GetClusterState lists the members: for now, this node.
func (s *clusterService) GetClusterState(context.Context, *gamesav1.GetClusterStateRequest) (*gamesav1.GetClusterStateResponse, error) {
	self := &gamesav1.Member{Info: s.n.info, State: gamesav1.MemberState_MEMBER_STATE_ALIVE}
	if latest := s.n.latest.Load(); latest != nil {
		self.LastSeen = latest.Time
		self.Summary = Summarize(latest)
	}
	return &gamesav1.GetClusterStateResponse{
		SelfId:   s.n.cfg.NodeID,
		LeaderId: s.n.cfg.NodeID,
		Members:  []*gamesav1.Member{self},
	}, nil
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
