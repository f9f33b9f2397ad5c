package neural

import (
	"errors"
	"math"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

func randVec(in *Init, n int) []float32 {
	v := make([]float32, n)
	in.Uniform(v, 1)
	return v
}

// TestGradientsMLP checks Dense and MLP backprop against finite differences
// for every activation, with MSE and with softmax cross-entropy.
func TestGradientsMLP(t *testing.T) {
	for _, act := range []Activation{Linear, ReLU, Tanh, Sigmoid} {
		t.Run(act.String(), func(t *testing.T) {
			in := NewInit(uint64(act) + 1)
			m, err := NewMLP("m", []int{5, 7, 3}, act, Linear, in)
			if err != nil {
				t.Fatal(err)
			}
			x, want := randVec(in, 5), randVec(in, 3)
			g := make([]float32, 3)
			loss := func() float64 { return float64(MSE(nil, m.Forward(x), want)) }
			ZeroGrad(m.Params())
			MSE(g, m.Forward(x), want)
			m.Backward(g)
			if err := CheckGradients(m.Params(), loss, 2e-2, 40); err != nil {
				t.Errorf("MSE: %v", err)
			}

			p := make([]float32, 3)
			ce := func() float64 { return float64(SoftmaxCrossEntropy(nil, p, m.Forward(x), 1)) }
			ZeroGrad(m.Params())
			SoftmaxCrossEntropy(g, p, m.Forward(x), 1)
			m.Backward(g)
			if err := CheckGradients(m.Params(), ce, 2e-2, 40); err != nil {
				t.Errorf("cross-entropy: %v", err)
			}
		})
	}
}

// TestInputGradient: the gradient MLP.Backward returns for the input matches
// finite differences too (the LSTM and CNN chain through it).
func TestInputGradient(t *testing.T) {
	in := NewInit(9)
	m, _ := NewMLP("m", []int{4, 6, 2}, Tanh, Linear, in)
	x, want := randVec(in, 4), randVec(in, 2)
	g := make([]float32, 2)
	MSE(g, m.Forward(x), want)
	gx := append([]float32(nil), m.Backward(g)...)
	xp := &Param{Name: "x", W: x, G: gx}
	if err := CheckGradients([]*Param{xp}, func() float64 { return float64(MSE(nil, m.Forward(x), want)) }, 2e-2, 4); err != nil {
		t.Error(err)
	}
}

func TestXORConverges(t *testing.T) {
	for _, opt := range []struct {
		name string
		o    Optimizer
	}{{"adam", NewAdam(0.05)}, {"sgd-momentum", &SGD{LR: 0.2, Momentum: 0.9}}} {
		t.Run(opt.name, func(t *testing.T) {
			m, _ := NewMLP("xor", []int{2, 8, 1}, Tanh, Sigmoid, NewInit(3))
			xs := [][]float32{{0, 0}, {0, 1}, {1, 0}, {1, 1}}
			ys := [][]float32{{0}, {1}, {1}, {0}}
			g := make([]float32, 1)
			for epoch := 0; epoch < 2000; epoch++ {
				ZeroGrad(m.Params())
				for i := range xs {
					MSE(g, m.Forward(xs[i]), ys[i])
					m.Backward(g)
				}
				opt.o.Step(m.Params())
			}
			for i := range xs {
				if y := m.Forward(xs[i])[0]; math.Abs(float64(y-ys[i][0])) > 0.2 {
					t.Errorf("xor%v = %.3f; want %v", xs[i], y, ys[i][0])
				}
			}
		})
	}
}

func TestSeededInitIsReproducible(t *testing.T) {
	a, _ := NewMLP("m", []int{3, 4, 2}, ReLU, Linear, NewInit(42))
	b, _ := NewMLP("m", []int{3, 4, 2}, ReLU, Linear, NewInit(42))
	c, _ := NewMLP("m", []int{3, 4, 2}, ReLU, Linear, NewInit(43))
	if !equalParams(a.Params(), b.Params()) {
		t.Error("same seed gave different weights")
	}
	if equalParams(a.Params(), c.Params()) {
		t.Error("different seeds gave the same weights")
	}
}

func equalParams(a, b []*Param) bool {
	for i := range a {
		for j := range a[i].W {
			if math.Float32bits(a[i].W[j]) != math.Float32bits(b[i].W[j]) {
				return false
			}
		}
	}
	return true
}

func testModel(t *testing.T) ([]byte, *MLP) {
	t.Helper()
	m, _ := NewMLP("m", []int{3, 4, 2}, Tanh, Linear, NewInit(5))
	data, err := Encode(Meta{
		Kind: "test", Arch: []int32{3, 4, 2}, Version: 7, TrainingSamples: 1000,
		TrainedAt: time.Unix(1700000000, 0), Metrics: map[string]float64{"rmse": 0.5},
		Input: &Normalizer{Mean: []float32{1, 2, 3}, Std: []float32{1, 1, 2}},
	}, m.Params())
	if err != nil {
		t.Fatal(err)
	}
	return data, m
}

func TestCodecRoundTripIsBitExact(t *testing.T) {
	data, m := testModel(t)
	dm, err := Decode(data, "test")
	if err != nil {
		t.Fatal(err)
	}
	m2, _ := NewMLP("m", []int{3, 4, 2}, Tanh, Linear, NewInit(99))
	if err := Load(dm, m2.Params()); err != nil {
		t.Fatal(err)
	}
	if !equalParams(m.Params(), m2.Params()) {
		t.Error("weights differ after a round trip")
	}
	in, out := Normalizers(dm)
	if in == nil || in.Std[2] != 2 || out != nil || dm.Version != 7 || dm.TrainingSamples != 1000 {
		t.Errorf("meta after round trip: in %v out %v version %d samples %d", in, out, dm.Version, dm.TrainingSamples)
	}
}

func TestDecodeRejects(t *testing.T) {
	data, _ := testModel(t)
	alter := func(f func(m *gamesav1.Model)) []byte {
		m := &gamesav1.Model{}
		if err := proto.Unmarshal(data, m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tc := range []struct {
		name string
		data []byte
		kind string
		want error
	}{
		{"truncated", data[:len(data)/2], "test", ErrCorruptModel},
		{"garbage", []byte("not a model at all"), "test", ErrCorruptModel},
		{"wrong kind", data, "other", ErrWrongModel},
		{"newer format", alter(func(m *gamesav1.Model) { m.FormatVersion = 99 }), "test", ErrWrongModel},
		{"weight changed", alter(func(m *gamesav1.Model) { m.Tensors[0].Data[0] += 1 }), "test", ErrCorruptModel},
		{"NaN weight, rehashed", alter(func(m *gamesav1.Model) {
			m.Tensors[0].Data[0] = float32(math.NaN())
			m.ContentHash = Hash(m)
		}), "test", ErrCorruptModel},
		{"zero std, rehashed", alter(func(m *gamesav1.Model) {
			m.Input.Std[0] = 0
			m.ContentHash = Hash(m)
		}), "test", ErrCorruptModel},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Decode(tc.data, tc.kind); !errors.Is(err, tc.want) {
				t.Errorf("Decode = %v; want %v", err, tc.want)
			}
		})
	}
	// A model of another shape does not load, and leaves the target alone.
	dm, err := Decode(data, "test")
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewMLP("m", []int{3, 5, 2}, Tanh, Linear, NewInit(1))
	before := append([]float32(nil), other.Params()[0].W...)
	if err := Load(dm, other.Params()); !errors.Is(err, ErrWrongModel) {
		t.Errorf("Load into another shape = %v; want ErrWrongModel", err)
	}
	if !equalParams([]*Param{{W: before}}, other.Params()[:1]) {
		t.Error("a failed Load changed the weights")
	}
}

func TestEncodeRefusesNonFinite(t *testing.T) {
	m, _ := NewMLP("m", []int{2, 2}, Linear, Linear, NewInit(1))
	m.Params()[0].W[1] = float32(math.Inf(1))
	if _, err := Encode(Meta{Kind: "x"}, m.Params()); !errors.Is(err, ErrNonFinite) {
		t.Errorf("Encode(Inf) = %v; want ErrNonFinite", err)
	}
}

func FuzzDecode(f *testing.F) {
	m, _ := NewMLP("m", []int{3, 4, 2}, Tanh, Linear, NewInit(5))
	good, _ := Encode(Meta{Kind: "test", Arch: []int32{3, 4, 2}}, m.Params())
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x04, 't', 'e', 's', 't'})
	f.Fuzz(func(t *testing.T, data []byte) {
		dm, err := Decode(data, "test")
		if err != nil {
			return
		}
		// Whatever decodes must be loadable or refused cleanly, never panic.
		_ = Load(dm, m.Params()) // an error is a fine answer here
	})
}

