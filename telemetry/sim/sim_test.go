package sim_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
	"github.com/krystalstack/gamesa/telemetry"
	"github.com/krystalstack/gamesa/telemetry/sim"
)

var _ telemetry.Source = (*sim.Machine)(nil)

// t0 is a Unix time on a multiple of 300 s, so a cycle through the five
// workloads (with steps of 10 s or 60 s) starts there.
var t0 = time.Unix(1_700_000_100, 0)

func newMachine(t testing.TB, cfg sim.Config) *sim.Machine {
	t.Helper()
	m, err := sim.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return m
}

// run samples m every step from start for n samples and returns them.
func run(t testing.TB, m *sim.Machine, start time.Time, step time.Duration, n int) []*gamesav1.Sample {
	t.Helper()
	out := make([]*gamesav1.Sample, 0, n)
	for i := range n {
		s, err := m.Sample(context.Background(), start.Add(time.Duration(i)*step))
		if err != nil {
			t.Fatalf("Sample #%d: %v", i+1, err)
		}
		out = append(out, s)
	}
	return out
}

func pkgTemp(s *gamesav1.Sample) float64 { return s.Thermal[0].TemperatureCelsius }

// mean averages f over samples.
func mean(ss []*gamesav1.Sample, f func(*gamesav1.Sample) float64) float64 {
	var sum float64
	for _, s := range ss {
		sum += f(s)
	}
	return sum / float64(len(ss))
}

func median(ss []*gamesav1.Sample, f func(*gamesav1.Sample) float64) float64 {
	v := make([]float64, len(ss))
	for i, s := range ss {
		v[i] = f(s)
	}
	slices.Sort(v)
	return v[len(v)/2]
}

func watts(s *gamesav1.Sample) float64 { return s.Power.TotalWatts }
func util(s *gamesav1.Sample) float64  { return s.Cpu.UtilizationPercent }

// rEff is the documented effective resistance at fan duty 0..1.
func rEff(cfg sim.Config, duty float64) float64 {
	gStop, gFull := 1/cfg.FanStoppedResistanceCPerW, 1/cfg.ThermalResistanceCPerW
	return 1 / (gStop + (gFull-gStop)*duty)
}

