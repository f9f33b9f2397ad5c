package policy

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/krystalstack/gamesa/optimizer/neural"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// Kind names the model in its file.
const Kind = "performance_policy"

// Network shape: the policy MLP(64,32,16) and the value baseline
// MLP(64,32,1). Both are saved, so online training resumes with a trained
// baseline.
const (
	hidden      = 32
	valueHidden = 32
)

// arch is what a model file's Arch must be.
var archV1 = []int32{NumFeatures, hidden, NumActions, valueHidden, 1, Window}

// Config tunes a Model. Start from DefaultConfig.
type Config struct {
	// MinCapWatts and MaxCapWatts bound the power caps the 16 actions span
	// (MaxCapWatts normally the TDP). They also scale the power features.
	MinCapWatts, MaxCapWatts float64
	// RefMHz scales the frequency features (about the top turbo clock).
	RefMHz float64
	// TjMaxC is the junction limit assumed when sensors report none.
	TjMaxC float64
	// TempLimitC is the reward's thermal limit; ThermalPenalty its cost per
	// °C above it, in reward units (core-GHz per watt).
	TempLimitC, ThermalPenalty float64
	// PlatformWatts is the rest of the machine's power in the reward.
	PlatformWatts float64

	// Gamma discounts future rewards in the returns.
	Gamma float64
	// LearningRate is Adam's, for the policy and the baseline.
	LearningRate float64
	// EntropyBonus keeps the policy exploring: its weight on the entropy of
	// the action distribution.
	EntropyBonus float64
	// ReplaySize bounds the transitions Observe keeps for Train.
	ReplaySize int
	// Segment is how many consecutive transitions one Train step uses.
	Segment int
}

// DefaultConfig fits the simulated laptop (a 45 W i7-7700HQ): caps 8..45 W,
// a thermal limit of 85 °C (10 °C below its throttle point).
func DefaultConfig() Config {
	return Config{
		MinCapWatts: 8, MaxCapWatts: 45,
		RefMHz:     4000,
		TjMaxC:     100,
		TempLimitC: 85, ThermalPenalty: 0.05,
		PlatformWatts: 10,
		Gamma:         0.5,
		LearningRate:  3e-3,
		EntropyBonus:  0.01,
		ReplaySize:    4096,
		Segment:       32,
	}
}

// Validate reports every field out of range.
func (c Config) Validate() error {
	var errs []error
	pos := func(name string, v float64) {
		if !(v > 0) || math.IsInf(v, 0) {
			errs = append(errs, fmt.Errorf("policy: %s = %v: must be a positive number", name, v))
		}
	}
	pos("MinCapWatts", c.MinCapWatts)
	pos("MaxCapWatts", c.MaxCapWatts)
	if !(c.MaxCapWatts > c.MinCapWatts) {
		errs = append(errs, fmt.Errorf("policy: MaxCapWatts = %v: must be above MinCapWatts (%v)", c.MaxCapWatts, c.MinCapWatts))
	}
	pos("RefMHz", c.RefMHz)
	pos("TjMaxC", c.TjMaxC)
	pos("TempLimitC", c.TempLimitC)
	pos("PlatformWatts", c.PlatformWatts)
	pos("LearningRate", c.LearningRate)
	if !(c.ThermalPenalty >= 0) || math.IsInf(c.ThermalPenalty, 0) {
		errs = append(errs, fmt.Errorf("policy: ThermalPenalty = %v: must be a finite number ≥ 0", c.ThermalPenalty))
	}
	if !(c.EntropyBonus >= 0) || math.IsInf(c.EntropyBonus, 0) {
		errs = append(errs, fmt.Errorf("policy: EntropyBonus = %v: must be a finite number ≥ 0", c.EntropyBonus))
	}
	if !(c.Gamma >= 0 && c.Gamma < 1) {
		errs = append(errs, fmt.Errorf("policy: Gamma = %v: must be within [0, 1)", c.Gamma))
	}
	if c.Segment < 2 || c.ReplaySize < c.Segment {
		errs = append(errs, fmt.Errorf("policy: Segment = %d, ReplaySize = %d: need 2 ≤ Segment ≤ ReplaySize", c.Segment, c.ReplaySize))
	}
	return errors.Join(errs...)
}

// transition is one decision: the features it was made on, the action in
// force afterwards and the reward of the interval that followed.
type transition struct {
	x      [NumFeatures]float32
	action int
	reward float32
}

// Model is the PerformancePolicy. It is not safe for concurrent use.
type Model struct {
	cfg    Config
	policy *neural.MLP
	value  *neural.MLP
	popt   *neural.Adam
	vopt   *neural.Adam
	init   *neural.Init // the seeded source for sampling and Train's choices

	win   []state // newest first
	feat  [NumFeatures]float32
	ready bool // feat holds the features of win
	// prevFeat are the features a transition starts from: those before
	// the latest sample.
	prevFeat  [NumFeatures]float32
	prevReady bool
	replay    []transition // ring of cfg.ReplaySize
	next      int          // ring position of the next write
	samples   uint64

	probs, grad, vgrad []float32
}

