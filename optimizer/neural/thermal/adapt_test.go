package thermal

import (
	"errors"
	"math"
	"testing"

	"github.com/krystalstack/gamesa/optimizer/neural"
)

// TestAdapterTracksDriftingWeights: recursive least squares started from
// weights fitted once follows true weights that drift (a bias that ramps
// for half the run, a gain that steps at two thirds) with each horizon's target realised Horizons[h] steps
// after its input, as the model feeds it.
func TestAdapterTracksDriftingWeights(t *testing.T) {
	const steps = 6000
	rng := neural.NewInit(3).Rand()
	// Inputs are a bias and unit-variance noise: their second moment is
	// about the identity, which the offline fit would have measured.
	gram := make([]float32, linInputs*linInputs)
	for i := range linInputs {
		gram[i*linInputs+i] = 1
	}
	start := make([]float32, NumHorizons*linInputs) // the offline fit
	for i := range start {
		start[i] = float32(rng.NormFloat64() * 0.1)
	}
	truth := func(h, step int) []float64 {
		w := make([]float64, linInputs)
		for i := range w {
			w[i] = float64(start[h*linInputs+i])
		}
		w[0] += 3 * min(2*float64(step)/steps, 1) // ambient drifting by 3 °C
		if step > 2*steps/3 {
			w[1+h] += 1 // a gain that steps half-way
		}
		return w
	}
	var a adapter
	if err := a.init(0.998, gram, start); err != nil {
		t.Fatal(err)
	}
	xs := make([][]float64, steps)
	for step := range steps {
		for h, ahead := range Horizons {
			if a.n >= ahead {
				x, w := xs[step-ahead], truth(h, step-ahead)
				y := 0.05 * rng.NormFloat64()
				for i, v := range x {
					y += w[i] * v
				}
				a.update(h, ahead, y)
			}
		}
		x := make([]float64, linInputs)
		x[0] = 1
		for i := 1; i < linInputs; i++ {
			x[i] = rng.NormFloat64()
		}
		xs[step] = x
		a.add(x)
	}
	for h := range NumHorizons {
		want := truth(h, steps-1)
		var worst float64
		for i, v := range a.w[h] {
			worst = max(worst, math.Abs(v-want[i]))
		}
		if worst > 0.1 {
			t.Errorf("horizon %d: adapted weights off the drifted truth by up to %.3f; want below 0.1", h, worst)
		}
		if d := math.Abs(float64(start[h*linInputs]) - want[0]); d < 2.9 {
			t.Fatalf("horizon %d: truth drifted by only %.3f: the test cannot tell", h, d)
		}
	}
	for i := range linInputs {
		if p := a.p[i*linInputs+i]; !(p > 0) || p > a.cap {
			t.Errorf("P[%d][%d] = %v; want positive and below the trace cap %v", i, i, p, a.cap)
		}
	}
}

// TestAdaptationFollowsAmbientDrift: a model fitted on one run, scored on
// a run whose readings drift up by 8 °C, forecasts better with its linear
// part adapting than without, and Evaluate reports the adaptive rows only
// when adaptation is on. (The LSTM on top, trained on the static part's
// residuals, is not asserted: at 30 s it can lose what the linear part
// gains, as on the laptop's held-out days.)
func TestAdaptationFollowsAmbientDrift(t *testing.T) {
	warm := synthetic(3000, 9)
	for i := range warm.Points {
		warm.Points[i].PackageC += 8 * float64(i) / 3000
	}
	for _, forget := range []float64{0, 0.999} {
		cfg := smallConfig()
		cfg.Forget = forget
		m, _, err := Train([]Series{synthetic(3000, 1)}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		r := Evaluate(m, []Series{warm})
		t.Logf("Forget %v:\n%s", forget, r)
		if r.Forget != forget {
			t.Errorf("Report.Forget = %v; want %v", r.Forget, forget)
		}
		if forget == 0 {
			if r.Raw.Adaptive != (Errors{}) {
				t.Errorf("adaptive rows filled with adaptation off: %+v", r.Raw.Adaptive)
			}
			continue
		}
		for h, sec := range Horizons {
			if a, s := r.Smoothed.LinearAdaptive.RMSE[h], r.Smoothed.Linear.RMSE[h]; a >= s {
				t.Errorf("%d s: adaptive linear RMSE %.3f; want below the static %.3f", sec, a, s)
			}
		}
	}
}

// TestLoadRejectsFormat1 refuses a file written before the linear part's
// second moment was stored.
func TestLoadRejectsFormat1(t *testing.T) {
	m := trained(t)
	old := neural.Meta{Kind: Kind, Arch: m.arch()[:4], Input: m.in, Output: m.out}
	data, err := neural.Encode(old, m.params()[:5])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Load(data, smallConfig()); !errors.Is(err, neural.ErrWrongModel) {
		t.Errorf("Load(format-1 file) = %v; want ErrWrongModel", err)
	}
}

// TestAdaptiveRoundTrip: a loaded model adapts as the one it was saved
// from, and adaptation allocates nothing.
func TestAdaptiveRoundTrip(t *testing.T) {
	cfg := smallConfig()
	cfg.Forget = 0.999
	m, _, err := Train([]Series{synthetic(3000, 1)}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	data, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	m2, err := Load(data, cfg)
	if err != nil {
		t.Fatal(err)
	}
	pts := synthetic(300, 5).Points
	for _, p := range pts {
		m.ObservePoint(p)
		m2.ObservePoint(p)
	}
	f1, ok1 := m.Forecast()
	f2, ok2 := m2.Forecast()
	if !ok1 || !ok2 || f1 != f2 {
		t.Errorf("adaptive forecast after round trip = %v, %v; want %v, %v", f2, ok2, f1, ok1)
	}
	if m.adapt.w == m2.adapt.w && m.adapt.w[0][0] == float64(m.lin.W[0]) {
		t.Error("the linear part did not adapt over 300 observations")
	}
	i := 0
	if n := testing.AllocsPerRun(100, func() {
		m.ObservePoint(pts[i%len(pts)])
		m.Forecast()
		i++
	}); n != 0 {
		t.Errorf("adaptive ObservePoint + Forecast allocate %v times; want 0", n)
	}
}
