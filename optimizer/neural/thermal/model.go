package thermal

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/krystalstack/gamesa/optimizer/neural"
	"github.com/krystalstack/gamesa/optimizer/neural/lstm"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// Kind names the model in its file.
const Kind = "thermal"

// metricLinear marks a model file whose linear baseline was fitted.
const metricLinear = "linear_fitted"

// Model is the ThermalPredictor. It forecasts the change in package
// temperature at each horizon (a residual over persistence) as the sum of
// a linear autoregressive part (least squares on the last 30 s of
// features; also the baseline it is measured against) and an LSTM(Hidden)
// with a dense head that learns what the linear part misses, from the
// linear part's forecasts and the recent changes (see numInputs). It is
// not safe for concurrent use.
type Model struct {
	cfg     Config
	rnn     *lstm.LSTM
	head    *neural.Dense
	lin     *neural.Param // linear baseline [NumHorizons, linInputs]; not trained by Adam
	gram    *neural.Param // its inputs' regularised second moment [linInputs, linInputs]
	linOK   bool
	adapt   adapter            // the online adaptation of lin (Config.Forget)
	in, out *neural.Normalizer // nil until fitted or loaded
	opt     *neural.Adam
	rng     *rand.Rand
	samples uint64

	// Streaming state.
	st    stream
	steps int // LSTM steps since the reset (0 while there are no normalisers)
	xn    [numInputs]float32
	y     [NumHorizons]float32 // the head's output, normalised
	linX  [linInputs]float64
	linY  [NumHorizons]float64 // the linear part's forecast change (adapted when on), °C
	seg   uint32               // segment id of the replay rows
	train trainer
	data  dataset // the replay buffer

	sensors neural.ListMask // which of the samples' sensors are the package's
}

// New returns an untrained model; seed drives initialisation and the
// online training's window sampling.
func New(cfg Config, seed uint64) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	init := neural.NewInit(seed)
	rnn, err := lstm.New("lstm", numInputs, cfg.Hidden, init)
	if err != nil {
		return nil, fmt.Errorf("thermal: %w", err)
	}
	m := &Model{
		cfg:  cfg,
		rnn:  rnn,
		head: neural.NewDense("head", cfg.Hidden, NumHorizons, neural.Linear, init),
		lin:  neural.NewParam("linear", NumHorizons, linInputs),
		gram: neural.NewParam("linear_gram", linInputs, linInputs),
		rng:  init.Rand(),
		data: dataset{capacity: cfg.ReplayCapacity},
	}
	m.opt = neural.NewAdam(cfg.LR)
	m.opt.ClipNorm = cfg.ClipNorm
	return m, nil
}

// params are the tensors of the model file, in order; the first four are
// the ones Adam trains.
func (m *Model) params() []*neural.Param {
	return []*neural.Param{m.rnn.W, m.rnn.B, m.head.W, m.head.B, m.lin, m.gram}
}

func (m *Model) trainable() []*neural.Param { return m.params()[:4] }

// Observe feeds one telemetry sample (in time order). A sample with a NaN
// or infinite input returns an error wrapping neural.ErrNonFinite, one
// without a time, CPU or temperature an error wrapping ErrMissing; either
// leaves the model as it was.
func (m *Model) Observe(s *gamesav1.Sample) error {
	p, err := pointFromSample(s, &m.sensors)
	if err != nil {
		return err
	}
	return m.ObservePoint(p)
}

// ObservePoint feeds one observation (in time order), as Observe does for a
// Sample: the way recorded logs reach the model.
func (m *Model) ObservePoint(p Point) error {
	if err := p.check(); err != nil {
		return err
	}
	if m.st.gap(p, m.cfg.MaxGap) {
		m.resetStream()
	}
	row := m.st.push(p)
	m.data.add(row, m.seg)
	if m.in == nil {
		return nil
	}
	// Prequential: the realised temperature updates the forecasts made
	// before it, then the current forecast uses the updated weights.
	if m.adapt.on {
		m.adapt.learn(&m.st)
	}
	m.linInput(m.linX[:], func(k int) []float32 { return m.st.lag(k)[:] })
	if m.adapt.on {
		m.adapt.add(m.linX[:])
		m.linY = m.adapt.predict(m.linX[:])
	} else {
		m.linY = m.linPredict(m.linX[:])
	}
	// The LSTM reads the linear forecast it corrects.
	m.lstmInput(m.xn[:], row[:], &m.linY)
	h := m.rnn.Step(m.xn[:])
	m.head.Forward(m.y[:], h)
	m.steps++
	return nil
}

func (m *Model) resetStream() {
	m.st.reset()
	m.rnn.Reset()
	m.steps = 0
	m.seg++
	// The adapted weights and covariance outlive a gap (a suspend does not
	// change the machine); only the pending targets are dropped.
	m.adapt.n = 0
}

// Forecast returns the package temperature in °C expected Horizons[i]
// steps after the last observation. ok is false until the model has
// normalisers (it has trained or was loaded) and has seen Config.Warmup
// observations since its last reset. It allocates nothing.
func (m *Model) Forecast() (f [NumHorizons]float32, ok bool) {
	if m.in == nil || m.steps < m.cfg.Warmup {
		return f, false
	}
	return m.forecast(&m.linY), true
}

// forecast adds the LSTM's residual to the linear part's forecast lin.
func (m *Model) forecast(lin *[NumHorizons]float64) (f [NumHorizons]float32) {
	now := m.st.lag(0)[fTemp]
	for i, v := range m.y {
		f[i] = now + float32(lin[i]) + v*m.out.Std[i] + m.out.Mean[i]
	}
	return f
}

