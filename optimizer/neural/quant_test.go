package neural

import (
	"errors"
	"math"
	"testing"
)

// gaussRows draws n rows of width w from N(0,1), so the held-out set has
// values beyond the calibration set's range now and then, as real inputs
// do.
func gaussRows(in *Init, n, w int) [][]float32 {
	rows := make([][]float32, n)
	for i := range rows {
		rows[i] = make([]float32, w)
		for j := range rows[i] {
			rows[i][j] = float32(in.Rand().NormFloat64())
		}
	}
	return rows
}

// quantError runs float and INT8 over rows and returns the largest and the
// mean absolute difference, both divided by the float outputs' range.
func quantError(t *testing.T, m *MLP, q *QuantizedMLP, rows [][]float32) (maxRel, meanRel float64) {
	t.Helper()
	lo, hi := math.Inf(1), math.Inf(-1)
	var maxAbs, sum float64
	n := 0
	for _, x := range rows {
		want := append([]float32(nil), m.Forward(x)...)
		got := q.Forward(x)
		if err := CheckFinite("int8 output", got); err != nil {
			t.Fatal(err)
		}
		for i := range want {
			lo, hi = math.Min(lo, float64(want[i])), math.Max(hi, float64(want[i]))
			d := math.Abs(float64(got[i] - want[i]))
			maxAbs = math.Max(maxAbs, d)
			sum += d
			n++
		}
	}
	return maxAbs / (hi - lo), sum / float64(n) / (hi - lo)
}

// TestQuantizeAgreesWithFloat: on held-out inputs the INT8 network's
// outputs stay within a stated share of the float outputs' range. The
// tolerances (max 4 %, mean 1 % of the range) are what per-tensor int8
// activations leave across three layers of rounding; the test logs the
// measured figures.
func TestQuantizeAgreesWithFloat(t *testing.T) {
	for _, tc := range []struct {
		name        string
		sizes       []int
		hidden, out Activation
	}{
		{"policy relu 64-32-16", []int{64, 32, 16}, ReLU, Linear},
		{"tanh 64-32-16", []int{64, 32, 16}, Tanh, Linear},
		{"deep relu 64-48-32-8 sigmoid", []int{64, 48, 32, 8}, ReLU, Sigmoid},
		{"autoencoder 64-16-64", []int{64, 16, 64}, Tanh, Linear},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := NewInit(11)
			m, err := NewMLP("q", tc.sizes, tc.hidden, tc.out, in)
			if err != nil {
				t.Fatal(err)
			}
			// Non-zero biases, so the float rescale path is exercised.
			for _, l := range m.Layers {
				in.Uniform(l.B.W, 0.1)
			}
			calib, held := gaussRows(in, 512, tc.sizes[0]), gaussRows(in, 512, tc.sizes[0])
			q, err := Quantize(m, calib)
			if err != nil {
				t.Fatal(err)
			}
			maxRel, meanRel := quantError(t, m, q, held)
			t.Logf("int8 vs float on 512 held-out rows: max |Δ| = %.3f %% of the output range, mean %.3f %%", 100*maxRel, 100*meanRel)
			if maxRel > 0.04 || meanRel > 0.01 {
				t.Errorf("int8 vs float: max %.4f, mean %.4f of the range; want ≤ 0.04 and ≤ 0.01", maxRel, meanRel)
			}
		})
	}
}

// TestQuantizeDegenerateChannels: an all-zero weight row, a feature that
// is always zero and a layer whose whole input is zero in calibration get
// scale 1 instead of dividing by zero, and reproduce the float outputs.
func TestQuantizeDegenerateChannels(t *testing.T) {
	in := NewInit(3)
	m, _ := NewMLP("q", []int{8, 6, 4}, ReLU, Linear, in)
	clear(m.Layers[0].W.W[2*8 : 3*8]) // hidden unit 2 is dead: its output is its bias
	m.Layers[0].B.W[2] = 0.25
	calib := gaussRows(in, 64, 8)
	for _, r := range calib {
		r[5] = 0 // a feature the calibration never saw move
	}
	q, err := Quantize(m, calib)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range q.InputScales() {
		if !(s > 0) || math.IsInf(float64(s), 0) {
			t.Errorf("InputScales()[%d] = %v; want positive and finite", i, s)
		}
	}
	if maxRel, _ := quantError(t, m, q, calib); maxRel > 0.04 {
		t.Errorf("with a dead channel: max error %.4f of the range; want ≤ 0.04", maxRel)
	}

	// Calibration that is all zeros: every input scale falls back to 1
	// and the output is what float gives for a zero input.
	zeros := [][]float32{make([]float32, 8), make([]float32, 8)}
	qz, err := Quantize(m, zeros)
	if err != nil {
		t.Fatalf("Quantize(all-zero calibration) = %v; want nil", err)
	}
	want := append([]float32(nil), m.Forward(zeros[0])...)
	got := qz.Forward(zeros[0])
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > 1e-3 {
			t.Errorf("zero input: int8 out[%d] = %v; want %v", i, got[i], want[i])
		}
	}
}