func TestConfigValidate(t *testing.T) {
	if err := sim.DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v; want nil", err)
	}
	tests := []struct {
		name   string
		change func(*sim.Config)
		want   string // the field the error must name
	}{
		{"empty node id", func(c *sim.Config) { c.NodeID = "" }, "NodeID"},
		{"unknown scenario", func(c *sim.Config) { c.Scenario = "mining" }, "Scenario"},
		{"cycle step below a second", func(c *sim.Config) { c.CycleStep = 500 * time.Millisecond }, "CycleStep"},
		{"cycle step not whole seconds", func(c *sim.Config) { c.CycleStep = 1500 * time.Millisecond }, "CycleStep"},
		{"no cores", func(c *sim.Config) { c.Cores = 0 }, "Cores"},
		{"min frequency zero", func(c *sim.Config) { c.MinMHz = 0 }, "MinMHz"},
		{"max below min", func(c *sim.Config) { c.MaxMHz = 700 }, "MaxMHz"},
		{"base above max", func(c *sim.Config) { c.BaseMHz = 4000 }, "BaseMHz"},
		{"base NaN", func(c *sim.Config) { c.BaseMHz = math.NaN() }, "BaseMHz"},
		{"negative idle power", func(c *sim.Config) { c.IdleWatts = -1 }, "IdleWatts"},
		{"TDP below idle", func(c *sim.Config) { c.TDPWatts = 1 }, "TDPWatts"},
		{"ambient infinite", func(c *sim.Config) { c.AmbientC = math.Inf(1) }, "AmbientC"},
		{"zero resistance", func(c *sim.Config) { c.ThermalResistanceCPerW = 0 }, "ThermalResistanceCPerW"},
		{"fan makes it worse", func(c *sim.Config) { c.FanStoppedResistanceCPerW = 1 }, "FanStoppedResistanceCPerW"},
		{"zero capacitance", func(c *sim.Config) { c.ThermalCapacitanceJPerC = 0 }, "ThermalCapacitanceJPerC"},
		{"TjMax below ambient", func(c *sim.Config) { c.TjMaxC = 30 }, "TjMaxC"},
		{"negative margin", func(c *sim.Config) { c.ThrottleMarginC = -1 }, "ThrottleMarginC"},
		{"margin reaches ambient", func(c *sim.Config) { c.ThrottleMarginC = 70 }, "ThrottleMarginC"},
		{"empty fan curve", func(c *sim.Config) { c.FanCurve = nil }, "FanCurve"},
		{"fan curve temperatures not increasing", func(c *sim.Config) { c.FanCurve[2].TempC = c.FanCurve[1].TempC }, "FanCurve[2].TempC"},
		{"fan curve duty falls", func(c *sim.Config) { c.FanCurve[3].DutyPercent = 10 }, "FanCurve[3].DutyPercent"},
		{"fan duty above 100", func(c *sim.Config) { c.FanCurve[3].DutyPercent = 120 }, "FanCurve[3].DutyPercent"},
		{"no fan speed", func(c *sim.Config) { c.FanMaxRPM = 0 }, "FanMaxRPM"},
		{"no memory", func(c *sim.Config) { c.MemoryTotalBytes = 0 }, "MemoryTotalBytes"},
		{"no processes listed", func(c *sim.Config) { c.TopProcesses = 0 }, "TopProcesses"},
		{"GPU without name", func(c *sim.Config) { c.GPU.Name = "" }, "GPU.Name"},
		{"GPU TDP below idle", func(c *sim.Config) { c.GPU.TDPWatts = 2 }, "GPU.TDPWatts"},
		{"GPU without memory", func(c *sim.Config) { c.GPU.MemoryTotalBytes = 0 }, "GPU.MemoryTotalBytes"},
		{"GPU zero clock", func(c *sim.Config) { c.GPU.MaxGraphicsMHz = 0 }, "GPU.MaxGraphicsMHz"},
		{"GPU zero resistance", func(c *sim.Config) { c.GPU.ThermalResistanceCPerW = 0 }, "GPU.ThermalResistanceCPerW"},
		{"GPU zero capacitance", func(c *sim.Config) { c.GPU.ThermalCapacitanceJPerC = 0 }, "GPU.ThermalCapacitanceJPerC"},
		{"GPU slowdown below ambient", func(c *sim.Config) { c.GPU.SlowdownC = 20 }, "GPU.SlowdownC"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := sim.DefaultConfig()
			tt.change(&cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %v; want an error naming %s", err, tt.want)
			}
			if _, nerr := sim.New(cfg); nerr == nil {
				t.Errorf("New(config with %s) = nil error; want the validation error", tt.name)
			}
		})
	}

	t.Run("no GPU is valid", func(t *testing.T) {
		cfg := sim.DefaultConfig()
		cfg.GPU = nil
		if err := cfg.Validate(); err != nil {
			t.Errorf("Validate() with GPU nil = %v; want nil", err)
		}
	})
	t.Run("every error reported", func(t *testing.T) {
		cfg := sim.DefaultConfig()
		cfg.Cores, cfg.FanMaxRPM = 0, 0
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), "Cores") || !strings.Contains(err.Error(), "FanMaxRPM") {
			t.Errorf("Validate() = %v; want errors naming Cores and FanMaxRPM", err)
		}
	})
	t.Run("unknown scenario wraps ErrUnknownScenario", func(t *testing.T) {
		cfg := sim.DefaultConfig()
		cfg.Scenario = "mining"
		if err := cfg.Validate(); !errors.Is(err, sim.ErrUnknownScenario) {
			t.Errorf("Validate() = %v; want it to wrap ErrUnknownScenario", err)
		}
	})
}

// TestNewCopiesConfig: changing the Config after New must not reach the
// Machine (the fan curve is a slice, the GPU a pointer).
func TestNewCopiesConfig(t *testing.T) {
	cfg := sim.DefaultConfig()
	cfg.Scenario = sim.ScenarioRender
	m1 := newMachine(t, cfg)
	m2 := newMachine(t, cfg)
	cfg.FanCurve[0].DutyPercent = 0
	cfg.GPU.Name = "changed"
	a := run(t, m1, t0, time.Second, 5)
	b := run(t, m2, t0, time.Second, 5)
	if !proto.Equal(a[4], b[4]) || a[4].Gpus[0].Name == "changed" {
		t.Errorf("a machine saw its Config change after New")
	}
}

func TestDeterminism(t *testing.T) {
	cfg := sim.DefaultConfig()
	cfg.CycleStep = 15 * time.Second // every workload within the run
	// Irregular spacing, including a repeated time and a long gap.
	steps := []time.Duration{0, 300 * time.Millisecond, time.Second, 0, 7 * time.Second, 2500 * time.Millisecond, 100 * time.Second}
	sampleAll := func(cfg sim.Config) [][]byte {
		m := newMachine(t, cfg)
		now := t0
		var out [][]byte
		for i := range 200 {
			now = now.Add(steps[i%len(steps)])
			s, err := m.Sample(context.Background(), now)
			if err != nil {
				t.Fatalf("Sample: %v", err)
			}
			b, err := proto.MarshalOptions{Deterministic: true}.Marshal(s)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			out = append(out, b)
		}
		return out
	}
	a, b := sampleAll(cfg), sampleAll(cfg)
	for i := range a {
		if string(a[i]) != string(b[i]) {
			t.Fatalf("sample #%d differs between two machines with the same seed and times", i+1)
		}
	}
	cfg.Seed++
	c := sampleAll(cfg)
	same := 0
	for i := range a {
		if string(a[i]) == string(c[i]) {
			same++
		}
	}
	// The first sample of an idle-started machine has no rates; after it,
	// a different seed must show.
	if same > 1 {
		t.Errorf("%d of %d samples equal with seeds %d and %d; want them to differ", same, len(a), cfg.Seed-1, cfg.Seed)
	}
}

