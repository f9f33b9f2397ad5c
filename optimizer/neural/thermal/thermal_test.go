package thermal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/krystalstack/gamesa/optimizer/neural"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
	"github.com/krystalstack/gamesa/telemetry/sim"
)

var t0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// synthetic is a first-order thermal response to a square-wave load with
// a little sensor noise: T relaxes towards 40 + 0.5·load with a 20 s time
// constant.
func synthetic(n int, seed uint64) Series {
	in := neural.NewInit(seed)
	s := Series{Name: "synthetic"}
	temp := 45.0
	for i := range n {
		load := 10.0
		if (i/120)%2 == 1 {
			load = 90
		}
		temp += (40 + 0.5*load - temp) / 20
		noise := in.Rand().NormFloat64() * 0.3
		s.Points = append(s.Points, Point{
			Time: t0.Add(time.Duration(i) * time.Second), PackageC: temp + noise,
			LoadPercent: load, ClockMHz: 800 + 30*load, PowerW: 5 + 0.4*load,
		})
	}
	return s
}

func smallConfig() Config {
	cfg := DefaultConfig()
	cfg.TrainSteps = 150
	return cfg
}

func trained(t *testing.T) *Model {
	t.Helper()
	m, _, err := Train([]Series{synthetic(3000, 1)}, smallConfig())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestLearnsSyntheticResponse: on a known first-order response the model
// beats persistence at every horizon on unseen data.
func TestLearnsSyntheticResponse(t *testing.T) {
	m := trained(t)
	r := Evaluate(m, []Series{synthetic(1500, 2)})
	t.Logf("\n%s", r)
	for h, sec := range Horizons {
		if l, p := r.Smoothed.LSTM.MAE[h], r.Smoothed.Persistence.MAE[h]; l >= 0.7*p {
			t.Errorf("%d s: LSTM MAE %.3f; want below 70%% of persistence %.3f", sec, l, p)
		}
	}
}

func TestForecastNeedsWarmupAndResetsOnGap(t *testing.T) {
	m := trained(t)
	s := synthetic(100, 3)
	cfg := smallConfig()
	for i, p := range s.Points[:cfg.Warmup] {
		if _, ok := m.Forecast(); ok {
			t.Fatalf("Forecast ok after %d observations; want not before %d", i, cfg.Warmup)
		}
		if err := m.ObservePoint(p); err != nil {
			t.Fatal(err)
		}
	}
	f, ok := m.Forecast()
	if !ok {
		t.Fatalf("Forecast not ok after %d observations", cfg.Warmup)
	}
	// 5 s ahead stays near the current temperature; 30 s ahead may expect
	// the square wave's next step, but stays within the range it spans
	// (40 to 85 °C).
	now := s.Points[cfg.Warmup-1].PackageC
	if math.Abs(float64(f[0])-now) > 5 {
		t.Errorf("Forecast()[0] = %v; want within 5 °C of the current %v", f[0], now)
	}
	for i, v := range f {
		if v < 35 || v > 90 {
			t.Errorf("Forecast()[%d] = %v; want within the synthetic machine's 40..85 °C", i, v)
		}
	}
	// A gap beyond MaxGap starts over.
	p := s.Points[cfg.Warmup]
	p.Time = p.Time.Add(time.Minute)
	if err := m.ObservePoint(p); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Forecast(); ok {
		t.Error("Forecast ok right after a gap; want a new warm-up")
	}
}

func TestObserveRejectsNonFinite(t *testing.T) {
	m := trained(t)
	for _, p := range synthetic(40, 4).Points {
		if err := m.ObservePoint(p); err != nil {
			t.Fatal(err)
		}
	}
	before, _ := m.Forecast()
	good := Point{Time: t0.Add(41 * time.Second), PackageC: 60, LoadPercent: 50, ClockMHz: 2000, PowerW: 20}
	for _, tc := range []struct {
		name string
		edit func(p *Point)
	}{
		{"NaN temperature", func(p *Point) { p.PackageC = math.NaN() }},
		{"Inf load", func(p *Point) { p.LoadPercent = math.Inf(1) }},
		{"-Inf power", func(p *Point) { p.PowerW = math.Inf(-1) }},
		{"huge clock", func(p *Point) { p.ClockMHz = 1e300 }},
	} {
		p := good
		tc.edit(&p)
		if err := m.ObservePoint(p); !errors.Is(err, neural.ErrNonFinite) {
			t.Errorf("ObservePoint(%s) = %v; want ErrNonFinite", tc.name, err)
		}
	}
	if after, ok := m.Forecast(); !ok || after != before {
		t.Errorf("Forecast after rejected inputs = %v, %v; want %v unchanged", after, ok, before)
	}
	s := &gamesav1.Sample{Time: timestamppb.New(good.Time), Cpu: &gamesav1.CPU{UtilizationPercent: math.NaN()},
		Thermal: []*gamesav1.ThermalSensor{{Name: "x", TemperatureCelsius: 50}}}
	if err := m.Observe(s); !errors.Is(err, neural.ErrNonFinite) {
		t.Errorf("Observe(NaN utilisation) = %v; want ErrNonFinite", err)
	}
}

func TestPointFromSample(t *testing.T) {
	ts := timestamppb.New(t0)
	cpu := &gamesav1.CPU{UtilizationPercent: 42, Cores: []*gamesav1.CPUCore{{FrequencyMhz: 1000}, {FrequencyMhz: 3000}}}
	sensor := func(name, label string, c float64) *gamesav1.ThermalSensor {
		return &gamesav1.ThermalSensor{Name: name, Label: label, TemperatureCelsius: c}
	}
	var shared neural.ListMask
	for _, tc := range []struct {
		name    string
		s       *gamesav1.Sample
		wantC   float64
		wantErr error
	}{
		{"package label beats hotter core", &gamesav1.Sample{Time: ts, Cpu: cpu, Power: &gamesav1.Power{TotalWatts: 15},
			Thermal: []*gamesav1.ThermalSensor{sensor("coretemp/Core 0", "Core 0", 90), sensor("coretemp/Package id 0", "Package id 0", 70)}}, 70, nil},
		{"x86_pkg_temp zone", &gamesav1.Sample{Time: ts, Cpu: cpu,
			Thermal: []*gamesav1.ThermalSensor{sensor("thermal_zone0/acpitz", "acpitz", 30), sensor("thermal_zone1/x86_pkg_temp", "x86_pkg_temp", 55)}}, 55, nil},
		{"AMD Tctl", &gamesav1.Sample{Time: ts, Cpu: cpu,
			Thermal: []*gamesav1.ThermalSensor{sensor("k10temp/Tccd1", "Tccd1", 80), sensor("k10temp/Tctl", "Tctl", 66)}}, 66, nil},
		{"no package: hottest", &gamesav1.Sample{Time: ts, Cpu: cpu,
			Thermal: []*gamesav1.ThermalSensor{sensor("a", "a", 30), sensor("b", "b", 48)}}, 48, nil},
		{"a label turns package", &gamesav1.Sample{Time: ts, Cpu: cpu,
			Thermal: []*gamesav1.ThermalSensor{sensor("a", "Package", 30), sensor("b", "b", 48)}}, 30, nil},
		{"no sensors", &gamesav1.Sample{Time: ts, Cpu: cpu}, 0, ErrMissing},
		{"no cpu", &gamesav1.Sample{Time: ts, Thermal: []*gamesav1.ThermalSensor{sensor("a", "a", 30)}}, 0, ErrMissing},
		{"no time", &gamesav1.Sample{Cpu: cpu, Thermal: []*gamesav1.ThermalSensor{sensor("a", "a", 30)}}, 0, ErrMissing},
		{"NaN sensor", &gamesav1.Sample{Time: ts, Cpu: cpu, Thermal: []*gamesav1.ThermalSensor{sensor("a", "a", math.NaN())}}, 0, neural.ErrNonFinite},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The model's path, with one mask through every case's
			// sensor list in turn, must read as a fresh one.
			p, err := pointFromSample(tc.s, &shared)
			if p2, err2 := PointFromSample(tc.s); p2 != p || fmt.Sprint(err) != fmt.Sprint(err2) {
				t.Errorf("with the mask of the list before: %+v, %v; afresh: %+v, %v", p, err, p2, err2)
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Errorf("PointFromSample = %v; want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil || p.PackageC != tc.wantC || p.LoadPercent != 42 || p.ClockMHz != 2000 || !p.Time.Equal(t0) {
				t.Errorf("PointFromSample = %+v, %v; want %v °C, 42 %%, 2000 MHz", p, err, tc.wantC)
			}
		})
	}
}