// TestQuantizeSaturates: inputs far beyond the calibrated range clip to
// ±127 steps and give finite outputs rather than overflowing.
func TestQuantizeSaturates(t *testing.T) {
	in := NewInit(4)
	m, _ := NewMLP("q", []int{16, 8, 4}, ReLU, Linear, in)
	q, err := Quantize(m, gaussRows(in, 32, 16))
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, 16)
	for i := range x {
		x[i] = 1e30 * float32(1-2*(i%2))
	}
	if err := CheckFinite("out", q.Forward(x)); err != nil {
		t.Errorf("Forward(±1e30) = %v; want finite outputs", err)
	}
}

func TestQuantizeRejects(t *testing.T) {
	in := NewInit(5)
	good := func() *MLP {
		m, _ := NewMLP("q", []int{4, 3, 2}, Tanh, Linear, NewInit(5))
		return m
	}
	rows := gaussRows(in, 8, 4)
	nanRows := gaussRows(in, 8, 4)
	nanRows[3][1] = float32(math.NaN())
	infRows := gaussRows(in, 8, 4)
	infRows[0][0] = float32(math.Inf(-1))
	infWeight := good()
	infWeight.Layers[1].W.W[0] = float32(math.Inf(1))
	huge := good()
	for i := range huge.Layers[0].W.W {
		huge.Layers[0].W.W[i] = 3e38
	}
	hugeRows := [][]float32{{1e38, 1e38, 1e38, 1e38}}
	for _, tc := range []struct {
		name  string
		m     *MLP
		calib [][]float32
		want  error
	}{
		{"no rows", good(), nil, ErrCalibration},
		{"wrong width", good(), [][]float32{{1, 2, 3}}, ErrCalibration},
		{"NaN in calibration", good(), nanRows, ErrNonFinite},
		{"NaN is a calibration error", good(), nanRows, ErrCalibration},
		{"-Inf in calibration", good(), infRows, ErrNonFinite},
		{"Inf weight", infWeight, rows, ErrNonFinite},
		{"activations overflow", huge, hugeRows, ErrNonFinite},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, err := Quantize(tc.m, tc.calib)
			if !errors.Is(err, tc.want) || q != nil {
				t.Errorf("Quantize = %v, %v; want nil, an error wrapping %v", q, err, tc.want)
			}
		})
	}
}

func TestQuant8(t *testing.T) {
	for _, tc := range []struct {
		in   float32
		want int8
	}{
		{0, 0}, {0.49, 0}, {0.5, 1}, {-0.5, -1}, {-0.49, 0}, {126.6, 127}, {127, 127},
		{128, 127}, {1e30, 127}, {-1e30, -127}, {float32(math.Inf(1)), 127},
		{float32(math.Inf(-1)), -127}, {float32(math.NaN()), -127},
	} {
		if got := quant8(tc.in); got != tc.want {
			t.Errorf("quant8(%v) = %d; want %d", tc.in, got, tc.want)
		}
	}
}

func TestDotMatchesNaiveLoop(t *testing.T) {
	in := NewInit(8)
	for _, n := range []int{0, 1, 3, 4, 5, 8, 63, 64} {
		a, b := randVec(in, n), randVec(in, n)
		var want float64
		a8, b8 := make([]int8, n), make([]int32, n)
		var want8 int32
		for i := range a {
			want += float64(a[i]) * float64(b[i])
			a8[i], b8[i] = int8(in.Rand().IntN(255)-127), int32(in.Rand().IntN(255)-127)
			want8 += int32(a8[i]) * b8[i]
		}
		if got := dot(a, b); math.Abs(float64(got)-want) > 1e-5 {
			t.Errorf("dot(n=%d) = %v; want %v", n, got, want)
		}
		if got := dot8(a8, b8); got != want8 {
			t.Errorf("dot8(n=%d) = %d; want %d", n, got, want8)
		}
	}
}

// BenchmarkQuantizedMLPForward is the INT8 PerformancePolicy shape,
// MLP(64,32,16); compare with BenchmarkMLPForward.
func BenchmarkQuantizedMLPForward(b *testing.B) {
	in := NewInit(1)
	m, _ := NewMLP("p", []int{64, 32, 16}, ReLU, Linear, in)
	q, err := Quantize(m, gaussRows(in, 256, 64))
	if err != nil {
		b.Fatal(err)
	}
	x := gaussRows(in, 1, 64)[0]
	b.ReportAllocs()
	for b.Loop() {
		q.Forward(x)
	}
}
