package workload

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/krystalstack/gamesa/optimizer/neural"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
	"github.com/krystalstack/gamesa/telemetry/sim"
)

// machine is one simulated host: a seed and the hardware it runs on.
type machine struct {
	seed     uint64
	cores    int     // logical cores; 0 keeps the default (8)
	noGPU    bool    // drop the default GPU
	powerCap float64 // watts; 0 for none
}

// Training and held-out machines: disjoint seeds, and held-out hardware
// (6 and 12 cores, a power cap) that training never saw, so the test
// measures the scale-free features as much as the network. Without a GPU
// in training, a game looks like browsing to the classifier (the GPU
// channel was its strongest cue), hence GPU-less machines in both sets.
var (
	trainMachines = []machine{{seed: 1}, {seed: 2, noGPU: true}, {seed: 3, cores: 4}, {seed: 4, cores: 16, noGPU: true}}
	evalMachines  = []machine{{seed: 101}, {seed: 102, cores: 6, noGPU: true}, {seed: 103, cores: 12, powerCap: 25}}
)

const (
	simSeconds = 330 // per machine and scenario
	warmUp     = 5   // the first samples' rates are zero, as on a host
	stride     = 10  // seconds between the starts of two windows
	// accuracyFloor is the held-out accuracy the classifier must reach.
	accuracyFloor = 0.90
)

