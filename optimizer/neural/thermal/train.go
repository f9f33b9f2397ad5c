package thermal

import (
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/krystalstack/gamesa/optimizer/neural"
)

// ErrNoData reports training data without one window long enough to learn
// from.
var ErrNoData = errors.New("thermal: not enough contiguous data")

// Series is a recorded run of observations in time order (a day's log, or
// a simulated run); gaps longer than Config.MaxGap split it.
type Series struct {
	Name   string
	Points []Point
}

// dataset holds feature rows, each with its stream segment id: the online
// replay buffer (bounded) and the offline training set (unbounded).
type dataset struct {
	capacity int // rows; 0: unbounded
	feat     []float32
	seg      []uint32
	// lin holds the cross-fitted linear forecasts [n, NumHorizons] of an
	// offline training set (Config.CrossFit); nil: the model's own.
	lin []float32
}

func (d *dataset) n() int { return len(d.seg) }

func (d *dataset) row(i int) []float32 {
	return d.feat[i*numFeatures : (i+1)*numFeatures]
}

func (d *dataset) temp(i int) float32 { return d.feat[i*numFeatures+fTemp] }

// add appends a row; a full bounded buffer first drops its oldest half,
// which keeps add amortised O(1) and the rows in one contiguous slice.
func (d *dataset) add(r *[numFeatures]float32, seg uint32) {
	if d.capacity > 0 {
		if d.feat == nil {
			d.feat = make([]float32, 0, d.capacity*numFeatures)
			d.seg = make([]uint32, 0, d.capacity)
		}
		if d.n() >= d.capacity {
			half := d.n() / 2
			d.feat = d.feat[:copy(d.feat, d.feat[half*numFeatures:])]
			d.seg = d.seg[:copy(d.seg, d.seg[half:])]
		}
	}
	d.feat = append(d.feat, r[:]...)
	d.seg = append(d.seg, seg)
}

// hasTarget reports whether row i has every horizon's future in its
// segment.
func (d *dataset) hasTarget(i, ahead int) bool {
	return i+ahead < d.n() && d.seg[i+ahead] == d.seg[i]
}

// trainer holds the buffers of one BPTT window.
type trainer struct {
	xs, ghs, use [][]float32
	y, g, tgt    [NumHorizons]float32
}

// fit prepares a model for training on d: the input normaliser, the
// linear baseline, the output normaliser of what the LSTM learns — the
// residual of the temperature change over the baseline's forecast — and
// the linear part's adaptation. The LSTM learns the residual over the
// offline fit, which adaptation then corrects for drift. With crossFit
// above 1, d also gets the out-of-sample forecasts the LSTM then trains
// on (see Config.CrossFit); the output normaliser stays the in-sample
// residual's, which the federated merge of fits relies on.
func (m *Model) fit(d *dataset, crossFit int) error {
	rows := make([][]float32, 0, d.n())
	for i := range d.n() {
		rows = append(rows, d.row(i))
	}
	in, err := neural.FitNormalizer(rows)
	if err != nil {
		return fmt.Errorf("thermal: inputs: %w", err)
	}
	m.in = in
	if err := m.fitLinear(d); err != nil {
		m.in = nil
		return err
	}
	var outs [][]float32
	for i := range d.n() {
		if d.hasTarget(i, MaxHorizon+m.cfg.TargetSmooth) {
			outs = append(outs, m.residual(d, i, make([]float32, NumHorizons)))
		}
	}
	out, err := neural.FitNormalizer(outs)
	if err != nil {
		m.in, m.linOK = nil, false
		return fmt.Errorf("thermal: targets: %w", err)
	}
	m.out = out
	if crossFit > 1 {
		// Too few rows to fit the linear part without a chunk (ErrNoData)
		// leaves the forecasts in-sample.
		if err := m.crossFit(d, crossFit); err != nil && !errors.Is(err, ErrNoData) {
			m.in, m.out, m.linOK = nil, nil, false
			return err
		}
	}
	if err := m.initAdapt(); err != nil {
		m.in, m.out, m.linOK = nil, nil, false
		return err
	}
	return nil
}

