package federated

import (
	"fmt"
	"math"

	"github.com/krystalstack/gamesa/optimizer/neural"
)

// Prox is FedProx's proximal term (Li et al. 2020) on the node side:
// local training minimises its loss plus μ/2·‖w − w_global‖², which keeps
// a node with unusual data (or many local steps) from drifting far from
// the global model. Its gradient is μ·(w − w_global).
type Prox struct {
	mu     float32
	params []*neural.Param
	global [][]float32
}

// NewProx snapshots params' current weights (the global model just
// loaded) as the anchor of the proximal term with strength mu ≥ 0.
func NewProx(mu float32, params []*neural.Param) (*Prox, error) {
	if !(mu >= 0) || math.IsInf(float64(mu), 0) {
		return nil, fmt.Errorf("%w: FedProx mu %v must be finite and not negative", ErrInvalidConfig, mu)
	}
	p := &Prox{mu: mu, params: params, global: make([][]float32, len(params))}
	for i, q := range params {
		p.global[i] = append([]float32(nil), q.W...)
	}
	return p, nil
}

// AddGrad adds μ·(w − w_global) to each parameter's gradient. A trainer
// calls it after Backward and before the optimizer's Step.
func (p *Prox) AddGrad() {
	for i, q := range p.params {
		g := p.global[i]
		for j, w := range q.W {
			q.G[j] += p.mu * (w - g[j])
		}
	}
}

// Penalty returns μ/2·‖w − w_global‖², the term's contribution to the loss.
func (p *Prox) Penalty() float64 {
	var s float64
	for i, q := range p.params {
		g := p.global[i]
		for j, w := range q.W {
			d := float64(w - g[j])
			s += d * d
		}
	}
	return float64(p.mu) / 2 * s
}