// simSamples runs a simulated machine on one scenario for n seconds.
func simSamples(t testing.TB, mc machine, scenario string, n int) []*gamesav1.Sample {
	t.Helper()
	cfg := sim.DefaultConfig()
	cfg.Seed = mc.seed
	cfg.Scenario = scenario
	if mc.cores > 0 {
		cfg.Cores = mc.cores
	}
	if mc.noGPU {
		cfg.GPU = nil
	}
	m, err := sim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if mc.powerCap > 0 {
		if err := m.SetPowerCap(mc.powerCap); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Unix(1_700_000_000+int64(mc.seed)*7919, 0)
	out := make([]*gamesav1.Sample, n)
	for i := range out {
		now = now.Add(time.Second)
		if out[i], err = m.Sample(context.Background(), now); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// simWindows cuts labelled windows from every scenario for each seed.
func simWindows(t testing.TB, machines []machine) []LabelledWindow {
	t.Helper()
	var ws []LabelledWindow
	for _, mc := range machines {
		for _, class := range Classes() {
			cw, err := Windows(class, simSamples(t, mc, class, simSeconds), warmUp, stride)
			if err != nil {
				t.Fatal(err)
			}
			ws = append(ws, cw...)
		}
	}
	return ws
}

// trained returns a model trained on the training seeds' windows.
func trained(t testing.TB) *Model {
	t.Helper()
	m, err := New(DefaultConfig(), 7)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range simWindows(t, trainMachines) {
		if err := m.AddExample(w); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.Train(300); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestHeldOutAccuracy trains on some simulator seeds and scores windows
// from others: the accuracy floor, and every class recognised.
func TestHeldOutAccuracy(t *testing.T) {
	m := trained(t)
	r := Evaluate(m, simWindows(t, evalMachines))
	t.Logf("held-out:\n%s", r)
	if r.Windows == 0 || r.Skipped != 0 {
		t.Fatalf("Evaluate used %d windows, skipped %d", r.Windows, r.Skipped)
	}
	if r.Accuracy < accuracyFloor {
		t.Errorf("held-out accuracy %.3f; want ≥ %.2f\n%s", r.Accuracy, accuracyFloor, r.Confusion)
	}
	for i, row := range r.Confusion.Counts {
		if row[i] == 0 {
			t.Errorf("class %s: no window classified correctly", r.Confusion.Classes[i])
		}
	}
}

func TestUntrainedIsNotAccurate(t *testing.T) {
	// Guards the accuracy test against an evaluation that cannot fail.
	m, err := New(DefaultConfig(), 7)
	if err != nil {
		t.Fatal(err)
	}
	if r := Evaluate(m, simWindows(t, evalMachines[:1])); r.Accuracy >= accuracyFloor {
		t.Errorf("untrained accuracy %.3f; want < %.2f", r.Accuracy, accuracyFloor)
	}
}

// TestObserveClassify drives the model as the node does: Observe each
// sample, Classify after the last.
func TestObserveClassify(t *testing.T) {
	m := trained(t)
	for ci, class := range []string{ClassRender, ClassGame, ClassCompile} {
		ss := simSamples(t, machine{seed: 202}, class, Window+warmUp)
		for i, s := range ss {
			if err := m.Observe(s); err != nil {
				t.Fatal(err)
			}
			got, conf, ok := m.Classify()
			// The window is full from the first class's Window-th sample on.
			if full := ci > 0 || i >= Window-1; ok != full {
				t.Fatalf("%s: after %d samples Classify ok = %v; want %v", class, i+1, ok, full)
			}
			if i == len(ss)-1 && (got != class || !(conf > 0.5 && conf <= 1)) {
				t.Errorf("%s: Classify() = %q, %.3f; want %q with confidence in (0.5, 1]", class, got, conf, class)
			}
		}
	}
}

// TestClassifyStreamsExactly checks that Classify, which streams the
// window (one new row per stage a sample), gives the probabilities of the
// whole window's forward pass bit for bit, tick after tick, across
// training steps that change the weights and ticks it is not asked.
func TestClassifyStreamsExactly(t *testing.T) {
	m, err := New(DefaultConfig(), 5)
	if err != nil {
		t.Fatal(err)
	}
	var ss []*gamesav1.Sample
	for _, class := range []string{ClassGame, ClassCompile, ClassIdle} {
		ss = append(ss, simSamples(t, machine{seed: 31}, class, 2*Window)...)
	}
	var logits [numClasses]float32
	for i, s := range ss {
		class := Classes()[1+i/(2*Window)%2] // labelled, so that Train has windows
		if err := m.ObserveLabelled(s, class); err != nil {
			t.Fatal(err)
		}
		if i%50 == 49 {
			if _, err := m.Train(2); err != nil {
				t.Fatal(err)
			}
		}
		if i%9 == 4 {
			continue // a tick nobody asks: the stream catches up next time
		}
		_, conf, ok := m.Classify()
		if !ok {
			continue
		}
		got := m.probs
		m.linearize()
		copy(logits[:], m.net.Forward(m.x[:]))
		neural.Softmax(m.probs[:], logits[:])
		for k := range got {
			if math.Float32bits(got[k]) != math.Float32bits(m.probs[k]) {
				t.Fatalf("sample %d: streamed probabilities %v; the whole window's pass gives %v", i, got, m.probs)
			}
		}
		if conf != got[m.class] {
			t.Fatalf("sample %d: confidence %v; want its class's probability %v", i, conf, got[m.class])
		}
	}
}

// TestObserveLabelledLearns trains only through ObserveLabelled and Train,
// as the node would online, and checks the replay buffer fills as stated.
func TestObserveLabelledLearns(t *testing.T) {
	cfg := DefaultConfig()
	m, err := New(cfg, 3)
	if err != nil {
		t.Fatal(err)
	}
	if loss, err := m.Train(5); loss != 0 || err != nil {
		t.Errorf("Train with nothing filed = %v, %v; want 0, nil", loss, err)
	}
	const seconds = 200
	for _, class := range []string{ClassIdle, ClassRender} {
		for _, s := range simSamples(t, machine{seed: 9}, class, seconds) {
			if err := m.ObserveLabelled(s, class); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Per class: the first full window, then one every LabelEvery.
	want := uint64(2 * (1 + (seconds-Window)/cfg.LabelEvery))
	if got := m.TrainingSamples(); got != want {
		t.Errorf("TrainingSamples() = %d; want %d", got, want)
	}
	first, err := m.Train(1)
	if err != nil {
		t.Fatal(err)
	}
	var last float32
	for range 40 {
		if last, err = m.Train(5); err != nil {
			t.Fatal(err)
		}
	}
	if !(last < first/4) {
		t.Errorf("loss %.3f after 200 steps; want below a quarter of the first step's %.3f", last, first)
	}
	if got, _, _ := m.Classify(); got != ClassRender {
		t.Errorf("Classify() after rendering = %q; want %q", got, ClassRender)
	}
}

func TestObserveRejects(t *testing.T) {
	good := simSamples(t, machine{seed: 1}, ClassIdle, 3)[2]
	nan := func(f func(s *gamesav1.Sample)) *gamesav1.Sample {
		s := simSamples(t, machine{seed: 1}, ClassIdle, 3)[2]
		f(s)
		return s
	}
	for _, tc := range []struct {
		name  string
		s     *gamesav1.Sample
		class string
		want  error
	}{
		{"nil sample", nil, "", ErrIncomplete},
		{"no cpu", &gamesav1.Sample{}, "", ErrIncomplete},
		{"NaN cpu", nan(func(s *gamesav1.Sample) { s.Cpu.UtilizationPercent = math.NaN() }), "", neural.ErrNonFinite},
		{"Inf disk", nan(func(s *gamesav1.Sample) { s.Disks[0].ReadBytesPerSecond = math.Inf(1) }), "", neural.ErrNonFinite},
		{"NaN memory", nan(func(s *gamesav1.Sample) { s.Memory.UsedPercent = math.NaN() }), "", neural.ErrNonFinite},
		{"NaN core", nan(func(s *gamesav1.Sample) { s.Cpu.Cores[1].UtilizationPercent = math.NaN() }), "", neural.ErrNonFinite},
		{"NaN gpu", nan(func(s *gamesav1.Sample) { s.Gpus[0].UtilizationPercent = math.NaN() }), "", neural.ErrNonFinite},
		{"unknown class", good, "mining", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := New(DefaultConfig(), 1)
			if err != nil {
				t.Fatal(err)
			}
			err = m.ObserveLabelled(tc.s, tc.class)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("ObserveLabelled(%s) = %v; want an error wrapping %v", tc.name, err, tc.want)
			}
			if m.filled != 0 {
				t.Errorf("a rejected sample entered the window (%d rows)", m.filled)
			}
		})
	}
}

func TestFeatures(t *testing.T) {
	s := &gamesav1.Sample{
		Cpu: &gamesav1.CPU{UtilizationPercent: 40, SystemPercent: 10, Cores: []*gamesav1.CPUCore{
			{UtilizationPercent: 100}, {UtilizationPercent: 50}, {UtilizationPercent: 10}, {UtilizationPercent: 0},
		}},
		Gpus:   []*gamesav1.GPU{{UtilizationPercent: 20}, {UtilizationPercent: 80}},
		Memory: &gamesav1.Memory{UsedPercent: 25},
		Disks:  []*gamesav1.Disk{{ReadBytesPerSecond: 600, WriteBytesPerSecond: 399}},
		Net:    []*gamesav1.NetInterface{{RxBytesPerSecond: -5}},
	}
	want := []float32{0.4, 1, 0.5, 0.8, 0.25, 3.0 / 9, 0, 0.25}
	got := make([]float32, Channels)
	if err := Features(got, s); err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > 1e-6 {
			t.Errorf("Features()[%d] = %v; want %v (all: %v)", i, got[i], want[i], got)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    func(c *Config)
	}{
		{"replay 0", func(c *Config) { c.ReplayCapacity = 0 }},
		{"batch 0", func(c *Config) { c.BatchSize = 0 }},
		{"lr NaN", func(c *Config) { c.LearningRate = float32(math.NaN()) }},
		{"lr 0", func(c *Config) { c.LearningRate = 0 }},
		{"label every 0", func(c *Config) { c.LabelEvery = 0 }},
	} {
		c := DefaultConfig()
		tc.f(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("Validate(%s) = nil; want an error", tc.name)
		}
		if _, err := New(c, 1); err == nil {
			t.Errorf("New(%s) = nil error; want one", tc.name)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("DefaultConfig().Validate() = %v", err)
	}
}

func TestAddExampleRejects(t *testing.T) {
	m, _ := New(DefaultConfig(), 1)
	x := make([]float32, Window*Channels)
	bad := append([]float32(nil), x...)
	bad[17] = float32(math.Inf(-1))
	for _, w := range []LabelledWindow{
		{Class: "mining", X: x},
		{Class: ClassIdle, X: x[:10]},
		{Class: ClassIdle, X: bad},
	} {
		if err := m.AddExample(w); err == nil {
			t.Errorf("AddExample(%q, %d features) = nil; want an error", w.Class, len(w.X))
		}
	}
	if r := Evaluate(m, []LabelledWindow{{Class: ClassIdle, X: bad}, {Class: ClassIdle, X: x}}); r.Skipped != 1 || r.Windows != 1 {
		t.Errorf("Evaluate with one bad window: %d skipped, %d used; want 1, 1", r.Skipped, r.Windows)
	}
	if m.TrainingSamples() != 0 {
		t.Errorf("rejected examples counted: TrainingSamples() = %d", m.TrainingSamples())
	}
}

func TestMarshalLoadRoundTrip(t *testing.T) {
	m, err := New(DefaultConfig(), 5)
	if err != nil {
		t.Fatal(err)
	}
	ws := simWindows(t, trainMachines[:1])[:20]
	for _, w := range ws {
		if err := m.AddExample(w); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.Train(3); err != nil {
		t.Fatal(err)
	}
	data, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	l, err := Load(data, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if l.TrainingSamples() != 20 {
		t.Errorf("loaded TrainingSamples() = %d; want 20", l.TrainingSamples())
	}
	for i, w := range ws {
		a := append([]float32(nil), m.net.Forward(w.X)...)
		b := l.net.Forward(w.X)
		for k := range a {
			if math.Float32bits(a[k]) != math.Float32bits(b[k]) {
				t.Fatalf("window %d: logits %v after loading; want %v", i, b, a)
			}
		}
	}
	again, err := l.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != string(data) {
		t.Error("a loaded model marshals to other bytes")
	}
}

func TestLoadRejects(t *testing.T) {
	m, _ := New(DefaultConfig(), 5)
	data, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	other, err := neural.Encode(neural.Meta{Kind: Kind, Arch: []int32{60, 8, 4, 5, 2, 5}}, m.net.Params())
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := neural.Encode(neural.Meta{Kind: "thermal", Arch: arch()}, m.net.Params())
	if err != nil {
		t.Fatal(err)
	}
	flipped := append([]byte(nil), data...)
	flipped[len(flipped)/2] ^= 0x40
	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, neural.ErrWrongModel}, // no format version
		{"truncated", data[:len(data)-9], neural.ErrCorruptModel},
		{"bit flip", flipped, neural.ErrCorruptModel},
		{"other kind", foreign, neural.ErrWrongModel},
		{"other arch", other, ErrArch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Load(tc.data, DefaultConfig()); !errors.Is(err, tc.want) {
				t.Errorf("Load(%s) = %v; want %v", tc.name, err, tc.want)
			}
		})
	}
	bad := DefaultConfig()
	bad.BatchSize = 0
	if _, err := Load(data, bad); err == nil {
		t.Error("Load with an invalid Config = nil error; want one")
	}
}

func TestConfusionMatrixString(t *testing.T) {
	c := ConfusionMatrix{Classes: []string{"a", "bb"}, Counts: [][]int{{3, 1}, {0, 0}}}
	got := c.String()
	want := "true\\pred         a        bb    recall\n" +
		"a                 3         1     75.0%\n" +
		"bb                0         0         -\n"
	if got != want {
		t.Errorf("String() =\n%s\nwant\n%s", got, want)
	}
	if r := (Report{Windows: 4, Correct: 3, Accuracy: 0.75, Confusion: c}); !strings.HasPrefix(r.String(), "accuracy 75.0% (3 of 4 windows)\n") {
		t.Errorf("Report.String() = %q", r.String())
	}
}

func FuzzLoad(f *testing.F) {
	m, _ := New(DefaultConfig(), 5)
	good, err := m.MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/3])
	f.Add([]byte{})
	f.Add([]byte("\x0a\x08workload"))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := Load(data, DefaultConfig())
		if err != nil {
			if l != nil {
				t.Fatal("Load returned a model with an error")
			}
			return
		}
		// Whatever loads must classify without producing NaN.
		x := make([]float32, Window*Channels)
		if err := neural.CheckFinite("logits", l.net.Forward(x)); err != nil {
			t.Fatalf("a loaded model computes %v", err)
		}
	})
}

// BenchmarkClassify is one forward pass over the whole 60 × 8 window: what
// Classify computes when its stream starts or catches up after training.
// BenchmarkObserveClassify is a tick's cost, streamed.
func BenchmarkClassify(b *testing.B) {
	m, err := New(DefaultConfig(), 1)
	if err != nil {
		b.Fatal(err)
	}
	ss := simSamples(b, machine{seed: 1}, ClassGame, Window+1)
	for _, s := range ss[:Window] {
		if err := m.Observe(s); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		m.fresh = false // as after an Observe, without timing the features
		m.stream.Invalidate()
		if _, _, ok := m.Classify(); !ok {
			b.Fatal("not ready")
		}
	}
}

// BenchmarkObserveClassify is one tick's work: the features of a Sample,
// then the classification.
func BenchmarkObserveClassify(b *testing.B) {
	m, err := New(DefaultConfig(), 1)
	if err != nil {
		b.Fatal(err)
	}
	ss := simSamples(b, machine{seed: 1}, ClassGame, Window)
	for _, s := range ss {
		if err := m.Observe(s); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := m.Observe(ss[i%Window]); err != nil {
			b.Fatal(err)
		}
		m.Classify()
		i++
	}
}
