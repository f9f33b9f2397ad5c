package sim_test

import (
	"context"
	"errors"
	"math"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
	"github.com/krystalstack/gamesa/telemetry/sim"
)

// plan makes a plan of (knob, target, value) triples.
func plan(kv ...string) *gamesav1.Plan {
	p := &gamesav1.Plan{}
	for i := 0; i+2 < len(kv); i += 3 {
		p.Actions = append(p.Actions, &gamesav1.Action{Knob: kv[i], Target: kv[i+1], Value: kv[i+2]})
	}
	return p
}

// knobs returns m's inventory.
func knobs(t testing.TB, m *sim.Machine) []*gamesav1.Knob {
	t.Helper()
	ks, err := m.Inventory(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

// knobValue returns a knob's value from m's inventory, or "" when absent.
func knobValue(t testing.TB, m *sim.Machine, name, target string) string {
	t.Helper()
	for _, k := range knobs(t, m) {
		if k.Name == name && k.Target == target {
			return k.Value
		}
	}
	return ""
}

// coolRender is a render machine cool enough that TDP binds, not the
// temperature, so power limits are what it runs into.
func coolRender() sim.Config {
	cfg := sim.DefaultConfig()
	cfg.Scenario = sim.ScenarioRender
	cfg.ThermalResistanceCPerW, cfg.FanStoppedResistanceCPerW = 0.8, 1.2
	return cfg
}

func TestKnobs(t *testing.T) {
	for _, withGPU := range []bool{true, false} {
		cfg := sim.DefaultConfig()
		if !withGPU {
			cfg.GPU = nil
		}
		want := []*gamesav1.Knob{
			{Name: "rapl.pl1_uw", Target: "package-0", Value: "45000000", Unit: "uW", Min: "1000000", Max: "45000000", Writable: true},
			{Name: "rapl.pl2_uw", Target: "package-0", Value: "45000000", Unit: "uW", Min: "1000000", Max: "45000000", Writable: true},
		}
		if withGPU {
			want = append(want, &gamesav1.Knob{Name: "nvml.power_limit_mw", Target: "gpu0", Value: "50000", Unit: "mW", Min: "25000", Max: "50000", Writable: true})
		}
		for c := range cfg.Cores {
			want = append(want, &gamesav1.Knob{Name: "cpufreq.max_khz", Target: "cpu" + strconv.Itoa(c), Value: "3800000", Unit: "kHz", Min: "800000", Max: "3800000", Writable: true})
		}
		got := knobs(t, newMachine(t, cfg))
		if len(got) != len(want) {
			t.Fatalf("GPU %v: %d knobs; want %d", withGPU, len(got), len(want))
		}
		for i := range want {
			if !proto.Equal(got[i], want[i]) {
				t.Errorf("GPU %v: Inventory()[%d] = %v; want %v", withGPU, i, got[i], want[i])
			}
		}
	}
}

func TestApply(t *testing.T) {
	tests := []struct {
		name, knob, target, value string
		err                       error
		readBack                  string // the knob's value after; "" to skip
	}{
		{"PL1", "rapl.pl1_uw", "package-0", "30000000", nil, "30000000"},
		{"PL1 at the floor", "rapl.pl1_uw", "package-0", "1000000", nil, "1000000"},
		{"PL1 with spaces", "rapl.pl1_uw", "package-0", " 25000000\n", nil, "25000000"},
		{"PL1 below the floor", "rapl.pl1_uw", "package-0", "999999", sim.ErrKnobValue, "45000000"},
		{"PL1 above TDP", "rapl.pl1_uw", "package-0", "45000001", sim.ErrKnobValue, "45000000"},
		{"PL1 not a number", "rapl.pl1_uw", "package-0", "30 W", sim.ErrKnobValue, "45000000"},
		{"PL1 fractional", "rapl.pl1_uw", "package-0", "3e7", sim.ErrKnobValue, "45000000"},
		{"PL1 on DRAM", "rapl.pl1_uw", "package-0/dram", "30000000", sim.ErrNoKnob, ""},
		{"PL2", "rapl.pl2_uw", "package-0", "40000000", nil, "40000000"},
		{"GPU", "nvml.power_limit_mw", "gpu0", "30000", nil, "30000"},
		{"GPU below its floor", "nvml.power_limit_mw", "gpu0", "24999", sim.ErrKnobValue, "50000"},
		{"second GPU", "nvml.power_limit_mw", "gpu1", "30000", sim.ErrNoKnob, ""},
		{"one core", "cpufreq.max_khz", "cpu3", "2000000", nil, "2000000"},
		{"core out of range", "cpufreq.max_khz", "cpu8", "2000000", sim.ErrNoKnob, ""},
		{"core spelled oddly", "cpufreq.max_khz", "cpu03", "2000000", sim.ErrNoKnob, ""},
		{"below MinMHz", "cpufreq.max_khz", "cpu0", "799999", sim.ErrKnobValue, "3800000"},
		{"a knob the sim lacks", "cpufreq.epp", "cpu0", "performance", sim.ErrNoKnob, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMachine(t, sim.DefaultConfig())
			err := m.Apply(context.Background(), plan(tt.knob, tt.target, tt.value))
			if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Errorf("Apply(%s %q = %q) = %v; want %v", tt.knob, tt.target, tt.value, err, tt.err)
			}
			if tt.readBack != "" {
				if got := knobValue(t, m, tt.knob, tt.target); got != tt.readBack {
					t.Errorf("after Apply(%s %q = %q): value %q; want %q", tt.knob, tt.target, tt.value, got, tt.readBack)
				}
			}
		})
	}

	// One bad action does not stop the others, and each is reported.
	m := newMachine(t, sim.DefaultConfig())
	err := m.Apply(context.Background(), plan(
		"rapl.pl1_uw", "package-0", "20000000",
		"nvml.power_limit_mw", "gpu9", "30000",
		"cpufreq.max_khz", "", "2000000",
		"rapl.pl2_uw", "package-0", "-1",
	))
	if !errors.Is(err, sim.ErrNoKnob) || !errors.Is(err, sim.ErrKnobValue) || strings.Count(err.Error(), "\n") != 1 {
		t.Errorf("Apply(two good, two bad) = %v; want one line for each bad action", err)
	}
	if m.PowerCap() != 20 || knobValue(t, m, "cpufreq.max_khz", "cpu7") != "2000000" || knobValue(t, m, "rapl.pl2_uw", "package-0") != "45000000" {
		t.Errorf("after a mixed plan: cap %v, cpu7 %s, PL2 %s; want 20, 2000000, 45000000 (unchanged)",
			m.PowerCap(), knobValue(t, m, "cpufreq.max_khz", "cpu7"), knobValue(t, m, "rapl.pl2_uw", "package-0"))
	}
	// A done context changes nothing.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := m.Apply(ctx, plan("rapl.pl1_uw", "package-0", "5000000")); !errors.Is(err, context.Canceled) || m.PowerCap() != 20 {
		t.Errorf("Apply(cancelled) = %v, cap %v; want context.Canceled, the cap unchanged", err, m.PowerCap())
	}
	if _, err := m.Inventory(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Inventory(cancelled) = %v; want context.Canceled", err)
	}
	// SetPowerCap and the PL1 knob are the same limit.
	if err := m.SetPowerCap(0); err != nil {
		t.Fatal(err)
	}
	if got := knobValue(t, m, "rapl.pl1_uw", "package-0"); got != "45000000" {
		t.Errorf("PL1 after SetPowerCap(0) = %s; want TDP, 45000000", got)
	}
}