func TestFirstSampleAndSequence(t *testing.T) {
	cfg := sim.DefaultConfig()
	cfg.NodeID = "node-7"
	m := newMachine(t, cfg)
	if got := m.Collectors(); !slices.Equal(got, []string{"sim"}) {
		t.Errorf("Collectors() = %v; want [sim]", got)
	}
	ss := run(t, m, t0, time.Second, 3)
	for i, s := range ss {
		if s.Seq != uint64(i+1) || s.Source != "sim" || s.NodeId != "node-7" || !s.Time.AsTime().Equal(t0.Add(time.Duration(i)*time.Second)) {
			t.Errorf("sample #%d: seq %d, source %q, node %q, time %v; want seq %d, sim, node-7, %v",
				i+1, s.Seq, s.Source, s.NodeId, s.Time.AsTime(), i+1, t0.Add(time.Duration(i)*time.Second))
		}
		if len(s.Collectors) != 1 || s.Collectors[0].Name != "sim" || s.Collectors[0].State != gamesav1.CollectorState_COLLECTOR_STATE_OK {
			t.Errorf("sample #%d: collectors %v; want one OK status named sim", i+1, s.Collectors)
		}
	}
	first := ss[0]
	if util(first) != 0 || watts(first) != 0 || first.Disks[0].ReadBytesPerSecond != 0 || first.Processes.Top[0].CpuPercent != 0 {
		t.Errorf("first sample: util %v, watts %v, disk %v, top process CPU %v; want all rates 0",
			util(first), watts(first), first.Disks[0].ReadBytesPerSecond, first.Processes.Top[0].CpuPercent)
	}
	if util(ss[1]) == 0 || watts(ss[1]) == 0 {
		t.Errorf("second sample: util %v, watts %v; want rates", util(ss[1]), watts(ss[1]))
	}
}

func TestSampleShape(t *testing.T) {
	for _, withGPU := range []bool{true, false} {
		cfg := sim.DefaultConfig()
		cfg.Scenario = sim.ScenarioGame
		cfg.TopProcesses = 4
		if !withGPU {
			cfg.GPU = nil
		}
		s := run(t, newMachine(t, cfg), t0, time.Second, 30)[29]
		if len(s.Cpu.Cores) != cfg.Cores {
			t.Fatalf("%d cores; want %d", len(s.Cpu.Cores), cfg.Cores)
		}
		for i, c := range s.Cpu.Cores {
			if c.Id != uint32(i) || c.Governor != "sim" || c.FrequencyMhz < cfg.MinMHz || c.FrequencyMhz > c.MaxFrequencyMhz || c.MaxFrequencyMhz > cfg.MaxMHz ||
				c.UtilizationPercent < 0 || c.UtilizationPercent > 100 || math.Abs(c.UserPercent+c.SystemPercent-c.UtilizationPercent) > 1e-9 {
				t.Errorf("core %d = %v; want id %d, governor sim, MinMHz ≤ f ≤ max ≤ MaxMHz, user+system = utilisation", i, c, i)
			}
		}
		wantSensors := 1 + cfg.Cores
		wantGPUs := 0
		if withGPU {
			wantSensors++
			wantGPUs = 1
		}
		if len(s.Thermal) != wantSensors || len(s.Gpus) != wantGPUs {
			t.Errorf("GPU %v: %d sensors, %d GPUs; want %d, %d", withGPU, len(s.Thermal), len(s.Gpus), wantSensors, wantGPUs)
		}
		for _, ts := range s.Thermal {
			if ts.Kind != "sim" || ts.Name == "" || ts.TemperatureCelsius < cfg.AmbientC || ts.TemperatureCelsius > cfg.TjMaxC {
				t.Errorf("sensor %v; want kind sim, a name and a temperature within ambient..TjMax", ts)
			}
		}
		if p := s.Power; len(p.Rapl) != 1 || p.Rapl[0].Name != "package-0" || !p.OnAc || p.TotalWatts != p.Rapl[0].Watts || p.Rapl[0].EnergyUj == 0 {
			t.Errorf("power = %v; want one package-0 domain with energy, total = its watts, on AC", p)
		}
		mem := s.Memory
		if mem.UsedBytes+mem.FreeBytes+mem.CachedBytes+mem.BuffersBytes > mem.TotalBytes || mem.AvailableBytes > mem.TotalBytes || mem.UsedPercent <= 0 || mem.UsedPercent > 100 {
			t.Errorf("memory = %v; want parts within the total", mem)
		}
		top := s.Processes.Top
		if len(top) != cfg.TopProcesses {
			t.Errorf("%d processes listed; want TopProcesses = %d", len(top), cfg.TopProcesses)
		}
		for i := 1; i < len(top); i++ {
			if top[i].CpuPercent > top[i-1].CpuPercent {
				t.Errorf("processes not busiest first: %s %.1f %% after %s %.1f %%", top[i].Name, top[i].CpuPercent, top[i-1].Name, top[i-1].CpuPercent)
			}
		}
		if top[0].Name != "Game.exe" {
			t.Errorf("busiest process in the game scenario = %q; want Game.exe", top[0].Name)
		}
		if len(s.Fans) != 1 || s.Fans[0].Rpm <= 0 || s.Fans[0].Rpm > cfg.FanMaxRPM {
			t.Errorf("fans = %v; want one fan within 0..FanMaxRPM", s.Fans)
		}
	}
}

