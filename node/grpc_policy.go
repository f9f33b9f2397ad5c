package node

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// Range limits of ExplainDecision.
const (
	defaultExplainLimit = 100
	maxExplainLimit     = 1000
)

// policyService implements gamesa.v1.PolicyService over the node's
// decision history.
type policyService struct {
	gamesav1.UnimplementedPolicyServiceServer
	n *Node
}

var _ gamesav1.PolicyServiceServer = (*policyService)(nil)

// Register adds the service to gs.
func (s *policyService) Register(gs *grpc.Server) { gamesav1.RegisterPolicyServiceServer(gs, s) }

// ExplainDecision returns the latest decision and its outcome, or a range
// of the recorded ones.
func (s *policyService) ExplainDecision(ctx context.Context, req *gamesav1.ExplainDecisionRequest) (*gamesav1.ExplainDecisionResponse, error) {
	a := s.n.act
	resp := &gamesav1.ExplainDecisionResponse{Mode: a.modeName()}
	if req.GetFrom() == nil && req.GetTo() == nil {
		d, results := a.latestDecision()
		if d == nil {
			return nil, status.Error(codes.Unavailable, errNoDecision.Error())
		}
		resp.Decisions = []*gamesav1.Decision{onTarget(d, req.GetTarget())}
		for _, r := range results {
			if req.GetTarget() == "" || r.GetAction().GetTarget() == req.GetTarget() {
				resp.Results = append(resp.Results, r)
			}
		}
		return resp, nil
	}
	from, to := time.Unix(0, 0), time.Now()
	if req.GetFrom() != nil {
		if err := req.GetFrom().CheckValid(); err != nil {
			return nil, invalidArg("from", "%v", err)
		}
		from = req.GetFrom().AsTime()
	}
	if req.GetTo() != nil {
		if err := req.GetTo().CheckValid(); err != nil {
			return nil, invalidArg("to", "%v", err)
		}
		to = req.GetTo().AsTime()
	}
	if to.Before(from) {
		return nil, invalidArg("to", "%s is before from %s", to.Format(time.RFC3339), from.Format(time.RFC3339))
	}
	limit := int(req.GetLimit())
	if limit == 0 {
		limit = defaultExplainLimit
	}
	limit = min(limit, maxExplainLimit)
	ds, more, err := a.decisions.between(from, to, limit)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "decision history: %v", err)
	}
	for _, d := range ds {
		resp.Decisions = append(resp.Decisions, onTarget(d, req.GetTarget()))
	}
	resp.Truncated = more
	return resp, ctx.Err()
}

// onTarget returns d with only the actions, conflicts, held changes and
// releases on target; d itself when target is empty.
func onTarget(d *gamesav1.Decision, target string) *gamesav1.Decision {
	if target == "" {
		return d
	}
	c := proto.CloneOf(d)
	c.Actions = keep(c.Actions, func(x *gamesav1.Action) bool { return x.GetTarget() == target })
	c.Overruled = keep(c.Overruled, func(x *gamesav1.OverruledAction) bool { return x.GetTarget() == target })
	c.Held = keep(c.Held, func(x *gamesav1.HeldChange) bool { return x.GetTarget() == target })
	c.Released = keep(c.Released, func(x *gamesav1.ReleasedSetting) bool { return x.GetTarget() == target })
	return c
}

func keep[T any](xs []T, ok func(T) bool) []T {
	out := xs[:0]
	for _, x := range xs {
		if ok(x) {
			out = append(out, x)
		}
	}
	return out
}