// New returns an untrained policy with weights from seed.
func New(cfg Config, seed uint64) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	in := neural.NewInit(seed)
	p, err := neural.NewMLP("policy", []int{NumFeatures, hidden, NumActions}, neural.ReLU, neural.Linear, in)
	if err != nil {
		return nil, err
	}
	v, err := neural.NewMLP("value", []int{NumFeatures, valueHidden, 1}, neural.ReLU, neural.Linear, in)
	if err != nil {
		return nil, err
	}
	// Start near uniform, so early episodes explore every cap.
	for i := range p.Layers[1].W.W {
		p.Layers[1].W.W[i] *= 0.1
	}
	return &Model{
		cfg: cfg, policy: p, value: v, init: in,
		popt:  neural.NewAdam(float32(cfg.LearningRate)),
		vopt:  neural.NewAdam(float32(cfg.LearningRate)),
		win:   make([]state, 0, Window),
		probs: make([]float32, NumActions),
		grad:  make([]float32, NumActions),
		vgrad: make([]float32, 1),

		// The whole ring at once: grown by append, it copied itself (and
		// faulted in fresh pages) on a few ticks of its first hour, a
		// millisecond each.
		replay: make([]transition, 0, cfg.ReplaySize),
	}, nil
}

// Config returns the model's configuration.
func (m *Model) Config() Config { return m.cfg }

// Action returns what action i means (Config.Action).
func (m *Model) Action(i int) Action { return m.cfg.Action(i) }

// TrainingSamples is how many transitions the weights have been trained on.
func (m *Model) TrainingSamples() uint64 { return m.samples }

// Reset forgets the sample window (not the weights or the replay buffer):
// the next Observe starts a new trajectory.
func (m *Model) Reset() {
	m.win = m.win[:0]
	m.ready, m.prevReady = false, false
}

// Observe feeds one telemetry sample, in time order. A sample with a NaN
// or infinite field the features use is refused with an error wrapping
// neural.ErrNonFinite, and the model keeps its previous window. Each
// accepted sample after the first is also recorded for Train: the state
// before it, the cap in force during it (read from the sample's RAPL
// limit) and its reward.
func (m *Model) Observe(s *gamesav1.Sample) error {
	if s == nil {
		return fmt.Errorf("policy: nil sample")
	}
	st := extract(s, &m.cfg)
	if len(m.win) > 0 && st.t < m.win[0].t {
		return fmt.Errorf("policy: sample at %.3f s is before the previous one at %.3f s", st.t, m.win[0].t)
	}
	win := make([]state, 0, Window)
	win = append(win, st)
	win = append(win, m.win[:min(len(m.win), Window-1)]...)
	var feat [NumFeatures]float32
	features(feat[:], win, &m.cfg)
	if err := neural.CheckFinite("policy features", feat[:]); err != nil {
		return fmt.Errorf("policy: sample %d: %w", s.GetSeq(), err)
	}
	r := reward(&st, &m.cfg)
	if math.IsNaN(r) || math.IsInf(r, 0) {
		return fmt.Errorf("policy: sample %d: reward %v: %w", s.GetSeq(), r, neural.ErrNonFinite)
	}
	if m.ready {
		capW := st.capWatts
		if capW <= 0 {
			capW = m.cfg.MaxCapWatts
		}
		m.record(transition{x: m.feat, action: m.cfg.nearestAction(capW), reward: float32(r)})
	}
	m.win = append(m.win[:0], win...)
	m.prevFeat, m.prevReady = m.feat, m.ready
	m.feat, m.ready = feat, true
	return nil
}

func (m *Model) record(t transition) {
	if len(m.replay) < m.cfg.ReplaySize {
		m.replay = append(m.replay, t)
	} else {
		m.replay[m.next] = t
	}
	m.next = (m.next + 1) % m.cfg.ReplaySize
}

// Best returns the highest-scoring action for the latest window and the
// scores (logits) of all NumActions actions, a slice owned by the Model
// that the next call overwrites. ok is false before the first Observe.
// It allocates nothing.
func (m *Model) Best() (action int, scores []float32, ok bool) {
	if !m.ready {
		return 0, nil, false
	}
	scores = m.policy.Forward(m.feat[:])
	for i, v := range scores {
		if v > scores[action] {
			action = i
		}
	}
	return action, scores, true
}

// sample draws an action from softmax(scores) for exploration.
func (m *Model) sample() int {
	neural.Softmax(m.probs, m.policy.Forward(m.feat[:]))
	u := float32(m.init.Rand().Float64())
	for i, p := range m.probs {
		u -= p
		if u < 0 {
			return i
		}
	}
	return NumActions - 1
}