// TestPL1KnobIsSetPowerCap: with no window, capping through the knob and
// through SetPowerCap give the same samples.
func TestPL1KnobIsSetPowerCap(t *testing.T) {
	a, b := newMachine(t, coolRender()), newMachine(t, coolRender())
	if err := a.SetPowerCap(25); err != nil {
		t.Fatal(err)
	}
	if err := b.Apply(context.Background(), plan("rapl.pl1_uw", "package-0", "25000000")); err != nil {
		t.Fatal(err)
	}
	sa, sb := run(t, a, t0, time.Second, 60), run(t, b, t0, time.Second, 60)
	for i := range sa {
		if !proto.Equal(sa[i], sb[i]) {
			t.Fatalf("sample %d differs: SetPowerCap %v, knob %v", i, sa[i].Power, sb[i].Power)
		}
	}
}

// TestPowerLimitWindow: with a window, PL1 holds the running average of
// package power, not each second's: a lowered limit pulls power below it
// for a while, a lull lets it burst above (up to PL2), and a PL2 at PL1
// forbids the burst.
func TestPowerLimitWindow(t *testing.T) {
	const window = 8.0
	cfg := coolRender()
	cfg.PowerLimitWindow = window * time.Second
	m := newMachine(t, cfg)
	now := t0
	phase := func(n int) []*gamesav1.Sample {
		ss := run(t, m, now, time.Second, n)
		now = now.Add(time.Duration(n) * time.Second)
		return ss
	}
	if p := median(phase(60)[10:], watts); math.Abs(p-cfg.TDPWatts) > 0.005*cfg.TDPWatts {
		t.Fatalf("uncapped render: %.2f W; want TDP", p)
	}
	if err := m.Apply(context.Background(), plan("rapl.pl1_uw", "package-0", "30000000")); err != nil {
		t.Fatal(err)
	}
	capped := phase(60)
	if w := watts(capped[0]); w > 15 {
		t.Errorf("first second under a 30 W PL1 after 45 W: %.2f W; want a deep dip while the average comes down", w)
	}
	for i, s := range capped[:5] {
		if w := watts(s); w > 30*1.001 {
			t.Errorf("second %d under a 30 W PL1: %.2f W; want at most 30 W while the average comes down", i, w)
		}
	}
	// A render pausing between tiles may burst above PL1 the second
	// after, but not on average.
	if p := mean(capped[8:], watts); p > 30.05 {
		t.Errorf("under a 30 W PL1: mean %.2f W; want at most 30 W", p)
	}
	if p := median(capped[30:], watts); math.Abs(p-30) > 0.3 {
		t.Errorf("settled under a 30 W PL1: median %.2f W; want 30 W", p)
	}
	if s := capped[len(capped)-1]; s.Power.Rapl[0].LongTermLimitWatts != 30 || s.Power.Rapl[0].ShortTermLimitWatts != cfg.TDPWatts {
		t.Errorf("RAPL limits long %v, short %v; want 30, %v", s.Power.Rapl[0].LongTermLimitWatts, s.Power.Rapl[0].ShortTermLimitWatts, cfg.TDPWatts)
	}

	// The running average, as RAPL keeps it, from the steady 30 W.
	avg := 30.0
	alpha := -math.Expm1(-1 / window)
	lull := func(pl2 string) (peak float64) {
		if err := m.Apply(context.Background(), plan("rapl.pl2_uw", "package-0", pl2)); err != nil {
			t.Fatal(err)
		}
		for _, scen := range []string{sim.ScenarioIdle, sim.ScenarioRender} {
			if err := m.SetScenario(scen); err != nil {
				t.Fatal(err)
			}
			for i, s := range phase(20) {
				w := watts(s)
				avg += (w - avg) * alpha
				peak = max(peak, w)
				if avg > 30+1e-6 {
					t.Errorf("PL2 %s, %s second %d: running average %.4f W; want at most PL1, 30 W", pl2, scen, i, avg)
				}
			}
		}
		return peak
	}
	if peak := lull("45000000"); !(peak > 33 && peak <= cfg.TDPWatts*1.001) {
		t.Errorf("render after an idle lull, PL2 = TDP: peak %.2f W; want a burst above PL1 up to TDP", peak)
	}
	if peak := lull("30000000"); peak > 30*1.001 {
		t.Errorf("render after an idle lull, PL2 = PL1: peak %.2f W; want no burst above 30 W", peak)
	}
}

