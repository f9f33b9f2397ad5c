package conv

import (
	"fmt"
	"slices"
	"testing"

	"github.com/krystalstack/gamesa/optimizer/neural"
)

func randVec(in *neural.Init, n int) []float32 {
	v := make([]float32, n)
	in.Uniform(v, 1)
	return v
}

// naiveConv is the textbook triple loop, against which Forward's
// contiguous-window dot products are checked.
func naiveConv(c *Conv1D, x []float32, t int) []float32 {
	y := make([]float32, c.OutLen(t)*c.Out)
	for s := range c.OutLen(t) {
		for o := range c.Out {
			sum := c.B.W[o]
			for k := range c.K {
				for i := range c.In {
					sum += c.W.W[(o*c.K+k)*c.In+i] * x[(s+k)*c.In+i]
				}
			}
			y[s*c.Out+o] = sum
		}
	}
	c.Act.Apply(y)
	return y
}

func TestConvForwardHandComputed(t *testing.T) {
	for _, tc := range []struct {
		act  neural.Activation
		want []float32
	}{
		{neural.Linear, []float32{-1.5, 1.5}},
		{neural.ReLU, []float32{0, 1.5}},
	} {
		c, err := NewConv1D("c", 1, 1, 2, tc.act, neural.NewInit(1))
		if err != nil {
			t.Fatal(err)
		}
		copy(c.W.W, []float32{1, -1})
		c.B.W[0] = 0.5
		y := make([]float32, 2)
		c.Forward(y, []float32{1, 3, 2}, 3)
		if !slices.Equal(y, tc.want) {
			t.Errorf("%v conv [1 -1]+0.5 over [1 3 2] = %v; want %v", tc.act, y, tc.want)
		}
	}
}

func TestConvForwardMatchesNaive(t *testing.T) {
	for _, sh := range []struct{ in, out, k, t int }{{1, 1, 1, 1}, {3, 4, 5, 9}, {8, 8, 5, 60}, {16, 32, 3, 12}, {7, 3, 4, 4}} {
		t.Run(fmt.Sprintf("%d→%d,k%d,t%d", sh.in, sh.out, sh.k, sh.t), func(t *testing.T) {
			in := neural.NewInit(uint64(sh.in*100 + sh.k))
			c, err := NewConv1D("c", sh.in, sh.out, sh.k, neural.Tanh, in)
			if err != nil {
				t.Fatal(err)
			}
			in.Uniform(c.B.W, 0.5)
			x := randVec(in, sh.t*sh.in)
			y := make([]float32, c.OutLen(sh.t)*sh.out)
			c.Forward(y, x, sh.t)
			want := naiveConv(c, x, sh.t)
			if !close(y, want, 1e-5) {
				t.Errorf("Forward = %v; naive loop gives %v", y, want)
			}
		})
	}
}

func TestPoolForwardHandComputed(t *testing.T) {
	// Two channels over five steps; the fifth step is a dropped remainder.
	x := []float32{1, -1, 5, -2, 3, 0, 2, 4, 7, 9}
	for _, tc := range []struct {
		p    Pool
		want []float32
	}{
		{Pool{MaxPool, 2}, []float32{5, -1, 3, 4}},
		{Pool{AvgPool, 2}, []float32{3, -1.5, 2.5, 2}},
		{Pool{AvgPool, 5}, []float32{3.6, 2}},
		{Pool{MaxPool, 1}, x[:10]},
	} {
		y := make([]float32, tc.p.OutLen(5)*2)
		tc.p.Forward(y, x, 5, 2)
		if !close(y, tc.want, 1e-6) {
			t.Errorf("%v pool of %d over %v = %v; want %v", tc.p.Kind, tc.p.Size, x, y, tc.want)
		}
	}
}

func close(a, b []float32, tol float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if d := a[i] - b[i]; d > tol || d < -tol {
			return false
		}
	}
	return true
}

