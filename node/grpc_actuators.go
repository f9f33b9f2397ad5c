package node

import (
	"context"
	"fmt"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/krystalstack/gamesa/optimizer/power"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// actuatorService implements gamesa.v1.ActuatorService over the node's
// actuation.
type actuatorService struct {
	gamesav1.UnimplementedActuatorServiceServer
	n *Node
}

var _ gamesav1.ActuatorServiceServer = (*actuatorService)(nil)

// Register adds the service to gs.
func (s *actuatorService) Register(gs *grpc.Server) { gamesav1.RegisterActuatorServiceServer(gs, s) }

// ListKnobs lists the machine's knobs and the other tuners running.
func (s *actuatorService) ListKnobs(ctx context.Context, _ *gamesav1.ListKnobsRequest) (*gamesav1.ListKnobsResponse, error) {
	a := s.n.act
	a.mu.Lock()
	hands, blocked, set, mode := a.hands, a.blocked, a.set, "observe"
	if a.enforce {
		mode = "enforce"
	}
	a.mu.Unlock()
	resp := &gamesav1.ListKnobsResponse{Mode: mode, Blocked: blocked}
	if set != nil {
		resp.JournalPending = set.Pending()
		for _, t := range set.Tuners() {
			resp.Tuners = append(resp.Tuners, &gamesav1.Tuner{Name: t.Name, Pid: int32(t.PID), Knobs: t.Knobs})
		}
	} else if a.acfg.JournalPath != "" {
		resp.JournalPending = journalPendingOnDisk(a.acfg.JournalPath)
	}
	if hands == nil {
		return resp, nil
	}
	knobs, err := hands.Inventory(ctx)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "knob inventory: %v", err)
	}
	resp.Knobs = knobs
	return resp, nil
}

// GetPlan returns the latest plan and what became of it.
func (s *actuatorService) GetPlan(context.Context, *gamesav1.GetPlanRequest) (*gamesav1.GetPlanResponse, error) {
	a := s.n.act
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.last == nil {
		return nil, status.Error(codes.Unavailable, "no plan made yet (the first comes within a second of start)")
	}
	return a.last, nil
}

// Revert undoes GAMESA's changes, or settles a damaged journal.
func (s *actuatorService) Revert(ctx context.Context, req *gamesav1.RevertRequest) (*gamesav1.RevertResponse, error) {
	if req.GetFromJournal() && req.GetDiscardJournal() {
		return nil, invalidArg("from_journal", "choose from_journal or discard_journal, not both")
	}
	res, err := s.n.act.revert(ctx, req.GetFromJournal(), req.GetDiscardJournal())
	if err != nil {
		// Say which knobs failed: the error alone counts them.
		var failed []string
		for _, r := range res {
			switch r.GetStatus() {
			case "applied", "unchanged", "skipped":
			default:
				failed = append(failed, fmt.Sprintf("%s %s: %s (%s)", r.GetAction().GetKnob(), r.GetAction().GetTarget(), r.GetStatus(), r.GetNote()))
			}
		}
		return nil, status.Errorf(codes.FailedPrecondition, "revert: %v; %s", err, strings.Join(failed, "; "))
	}
	return &gamesav1.RevertResponse{Results: res}, nil
}

// SetPowerMode sets the user's power mode, or AUTO to follow the power
// source (and the rules) again. The next step (within a second) plans for
// it.
func (s *actuatorService) SetPowerMode(_ context.Context, req *gamesav1.SetPowerModeRequest) (*gamesav1.SetPowerModeResponse, error) {
	a := s.n.act
	a.mu.Lock()
	defer a.mu.Unlock()
	prev := "BALANCED"
	if a.decision != nil {
		prev = a.decision.Mode.String()
	}
	if strings.EqualFold(strings.TrimSpace(req.GetMode()), "auto") {
		a.pipe.ClearModeOverride()
		return &gamesav1.SetPowerModeResponse{Mode: "AUTO", Previous: prev}, nil
	}
	m, err := power.ParseMode(req.GetMode())
	if err != nil {
		return nil, invalidArg("mode", "%v, or auto", err)
	}
	if err := a.pipe.SetModeOverride(m); err != nil {
		return nil, invalidArg("mode", "%v", err)
	}
	return &gamesav1.SetPowerModeResponse{Mode: m.String(), Previous: prev}, nil
}

// GetPowerMode reports the mode in force and why.
func (s *actuatorService) GetPowerMode(context.Context, *gamesav1.GetPowerModeRequest) (*gamesav1.GetPowerModeResponse, error) {
	a := s.n.act
	a.mu.Lock()
	defer a.mu.Unlock()
	_, overridden := a.pipe.ModeOverride()
	if a.decision == nil {
		if m, ok := a.pipe.ModeOverride(); ok {
			return &gamesav1.GetPowerModeResponse{Mode: m.String(), Reason: "chosen by the user"}, nil
		}
		return nil, status.Error(codes.Unavailable, errNoDecision.Error())
	}
	return &gamesav1.GetPowerModeResponse{Mode: a.decision.Mode.String(), Automatic: !overridden, Reason: a.decision.ModeReason}, nil
}
