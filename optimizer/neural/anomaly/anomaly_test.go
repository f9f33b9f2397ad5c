package anomaly

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/krystalstack/gamesa/optimizer/neural"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v; want nil", err)
	}
	for _, tc := range []struct {
		field string
		edit  func(c *Config)
	}{
		{"ReplaySize", func(c *Config) { c.ReplaySize = 0 }},
		{"MinFitSamples", func(c *Config) { c.MinFitSamples = c.ReplaySize + 1 }},
		{"BatchSize", func(c *Config) { c.BatchSize = 0 }},
		{"LearningRate", func(c *Config) { c.LearningRate = float32(math.NaN()) }},
		{"Noise", func(c *Config) { c.Noise = -1 }},
		{"ThresholdK", func(c *Config) { c.ThresholdK = math.Inf(1) }},
		{"ThresholdAlpha", func(c *Config) { c.ThresholdAlpha = 1 }},
		{"WarmupScores", func(c *Config) { c.WarmupScores = 0 }},
		{"Persist", func(c *Config) { c.Persist = 0 }},
		{"MaxGap", func(c *Config) { c.MaxGap = 0 }},
	} {
		c := DefaultConfig()
		tc.edit(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("Validate() with bad %s = %v; want an error naming it", tc.field, err)
		}
		if _, err := New(c, 1); err == nil {
			t.Errorf("New() with bad %s = nil error", tc.field)
		}
	}
}