// TestGPUPowerLimit: the GPU holds its NVML limit, clocks down to do so,
// and reports it.
func TestGPUPowerLimit(t *testing.T) {
	cfg := sim.DefaultConfig()
	cfg.Scenario = sim.ScenarioGame
	free, capped := newMachine(t, cfg), newMachine(t, cfg)
	if err := capped.Apply(context.Background(), plan("nvml.power_limit_mw", "gpu0", "30000")); err != nil {
		t.Fatal(err)
	}
	fs, cs := run(t, free, t0, time.Second, 60), run(t, capped, t0, time.Second, 60)
	var slower, atLimit int
	for i := range cs {
		g, f := cs[i].Gpus[0], fs[i].Gpus[0]
		if g.PowerWatts > 30+1e-9 || g.PowerLimitWatts != 30 {
			t.Errorf("second %d: GPU %.2f W, limit %v; want at most 30 W, limit 30", i, g.PowerWatts, g.PowerLimitWatts)
		}
		if g.GraphicsClockMhz < f.GraphicsClockMhz {
			slower++
		}
		if g.PowerWatts > 29.9 {
			atLimit++
			if !strings.Contains(strings.Join(g.ThrottleReasons, ","), "sw_power_cap") {
				t.Errorf("second %d: GPU at its limit with reasons %v; want sw_power_cap", i, g.ThrottleReasons)
			}
		}
	}
	if slower < 40 || atLimit < 40 {
		t.Errorf("a game on a 30 W GPU: %d of 60 s clocked below the free GPU, %d at the limit; want most of them", slower, atLimit)
	}
}