// TestSteadyState: under constant load the package settles at
// ambient + P·R_eff, R_eff set by the fan's duty.
func TestSteadyState(t *testing.T) {
	flat := []sim.FanPoint{{TempC: 50, DutyPercent: 50}}
	tests := []struct {
		name     string
		scenario string
		curve    []sim.FanPoint // nil: the default curve
		powerCap float64
	}{
		{"render, flat fan", sim.ScenarioRender, flat, 0},
		{"render, fan curve", sim.ScenarioRender, nil, 0},
		{"render capped, fan curve", sim.ScenarioRender, nil, 20},
		{"idle, fan curve", sim.ScenarioIdle, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := sim.DefaultConfig()
			cfg.Scenario = tt.scenario
			cfg.TjMaxC = 200 // no thermal throttling: this is about the RC
			if tt.curve != nil {
				cfg.FanCurve = tt.curve
			}
			m := newMachine(t, cfg)
			if err := m.SetPowerCap(tt.powerCap); err != nil {
				t.Fatal(err)
			}
			// Settle for 20 time constants, then compare averages over
			// 300 s: the load's noise (render pauses between tiles) makes
			// single samples wander, but over a long window the mean
			// temperature of an RC is ambient + R·mean power.
			tau := cfg.FanStoppedResistanceCPerW * cfg.ThermalCapacitanceJPerC
			n := int(20*tau) + 300
			ss := run(t, m, t0, time.Second, n)[n-300:]
			p := mean(ss, watts)
			duty := mean(ss, func(s *gamesav1.Sample) float64 { return s.Fans[0].Rpm / cfg.FanMaxRPM })
			want := cfg.AmbientC + p*rEff(cfg, duty)
			if got := mean(ss, pkgTemp); math.Abs(got-want) > 0.3 {
				t.Errorf("mean over 300 s at %.2f W: package %.2f °C; want ambient + P·R_eff = %.2f °C", p, got, want)
			}
		})
	}
}

// TestThrottling: render on a poor cooler reaches the throttle threshold,
// never passes it, and shows the throttling as a lowered max frequency.
func TestThrottling(t *testing.T) {
	cfg := sim.DefaultConfig()
	cfg.Scenario = sim.ScenarioRender
	cfg.ThermalResistanceCPerW, cfg.FanStoppedResistanceCPerW = 3, 4
	m := newMachine(t, cfg)
	ss := run(t, m, t0, time.Second, 600)
	threshold := cfg.TjMaxC - cfg.ThrottleMarginC
	for i, s := range ss {
		if got := pkgTemp(s); got > threshold+0.01 {
			t.Fatalf("t = %d s: package %.3f °C; want ≤ TjMax − margin = %.1f °C", i, got, threshold)
		}
	}
	end := ss[len(ss)-1]
	if got := pkgTemp(end); got < threshold-1 {
		t.Errorf("package settles at %.2f °C; want it held near %.1f °C by throttling", got, threshold)
	}
	sustainable := (threshold - cfg.AmbientC) / cfg.ThermalResistanceCPerW // the fan is at full duty
	if p := mean(ss[500:], watts); math.Abs(p-sustainable) > 0.03*sustainable {
		t.Errorf("throttled power %.2f W; want what the cooler sheds at the threshold, %.2f W", p, sustainable)
	}
	for _, c := range end.Cpu.Cores {
		if c.MaxFrequencyMhz >= cfg.MaxMHz || c.FrequencyMhz > c.MaxFrequencyMhz {
			t.Fatalf("throttled core %d: frequency %.0f, max %.0f MHz; want max below MaxMHz %.0f", c.Id, c.FrequencyMhz, c.MaxFrequencyMhz, cfg.MaxMHz)
		}
	}
	if end.Thermal[0].MaxCelsius != threshold || end.Thermal[0].CriticalCelsius != cfg.TjMaxC {
		t.Errorf("package sensor limits max %v, critical %v; want %v, %v", end.Thermal[0].MaxCelsius, end.Thermal[0].CriticalCelsius, threshold, cfg.TjMaxC)
	}

	// Back to idle, the ceiling lifts once the package has cooled.
	if err := m.SetScenario(sim.ScenarioIdle); err != nil {
		t.Fatal(err)
	}
	cool := run(t, m, t0.Add(600*time.Second), time.Second, 120)
	if got := cool[len(cool)-1].Cpu.Cores[0].MaxFrequencyMhz; got != cfg.MaxMHz {
		t.Errorf("after cooling: max frequency %.0f MHz; want MaxMHz %.0f", got, cfg.MaxMHz)
	}
}

