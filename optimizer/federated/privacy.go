package federated

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Privacy is differential privacy on the node side, the Gaussian
// mechanism of DP-FedAvg (McMahan et al. 2018): before upload the node
// clips its delta to L2 norm Clip and adds N(0, (Sigma·Clip)²) to every
// coordinate, so the leader (and anyone who sees the update) learns about
// the node's data only through a noisy, bounded step.
type Privacy struct {
	// Clip is the L2 norm C a delta is clipped to.
	Clip float64
	// Sigma is the noise multiplier: the noise's standard deviation is
	// Sigma·Clip.
	Sigma float64
}

// Validate reports settings that give no privacy or cannot work.
func (p Privacy) Validate() error {
	if !(p.Clip > 0) || math.IsInf(p.Clip, 0) || !(p.Sigma > 0) || math.IsInf(p.Sigma, 0) {
		return fmt.Errorf("%w: privacy Clip %v and Sigma %v must be positive and finite", ErrInvalidConfig, p.Clip, p.Sigma)
	}
	return nil
}

// Privatize clips u's delta from g to Clip and adds the noise, in place on
// u's tensors (which must match g's shapes; call it on the node's own
// fresh update). It returns the delta's norm before clipping. rng is the
// node's source: seeded for a replayable test, from crypto-grade entropy
// in production (a predictable seed lets anyone subtract the noise).
func (p Privacy) Privatize(g *Global, u *Update, rng *rand.Rand) (float64, error) {
	if err := p.Validate(); err != nil {
		return 0, err
	}
	if len(u.Tensors) != len(g.Tensors) {
		return 0, fmt.Errorf("%w: %d tensors, the model has %d", ErrShape, len(u.Tensors), len(g.Tensors))
	}
	var sq float64
	for i, t := range u.Tensors {
		w := g.Tensors[i].GetData()
		if len(t.GetData()) != len(w) {
			return 0, fmt.Errorf("%w: tensor %s has %d values, want %d", ErrShape, t.GetName(), len(t.GetData()), len(w))
		}
		for j, x := range t.GetData() {
			d := float64(x) - float64(w[j])
			sq += d * d
		}
	}
	norm := math.Sqrt(sq)
	if math.IsNaN(norm) || math.IsInf(norm, 0) {
		return 0, fmt.Errorf("%w: the update's distance from the model is %v", ErrNonFinite, norm)
	}
	s := 1.0
	if norm > p.Clip {
		s = p.Clip / norm
	}
	sd := p.Sigma * p.Clip
	for i, t := range u.Tensors {
		w := g.Tensors[i].GetData()
		for j, x := range t.Data {
			d := (float64(x)-float64(w[j]))*s + sd*rng.NormFloat64()
			t.Data[j] = float32(float64(w[j]) + d)
		}
	}
	return norm, nil
}

// Epsilon is the privacy budget ε spent after rounds releases of a node's
// update with noise multiplier sigma, at failure probability delta, by the
// Rényi-DP accountant (Mironov 2017): one Gaussian release with L2
// sensitivity C and noise σC is (α, α/(2σ²))-RDP at every order α > 1;
// RDP composes by adding over the rounds; and (α, ρ)-RDP implies
// (ρ + ln(1/δ)/(α − 1), δ)-DP. Minimising over α gives
//
//	ε = T/(2σ²) + √(2·T·ln(1/δ)) / σ   at   α = 1 + σ·√(2·ln(1/δ)/T).
//
// Assumptions: the unit of privacy is the node (its whole data set, as in
// user-level DP-FedAvg), and its neighbouring data set is the node not
// taking part, so a clipped delta's sensitivity is C; against replacing
// the node's data by any other the sensitivity is 2C (pass sigma/2).
// Every round counts, with no amplification by sampling nodes, so the
// bound is conservative when a round uses only some nodes. It returns the
// order α too, for the record.
func Epsilon(sigma float64, rounds int, delta float64) (eps, order float64, err error) {
	if !(sigma > 0) || math.IsInf(sigma, 0) || rounds < 1 || !(delta > 0 && delta < 1) {
		return 0, 0, fmt.Errorf("%w: sigma %v must be positive, rounds %d at least 1 and delta %v in (0, 1)", ErrInvalidConfig, sigma, rounds, delta)
	}
	t, l := float64(rounds), math.Log(1/delta)
	return t/(2*sigma*sigma) + math.Sqrt(2*t*l)/sigma, 1 + sigma*math.Sqrt(2*l/t), nil
}
