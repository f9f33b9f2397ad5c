package federated

import (
	"fmt"
	"math"
)

// Server is the leader's optimizer across rounds (FedOpt, Reddi et al.
// 2021): it takes a round's aggregate delta (Result.Delta, what the rule
// returned) as a pseudo-gradient and turns it into the step applied to the
// global model. Plain FedAvg applies the aggregate as it is; a server
// learning rate scales it, momentum (FedAvgM, Hsu et al. 2019) carries
// part of the previous rounds' steps into this one, which keeps the
// direction the nodes agree on across rounds while their disagreements
// cancel, and Adam (FedAdam) scales each weight's step by the running
// size of its deltas.
//
// The zero Server (LR 0 is taken as 1) is plain FedAvg. A Server is the
// leader's state across rounds: it is not saved with the model, so a new
// leader starts from zero momentum, and its first step is LR times the
// aggregate (FedAdam's is smaller while its averages warm up). Not safe
// for concurrent use.
type Server struct {
	// LR scales every step; 0 means 1.
	LR float64
	// Momentum is β of FedAvgM (v ← β·v + Δ, step LR·v) or Adam's β₁;
	// in [0, 1).
	Momentum float64
	// Adam turns on FedAdam: m ← β₁·m + (1−β₁)·Δ, u ← β₂·u + (1−β₂)·Δ²,
	// step LR·m/(√u + Tau), without bias correction (as in Reddi et al.).
	Adam bool
	// Beta2 is Adam's β₂ (0 means 0.99) and Tau its adaptivity floor (0
	// means 1e-3), in the units of the weights.
	Beta2, Tau float64

	m, u []float64
}

// Validate reports settings that cannot work.
func (s *Server) Validate() error {
	switch {
	case !(s.LR >= 0) || math.IsInf(s.LR, 0):
		return fmt.Errorf("%w: server LR %v must be finite and not negative", ErrInvalidConfig, s.LR)
	case !(s.Momentum >= 0 && s.Momentum < 1):
		return fmt.Errorf("%w: server momentum %v must be in [0, 1)", ErrInvalidConfig, s.Momentum)
	case !(s.Beta2 >= 0 && s.Beta2 < 1):
		return fmt.Errorf("%w: server Adam β₂ %v must be in [0, 1)", ErrInvalidConfig, s.Beta2)
	case !(s.Tau >= 0) || math.IsInf(s.Tau, 0):
		return fmt.Errorf("%w: server Adam τ %v must be finite and not negative", ErrInvalidConfig, s.Tau)
	}
	return nil
}

// Reset forgets the state of earlier rounds (a new model, or a round
// whose result was thrown away).
func (s *Server) Reset() { s.m, s.u = nil, nil }

// Step turns one round's aggregate delta into the step to apply and
// advances the state. agg is not modified. A delta of another length
// than the earlier rounds' restarts the state (the model changed).
func (s *Server) Step(agg []float32) ([]float32, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if len(s.m) != len(agg) {
		s.m = make([]float64, len(agg))
		if s.Adam {
			s.u = make([]float64, len(agg))
		}
	}
	lr := s.LR
	if lr == 0 {
		lr = 1
	}
	out := make([]float32, len(agg))
	if !s.Adam {
		for i, d := range agg {
			s.m[i] = s.Momentum*s.m[i] + float64(d)
			out[i] = float32(lr * s.m[i])
		}
		return out, nil
	}
	b1, b2, tau := s.Momentum, s.Beta2, s.Tau
	if b2 == 0 {
		b2 = 0.99
	}
	if tau == 0 {
		tau = 1e-3
	}
	if len(s.u) != len(agg) {
		s.u = make([]float64, len(agg))
	}
	for i, d := range agg {
		x := float64(d)
		s.m[i] = b1*s.m[i] + (1-b1)*x
		s.u[i] = b2*s.u[i] + (1-b2)*x*x
		out[i] = float32(lr * s.m[i] / (math.Sqrt(s.u[i]) + tau))
	}
	return out, nil
}

// Apply replaces res's tensors (g plus the rule's aggregate) with g plus
// the server's step for res.Delta, and stores that step in res.Delta.
// On an error res is unchanged.
func (s *Server) Apply(g *Global, res *Result) error {
	if len(res.Delta) != Params(g.Tensors) {
		return fmt.Errorf("%w: a delta of %d values for a model of %d", ErrShape, len(res.Delta), Params(g.Tensors))
	}
	step, err := s.Step(res.Delta)
	if err != nil {
		return err
	}
	res.Tensors = Apply(g.Tensors, step)
	res.Delta = step
	return nil
}