// TestMaxFrequency: cpufreq.max_khz caps the cores it names, which then
// draw less and run cooler.
func TestMaxFrequency(t *testing.T) {
	free, all, one := newMachine(t, coolRender()), newMachine(t, coolRender()), newMachine(t, coolRender())
	if err := all.Apply(context.Background(), plan("cpufreq.max_khz", "", "2000000")); err != nil {
		t.Fatal(err)
	}
	if err := one.Apply(context.Background(), plan("cpufreq.max_khz", "cpu3", "1000000")); err != nil {
		t.Fatal(err)
	}
	fs, as, os := run(t, free, t0, time.Second, 120), run(t, all, t0, time.Second, 120), run(t, one, t0, time.Second, 120)
	for i := 1; i < len(as); i++ {
		for _, c := range as[i].Cpu.Cores {
			if c.FrequencyMhz > 2000 || c.MaxFrequencyMhz > 2000 {
				t.Fatalf("second %d, core %d: %.0f MHz, max %.0f; want both at most 2000", i, c.Id, c.FrequencyMhz, c.MaxFrequencyMhz)
			}
		}
		for _, c := range os[i].Cpu.Cores {
			if c.Id == 3 && (c.FrequencyMhz > 1000 || c.MaxFrequencyMhz != 1000) {
				t.Fatalf("second %d: core 3 at %.0f MHz, max %.0f; want at most 1000, max 1000", i, c.FrequencyMhz, c.MaxFrequencyMhz)
			}
			if c.Id != 3 && c.MaxFrequencyMhz < 2000 {
				t.Fatalf("second %d: core %d max %.0f MHz; want it unlimited by cpu3's limit", i, c.Id, c.MaxFrequencyMhz)
			}
		}
	}
	pf, pa, po := median(fs[60:], watts), median(as[60:], watts), median(os[60:], watts)
	if !(pa < 0.8*pf && po < pf) {
		t.Errorf("render: %.1f W free, %.1f W at 2 GHz, %.1f W with one core at 1 GHz; want the limits to cut power", pf, pa, po)
	}
	if tf, ta := pkgTemp(fs[119]), pkgTemp(as[119]); !(ta < tf-3) {
		t.Errorf("render after 2 min: %.1f °C free, %.1f °C at 2 GHz; want the limited package cooler", tf, ta)
	}
}

func TestPowerLimitWindowValidate(t *testing.T) {
	for _, w := range []time.Duration{-time.Second, sim.MaxCatchUp + time.Second} {
		cfg := sim.DefaultConfig()
		cfg.PowerLimitWindow = w
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "PowerLimitWindow") {
			t.Errorf("PowerLimitWindow %v: Validate() = %v; want an error naming it", w, err)
		}
	}
}

// TestConcurrentKnobs drives the knobs from another goroutine while one
// samples; the race detector checks the locking.
func TestConcurrentKnobs(t *testing.T) {
	cfg := coolRender()
	cfg.PowerLimitWindow = 2 * time.Second
	m := newMachine(t, cfg)
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			v := strconv.Itoa(10_000_000 + i%30*1_000_000)
			if err := m.Apply(context.Background(), plan("rapl.pl1_uw", "package-0", v, "cpufreq.max_khz", "", strconv.Itoa(1_000_000+i%20*100_000))); err != nil {
				t.Error(err)
				return
			}
			if _, err := m.Inventory(context.Background()); err != nil { // racing by design; only the locking is under test
				t.Error(err)
				return
			}
		}
	})
	run(t, m, t0, time.Second, 200)
	close(done)
	wg.Wait()
}
