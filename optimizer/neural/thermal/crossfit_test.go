package thermal

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/krystalstack/gamesa/optimizer/neural"
)

// TestCrossFitIsOutOfSample: each chunk's cross-fitted forecasts are those
// of a linear part fitted without that chunk, so they differ from the
// in-sample ones; a dataset too small to fit without a chunk keeps the
// in-sample forecasts.
func TestCrossFitIsOutOfSample(t *testing.T) {
	cfg := smallConfig()
	cfg.CrossFit = 4
	d, err := buildDataset([]Series{synthetic(2000, 5)}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.fit(d, cfg.CrossFit); err != nil {
		t.Fatal(err)
	}
	if d.lin == nil {
		t.Fatal("fit with CrossFit 4 left no cross-fitted forecasts")
	}
	n := d.n()
	w := make([]float32, NumHorizons*linInputs)
	var differ int
	for c := range cfg.CrossFit {
		lo, hi := c*n/cfg.CrossFit, (c+1)*n/cfg.CrossFit
		if _, _, err := m.solveLinear(d, w, func(i int) bool { return i >= lo && i < hi }); err != nil {
			t.Fatal(err)
		}
		for _, i := range []int{lo, (lo + hi) / 2, hi - 1} {
			want, got, in := m.linRow(d, i, w), m.linAt(d, i), m.linRow(d, i, m.lin.W)
			for h := range NumHorizons {
				if math.Abs(got[h]-want[h]) > 1e-4 {
					t.Errorf("chunk %d row %d horizon %d: cross-fitted %v; want %v from the fit without the chunk", c, i, h, got[h], want[h])
				}
				if math.Abs(got[h]-in[h]) > 1e-4 {
					differ++
				}
			}
		}
	}
	if differ == 0 {
		t.Error("cross-fitted forecasts all equal the in-sample ones")
	}

	small, err := buildDataset([]Series{synthetic(90, 6)}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	m, err = New(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.fit(small, cfg.CrossFit); err != nil {
		t.Fatalf("fit on %d rows: %v; want the in-sample fallback", small.n(), err)
	}
	if small.lin != nil {
		t.Errorf("fit on %d rows cross-fitted; want in-sample forecasts (too few rows without a chunk)", small.n())
	}
}

// TestHuberGradient checks huber's gradient by finite differences on both
// sides of the threshold, and that threshold 0 is the squared error.
func TestHuberGradient(t *testing.T) {
	y := []float32{0.3, -2.5, 1.7}
	want := []float32{0.1, 0.2, -0.4}
	for _, delta := range []float32{0, 1} {
		g := make([]float32, len(y))
		huber(g, y, want, delta)
		for i := range y {
			const eps = 1e-3
			yp, ym := append([]float32(nil), y...), append([]float32(nil), y...)
			yp[i] += eps
			ym[i] -= eps
			num := (huber(make([]float32, 3), yp, want, delta) - huber(make([]float32, 3), ym, want, delta)) / (2 * eps)
			if math.Abs(float64(num-g[i])) > 1e-2 {
				t.Errorf("delta %v: dL/dy[%d] = %v; finite difference %v", delta, i, g[i], num)
			}
		}
	}
	g, gm := make([]float32, 3), make([]float32, 3)
	if l, lm := huber(g, y, want, 0), neural.MSE(gm, y, want); l != lm || g[1] != gm[1] {
		t.Errorf("huber(delta 0) = %v, gradient %v; want the squared error %v, %v", l, g, lm, gm)
	}
	// Beyond the threshold the gradient is clipped: y[1] is 2.7 off.
	huber(g, y, want, 1)
	if want := float32(-2.0 / 3); math.Abs(float64(g[1]-want)) > 1e-6 {
		t.Errorf("huber(delta 1) gradient at an error of -2.7 = %v; want %v", g[1], want)
	}
}

// TestLSTMInputsSkipLevels: the LSTM reads changes, load and the linear
// forecasts, not the temperature, clock or power level (those reach it
// through the linear part only).
func TestLSTMInputsSkipLevels(t *testing.T) {
	m := trained(t)
	row := [numFeatures]float32{fTemp: 60, fDTemp1: 1, fDTemp5: 3, fLoad: 50, fClock: 3000, fPower: 20, fDPower1: 2}
	lin := [NumHorizons]float64{0.5, 1, 2}
	var a, b [numInputs]float32
	m.lstmInput(a[:], row[:], &lin)
	shifted := row
	shifted[fTemp], shifted[fClock], shifted[fPower] = 85, 1200, 35
	m.lstmInput(b[:], shifted[:], &lin)
	if a != b {
		t.Errorf("LSTM inputs %v at 60 °C, 3 GHz, 20 W; %v at 85 °C, 1.2 GHz, 35 W; want the same", a, b)
	}
	shifted = row
	shifted[fLoad] = 90
	m.lstmInput(b[:], shifted[:], &lin)
	if a == b {
		t.Error("LSTM inputs do not change with the load")
	}
}

// TestLoadRejectsOldFormat: a file of format 2 (the LSTM read the raw
// features) is refused as from an earlier build, with a message that
// says so.
func TestLoadRejectsOldFormat(t *testing.T) {
	m := trained(t)
	arch := m.arch()
	arch[len(arch)-1] = 2
	data, err := neural.Encode(neural.Meta{Kind: Kind, Arch: arch, Input: m.in, Output: m.out}, m.params())
	if err != nil {
		t.Fatal(err)
	}
	_, err = Load(data, smallConfig())
	if !errors.Is(err, ErrOldFormat) || !errors.Is(err, neural.ErrWrongModel) {
		t.Fatalf("Load(format-2 file) = %v; want ErrOldFormat wrapping ErrWrongModel", err)
	}
	if !strings.Contains(err.Error(), "format 2") {
		t.Errorf("Load(format-2 file) = %q; want it to name format 2", err)
	}
}
