package thermal

import (
	"fmt"
	"math"
)

// adaptRing holds the inputs and gains of the last MaxHorizon+1
// observations: horizon h learns from the input of h observations ago
// once its target is realised.
const adaptRing = MaxHorizon + 1

// adaptTraceCap bounds the covariance's trace at this multiple of its
// initial one. With forgetting, directions the inputs stop exciting (a
// clock pinned by a power plan) would otherwise grow their covariance by
// 1/λ each step without limit ("wind-up") and turn the next excitation
// into a jump in the weights.
const adaptTraceCap = 4

// adapter is recursive least squares with forgetting on the linear part:
// it keeps fitting the linear autoregressive weights as realised
// temperatures arrive, so the forecast follows a drift (room temperature,
// cooling) that a model fitted once cannot.
//
// The horizons' inputs are the same sequence, delayed: the covariance of
// horizon h after its update at step t is that of the whole sequence of
// inputs up to step t−h. So one covariance P, updated as each input
// arrives, gives every horizon its exact gain, stored until the target is
// known: one rank-1 update an observation, plus a dot product per horizon.
// Inputs whose targets a stream reset cuts off still count in P; they are
// at most MaxHorizon a reset, and forgetting washes them out.
type adapter struct {
	on     bool
	lambda float64
	p, p0  [linInputs * linInputs]float64 // covariance now and at the start
	cap    float64                        // the largest trace P grows to
	w      [NumHorizons][linInputs]float64
	xs, ks [adaptRing][linInputs]float64 // inputs and gains, by step mod adaptRing
	n      int                           // inputs since the stream reset
	px     [linInputs]float64
}

// initAdapt sets the adapter up from the offline fit: the weights from the
// linear part, the covariance from its inputs' regularised second moment
// R as (1−λ)·R⁻¹, what RLS settles to on steady inputs, so the offline fit
// weighs as much as the 1/(1−λ) observations the adapter remembers. Off
// when Config.Forget is 0 or the linear part is not fitted.
func (m *Model) initAdapt() error {
	m.adapt.on = false
	if m.cfg.Forget == 0 || !m.linOK {
		return nil
	}
	return m.adapt.init(m.cfg.Forget, m.gram.W, m.lin.W)
}

// resetAdapt puts the adapter back to the offline fit.
func (m *Model) resetAdapt() { m.adapt.reset(m.lin.W) }

// init starts the adapter at weights lin ([NumHorizons, linInputs]) with
// the covariance (1−λ)·gram⁻¹.
func (a *adapter) init(lambda float64, gram, lin []float32) error {
	const n = linInputs
	a.lambda = lambda
	l := make([]float64, n*n)
	for i, v := range gram {
		l[i] = float64(v)
	}
	if err := cholesky(l, n); err != nil {
		return fmt.Errorf("thermal: linear part's second moment: %w", err)
	}
	col := make([]float64, n)
	var tr float64
	for c := range n {
		clear(col)
		col[c] = 1
		cholSolve(l, n, col)
		for r, v := range col {
			a.p0[r*n+c] = (1 - a.lambda) * v
		}
		tr += a.p0[c*n+c]
	}
	if !(tr > 0) || math.IsInf(tr, 0) {
		return fmt.Errorf("thermal: linear part's covariance has trace %v", tr)
	}
	a.cap = adaptTraceCap * tr
	a.on = true
	a.reset(lin)
	return nil
}

// reset puts the adapter back to weights lin and its initial covariance.
func (a *adapter) reset(lin []float32) {
	for h := range NumHorizons {
		for i, v := range lin[h*linInputs : (h+1)*linInputs] {
			a.w[h][i] = float64(v)
		}
	}
	a.p = a.p0
	a.n = 0
}

// learn updates each horizon whose target the stream's newest observation
// realises: the temperature change from the observation h steps ago to
// now.
func (a *adapter) learn(s *stream) {
	now := s.lag(0)[fTemp]
	for h, ahead := range Horizons {
		if a.n >= ahead {
			a.update(h, ahead, float64(now-s.lag(ahead)[fTemp]))
		}
	}
}

// update corrects horizon h's weights by the a-priori error on target y,
// realised now, of the input added ahead steps ago, with the gain stored
// then. The caller checks that the input exists (n >= ahead).
func (a *adapter) update(h, ahead int, y float64) {
	i := (a.n - ahead) % adaptRing
	x, k, w := &a.xs[i], &a.ks[i], &a.w[h]
	e := y
	for j, v := range x {
		e -= w[j] * v
	}
	for j, v := range k {
		w[j] += v * e
	}
}

// add takes the current input: its gain from P, then P's rank-1 downdate
// and inflation by 1/λ (held while the trace is at its cap).
func (a *adapter) add(x []float64) {
	const n = linInputs
	i := a.n % adaptRing
	a.n++
	copy(a.xs[i][:], x)
	den := a.lambda
	var tr float64
	for r := range n {
		row := a.p[r*n : (r+1)*n]
		var s float64
		for c, v := range row {
			s += v * x[c]
		}
		a.px[r] = s
		den += x[r] * s
		tr += row[r]
	}
	k := &a.ks[i]
	if !(den > 0) || math.IsInf(den, 0) {
		// Unreachable while P stays positive definite; learn nothing
		// from this input rather than a NaN.
		clear(k[:])
		return
	}
	for r, v := range a.px {
		k[r] = v / den
	}
	scale := 1 / a.lambda
	if tr >= a.cap {
		scale = 1
	}
	for r := range n {
		kr := k[r]
		for c := r; c < n; c++ {
			v := (a.p[r*n+c] - kr*a.px[c]) * scale
			a.p[r*n+c] = v
			a.p[c*n+r] = v
		}
	}
}

// predict returns the adapted linear part's forecast changes.
func (a *adapter) predict(x []float64) (y [NumHorizons]float64) {
	for h := range NumHorizons {
		for i, v := range a.w[h] {
			y[h] += v * x[i]
		}
	}
	return y
}