// residual writes the LSTM's raw target for row i: the temperature change
// to each horizon (to the mean of the 2·TargetSmooth+1 readings centred
// on it, which d must hold) less the linear forecast of it (linAt).
func (m *Model) residual(d *dataset, i int, dst []float32) []float32 {
	if k := m.cfg.TargetSmooth; k > 0 {
		for h, ahead := range Horizons {
			var sum float32
			for j := i + ahead - k; j <= i+ahead+k; j++ {
				sum += d.temp(j)
			}
			dst[h] = sum/float32(2*k+1) - d.temp(i)
		}
	} else {
		delta(d, i, dst)
	}
	lin := m.linAt(d, i)
	for k := range dst {
		dst[k] -= float32(lin[k])
	}
	return dst
}

// linAt returns the linear forecast changes the LSTM trains with at row i
// of d: the cross-fitted ones when d has them, else the model's.
func (m *Model) linAt(d *dataset, i int) [NumHorizons]float64 {
	var y [NumHorizons]float64
	if d.lin != nil {
		for h := range y {
			y[h] = float64(d.lin[i*NumHorizons+h])
		}
		return y
	}
	return m.linRow(d, i, m.lin.W)
}

// linRow returns the forecast changes of linear weights w at row i of d,
// its lags clamped to the row's segment as a stream clamps them.
func (m *Model) linRow(d *dataset, i int, w []float32) [NumHorizons]float64 {
	start := i
	for start > 0 && i-start < MaxHorizon && d.seg[start-1] == d.seg[i] {
		start--
	}
	var x [linInputs]float64
	m.linInput(x[:], func(k int) []float32 { return d.row(max(i-k, start)) })
	return linForecast(w, x[:])
}

// crossFit sets d.lin: the rows of each of k contiguous chunks of d get
// the forecasts of a linear part fitted on the other chunks (under the
// model's input normaliser).
func (m *Model) crossFit(d *dataset, k int) error {
	n := d.n()
	lin := make([]float32, n*NumHorizons)
	w := make([]float32, NumHorizons*linInputs)
	for c := range k {
		lo, hi := c*n/k, (c+1)*n/k
		if _, _, err := m.solveLinear(d, w, func(i int) bool { return i >= lo && i < hi }); err != nil {
			return fmt.Errorf("thermal: cross-fit %d of %d: %w", c+1, k, err)
		}
		for i := lo; i < hi; i++ {
			y := m.linRow(d, i, w)
			for h, v := range y {
				lin[i*NumHorizons+h] = float32(v)
			}
		}
	}
	d.lin = lin
	return nil
}

// delta writes the raw temperature change from row i to each horizon.
func delta(d *dataset, i int, dst []float32) []float32 {
	for k, h := range Horizons {
		dst[k] = d.temp(i+h) - d.temp(i)
	}
	return dst
}