// TestFanDutyRisesWithTemperature heats the machine from idle and checks
// that the fan never slows while the package warms.
func TestFanDutyRisesWithTemperature(t *testing.T) {
	cfg := sim.DefaultConfig()
	cfg.Scenario = sim.ScenarioRender
	ss := run(t, newMachine(t, cfg), t0, time.Second, 300)
	slices.SortStableFunc(ss, func(a, b *gamesav1.Sample) int {
		return int(math.Copysign(1, pkgTemp(a)-pkgTemp(b)))
	})
	for i := 1; i < len(ss); i++ {
		if pkgTemp(ss[i]) > pkgTemp(ss[i-1]) && ss[i].Fans[0].Rpm < ss[i-1].Fans[0].Rpm {
			t.Fatalf("fan %.0f rpm at %.2f °C but %.0f rpm at %.2f °C; want it never to slow as the package warms",
				ss[i].Fans[0].Rpm, pkgTemp(ss[i]), ss[i-1].Fans[0].Rpm, pkgTemp(ss[i-1]))
		}
	}
	cold, hot := ss[0], ss[len(ss)-1]
	if !(hot.Fans[0].Rpm > cold.Fans[0].Rpm) || hot.Fans[0].Rpm != cfg.FanMaxRPM {
		t.Errorf("fan %.0f rpm at %.1f °C, %.0f at %.1f °C; want it faster when hot, at FanMaxRPM %.0f above the curve's last point",
			cold.Fans[0].Rpm, pkgTemp(cold), hot.Fans[0].Rpm, pkgTemp(hot), cfg.FanMaxRPM)
	}
}

// TestPowerCap: a cap holds package power at or just under it after
// settling; lifting it restores the uncapped power.
func TestPowerCap(t *testing.T) {
	cfg := sim.DefaultConfig()
	cfg.Scenario = sim.ScenarioRender
	cfg.ThermalResistanceCPerW, cfg.FanStoppedResistanceCPerW = 0.8, 1.2 // cool enough that TDP binds, not temperature
	m := newMachine(t, cfg)
	now := t0
	phase := func(n int) []*gamesav1.Sample {
		ss := run(t, m, now, time.Second, n)
		now = now.Add(time.Duration(n) * time.Second)
		return ss
	}
	// Medians: render pauses now and then between tiles, and a paused
	// second draws less than any limit.
	uncapped := median(phase(60)[10:], watts)
	if math.Abs(uncapped-cfg.TDPWatts) > 0.005*cfg.TDPWatts {
		t.Fatalf("uncapped render draws %.2f W; want TDP %.0f W", uncapped, cfg.TDPWatts)
	}
	for _, capW := range []float64{30, 15, 8} {
		if err := m.SetPowerCap(capW); err != nil {
			t.Fatal(err)
		}
		if got := m.PowerCap(); got != capW {
			t.Errorf("PowerCap() = %v; want %v", got, capW)
		}
		ss := phase(20)
		// The cap applies to the whole interval the next call integrates.
		for _, s := range ss {
			if w := watts(s); w > capW*1.001 {
				t.Fatalf("cap %.0f W: package draws %.2f W; want at most the cap", capW, w)
			}
		}
		if med := median(ss, watts); med < 0.98*capW {
			t.Errorf("cap %.0f W: median package power %.2f W; want the cap used (within 2 %%)", capW, med)
		}
		if got := ss[len(ss)-1].Power.Rapl[0].LongTermLimitWatts; got != capW {
			t.Errorf("cap %.0f W: RAPL long-term limit %v; want the cap", capW, got)
		}
	}
	if err := m.SetPowerCap(0); err != nil {
		t.Fatal(err)
	}
	if restored := median(phase(20), watts); math.Abs(restored-uncapped) > 0.005*uncapped {
		t.Errorf("after lifting the cap: %.2f W; want the uncapped %.2f W", restored, uncapped)
	}

	for _, bad := range []float64{-1, math.NaN(), math.Inf(1)} {
		if err := m.SetPowerCap(bad); err == nil {
			t.Errorf("SetPowerCap(%v) = nil; want an error", bad)
		}
	}
	if m.PowerCap() != 0 {
		t.Errorf("PowerCap() = %v after rejected caps; want 0", m.PowerCap())
	}
}

