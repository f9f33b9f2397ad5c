package anomaly

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/krystalstack/gamesa/optimizer/neural"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// Model is the anomaly detector: an autoencoder over a window of samples,
// its input normaliser, an adaptive threshold and a replay buffer of
// normal feature vectors. It is not safe for concurrent use: one goroutine
// (the node's local loop) owns it.
type Model struct {
	cfg  Config
	net  *neural.MLP
	opt  *neural.Adam
	rng  *rand.Rand
	norm *neural.Normalizer // nil until Train has fitted it

	// The window: rows[(head+i)%Window] is the i-th oldest of count rows.
	rows      [Window][Signals]float32
	head      int
	count     int
	havePrev  bool
	prevNanos int64
	prevTemp  float32
	lastNanos int64 // the newest sample's time, for TrainedAt

	x, z [Features]float32 // the newest raw and normalised feature vector

	sensors neural.ListMask // which of the samples' thermal sensors are the CPU's

	// The last Observe's verdict.
	score     float32
	scored    bool
	anomalous bool
	over      int // consecutive scores above the threshold

	// The threshold: exponentially weighted mean and variance of the
	// scores judged normal, thN of them so far.
	thMean, thVar float64
	thN           uint64

	// The replay buffer, ReplaySize rows of Features, a ring.
	replay     []float32
	replayLen  int
	replayNext int
	samples    uint64 // feature vectors ever added to the replay buffer
	steps      uint64 // optimiser steps taken
	trainedAt  int64  // lastNanos at the last step, 0 for never
	// frozen stops Observe adding to the replay buffer (Evaluate).
	frozen       bool
	zb, zn, grad []float32
}

// ErrNoTime is returned by Observe for a sample without a time: the
// window's rates and gaps are measured with it.
var ErrNoTime = errors.New("anomaly: sample has no time")

// New returns an untrained detector; seed drives its initial weights and
// the order Train draws the replay buffer in.
func New(cfg Config, seed uint64) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	init := neural.NewInit(seed)
	net, err := neural.NewMLP("ae", []int{Features, Bottleneck, Features}, neural.Tanh, neural.Linear, init)
	if err != nil {
		return nil, fmt.Errorf("anomaly: %w", err)
	}
	opt := neural.NewAdam(cfg.LearningRate)
	opt.ClipNorm = 5 // one odd batch must not undo the training
	return &Model{
		cfg:    cfg,
		net:    net,
		opt:    opt,
		rng:    init.Rand(),
		replay: make([]float32, cfg.ReplaySize*Features),
		zb:     make([]float32, Features),
		zn:     make([]float32, Features),
		grad:   make([]float32, Features),
	}, nil
}

// Observe feeds the next sample, in time order. It updates the window and,
// once the window is full and the normaliser fitted, the score, the
// verdict and (for a sample judged normal) the threshold and the replay
// buffer. A sample with a NaN or infinite input returns an error wrapping
// neural.ErrNonFinite and changes nothing; one without a time returns
// ErrNoTime. A gap longer than Config.MaxGap, or time going backwards,
// starts the window over.
func (m *Model) Observe(s *gamesav1.Sample) error {
	if s == nil {
		return fmt.Errorf("anomaly: nil sample")
	}
	if s.GetTime() == nil {
		return ErrNoTime
	}
	var row [Signals]float32
	if err := readSignals(&row, s, cpuSensors(&m.sensors, s.GetThermal())); err != nil {
		return err
	}
	now := s.GetTime().AsTime().UnixNano()
	m.lastNanos = now
	m.scored, m.anomalous = false, false
	dt := now - m.prevNanos
	consecutive := m.havePrev && dt > 0 && dt <= int64(m.cfg.MaxGap)
	prevTemp := m.prevTemp
	m.havePrev, m.prevNanos, m.prevTemp = true, now, row[sigTemp]
	if !consecutive {
		// The rate needs a previous sample: this one only starts the
		// window over.
		m.count, m.head, m.over = 0, 0, 0
		return nil
	}
	row[sigTempRate] = (row[sigTemp] - prevTemp) / float32(float64(dt)/1e9)
	m.push(row)
	if m.count < Window {
		return nil
	}
	for i := range Window {
		copy(m.x[i*Signals:(i+1)*Signals], m.rows[(m.head+i)%Window][:])
	}
	exceeded := false
	if m.norm != nil {
		m.score = m.reconstructionError(m.z[:], m.x[:])
		m.scored = true
		exceeded = m.thN >= uint64(m.cfg.WarmupScores) && float64(m.score) > m.threshold()
		if exceeded {
			m.over++
		} else {
			m.over = 0
			m.learnScore(m.score)
		}
		m.anomalous = m.over >= m.cfg.Persist
	}
	if !exceeded && !m.frozen {
		m.remember(m.x[:])
	}
	return nil
}

// push appends row to the window, dropping the oldest when it is full.
func (m *Model) push(row [Signals]float32) {
	if m.count < Window {
		m.rows[(m.head+m.count)%Window] = row
		m.count++
		return
	}
	m.rows[m.head] = row
	m.head = (m.head + 1) % Window
}

// reconstructionError normalises x into z, runs the autoencoder and
// returns the mean squared error in normalised units. An error too large
// for float32 is reported as the largest float32, so it stays comparable.
func (m *Model) reconstructionError(z, x []float32) float32 {
	m.norm.Apply(z, x)
	e := neural.MSE(nil, m.net.Forward(z), z)
	if math.IsNaN(float64(e)) || math.IsInf(float64(e), 0) {
		return math.MaxFloat32
	}
	return e
}