// trainSteps runs steps optimizer steps of Batch windows each and returns
// the mean loss.
func (m *Model) trainSteps(d *dataset, steps int, rng *rand.Rand) (float32, error) {
	cfg := &m.cfg
	span := cfg.Window + MaxHorizon + cfg.TargetSmooth
	if d.n() < span {
		return 0, fmt.Errorf("%w: %d observations, a window needs %d", ErrNoData, d.n(), span)
	}
	tr := &m.train
	if tr.xs == nil {
		for range cfg.Window {
			tr.xs = append(tr.xs, make([]float32, numInputs))
			tr.ghs = append(tr.ghs, make([]float32, cfg.Hidden))
		}
		tr.use = make([][]float32, cfg.Window)
	}
	ps := m.trainable()
	perWindow := cfg.Window - cfg.Warmup
	scale := 1 / float32(perWindow*cfg.Batch)
	var total float64
	for range steps {
		neural.ZeroGrad(ps)
		for range cfg.Batch {
			start, ok := sampleWindow(d, span, rng)
			if !ok {
				return 0, fmt.Errorf("%w: no %d-step run without a gap in %d observations", ErrNoData, span, d.n())
			}
			for t := range cfg.Window {
				lin := m.linAt(d, start+t)
				m.lstmInput(tr.xs[t], d.row(start+t), &lin)
				if cfg.InputNoise > 0 {
					for k := range tr.xs[t] {
						tr.xs[t][k] += cfg.InputNoise * float32(rng.NormFloat64())
					}
				}
			}
			hs := m.rnn.Forward(tr.xs)
			for t := range cfg.Window {
				tr.use[t] = nil
				if t < cfg.Warmup {
					continue
				}
				m.head.Forward(tr.y[:], hs[t])
				m.residual(d, start+t, tr.tgt[:])
				m.out.Apply(tr.tgt[:], tr.tgt[:])
				total += float64(huber(tr.g[:], tr.y[:], tr.tgt[:], cfg.Huber))
				for k := range tr.g {
					tr.g[k] *= scale
				}
				m.head.Backward(tr.ghs[t], tr.g[:], hs[t], tr.y[:])
				tr.use[t] = tr.ghs[t]
			}
			m.rnn.Backward(tr.use)
		}
		m.opt.Step(ps)
		m.samples += uint64(cfg.Batch)
	}
	for _, p := range ps {
		if err := neural.CheckFinite(p.Name, p.W); err != nil {
			return 0, fmt.Errorf("thermal: training diverged: %w", err)
		}
	}
	if steps == 0 {
		return 0, nil
	}
	return float32(total / float64(steps*cfg.Batch*perWindow)), nil
}

// huber returns the mean Huber loss of y against want with threshold
// delta (0: the squared error, as neural.MSE) and writes its gradient with
// respect to y into g. Within delta it is the squared error; beyond, it
// grows linearly with the same slope there, so the gradient is clipped.
func huber(g, y, want []float32, delta float32) float32 {
	var s float32
	n := float32(len(y))
	for i := range y {
		d := y[i] - want[i]
		if delta > 0 && (d > delta || d < -delta) {
			a := max(d, -d)
			s += delta * (2*a - delta)
			g[i] = 2 * max(-delta, min(delta, d)) / n
			continue
		}
		s += d * d
		g[i] = 2 * d / n
	}
	return s / n
}

// sampleWindow draws the start of a span-row run within one segment.
func sampleWindow(d *dataset, span int, rng *rand.Rand) (int, bool) {
	for range 64 {
		s := rng.IntN(d.n() - span + 1)
		if d.seg[s] == d.seg[s+span-1] {
			return s, true
		}
	}
	return 0, false
}

// Train builds a model from recorded series: it fits the normalisers and
// the linear baseline on them (and cross-fits the linear part's forecasts
// the LSTM learns from, Config.CrossFit), runs Config.TrainSteps optimizer
// steps from Config.Seed, and reports the model's in-sample errors.
func Train(series []Series, cfg Config) (*Model, Report, error) {
	m, err := New(cfg, cfg.Seed)
	if err != nil {
		return nil, Report{}, err
	}
	d, err := buildDataset(series, cfg)
	if err != nil {
		return nil, Report{}, err
	}
	if err := m.fit(d, cfg.CrossFit); err != nil {
		return nil, Report{}, err
	}
	if _, err := m.trainSteps(d, cfg.TrainSteps, m.rng); err != nil {
		return nil, Report{}, err
	}
	return m, Evaluate(m, series), nil
}

// buildDataset turns series into feature rows, a segment per series and
// per gap.
func buildDataset(series []Series, cfg Config) (*dataset, error) {
	d := &dataset{}
	var st stream
	var seg uint32
	for _, s := range series {
		st.reset()
		seg++
		for i, p := range s.Points {
			if err := p.check(); err != nil {
				return nil, fmt.Errorf("%s: point %d: %w", s.Name, i, err)
			}
			if st.gap(p, cfg.MaxGap) {
				st.reset()
				seg++
			}
			d.add(st.push(p), seg)
		}
	}
	return d, nil
}