// update runs one REINFORCE step over a trajectory (consecutive
// transitions): returns G_t = Σ γ^k r_{t+k} within it, advantages
// G_t − V(x_t) normalised to zero mean and unit spread, then one Adam step
// on −Σ A_t log π(a_t|x_t) − β·H(π(·|x_t)) and one on the baseline's
// squared error. It returns the mean policy loss.
func (m *Model) update(traj []transition, returns, adv []float32) float32 {
	n := len(traj)
	g := float32(0)
	gamma := float32(m.cfg.Gamma)
	for t := n - 1; t >= 0; t-- {
		g = traj[t].reward + gamma*g
		returns[t] = g
	}
	var mean, sq float64
	for t := range traj {
		v := m.value.Forward(traj[t].x[:])[0]
		adv[t] = returns[t] - v
		mean += float64(adv[t])
	}
	mean /= float64(n)
	for t := range adv {
		d := float64(adv[t]) - mean
		sq += d * d
	}
	std := float32(math.Sqrt(sq/float64(n)) + 1e-6)

	neural.ZeroGrad(m.policy.Params())
	neural.ZeroGrad(m.value.Params())
	beta := float32(m.cfg.EntropyBonus)
	var loss float64
	inv := 1 / float32(n)
	for t := range traj {
		a := (adv[t] - float32(mean)) / std
		logits := m.policy.Forward(traj[t].x[:])
		loss += float64(a * neural.SoftmaxCrossEntropy(m.grad, m.probs, logits, traj[t].action))
		// d(−A log p_a)/dlogits = A (p − onehot); the entropy term
		// −β H adds β p_i (log p_i + H).
		var h float32
		for _, p := range m.probs {
			if p > 0 {
				h -= p * float32(math.Log(float64(p)))
			}
		}
		for i, p := range m.probs {
			m.grad[i] *= a
			if p > 0 {
				m.grad[i] += beta * p * (float32(math.Log(float64(p))) + h)
			}
			m.grad[i] *= inv
		}
		m.policy.Backward(m.grad)

		neural.MSE(m.vgrad, m.value.Forward(traj[t].x[:]), returns[t:t+1])
		m.vgrad[0] *= inv
		m.value.Backward(m.vgrad)
	}
	m.popt.Step(m.policy.Params())
	m.vopt.Step(m.value.Params())
	m.samples += uint64(n)
	return float32(loss / float64(n))
}

// Train runs at most steps REINFORCE updates, each on a random segment of
// Config.Segment consecutive transitions that Observe recorded, and
// returns the mean policy loss (0 with nothing to train on yet).
//
// This is policy gradient on logged data: it is unbiased only when the
// caps in force were the policy's own sampled choices; under another
// controller it drifts the policy towards the logged actions that did
// well, which is the intent on the node but not the textbook estimator.
// Segments may span a restart of the window (Reset): the node's history
// is one trajectory with gaps, and the discounting keeps a gap's effect
// short.
func (m *Model) Train(steps int) (float32, error) {
	seg := m.cfg.Segment
	if steps <= 0 || len(m.replay) < seg {
		return 0, nil
	}
	ordered := m.replay
	if len(m.replay) == m.cfg.ReplaySize && m.next != 0 {
		ordered = append(slices.Clone(m.replay[m.next:]), m.replay[:m.next]...)
	}
	returns, adv := make([]float32, seg), make([]float32, seg)
	var sum float64
	for range steps {
		start := m.init.Rand().IntN(len(ordered) - seg + 1)
		sum += float64(m.update(ordered[start:start+seg], returns, adv))
	}
	loss := float32(sum / float64(steps))
	if err := neural.CheckFinite("policy loss", []float32{loss}); err != nil {
		return loss, fmt.Errorf("policy: train: %w", err)
	}
	return loss, nil
}

// MarshalBinary encodes the model (policy and baseline weights) as a
// neural model file.
func (m *Model) MarshalBinary() ([]byte, error) {
	return neural.Encode(neural.Meta{
		Kind:            Kind,
		Arch:            archV1,
		TrainingSamples: m.samples,
		Metrics: map[string]float64{
			"min_cap_watts": m.cfg.MinCapWatts,
			"max_cap_watts": m.cfg.MaxCapWatts,
		},
	}, m.params())
}

func (m *Model) params() []*neural.Param {
	return append(m.policy.Params(), m.value.Params()...)
}

// Load decodes a model file written by MarshalBinary into a new Model
// with cfg. A corrupt, truncated, altered or mismatched file returns an
// error wrapping neural.ErrCorruptModel or neural.ErrWrongModel, and
// nothing else changes: the caller keeps its previous Model.
func Load(data []byte, cfg Config) (*Model, error) {
	dm, err := neural.Decode(data, Kind)
	if err != nil {
		return nil, fmt.Errorf("policy: load: %w", err)
	}
	if !slices.Equal(dm.Arch, archV1) {
		return nil, fmt.Errorf("policy: load: %w: arch %v, want %v", neural.ErrWrongModel, dm.Arch, archV1)
	}
	m, err := New(cfg, 0)
	if err != nil {
		return nil, fmt.Errorf("policy: load: %w", err)
	}
	if err := neural.Load(dm, m.params()); err != nil {
		return nil, fmt.Errorf("policy: load: %w", err)
	}
	m.samples = dm.TrainingSamples
	return m, nil
}