// TestScenarios checks each workload's utilisation and process set, and
// that switching changes both.
func TestScenarios(t *testing.T) {
	tests := []struct {
		scenario         string
		minUtil, maxUtil float64 // mean CPU utilisation, percent
		procs            []string
	}{
		{sim.ScenarioIdle, 0.5, 5, nil},
		{sim.ScenarioGame, 15, 60, []string{"Game.exe", "wine64-preloader", "steam", "discord"}},
		{sim.ScenarioRender, 90, 100, []string{"blender"}},
		{sim.ScenarioCompile, 50, 95, []string{"cc1plus", "make", "ld"}},
		{sim.ScenarioBrowser, 3, 30, []string{"firefox", "Web Content"}},
	}
	workloadProcs := map[string]bool{}
	for _, tt := range tests {
		for _, p := range tt.procs {
			workloadProcs[p] = true
		}
	}
	cfg := sim.DefaultConfig()
	cfg.Scenario = sim.ScenarioIdle
	cfg.TopProcesses = 40
	m := newMachine(t, cfg)
	now := t0
	pids := map[string]int32{}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			if err := m.SetScenario(tt.scenario); err != nil {
				t.Fatal(err)
			}
			if got := m.Scenario(); got != tt.scenario {
				t.Errorf("Scenario() = %q; want %q", got, tt.scenario)
			}
			ss := run(t, m, now, time.Second, 49)
			now = now.Add(49 * time.Second)
			if u := mean(ss[1:], util); u < tt.minUtil || u > tt.maxUtil {
				t.Errorf("mean utilisation %.1f %%; want %v..%v", u, tt.minUtil, tt.maxUtil)
			}
			names := map[string]bool{}
			for _, p := range ss[len(ss)-1].Processes.Top {
				names[p.Name] = true
				if old, ok := pids[p.Name+p.Cmdline]; ok && old != p.Pid {
					t.Errorf("%s: pid %d, earlier %d; want pids stable", p.Name, p.Pid, old)
				}
				pids[p.Name+p.Cmdline] = p.Pid
			}
			for _, p := range tt.procs {
				if !names[p] {
					t.Errorf("process %q missing; have %v", p, names)
				}
			}
			for p := range workloadProcs {
				if names[p] && !slices.Contains(tt.procs, p) {
					t.Errorf("process %q of another workload still listed", p)
				}
			}
		})
	}
	if err := m.SetScenario("mining"); !errors.Is(err, sim.ErrUnknownScenario) {
		t.Errorf("SetScenario(mining) = %v; want ErrUnknownScenario", err)
	}
	if got := m.Scenario(); got != sim.ScenarioBrowser {
		t.Errorf("Scenario() after a rejected switch = %q; want %q", got, sim.ScenarioBrowser)
	}
}

// TestGameShape: a game loads a few cores hard and leaves the rest light;
// the GPU is busy.
func TestGameShape(t *testing.T) {
	cfg := sim.DefaultConfig()
	cfg.Scenario = sim.ScenarioGame
	ss := run(t, newMachine(t, cfg), t0, time.Second, 61)[1:]
	perCore := make([]float64, cfg.Cores)
	for _, s := range ss {
		for c, core := range s.Cpu.Cores {
			perCore[c] += core.UtilizationPercent / float64(len(ss))
		}
	}
	slices.Sort(perCore)
	if hottest, median := perCore[cfg.Cores-1], perCore[cfg.Cores/2]; hottest < 60 || median > 25 {
		t.Errorf("per-core utilisation %v; want a hot thread above 60 %% and the median core below 25 %%", perCore)
	}
	if g := mean(ss, func(s *gamesav1.Sample) float64 { return s.Gpus[0].UtilizationPercent }); g < 70 {
		t.Errorf("GPU utilisation %.1f %%; want a busy GPU in a game", g)
	}
}

// TestCycle: the cycle visits each workload for one CycleStep, in order,
// by wall-clock time.
func TestCycle(t *testing.T) {
	cfg := sim.DefaultConfig()
	cfg.CycleStep = 10 * time.Second
	cfg.TopProcesses = 3
	m := newMachine(t, cfg)
	// The cycle starts with idle at t0.
	want := []string{"", "Game.exe", "blender", "cc1plus", "firefox"}
	ss := run(t, m, t0, time.Second, 101)
	for i := 5; i < 100; i += 10 { // mid-step
		w := want[(i/10)%5]
		top := ss[i].Processes.Top[0].Name
		if w == "" && workloadProcess(top) || w != "" && top != w {
			t.Errorf("t = %d s: busiest process %q; want %q", i, top, w)
		}
	}
	if m.Scenario() != sim.ScenarioCycle {
		t.Errorf("Scenario() = %q; want cycle", m.Scenario())
	}
}