// TrainingSamples is the number of training windows the model has learnt
// from.
func (m *Model) TrainingSamples() uint64 { return m.samples }

// Train runs at most steps optimizer steps on windows from the replay
// buffer and returns their mean loss (in normalised units). While the
// buffer holds fewer than Config.MinRows observations (also after Load) it
// does nothing and returns 0;
// then it fits the normalisers once, and the model forecasts from the
// following observations on.
func (m *Model) Train(steps int) (float32, error) {
	// A loaded model waits for as much fresh history as a new one, so a
	// restart does not overfit its first minute of data.
	if m.data.n() < m.cfg.MinRows {
		return 0, nil
	}
	if m.in == nil {
		if err := m.fit(&m.data, 0); err != nil {
			return 0, err
		}

	}
	return m.trainSteps(&m.data, steps, m.rng)
}

// MarshalBinary encodes the model file.
func (m *Model) MarshalBinary() ([]byte, error) {
	meta := neural.Meta{
		Kind: Kind, Arch: m.arch(), Input: m.in, Output: m.out,
		TrainingSamples: m.samples,
	}
	if m.linOK {
		meta.Metrics = map[string]float64{metricLinear: 1}
	}
	data, err := neural.Encode(meta, m.params())
	if err != nil {
		return nil, fmt.Errorf("thermal: %w", err)
	}
	return data, nil
}

// fileFormat is the last element of the arch: 2 added the linear part's
// second moment (for adaptation); 3 changed what the LSTM reads (the
// linear forecasts and recent changes instead of the raw features), so
// older files are refused (ErrOldFormat) and a node starts afresh.
const fileFormat = 3

// ErrOldFormat reports a model file written by an earlier build, whose
// weights this one cannot use; it wraps neural.ErrWrongModel.
var ErrOldFormat = fmt.Errorf("%w: written by an earlier build", neural.ErrWrongModel)

func (m *Model) arch() []int32 {
	return []int32{numFeatures, int32(m.cfg.Hidden), NumHorizons, int32(linInputs), fileFormat}
}

// checkArch compares a file's arch with the model's, naming an older
// format as such.
func (m *Model) checkArch(got []int32) error {
	want := m.arch()
	if slices.Equal(got, want) {
		return nil
	}
	if n := len(got); n == 4 || (n == len(want) && got[n-1] < fileFormat && slices.Equal(got[:n-1], want[:n-1])) {
		// Format 1 had no format element.
		format := int32(1)
		if n == len(want) {
			format = got[n-1]
		}
		return fmt.Errorf("thermal: %w (format %d; this build reads %d): retrain it", ErrOldFormat, format, fileFormat)
	}
	return fmt.Errorf("thermal: %w: arch %v, want %v", neural.ErrWrongModel, got, want)
}

// Load decodes a model file for cfg (whose Hidden must match the file's).
// A corrupt, truncated or foreign file is an error wrapping
// neural.ErrCorruptModel or neural.ErrWrongModel, and the caller keeps its
// previous model.
func Load(data []byte, cfg Config) (*Model, error) {
	dm, err := neural.Decode(data, Kind)
	if err != nil {
		return nil, fmt.Errorf("thermal: %w", err)
	}
	m, err := New(cfg, 1)
	if err != nil {
		return nil, err
	}
	if err := m.checkArch(dm.Arch); err != nil {
		return nil, err
	}
	in, out := neural.Normalizers(dm)
	if in == nil || out == nil || len(in.Mean) != numFeatures || len(out.Mean) != NumHorizons {
		return nil, fmt.Errorf("thermal: %w: the file lacks input (%d) or output (%d) normalisation", neural.ErrWrongModel, numFeatures, NumHorizons)
	}
	if err := neural.Load(dm, m.params()); err != nil {
		return nil, fmt.Errorf("thermal: %w", err)
	}
	m.in, m.out = in, out
	m.samples = dm.TrainingSamples
	m.linOK = dm.Metrics[metricLinear] == 1
	if err := m.initAdapt(); err != nil {
		return nil, fmt.Errorf("%w: %w", neural.ErrCorruptModel, err)
	}
	return m, nil
}

// clone returns a model with m's weights and normalisers, a fresh
// stream and replay buffer and the adapter at the offline fit, so that
// evaluation leaves m untouched.
func (m *Model) clone() *Model {
	c, err := New(m.cfg, 1)
	if err != nil {
		// m was built from the same config, which validated.
		panic(errors.Join(errors.New("thermal: clone"), err))
	}
	for i, p := range m.params() {
		copy(c.params()[i].W, p.W)
	}
	c.in, c.out, c.linOK, c.samples = m.in, m.out, m.linOK, m.samples
	if err := c.initAdapt(); err != nil {
		// m's own adapter started from the same second moment.
		panic(errors.Join(errors.New("thermal: clone"), err))
	}
	return c
}

// inputClip bounds the LSTM's inputs: a day unlike the training days
// otherwise drives the gates where they never trained; the linear part
// still sees the raw values.
const inputClip = 3

// lstmInput writes the LSTM's inputs (numInputs) for a raw feature row and
// the linear part's forecast changes at it.
func (m *Model) lstmInput(dst, row []float32, lin *[NumHorizons]float64) {
	var z [numFeatures]float32
	m.in.Apply(z[:], row)
	for h, v := range lin {
		dst[inLin+h] = float32(v) / m.out.Std[h]
	}
	dst[inDTemp1], dst[inDTemp5] = z[fDTemp1], z[fDTemp5]
	dst[inLoad], dst[inDPower1] = z[fLoad], z[fDPower1]
	for i, v := range dst[:numInputs] {
		dst[i] = max(-inputClip, min(inputClip, v))
	}
}
