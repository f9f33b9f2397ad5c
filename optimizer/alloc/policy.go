package alloc

import (
	"fmt"
	"strings"
	"time"
)

// Strategy is how Place weighs how full a node is.
type Strategy int

const (
	// BinPack prefers the fullest node a job fits on, leaving whole nodes
	// free for big jobs (and idle, to save power).
	BinPack Strategy = iota
	// Spread prefers the emptiest node, leaving every node headroom.
	Spread
)

// String names the strategy.
func (s Strategy) String() string {
	switch s {
	case BinPack:
		return "binpack"
	case Spread:
		return "spread"
	}
	return fmt.Sprintf("Strategy(%d)", int(s))
}

// ScoreWeights weigh the parts of a node's score for a job. Each part is
// 0..1, higher is better; the score is their weighted mean.
type ScoreWeights struct {
	// Fit rewards fullness (BinPack) or emptiness (Spread) after the job
	// is counted: the mean over cores, memory and (on nodes that have
	// them) GPUs of the reserved fraction.
	Fit float64
	// Thermal rewards thermal headroom, full marks at
	// Policy.ThermalScaleC; a node without sensors scores 0.5.
	Thermal float64
	// Power rewards power headroom: the fraction of the node's cap (or,
	// with no cap, its ceiling) that it does not draw; 0.5 if it has
	// neither.
	Power float64
	// Load rewards idle CPUs: 1 minus the measured load plus the cores
	// placed there this round.
	Load float64
}

// Policy tunes Place. Start from DefaultPolicy.
type Policy struct {
	// Strategy is BinPack or Spread.
	Strategy Strategy
	// Weights weigh the parts of the score.
	Weights ScoreWeights
	// Candidates bounds how many feasible nodes are scored per job, as
	// Nomad does at scale: the nodes are walked in a random order (from
	// the rng passed to Place) and the best of the first Candidates
	// feasible ones wins. 0 scores every node, which needs no rng.
	Candidates int

	// MinDwell is how long a job stays on a node before an improvement
	// may move it. It does not hold a job on a failed node, nor on one
	// over the thermal limit.
	MinDwell time.Duration
	// ImproveThreshold is the relative score gain a move for improvement
	// must bring: 0.25 moves a job only to a node scoring 25 % better
	// than its own. Telemetry noise moves scores by a few percent; the
	// threshold is what keeps it from moving jobs.
	ImproveThreshold float64
	// MaxMovesPerRound bounds the moves for heat and improvement in one
	// call. Jobs on failed nodes move at once and do not count.
	MaxMovesPerRound int

	// ThermalLimitC is the least thermal headroom (°C) a node needs to
	// take new jobs; a node below it is hot and sheds one job a round.
	ThermalLimitC float64
	// ThermalHysteresisC is the extra headroom a node needs to receive a
	// moved job, so jobs do not move onto a node about to turn hot.
	ThermalHysteresisC float64
	// ThermalScaleC is the headroom that earns the full thermal score.
	ThermalScaleC float64
}

// DefaultPolicy returns the policy the leader runs with: spread (a render
// farm or edge group wants headroom on every node more than free nodes),
// fit weighed with thermal headroom equally and power headroom and load at
// half weight each, up to 16 candidates per job, a job stays 5 minutes
// before an improvement may move it and only for a 25 % better score, at
// most 8 moves a round, and a node within 5 °C of throttling is hot.
func DefaultPolicy() Policy {
	return Policy{
		Strategy:           Spread,
		Weights:            ScoreWeights{Fit: 1, Thermal: 1, Power: 0.5, Load: 0.5},
		Candidates:         16,
		MinDwell:           5 * time.Minute,
		ImproveThreshold:   0.25,
		MaxMovesPerRound:   8,
		ThermalLimitC:      5,
		ThermalHysteresisC: 5,
		ThermalScaleC:      30,
	}
}

// Validate reports every field out of range.
func (p Policy) Validate() error {
	var errs []string
	bad := func(field string, v any, why string) {
		errs = append(errs, fmt.Sprintf("%s = %v: %s", field, v, why))
	}
	if p.Strategy != BinPack && p.Strategy != Spread {
		bad("Strategy", p.Strategy, "must be BinPack or Spread")
	}
	w := p.Weights
	for _, f := range []struct {
		name string
		v    float64
	}{{"Weights.Fit", w.Fit}, {"Weights.Thermal", w.Thermal}, {"Weights.Power", w.Power}, {"Weights.Load", w.Load}} {
		if !(f.v >= 0 && f.v <= 1e6) {
			bad(f.name, f.v, "must be within 0..1e6")
		}
	}
	if !(w.Fit+w.Thermal+w.Power+w.Load > 0) {
		bad("Weights", w, "at least one must be above 0")
	}
	if p.Candidates < 0 {
		bad("Candidates", p.Candidates, "must not be negative (0 scores every node)")
	}
	if p.MinDwell < 0 {
		bad("MinDwell", p.MinDwell, "must not be negative")
	}
	if !(p.ImproveThreshold >= 0 && p.ImproveThreshold <= 100) {
		bad("ImproveThreshold", p.ImproveThreshold, "must be within 0..100")
	}
	if p.MaxMovesPerRound < 0 {
		bad("MaxMovesPerRound", p.MaxMovesPerRound, "must not be negative")
	}
	if !(p.ThermalLimitC >= -50 && p.ThermalLimitC <= 100) {
		bad("ThermalLimitC", p.ThermalLimitC, "must be within -50..100")
	}
	if !(p.ThermalHysteresisC >= 0 && p.ThermalHysteresisC <= 100) {
		bad("ThermalHysteresisC", p.ThermalHysteresisC, "must be within 0..100")
	}
	if !(p.ThermalScaleC > 0 && p.ThermalScaleC <= 200) {
		bad("ThermalScaleC", p.ThermalScaleC, "must be within (0, 200]")
	}
	if len(errs) > 0 {
		return fmt.Errorf("alloc: policy: %s: %w", strings.Join(errs, "; "), ErrInvalidInput)
	}
	return nil
}