func workloadProcess(name string) bool {
	return slices.Contains([]string{"Game.exe", "blender", "cc1plus", "firefox", "ld", "make"}, name)
}

// TestLoadAverages: the run queue folds into the averages with the
// kernel's exponential decay.
func TestLoadAverages(t *testing.T) {
	cfg := sim.DefaultConfig()
	cfg.Scenario = sim.ScenarioRender
	ss := run(t, newMachine(t, cfg), t0, time.Second, 61)
	l0 := ss[0].Load
	running := mean(ss[1:], util) / 100 * float64(cfg.Cores)
	end := ss[60].Load
	for _, c := range []struct {
		name      string
		got, l0   float64
		tauSecond float64
	}{
		{"load1", end.Load1, l0.Load1, 60},
		{"load5", end.Load5, l0.Load5, 300},
		{"load15", end.Load15, l0.Load15, 900},
	} {
		e := math.Exp(-60 / c.tauSecond)
		want := c.l0*e + running*(1-e)
		if math.Abs(c.got-want) > 0.02*want {
			t.Errorf("%s after 60 s of %.2f running = %.3f; want %.3f", c.name, running, c.got, want)
		}
	}
}

func TestTimeGaps(t *testing.T) {
	cfg := sim.DefaultConfig()
	cfg.Scenario = sim.ScenarioCompile
	m := newMachine(t, cfg)
	ctx := context.Background()
	ss := run(t, m, t0, time.Second, 10)
	before := ss[9]

	t.Run("same time", func(t *testing.T) {
		s, err := m.Sample(ctx, t0.Add(9*time.Second))
		if err != nil {
			t.Fatalf("Sample(previous time) = %v; want a sample", err)
		}
		if util(s) != 0 || watts(s) != 0 || s.Seq != before.Seq+1 || pkgTemp(s) != pkgTemp(before) {
			t.Errorf("repeated time: util %v, watts %v, seq %d, temp %v; want no rates, seq %d, temp unchanged %v",
				util(s), watts(s), s.Seq, pkgTemp(s), before.Seq+1, pkgTemp(before))
		}
	})

	far := t0.Add(10 * 365 * 24 * time.Hour)
	var after *gamesav1.Sample
	t.Run("ten years later", func(t *testing.T) {
		var err error
		after, err = m.Sample(ctx, far)
		if err != nil {
			t.Fatalf("Sample(10 years later): %v", err)
		}
		if u, w, temp := util(after), watts(after), pkgTemp(after); !(u > 0 && u <= 100 && w > cfg.IdleWatts && w <= cfg.TDPWatts*1.001 &&
			temp >= cfg.AmbientC && temp <= cfg.TjMaxC) {
			t.Errorf("after the gap: util %v %%, watts %v, temp %v; want finite values within the machine's range", u, w, temp)
		}
		// The energy counter covers the whole gap at the simulated hour's rate.
		gap := far.Sub(t0.Add(9 * time.Second)).Seconds()
		dE := float64(after.Power.Rapl[0].EnergyUj-before.Power.Rapl[0].EnergyUj) / 1e6
		if math.Abs(dE-watts(after)*gap) > 1e-6*dE {
			t.Errorf("energy over the gap %.4g J; want the average %.2f W × %.0f s = %.4g J", dE, watts(after), gap, watts(after)*gap)
		}
	})

	t.Run("backwards", func(t *testing.T) {
		s, err := m.Sample(ctx, far.Add(-time.Second))
		if !errors.Is(err, sim.ErrTimeBackwards) || s != nil {
			t.Fatalf("Sample(earlier time) = %v, %v; want nil, ErrTimeBackwards", s, err)
		}
		next, err := m.Sample(ctx, far.Add(time.Second))
		if err != nil {
			t.Fatalf("Sample after a rejected time: %v", err)
		}
		if next.Seq != after.Seq+1 {
			t.Errorf("seq after a rejected time = %d; want %d (a rejected call changes nothing)", next.Seq, after.Seq+1)
		}
	})

	t.Run("out of range", func(t *testing.T) {
		if _, err := m.Sample(ctx, time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)); err == nil {
			t.Errorf("Sample(year 3000) = nil error; want an error")
		}
	})

	t.Run("cancelled context", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := m.Sample(cctx, far.Add(2*time.Second)); !errors.Is(err, context.Canceled) {
			t.Errorf("Sample(cancelled) = %v; want context.Canceled", err)
		}
	})
}

// TestConcurrentSetters runs the setters from other goroutines while one
// goroutine samples; the race detector checks the locking.
func TestConcurrentSetters(t *testing.T) {
	m := newMachine(t, sim.DefaultConfig())
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			if err := m.SetScenario(sim.Scenarios()[i%len(sim.Scenarios())]); err != nil {
				t.Error(err)
				return
			}
			_ = m.Scenario() // the value is racing by design; only the locking is under test
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			if err := m.SetPowerCap(float64(i % 40)); err != nil {
				t.Error(err)
				return
			}
			_ = m.PowerCap()
		}
	}()
	run(t, m, t0, time.Second, 200)
	close(done)
	wg.Wait()
}