// TestOnlineOnSimulatedMachine drives the model as the node does: a
// simulated machine's Samples through Observe, Train a few steps a tick.
// It starts forecasting once the replay buffer holds MinRows rows, and
// its 5-s forecasts beat persistence.
func TestOnlineOnSimulatedMachine(t *testing.T) {
	scfg := sim.DefaultConfig()
	scfg.Scenario = sim.ScenarioCycle
	mach, err := sim.New(scfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Batch = 4 // keeps the test at a few seconds
	m, err := New(cfg, 7)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var firstForecast int
	var absErr, persErr float64
	var n int
	pending := map[int][NumHorizons]float32{}
	temps := map[int]float64{}
	for tick := range 1500 {
		s, err := mach.Sample(ctx, t0.Add(time.Duration(tick)*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Observe(s); err != nil {
			t.Fatalf("tick %d: %v", tick, err)
		}
		p, _ := PointFromSample(s)
		temps[tick] = p.PackageC
		if _, err := m.Train(1); err != nil {
			t.Fatalf("tick %d: Train: %v", tick, err)
		}
		if f, ok := m.Forecast(); ok {
			if firstForecast == 0 {
				firstForecast = tick
			}
			pending[tick] = f
		}
		if f, ok := pending[tick-Horizons[0]]; ok && tick > 1100 {
			absErr += math.Abs(float64(f[0]) - p.PackageC)
			persErr += math.Abs(temps[tick-Horizons[0]] - p.PackageC)
			n++
		}
	}
	t.Logf("first forecast at tick %d; 5-s MAE %.3f °C (persistence %.3f) over %d points", firstForecast, absErr/float64(max(n, 1)), persErr/float64(max(n, 1)), n)
	if firstForecast < cfg.MinRows || firstForecast > cfg.MinRows+cfg.Warmup+1 {
		t.Errorf("first forecast at tick %d; want right after %d rows and %d warm-up", firstForecast, cfg.MinRows, cfg.Warmup)
	}
	if m.TrainingSamples() == 0 {
		t.Error("TrainingSamples = 0 after online training")
	}
	if n == 0 || absErr >= persErr {
		t.Errorf("5-s forecast MAE on the simulated machine = %.3f °C over %d points; want below persistence's %.3f", absErr/float64(max(n, 1)), n, persErr/float64(max(n, 1)))
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	m := trained(t)
	data, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	m2, err := Load(data, smallConfig())
	if err != nil {
		t.Fatal(err)
	}
	if m2.TrainingSamples() != m.TrainingSamples() || !m2.linOK {
		t.Errorf("Load: %d samples, linear %v; want %d, true", m2.TrainingSamples(), m2.linOK, m.TrainingSamples())
	}
	s := synthetic(60, 5)
	for _, p := range s.Points {
		m.ObservePoint(p)
		m2.ObservePoint(p)
	}
	f1, ok1 := m.Forecast()
	f2, ok2 := m2.Forecast()
	if !ok1 || !ok2 || f1 != f2 {
		t.Errorf("forecast after round trip = %v, %v; want %v, %v", f2, ok2, f1, ok1)
	}
}

func TestLoadRejects(t *testing.T) {
	m := trained(t)
	data, _ := m.MarshalBinary()
	untrained, _ := New(smallConfig(), 1)
	noNorm, err := untrained.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	wide := smallConfig()
	wide.Hidden = 16
	for _, tc := range []struct {
		name string
		data []byte
		cfg  Config
		want error
	}{
		{"truncated", data[:len(data)-9], smallConfig(), neural.ErrCorruptModel},
		{"flipped byte", flip(data, len(data)/2), smallConfig(), neural.ErrCorruptModel},
		{"other hidden size", data, wide, neural.ErrWrongModel},
		{"no normalisers", noNorm, smallConfig(), neural.ErrWrongModel},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Load(tc.data, tc.cfg); !errors.Is(err, tc.want) {
				t.Errorf("Load(%s) = %v; want %v", tc.name, err, tc.want)
			}
		})
	}
}

func flip(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 0x40
	return c
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(c *Config)
	}{
		{"hidden 0", func(c *Config) { c.Hidden = 0 }},
		{"warmup = window", func(c *Config) { c.Warmup = c.Window }},
		{"zero LR", func(c *Config) { c.LR = 0 }},
		{"tiny gap", func(c *Config) { c.MaxGap = time.Millisecond }},
		{"MinRows below a window", func(c *Config) { c.MinRows = 10 }},
		{"small replay", func(c *Config) { c.ReplayCapacity = c.MinRows }},
		{"negative noise", func(c *Config) { c.InputNoise = -0.1 }},
		{"NaN noise", func(c *Config) { c.InputNoise = float32(math.NaN()) }},
		{"negative smoothing", func(c *Config) { c.TargetSmooth = -1 }},
		{"Forget 1", func(c *Config) { c.Forget = 1 }},
		{"Forget too low", func(c *Config) { c.Forget = 0.5 }},
		{"NaN Forget", func(c *Config) { c.Forget = math.NaN() }},
		{"MinRows below a smoothed window", func(c *Config) { c.TargetSmooth = 10; c.MinRows = c.Window + MaxHorizon + 5 }},
	} {
		c := DefaultConfig()
		tc.edit(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("Validate(%s) = nil; want an error", tc.name)
		}
	}
}

func TestTrainNeedsData(t *testing.T) {
	if _, _, err := Train([]Series{synthetic(40, 1)}, smallConfig()); !errors.Is(err, ErrNoData) {
		t.Errorf("Train(40 points) = %v; want ErrNoData", err)
	}
}

func TestObserveForecastAllocatesNothing(t *testing.T) {
	m := trained(t)
	pts := synthetic(200, 6).Points
	i := 0
	if n := testing.AllocsPerRun(100, func() {
		m.ObservePoint(pts[i%len(pts)])
		m.Forecast()
		i++
	}); n != 0 {
		t.Errorf("ObservePoint + Forecast allocate %v times; want 0", n)
	}
}

func FuzzLoad(f *testing.F) {
	m, _, err := Train([]Series{synthetic(600, 1)}, Config{
		Hidden: 4, Window: 8, Warmup: 2, Batch: 1, LR: 1e-3, ClipNorm: 1, MaxGap: 5 * time.Second,
		ReplayCapacity: 200, MinRows: 100, TrainSteps: 2, Seed: 1,
	})
	if err != nil {
		f.Fatal(err)
	}
	good, _ := m.MarshalBinary()
	f.Add(good)
	f.Add([]byte{})
	f.Add(good[:len(good)/3])
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := m.cfg
		got, err := Load(data, cfg)
		if err != nil {
			return
		}
		// Whatever loads must forecast finite values.
		for _, p := range synthetic(20, 2).Points {
			if err := got.ObservePoint(p); err != nil {
				t.Fatal(err)
			}
		}
		if fc, ok := got.Forecast(); ok {
			if err := neural.CheckFinite("forecast", fc[:]); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// BenchmarkObserveForecast is the per-tick path on the node: one Sample
// in, one forecast out, with the linear part static and adapting.
func BenchmarkObserveForecast(b *testing.B) {
	for _, bc := range []struct {
		name   string
		forget float64
	}{{"static", 0}, {"adaptive", 0.9999}} {
		b.Run(bc.name, func(b *testing.B) { benchObserveForecast(b, bc.forget) })
	}
}

func benchObserveForecast(b *testing.B, forget float64) {
	cfg := smallConfig()
	cfg.Forget = forget
	m, _, err := Train([]Series{synthetic(3000, 1)}, cfg)
	if err != nil {
		b.Fatal(err)
	}
	mach, _ := sim.New(sim.DefaultConfig())
	var samples []*gamesav1.Sample
	for i := range 64 {
		s, _ := mach.Sample(context.Background(), t0.Add(time.Duration(i)*time.Second))
		samples = append(samples, s)
	}
	// Times must advance: rewrite them as the loop goes.
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		s := samples[i%len(samples)]
		s.Time.Seconds = t0.Unix() + int64(i)
		if err := m.Observe(s); err != nil {
			b.Fatal(err)
		}
		m.Forecast()
		i++
	}
}

// BenchmarkForecast is Forecast alone (the LSTM step happens in Observe).
func BenchmarkForecast(b *testing.B) {
	m, _, err := Train([]Series{synthetic(3000, 1)}, smallConfig())
	if err != nil {
		b.Fatal(err)
	}
	for _, p := range synthetic(50, 2).Points {
		m.ObservePoint(p)
	}
	b.ReportAllocs()
	for b.Loop() {
		m.Forecast()
	}
}

// TestTrainDeterministic checks that Train (input noise and window
// sampling included) gives the same model file for the same seed.
func TestTrainDeterministic(t *testing.T) {
	cfg := smallConfig()
	cfg.TrainSteps = 20
	var files [2][]byte
	for i := range files {
		m, _, err := Train([]Series{synthetic(1500, 1)}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if files[i], err = m.MarshalBinary(); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(files[0], files[1]) {
		t.Errorf("Train(seed %d) twice gave different model files", cfg.Seed)
	}
}

// BenchmarkOnlineTrainStep is one optimizer step of online training (8
// windows of 48 steps, BPTT) on a full replay buffer: what the node spends
// per step it grants the model.
func BenchmarkOnlineTrainStep(b *testing.B) {
	cfg := smallConfig()
	m, err := New(cfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	for _, p := range synthetic(cfg.ReplayCapacity, 1).Points {
		if err := m.ObservePoint(p); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := m.Train(1); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Train(1); err != nil {
			b.Fatal(err)
		}
	}
}