// BenchmarkMLPForward is the PerformancePolicy's shape, MLP(64,32,16).
func BenchmarkMLPForward(b *testing.B) {
	in := NewInit(1)
	m, _ := NewMLP("p", []int{64, 32, 16}, ReLU, Linear, in)
	x := randVec(in, 64)
	b.ReportAllocs()
	for b.Loop() {
		m.Forward(x)
	}
}

// TestHashSealsMetrics: metrics hold model state (a detector's threshold),
// so changing one must break the hash.
func TestHashSealsMetrics(t *testing.T) {
	data, _ := testModel(t)
	m := &gamesav1.Model{}
	if err := proto.Unmarshal(data, m); err != nil {
		t.Fatal(err)
	}
	m.Metrics["rmse"] = 0.25
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(b, "test"); !errors.Is(err, ErrCorruptModel) {
		t.Errorf("Decode after changing a metric = %v; want ErrCorruptModel", err)
	}
}

// TestStepSkipsNonFiniteGradients: one NaN or Inf gradient leaves every
// weight as it was, for both optimizers.
func TestStepSkipsNonFiniteGradients(t *testing.T) {
	for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1))} {
		for _, o := range []Optimizer{NewAdam(0.1), &SGD{LR: 0.1, Momentum: 0.9, ClipNorm: 1}} {
			m, _ := NewMLP("m", []int{2, 3, 1}, Tanh, Linear, NewInit(1))
			before := make([][]float32, 0)
			for _, p := range m.Params() {
				before = append(before, append([]float32(nil), p.W...))
				for i := range p.G {
					p.G[i] = 0.5
				}
			}
			m.Params()[1].G[0] = bad
			o.Step(m.Params())
			for i, p := range m.Params() {
				if !equalParams([]*Param{{W: before[i]}}, []*Param{p}) {
					t.Errorf("%T with a %v gradient changed %s", o, bad, p.Name)
				}
			}
		}
	}
}