func BenchmarkSample(b *testing.B) {
	for _, bc := range []struct {
		name string
		gap  time.Duration
	}{
		{"1s", time.Second},
		{"1h", time.Hour}, // the longest catch-up
	} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := sim.DefaultConfig()
			cfg.Scenario = sim.ScenarioRender // the power limiter works every step
			m := newMachine(b, cfg)
			ctx := context.Background()
			now := t0
			b.ReportAllocs()
			for b.Loop() {
				now = now.Add(bc.gap)
				if _, err := m.Sample(ctx, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestUnusualMachines runs machines at the edges of what Validate accepts
// and checks that every number they report is finite and in range.
func TestUnusualMachines(t *testing.T) {
	tests := []struct {
		name   string
		change func(*sim.Config)
	}{
		{"one core, no GPU", func(c *sim.Config) { c.Cores, c.GPU = 1, nil }},
		{"two cores", func(c *sim.Config) { c.Cores = 2 }},
		{"256 cores", func(c *sim.Config) { c.Cores = 256 }},
		{"tiny heat capacity", func(c *sim.Config) { c.ThermalCapacitanceJPerC = 0.01 }},
		{"huge heat capacity", func(c *sim.Config) { c.ThermalCapacitanceJPerC = 1e6 }},
		{"cooler too weak even at MinMHz", func(c *sim.Config) {
			c.ThermalResistanceCPerW, c.FanStoppedResistanceCPerW = 40, 40
		}},
		{"fixed turbo: base = max", func(c *sim.Config) { c.BaseMHz = c.MaxMHz }},
		{"zero idle power, no margin", func(c *sim.Config) { c.IdleWatts, c.ThrottleMarginC = 0, 0 }},
		{"little memory, no swap", func(c *sim.Config) { c.MemoryTotalBytes, c.SwapTotalBytes = 512<<20, 0 }},
		{"fan stopped always", func(c *sim.Config) { c.FanCurve = []sim.FanPoint{{TempC: 0, DutyPercent: 0}} }},
	}
	// The checker itself must see a NaN deep in a sample.
	probe := &gamesav1.Sample{Cpu: &gamesav1.CPU{Cores: []*gamesav1.CPUCore{{}, {FrequencyMhz: math.NaN()}}}}
	if path, bad := nonFinite(probe.ProtoReflect()); !bad || path != "cpu.cores[1].frequency_mhz" {
		t.Fatalf("nonFinite(NaN in cpu.cores[1]) = %q, %v; want cpu.cores[1].frequency_mhz, true", path, bad)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := sim.DefaultConfig()
			cfg.CycleStep = 5 * time.Second
			tt.change(&cfg)
			m := newMachine(t, cfg)
			if err := m.SetPowerCap(1); err != nil { // below idle power: cannot be met
				t.Fatal(err)
			}
			now := t0
			for i := range 120 {
				if i == 60 {
					if err := m.SetPowerCap(0); err != nil {
						t.Fatal(err)
					}
				}
				now = now.Add(time.Duration(1+i%3) * time.Second)
				s, err := m.Sample(context.Background(), now)
				if err != nil {
					t.Fatalf("Sample: %v", err)
				}
				if path, bad := nonFinite(s.ProtoReflect()); bad {
					t.Fatalf("sample #%d: %s is not finite", i+1, path)
				}
				if m := s.Memory; m.UsedBytes > m.TotalBytes || m.FreeBytes > m.TotalBytes {
					t.Fatalf("sample #%d: memory %v; want parts within the total", i+1, m)
				}
				if u := util(s); u < 0 || u > 100 {
					t.Fatalf("sample #%d: utilisation %v %%; want 0..100", i+1, u)
				}
			}
		})
	}
}

// nonFinite finds a NaN or infinite double anywhere in msg.
func nonFinite(msg protoreflect.Message) (string, bool) {
	var path string
	var bad bool
	msg.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.Kind() == protoreflect.DoubleKind && !fd.IsList():
			if f := v.Float(); math.IsNaN(f) || math.IsInf(f, 0) {
				path, bad = string(fd.Name()), true
			}
		case fd.Kind() == protoreflect.MessageKind && fd.IsList():
			for i := range v.List().Len() {
				if p, b := nonFinite(v.List().Get(i).Message()); b {
					path, bad = fmt.Sprintf("%s[%d].%s", fd.Name(), i, p), true
					break
				}
			}
		case fd.Kind() == protoreflect.MessageKind:
			if p, b := nonFinite(v.Message()); b {
				path, bad = string(fd.Name())+"."+p, true
			}
		}
		return !bad
	})
	return path, bad
}
