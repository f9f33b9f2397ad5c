package lstm

import (
	"math"
	"testing"

	"github.com/krystalstack/gamesa/optimizer/neural"
)

func randSeq(in *neural.Init, steps, width int) [][]float32 {
	xs := make([][]float32, steps)
	for t := range xs {
		xs[t] = make([]float32, width)
		in.Uniform(xs[t], 1)
	}
	return xs
}

// seqLoss is the MSE of a linear readout r·h_t against want[t] at the
// steps where want is not nil; it writes dL/dh_t into ghs when not nil.
func seqLoss(hs [][]float32, want [][]float32, ghs [][]float32) float64 {
	var loss float64
	for t, h := range hs {
		if want[t] == nil {
			if ghs != nil {
				ghs[t] = nil
			}
			continue
		}
		var g []float32
		if ghs != nil {
			g = make([]float32, len(h))
			ghs[t] = g
		}
		loss += float64(neural.MSE(g, h, want[t]))
	}
	return loss
}

// TestGradients checks BPTT against central finite differences for the
// weights, biases and inputs, with losses at some steps only (as the
// thermal model uses it).
func TestGradients(t *testing.T) {
	for _, tc := range []struct {
		name            string
		in, hidden, len int
		lossAt          func(t int) bool
	}{
		{"every step", 3, 4, 6, func(int) bool { return true }},
		{"last step only", 2, 5, 8, func(t int) bool { return t == 7 }},
		{"after warmup", 4, 3, 10, func(t int) bool { return t >= 4 }},
		{"single step", 3, 3, 1, func(int) bool { return true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			init := neural.NewInit(uint64(tc.len))
			l, err := New("l", tc.in, tc.hidden, init)
			if err != nil {
				t.Fatal(err)
			}
			// Random biases too, so no gate sits at a symmetric point.
			init.Uniform(l.B.W, 0.5)
			xs := randSeq(init, tc.len, tc.in)
			want := randSeq(init, tc.len, tc.hidden)
			for i := range want {
				if !tc.lossAt(i) {
					want[i] = nil
				}
			}
			loss := func() float64 { return seqLoss(l.Forward(xs), want, nil) }
			neural.ZeroGrad(l.Params())
			ghs := make([][]float32, tc.len)
			seqLoss(l.Forward(xs), want, ghs)
			gxs := l.Backward(ghs)
			if err := neural.CheckGradients(l.Params(), loss, 2e-2, 60); err != nil {
				t.Error(err)
			}
			var xps []*neural.Param
			for i := range xs {
				xps = append(xps, &neural.Param{Name: "x", W: xs[i], G: append([]float32(nil), gxs[i]...)})
			}
			if err := neural.CheckGradients(xps, loss, 2e-2, tc.in); err != nil {
				t.Errorf("input gradient: %v", err)
			}
		})
	}
}

// TestStepMatchesForward: streaming Step from a reset state gives the same
// hidden states as Forward over the same sequence.
func TestStepMatchesForward(t *testing.T) {
	init := neural.NewInit(7)
	l, _ := New("l", 5, 8, init)
	xs := randSeq(init, 20, 5)
	hs := l.Forward(xs)
	l.Reset()
	for i, x := range xs {
		h := l.Step(x)
		for j := range h {
			if math.Abs(float64(h[j]-hs[i][j])) > 1e-6 {
				t.Fatalf("Step %d: h[%d] = %v; Forward gave %v", i, j, h[j], hs[i][j])
			}
		}
	}
	l.Reset()
	h, c := l.State()
	for j := range h {
		if h[j] != 0 || c[j] != 0 {
			t.Fatalf("after Reset: h[%d] = %v, c[%d] = %v; want 0", j, h[j], j, c[j])
		}
	}
}

// TestLearnsToRemember: an LSTM with a linear readout, trained by BPTT,
// reports at the last step the sign of the first input of the sequence —
// a task a memoryless model cannot solve.
func TestLearnsToRemember(t *testing.T) {
	init := neural.NewInit(11)
	l, _ := New("l", 1, 8, init)
	head := neural.NewDense("head", 8, 1, neural.Linear, init)
	ps := append(l.Params(), head.Params()...)
	opt := neural.NewAdam(0.02)
	const steps = 8
	rng := init.Rand()
	sample := func() ([][]float32, float32) {
		xs := make([][]float32, steps)
		for i := range xs {
			xs[i] = []float32{float32(rng.Float64()*2 - 1)}
		}
		if xs[0][0] > 0 {
			return xs, 1
		}
		return xs, -1
	}
	y, g := make([]float32, 1), make([]float32, 1)
	gh := make([]float32, 8)
	ghs := make([][]float32, steps)
	for it := 0; it < 600; it++ {
		neural.ZeroGrad(ps)
		for range 8 {
			xs, want := sample()
			hs := l.Forward(xs)
			head.Forward(y, hs[steps-1])
			neural.MSE(g, y, []float32{want})
			head.Backward(gh, g, hs[steps-1], y)
			ghs[steps-1] = gh
			l.Backward(ghs)
		}
		opt.Step(ps)
	}
	wrong := 0
	for range 200 {
		xs, want := sample()
		hs := l.Forward(xs)
		head.Forward(y, hs[steps-1])
		if (y[0] > 0) != (want > 0) {
			wrong++
		}
	}
	if wrong > 10 {
		t.Errorf("remember-the-first-sign: %d of 200 wrong; want at most 10", wrong)
	}
}

func TestNewRejectsBadSizes(t *testing.T) {
	for _, tc := range []struct{ in, hidden int }{{0, 4}, {3, 0}, {-1, 2}} {
		if _, err := New("l", tc.in, tc.hidden, neural.NewInit(1)); err == nil {
			t.Errorf("New(in %d, hidden %d) = nil error; want an error", tc.in, tc.hidden)
		}
	}
}

func TestStepAllocatesNothing(t *testing.T) {
	l, _ := New("l", 8, 32, neural.NewInit(1))
	x := make([]float32, 8)
	if n := testing.AllocsPerRun(100, func() { l.Step(x) }); n != 0 {
		t.Errorf("Step allocates %v times; want 0", n)
	}
}

// BenchmarkStep is the ThermalPredictor's shape: LSTM(32) over 8 inputs.
func BenchmarkStep(b *testing.B) {
	init := neural.NewInit(1)
	l, _ := New("l", 8, 32, init)
	x := make([]float32, 8)
	init.Uniform(x, 1)
	b.ReportAllocs()
	for b.Loop() {
		l.Step(x)
	}
}

// BenchmarkTrainWindow is one BPTT pass over a 60-step window.
func BenchmarkTrainWindow(b *testing.B) {
	init := neural.NewInit(1)
	l, _ := New("l", 8, 32, init)
	xs := randSeq(init, 60, 8)
	ghs := make([][]float32, 60)
	for i := range ghs {
		ghs[i] = make([]float32, 32)
		init.Uniform(ghs[i], 0.1)
	}
	b.ReportAllocs()
	for b.Loop() {
		l.Forward(xs)
		l.Backward(ghs)
	}
}