// fitted returns a detector whose normaliser is fitted and that has taken
// a few steps, without the cost of trainedModel.
func fitted(t testing.TB) (*Model, []*gamesav1.Sample) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.MinFitSamples = 100
	m, err := New(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	st := simStream(t, 9, 20*time.Second, phase{cycle, 200, 0})
	for _, s := range st {
		if err := m.Observe(s); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.Train(20); err != nil {
		t.Fatal(err)
	}
	return m, st
}

func TestObserveRejectsNonFinite(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	for _, tc := range []struct {
		name string
		edit func(s *gamesav1.Sample)
	}{
		{"cpu", func(s *gamesav1.Sample) { s.Cpu.UtilizationPercent = nan }},
		{"core", func(s *gamesav1.Sample) { s.Cpu.Cores[3].UtilizationPercent = -inf }},
		{"temperature", func(s *gamesav1.Sample) { s.Thermal[0].TemperatureCelsius = nan }},
		{"core temperature", func(s *gamesav1.Sample) { s.Thermal[2].TemperatureCelsius = -inf }},
		{"power", func(s *gamesav1.Sample) { s.Power.TotalWatts = inf }},
		{"fan", func(s *gamesav1.Sample) { s.Fans[0].Rpm = nan }},
		{"process", func(s *gamesav1.Sample) { s.Processes.Top[1].CpuPercent = nan }},
		{"beyond float32", func(s *gamesav1.Sample) { s.Power.TotalWatts = 1e300 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, st := fitted(t)
			before, _, _ := m.Score()
			beforeN, beforeLen := m.thN, m.replayLen
			bad := proto.Clone(st[len(st)-1]).(*gamesav1.Sample)
			bad.Time = timestamppb.New(st[len(st)-1].Time.AsTime().Add(time.Second))
			tc.edit(bad)
			if err := m.Observe(bad); !errors.Is(err, neural.ErrNonFinite) {
				t.Fatalf("Observe(%s bad) = %v; want ErrNonFinite", tc.name, err)
			}
			after, _, _ := m.Score()
			if math.Float32bits(after) != math.Float32bits(before) || m.thN != beforeN || m.replayLen != beforeLen {
				t.Errorf("a rejected sample changed the model: score %v→%v, threshold n %d→%d, replay %d→%d",
					before, after, beforeN, m.thN, beforeLen, m.replayLen)
			}
		})
	}
}

func TestObserveRejectsMissingTime(t *testing.T) {
	m, st := fitted(t)
	if err := m.Observe(nil); err == nil {
		t.Error("Observe(nil) = nil; want an error")
	}
	s := proto.Clone(st[0]).(*gamesav1.Sample)
	s.Time = nil
	if err := m.Observe(s); !errors.Is(err, ErrNoTime) {
		t.Errorf("Observe(no time) = %v; want ErrNoTime", err)
	}
}

// TestWindow: a score needs Window consecutive samples after the one that
// starts the window (the first has no rate), and a gap or a step back in
// time starts over.
func TestWindow(t *testing.T) {
	m, _ := fitted(t)
	st := simStream(t, 10, 0, phase{idle, 40, 0})
	m.reset()
	for i, s := range st[:Window+1] {
		if err := m.Observe(s); err != nil {
			t.Fatal(err)
		}
		if _, _, ok := m.Score(); ok != (i == Window) {
			t.Errorf("after %d samples ok = %v; want %v", i+1, ok, i == Window)
		}
	}
	// Skip more than MaxGap: the next sample starts over.
	if err := m.Observe(st[Window+1+int(m.cfg.MaxGap/time.Second)+1]); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := m.Score(); ok {
		t.Error("after a gap Score ok = true; want false")
	}
	// Backwards in time starts over too.
	if err := m.Observe(st[2]); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := m.Score(); ok {
		t.Error("after time went back Score ok = true; want false")
	}
}

func TestNoScoreBeforeTraining(t *testing.T) {
	m, err := New(DefaultConfig(), 1)
	if err != nil {
		t.Fatal(err)
	}
	st := simStream(t, 11, 0, phase{game, 50, 0})
	for _, s := range st {
		if err := m.Observe(s); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, ok := m.Score(); ok {
		t.Error("Score ok before the normaliser is fitted")
	}
	if loss, err := m.Train(10); loss != 0 || err != nil {
		t.Errorf("Train with %d of %d vectors = %v, %v; want 0, nil", m.replayLen, m.cfg.MinFitSamples, loss, err)
	}
	if got := m.TrainingSamples(); got != uint64(len(st)-1-Window+1) {
		t.Errorf("TrainingSamples() = %d; want %d (one per full window)", got, len(st)-Window)
	}
}

// TestTrainLowersLoss: training on normal data reduces the reconstruction
// loss, and the same seed trains to the same weights.
func TestTrainLowersLoss(t *testing.T) {
	run := func() (first, last float32, m *Model) {
		m, _ = fitted(t)
		first, _ = m.Train(50)
		for range 10 {
			last, _ = m.Train(50)
		}
		return first, last, m
	}
	first, last, a := run()
	if !(last < first/2) {
		t.Errorf("loss after 550 steps = %v; want below half of the first 50 steps' %v", last, first)
	}
	_, _, b := run()
	for i, p := range a.net.Params() {
		for j := range p.W {
			if math.Float32bits(p.W[j]) != math.Float32bits(b.net.Params()[i].W[j]) {
				t.Fatalf("two runs with one seed differ at %s[%d]", p.Name, j)
			}
		}
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	m := mustTrained(t)
	data, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	l, err := Load(data, m.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if l.TrainingSamples() != m.TrainingSamples() || l.thMean != m.thMean || l.thVar != m.thVar || l.thN != m.thN {
		t.Errorf("after a round trip: samples %d, threshold (%v, %v, %d); want %d, (%v, %v, %d)",
			l.TrainingSamples(), l.thMean, l.thVar, l.thN, m.TrainingSamples(), m.thMean, m.thVar, m.thN)
	}
	// Both score a fresh stream bit-identically. m is shared: put its
	// threshold back afterwards.
	defer m.restore(m.snapshot())
	m.reset()
	st := simStream(t, 12, 30*time.Second, phase{cycle, 120, 0})
	m.frozen, l.frozen = true, true
	for i, s := range st {
		if err := m.Observe(s); err != nil {
			t.Fatal(err)
		}
		if err := l.Observe(s); err != nil {
			t.Fatal(err)
		}
		a, af, aok := m.Score()
		b, bf, bok := l.Score()
		if math.Float32bits(a) != math.Float32bits(b) || af != bf || aok != bok {
			t.Fatalf("sample %d: loaded model scores %v %v %v; original %v %v %v", i, b, bf, bok, a, af, aok)
		}
	}
}

func TestLoadRejects(t *testing.T) {
	m, _ := fitted(t)
	good, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	alter := func(f func(pm *gamesav1.Model)) []byte {
		pm := &gamesav1.Model{}
		if err := proto.Unmarshal(good, pm); err != nil {
			t.Fatal(err)
		}
		f(pm)
		pm.ContentHash = neural.Hash(pm)
		b, err := proto.Marshal(pm)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	other, _ := neural.NewMLP("ae", []int{Features, 8, Features}, neural.Tanh, neural.Linear, neural.NewInit(1))
	wrongArch, err := neural.Encode(neural.Meta{Kind: Kind, Arch: []int32{Features, 8, Features}}, other.Params())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		{"truncated", good[:len(good)-7], neural.ErrCorruptModel},
		{"empty", nil, neural.ErrWrongModel},
		{"other kind", alter(func(pm *gamesav1.Model) { pm.Kind = "thermal" }), neural.ErrWrongModel},
		{"other architecture", wrongArch, neural.ErrWrongModel},
		{"arch says 16 but tensors are not", alter(func(pm *gamesav1.Model) { pm.Tensors = pm.Tensors[:2] }), neural.ErrWrongModel},
		{"short normaliser", alter(func(pm *gamesav1.Model) { pm.Input.Mean, pm.Input.Std = pm.Input.Mean[:8], pm.Input.Std[:8] }), neural.ErrWrongModel},
		{"output normaliser", alter(func(pm *gamesav1.Model) { pm.Output = pm.Input }), neural.ErrWrongModel},
		{"NaN threshold", alter(func(pm *gamesav1.Model) { pm.Metrics[metricThresholdMean] = math.NaN() }), neural.ErrCorruptModel},
		{"negative variance", alter(func(pm *gamesav1.Model) { pm.Metrics[metricThresholdVar] = -1 }), neural.ErrCorruptModel},
		{"fractional count", alter(func(pm *gamesav1.Model) { pm.Metrics[metricThresholdN] = 2.5 }), neural.ErrCorruptModel},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Load(tc.data, DefaultConfig()); !errors.Is(err, tc.want) {
				t.Errorf("Load(%s) = %v; want %v", tc.name, err, tc.want)
			}
		})
	}
	bad := DefaultConfig()
	bad.BatchSize = 0
	if _, err := Load(good, bad); err == nil {
		t.Error("Load with an invalid Config = nil error")
	}
}

func FuzzLoad(f *testing.F) {
	cfg := DefaultConfig()
	cfg.MinFitSamples = 2
	cfg.ReplaySize = 64
	m, err := New(cfg, 1)
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte{})
	f.Add([]byte("not a model"))
	untrained, err := m.MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(untrained)
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := Load(data, cfg)
		if err != nil {
			if !errors.Is(err, neural.ErrCorruptModel) && !errors.Is(err, neural.ErrWrongModel) {
				t.Fatalf("Load = %v; want ErrCorruptModel or ErrWrongModel", err)
			}
			return
		}
		// Whatever loads must re-encode and load again.
		again, err := l.MarshalBinary()
		if err != nil {
			t.Fatalf("MarshalBinary of a loaded model = %v", err)
		}
		if _, err := Load(again, cfg); err != nil {
			t.Fatalf("Load of a re-encoded model = %v", err)
		}
	})
}

func TestObserveScoreAllocatesNothing(t *testing.T) {
	m, _ := fitted(t)
	st := simStream(t, 13, 0, phase{game, 300, 0})
	for _, s := range st[:Window+1] {
		if err := m.Observe(s); err != nil {
			t.Fatal(err)
		}
	}
	i := Window + 1
	allocs := testing.AllocsPerRun(200, func() {
		if err := m.Observe(st[i]); err != nil {
			t.Fatal(err)
		}
		m.Score()
		i++
	})
	if allocs != 0 {
		t.Errorf("Observe+Score allocates %v times per call; want 0", allocs)
	}
}