func TestPoolValidate(t *testing.T) {
	for _, tc := range []struct {
		p  Pool
		ok bool
	}{{Pool{MaxPool, 2}, true}, {Pool{AvgPool, 1}, true}, {Pool{MaxPool, 0}, false}, {Pool{PoolKind(7), 2}, false}} {
		if err := tc.p.Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v.Validate() = %v; want ok %v", tc.p, err, tc.ok)
		}
	}
}

// TestConvGradients checks Conv1D's parameter and input gradients against
// finite differences for every activation.
func TestConvGradients(t *testing.T) {
	for _, act := range []neural.Activation{neural.Linear, neural.ReLU, neural.Tanh, neural.Sigmoid} {
		t.Run(act.String(), func(t *testing.T) {
			in := neural.NewInit(uint64(act) + 11)
			const steps = 9
			c, err := NewConv1D("c", 3, 4, 3, act, in)
			if err != nil {
				t.Fatal(err)
			}
			// Biases well above zero keep most ReLU inputs away from the
			// kink, where a finite difference of step 1e-2 is meaningless.
			for i := range c.B.W {
				c.B.W[i] = 0.5
			}
			x := randVec(in, steps*3)
			n := c.OutLen(steps) * 4
			want := randVec(in, n)
			y, g := make([]float32, n), make([]float32, n)
			loss := func() float64 {
				c.Forward(y, x, steps)
				return float64(neural.MSE(nil, y, want))
			}
			neural.ZeroGrad(c.Params())
			c.Forward(y, x, steps)
			neural.MSE(g, y, want)
			gx := make([]float32, len(x))
			c.Backward(gx, g, x, y, steps)
			xp := &neural.Param{Name: "x", W: x, G: gx}
			if err := neural.CheckGradients(append(c.Params(), xp), loss, 2e-2, 40); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestPoolGradients checks both pool kinds' input gradients, with a
// remainder step that must get none.
func TestPoolGradients(t *testing.T) {
	for _, p := range []Pool{{MaxPool, 2}, {MaxPool, 3}, {AvgPool, 2}, {AvgPool, 3}} {
		t.Run(fmt.Sprintf("%v%d", p.Kind, p.Size), func(t *testing.T) {
			in := neural.NewInit(uint64(p.Size) + 3)
			const steps, ch = 8, 3
			x := randVec(in, steps*ch)
			n := p.OutLen(steps) * ch
			want := randVec(in, n)
			y, g := make([]float32, n), make([]float32, n)
			loss := func() float64 {
				p.Forward(y, x, steps, ch)
				return float64(neural.MSE(nil, y, want))
			}
			p.Forward(y, x, steps, ch)
			neural.MSE(g, y, want)
			gx := make([]float32, len(x))
			p.Backward(gx, g, x, y, steps, ch)
			if err := neural.CheckGradients([]*neural.Param{{Name: "x", W: x, G: gx}}, loss, 2e-2, len(x)); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestNetGradients checks a whole Net (convolutions, pooling, global
// average, dense head) with softmax cross-entropy, parameters and input.
// Its pools average: a finite difference of step 1e-2 through a max over
// dozens of windows too often flips which element wins (the analytic
// gradient is then right and the numeric one is not); TestPoolGradients
// checks max pooling where it can be checked.
func TestNetGradients(t *testing.T) {
	in := neural.NewInit(21)
	n, err := NewNet("n", 20, 3, []Block{
		{Filters: 4, Width: 3, Pool: Pool{AvgPool, 2}},
		{Filters: 5, Width: 3, Pool: Pool{AvgPool, 2}},
		{Filters: 6, Width: 2},
	}, 4, in)
	if err != nil {
		t.Fatal(err)
	}
	// Positive biases keep most ReLU inputs away from the kink, where a
	// finite difference of step 1e-2 is meaningless, and exercise the bias
	// gradients.
	for _, p := range n.Params() {
		if p.Name[len(p.Name)-1] == 'b' {
			for i := range p.W {
				p.W[i] = 0.3 + 0.1*float32(i%3)
			}
		}
	}
	x := randVec(in, 20*3)
	g, p := make([]float32, 4), make([]float32, 4)
	ce := func() float64 { return float64(neural.SoftmaxCrossEntropy(nil, p, n.Forward(x), 2)) }
	neural.ZeroGrad(n.Params())
	neural.SoftmaxCrossEntropy(g, p, n.Forward(x), 2)
	gx := slices.Clone(n.Backward(g))
	xp := &neural.Param{Name: "x", W: x, G: gx}
	if err := neural.CheckGradients(append(n.Params(), xp), ce, 2e-2, 30); err != nil {
		t.Error(err)
	}
}

func TestNewNetRejects(t *testing.T) {
	for _, tc := range []struct {
		name   string
		t, in  int
		blocks []Block
		out    int
	}{
		{"no blocks", 10, 2, nil, 3},
		{"zero window", 0, 2, []Block{{2, 2, Pool{}}}, 3},
		{"zero outputs", 10, 2, []Block{{2, 2, Pool{}}}, 0},
		{"filter too wide", 10, 2, []Block{{2, 11, Pool{}}}, 3},
		{"pooled away", 10, 2, []Block{{2, 3, Pool{MaxPool, 9}}}, 3},
		{"bad pool kind", 10, 2, []Block{{2, 3, Pool{PoolKind(5), 2}}}, 3},
		{"zero filters", 10, 2, []Block{{0, 3, Pool{}}}, 3},
	} {
		if _, err := NewNet("n", tc.t, tc.in, tc.blocks, tc.out, neural.NewInit(1)); err == nil {
			t.Errorf("NewNet(%s) = nil error; want one", tc.name)
		}
	}
}

// TestNetLearns: a Net separates windows by where in time a pulse sits on
// channel 0 (early or late), something only a temporal model can do,
// since both classes have the same per-channel mean.
func TestNetLearns(t *testing.T) {
	in := neural.NewInit(5)
	n, err := NewNet("n", 16, 2, []Block{{Filters: 4, Width: 3, Pool: Pool{MaxPool, 2}}, {Filters: 4, Width: 3}}, 2, in)
	if err != nil {
		t.Fatal(err)
	}
	rng := in.Rand()
	sample := func() ([]float32, int) {
		x := make([]float32, 32)
		label := rng.IntN(2)
		at := 1 + rng.IntN(5)
		if label == 1 {
			at += 9
		}
		x[at*2] = 1
		x[at*2+1] = 1 // the second channel marks the pulse too, position-free
		return x, label
	}
	opt := neural.NewAdam(0.02)
	g, p := make([]float32, 2), make([]float32, 2)
	for range 300 {
		neural.ZeroGrad(n.Params())
		for range 8 {
			x, l := sample()
			neural.SoftmaxCrossEntropy(g, p, n.Forward(x), l)
			n.Backward(g)
		}
		opt.Step(n.Params())
	}
	correct := 0
	for range 200 {
		x, l := sample()
		neural.Softmax(p, n.Forward(x))
		if (p[1] > p[0]) == (l == 1) {
			correct++
		}
	}
	if correct < 190 {
		t.Errorf("early/late pulse: %d/200 correct; want ≥ 190", correct)
	}
}

// BenchmarkNetForward is the workload classifier's shape: a 60×8 window,
// CNN1D(8,16,32), five classes.
func BenchmarkNetForward(b *testing.B) {
	in := neural.NewInit(1)
	n, err := NewNet("w", 60, 8, []Block{
		{Filters: 8, Width: 5, Pool: Pool{MaxPool, 2}},
		{Filters: 16, Width: 5, Pool: Pool{MaxPool, 2}},
		{Filters: 32, Width: 3},
	}, 5, in)
	if err != nil {
		b.Fatal(err)
	}
	x := randVec(in, 60*8)
	b.ReportAllocs()
	for b.Loop() {
		n.Forward(x)
	}
}