// learnScore folds a normal score into the threshold's statistics. The
// first 1/ThresholdAlpha scores are averaged evenly, so the threshold is
// usable after WarmupScores of them rather than after the EWMA's long
// memory has filled.
func (m *Model) learnScore(score float32) {
	a := max(m.cfg.ThresholdAlpha, 1/float64(m.thN+1))
	d := float64(score) - m.thMean
	m.thMean += a * d
	m.thVar = (1 - a) * (m.thVar + a*d*d)
	m.thN++
}

// threshold is the score above which a sample counts as exceeding: the
// mean of normal scores plus ThresholdK standard deviations.
func (m *Model) threshold() float64 {
	return m.thMean + m.cfg.ThresholdK*math.Sqrt(m.thVar)
}

// remember adds a raw feature vector to the replay ring.
func (m *Model) remember(x []float32) {
	copy(m.replay[m.replayNext*Features:(m.replayNext+1)*Features], x)
	m.replayNext = (m.replayNext + 1) % m.cfg.ReplaySize
	m.replayLen = min(m.replayLen+1, m.cfg.ReplaySize)
	m.samples++
}

// Score returns the last Observe's reconstruction error, whether it makes
// the sample anomalous, and ok = false when there is no score (the window
// is not full yet, or the model has not started training). anomalous
// stays false until the threshold has learned from Config.WarmupScores
// normal scores, and needs Config.Persist consecutive scores above it.
func (m *Model) Score() (score float32, anomalous bool, ok bool) {
	if !m.scored {
		return 0, false, false
	}
	return m.score, m.anomalous, true
}

// Threshold returns the current adaptive threshold on the score and
// whether it has learned from enough scores to be in force.
func (m *Model) Threshold() (float32, bool) {
	return float32(min(m.threshold(), math.MaxFloat32)), m.thN >= uint64(m.cfg.WarmupScores)
}

// TrainingSamples returns how many feature vectors the model has taken
// into its replay buffer to learn from, over its whole life.
func (m *Model) TrainingSamples() uint64 { return m.samples }

// Train runs at most steps optimiser steps on batches drawn from the
// replay buffer and returns their mean loss. While the buffer holds fewer
// than Config.MinFitSamples vectors (also after Load) it does nothing and
// returns 0; the first call after that fits the input normaliser, which stays fixed from then
// on (the weights are only meaningful for one normalisation).
func (m *Model) Train(steps int) (float32, error) {
	// A loaded model has its normaliser but an empty replay buffer: it
	// waits for as much fresh data as a new one, rather than drawing every
	// batch from the first few vectors after a restart.
	if steps <= 0 || m.replayLen < m.cfg.MinFitSamples {
		return 0, nil
	}
	if m.norm == nil {
		m.norm = m.fitNormalizer()
	}
	var sum float64
	bs := m.cfg.BatchSize
	inv := 1 / float32(bs)
	ps := m.net.Params()
	for range steps {
		neural.ZeroGrad(ps)
		for range bs {
			i := m.rng.IntN(m.replayLen)
			m.norm.Apply(m.zb, m.replay[i*Features:(i+1)*Features])
			// Denoising: the network sees a corrupted copy and must
			// return the clean vector, so it learns the relations
			// between signals instead of passing each one through.
			for j, v := range m.zb {
				m.zn[j] = v + m.cfg.Noise*float32(m.rng.NormFloat64())
			}
			sum += float64(neural.MSE(m.grad, m.net.Forward(m.zn), m.zb))
			for j := range m.grad {
				m.grad[j] *= inv
			}
			m.net.Backward(m.grad)
		}
		m.opt.Step(ps)
		m.steps++
	}
	m.trainedAt = m.lastNanos
	loss := sum / float64(steps*bs)
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return 0, fmt.Errorf("anomaly: training loss %v: %w", loss, neural.ErrNonFinite)
	}
	return float32(loss), nil
}

// fitNormalizer fits one mean and spread per signal over every lag of the
// replay buffer, so that a signal is scaled alike wherever it sits in the
// window, with each spread at least the signal's floor.
func (m *Model) fitNormalizer() *neural.Normalizer {
	var sum, sq [Signals]float64
	n := float64(m.replayLen * Window)
	for i, v := range m.replay[:m.replayLen*Features] {
		sum[i%Signals] += float64(v)
		sq[i%Signals] += float64(v) * float64(v)
	}
	z := &neural.Normalizer{Mean: make([]float32, Features), Std: make([]float32, Features)}
	for s := range Signals {
		mean := sum[s] / n
		std := min(max(float32(math.Sqrt(max(sq[s]/n-mean*mean, 0))), stdFloor[s]), stdCeil[s])
		for lag := range Window {
			z.Mean[lag*Signals+s], z.Std[lag*Signals+s] = float32(mean), std
		}
	}
	return z
}

// reset forgets the window and the last verdict, keeping what was learned.
func (m *Model) reset() {
	m.count, m.head, m.over = 0, 0, 0
	m.havePrev, m.scored, m.anomalous = false, false, false
}

// trainedAtTime is the time of the newest sample when Train last stepped.
func (m *Model) trainedAtTime() time.Time {
	if m.trainedAt == 0 {
		return time.Time{}
	}
	return time.Unix(0, m.trainedAt).UTC()
}
