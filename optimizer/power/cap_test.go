package power_test

import (
	"errors"
	"maps"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/krystalstack/gamesa/optimizer/power"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

func newCap(t testing.TB) *power.CapController {
	t.Helper()
	c, err := power.NewCapController(power.DefaultCapConfig())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// values indexes actions' values by key.
func values(actions []*gamesav1.Action) map[string]string {
	m := map[string]string{}
	for _, a := range actions {
		m[key(a.GetKnob(), a.GetTarget())] = a.GetValue()
	}
	return m
}

// num parses a value the test knows is numeric.
func num(t testing.TB, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("value %q: %v", s, err)
	}
	return v
}

// TestCapSplit checks the shares the controller gives each domain on a
// desktop (RAPL package, 125 W before the cap; GPU, 320 W, floor 100 W).
func TestCapSplit(t *testing.T) {
	tests := []struct {
		name           string
		capW           float64
		cpu, gpu       float64 // what each draws
		wantPL1, wantG float64 // W
	}{
		// Both at their limits: shares in proportion to size, 125:320.
		{"both busy", 200, 125, 320, 200 * 125.0 / 445, 200 * 320.0 / 445},
		// The GPU idles at 20 W: it keeps its draw (its limit cannot go
		// below 100 W), the package gets the rest.
		{"GPU idle", 100, 125, 20, 80, 100},
		// The package idles at 10 W: the GPU gets the rest.
		{"CPU idle", 200, 10, 320, 11, 190},
		// Nothing needs capping: each keeps its limit from before, or its
		// draw and its part of the spare budget.
		{"under the cap", 1000, 60, 150, 125, 320},
		// Below the floors: everything at its minimum.
		{"infeasible", 50, 125, 320, 5, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			knobs := loadKnobs(t, "desktop")
			h := power.Host{Knobs: knobs, DomainWatts: map[string]float64{"package-0": tt.cpu, "gpu0": tt.gpu}}
			c := newCap(t)
			got := values(c.Step(tt.cpu+tt.gpu, tt.capW, time.Second, h))
			pl1 := num(t, got[key("rapl.pl1_uw", "package-0")]) / 1e6
			g := num(t, got[key("nvml.power_limit_mw", "gpu0")]) / 1e3
			if math.Abs(pl1-tt.wantPL1) > 0.01 || math.Abs(g-tt.wantG) > 0.01 {
				t.Errorf("cap %v W, CPU %v W, GPU %v W: PL1 %.2f W, GPU %.2f W; want %.2f, %.2f",
					tt.capW, tt.cpu, tt.gpu, pl1, g, tt.wantPL1, tt.wantG)
			}
			if pl2 := num(t, got[key("rapl.pl2_uw", "package-0")]) / 1e6; math.Abs(pl2-min(pl1, 181)) > 0.01 && tt.name != "under the cap" {
				t.Errorf("PL2 %.2f W; want PL1 (BurstRatio 1), %.2f W", pl2, pl1)
			}
			st := c.State()
			if st.Infeasible != (tt.name == "infeasible") || !st.Engaged || len(st.Domains) != 2 {
				t.Errorf("State() = %+v; want engaged, 2 domains, infeasible only when the floors exceed the cap", st)
			}
		})
	}
}

// TestCapReleaseRestores: lifting the cap puts back exactly the limits
// from before it, once; later steps without a cap plan nothing.
func TestCapReleaseRestores(t *testing.T) {
	for _, fixture := range []string{"desktop", "laptop"} {
		t.Run(fixture, func(t *testing.T) {
			knobs := loadKnobs(t, fixture)
			original := values(nil)
			for _, k := range knobs {
				original[key(k.GetName(), k.GetTarget())] = k.GetValue()
			}
			if fixture == "laptop" {
				// No writable package limit: the frequency fallback.
				knobs = withOwner(knobs, "tlp", "rapl.pl1_uw", "rapl.pl2_uw")
			}
			c := newCap(t)
			h := power.Host{Knobs: knobs, DomainWatts: map[string]float64{"package-0": 28, "gpu0": 300}, MaxCoreKHz: 4e6}
			changed := map[string]bool{}
			for _, capW := range []float64{150, 60, 20, 20, 20} {
				acts := c.Step(60, capW, time.Second, h)
				if len(acts) == 0 {
					t.Fatalf("cap %v W: no actions", capW)
				}
				for k, v := range values(acts) {
					if v != original[k] {
						changed[k] = true
					}
				}
				h.Knobs = applied(h.Knobs, acts)
			}
			if len(changed) == 0 {
				t.Fatal("the caps changed nothing")
			}
			release := values(c.Step(60, 0, time.Second, h))
			for k := range changed {
				if release[k] != original[k] {
					t.Errorf("release: %s = %q; want the original %q", k, release[k], original[k])
				}
			}
			for k, v := range release {
				if !changed[k] {
					t.Errorf("release sets %s = %q, which the cap never changed", k, v)
				}
			}
			h.Knobs = applied(h.Knobs, c.Step(60, 0, time.Second, h))
			if acts := c.Step(60, 0, time.Second, h); acts != nil {
				t.Errorf("a step after the release: %v; want nothing", acts)
			}
			if c.State().Engaged {
				t.Error("State().Engaged after the release")
			}
		})
	}
}

// TestCapBounds: whatever the cap and the draw, every limit is within its
// knob's bounds and at most what was in force before the cap; every step
// names every limit; owned and read-only knobs are never named.
func TestCapBounds(t *testing.T) {
	desktop := loadKnobs(t, "desktop")
	laptop := loadKnobs(t, "laptop")
	hosts := map[string][]*gamesav1.Knob{
		"desktop":        desktop,
		"laptop":         laptop,
		"laptop, no PL1": withOwner(laptop, "tlp", "rapl.pl1_uw"),
		"desktop, GPU read-only": func() []*gamesav1.Knob {
			ks := applied(desktop, nil)
			for _, k := range ks {
				if k.GetName() == "nvml.power_limit_mw" {
					k.Writable = false
				}
			}
			return ks
		}(),
	}
	for name, knobs := range hosts {
		before := map[string]*gamesav1.Knob{}
		for _, k := range knobs {
			before[key(k.GetName(), k.GetTarget())] = k
		}
		c := newCap(t)
		h := power.Host{Knobs: knobs}
		var names int
		for i, capW := range []float64{1, 10, 35, 80, 150, 300, 1e6, 40, 2} {
			draw := float64(i*37%150) + 3
			h.DomainWatts = map[string]float64{"package-0": draw, "gpu0": 2 * draw}
			acts := c.Step(3*draw+5, capW, 3*time.Second, h)
			if i > 0 && len(acts) != names {
				t.Errorf("%s, cap %v: %d actions; want every limit named every step (%d)", name, capW, len(acts), names)
			}
			names = len(acts)
			for _, a := range acts {
				k := before[key(a.GetKnob(), a.GetTarget())]
				if k == nil || !k.GetWritable() || k.GetOwner() != "" {
					t.Fatalf("%s, cap %v: action on %s %q, which is absent, read-only or owned", name, capW, a.GetKnob(), a.GetTarget())
				}
				v, lo, hi, cur := num(t, a.GetValue()), num(t, k.GetMin()), num(t, k.GetMax()), num(t, k.GetValue())
				if v < lo || v > hi || v > cur {
					t.Errorf("%s, cap %v: %s %q = %v; want within %v..%v and at most %v, the value before the cap",
						name, capW, a.GetKnob(), a.GetTarget(), v, lo, hi, cur)
				}
				if len(a.GetReasons()) == 0 || !strings.HasPrefix(a.GetReasons()[0], "power cap ") {
					t.Errorf("%s: reasons %q; want one naming the power cap", name, a.GetReasons())
				}
			}
			h.Knobs = applied(h.Knobs, acts)
		}
		if name == "laptop, no PL1" && c.State().Domains[0].Knob != "cpufreq.max_khz" {
			t.Errorf("%s: domains %+v; want the frequency fallback", name, c.State().Domains)
		}
	}
}

// TestCapNothingToSet: a host with no limit this controller may set gets
// no actions, cap or not.
func TestCapNothingToSet(t *testing.T) {
	desktop := loadKnobs(t, "desktop")
	for name, knobs := range map[string][]*gamesav1.Knob{
		"vm":        loadKnobs(t, "vm"),
		"all owned": withOwner(desktop, "tuned", "rapl.pl1_uw", "rapl.pl2_uw", "nvml.power_limit_mw", "cpufreq.max_khz"),
	} {
		c := newCap(t)
		for _, capW := range []float64{50, 50, 0} {
			if acts := c.Step(200, capW, time.Second, power.Host{Knobs: knobs}); len(acts) != 0 {
				t.Errorf("%s, cap %v: %v; want no actions", name, capW, acts)
			}
		}
	}
}

// TestCapOddInputs: a cap or a measurement that is not a number, time
// going backwards or stalling, draws missing: no panic, limits in bounds.
func TestCapOddInputs(t *testing.T) {
	knobs := loadKnobs(t, "desktop")
	c := newCap(t)
	steps := []struct {
		measured, capW float64
		dt             time.Duration
		draws          map[string]float64
		engaged        bool
	}{
		{200, 100, time.Second, nil, true}, // no draws: each assumed at its limit
		{math.NaN(), 100, -time.Second, map[string]float64{"package-0": math.Inf(1)}, true},
		{-5, 100, time.Hour, map[string]float64{"gpu0": -1}, true},
		{200, math.NaN(), time.Second, nil, false}, // not a cap: released
		{200, math.Inf(1), time.Second, nil, false},
		{200, 100, 0, map[string]float64{"package-0": 50, "gpu0": 50}, true},
	}
	for i, s := range steps {
		acts := c.Step(s.measured, s.capW, s.dt, power.Host{Knobs: knobs, DomainWatts: s.draws})
		if c.State().Engaged != s.engaged {
			t.Errorf("step %d (cap %v): engaged %v; want %v", i, s.capW, c.State().Engaged, s.engaged)
		}
		for _, a := range acts {
			if v := num(t, a.GetValue()); v <= 0 || math.IsInf(v, 0) {
				t.Errorf("step %d: %s = %s", i, a.GetKnob(), a.GetValue())
			}
		}
		knobs = applied(knobs, acts)
	}
}

func TestCapConfig(t *testing.T) {
	if err := power.DefaultCapConfig().Validate(); err != nil {
		t.Fatalf("DefaultCapConfig().Validate() = %v", err)
	}
	tests := []struct {
		name   string
		change func(*power.CapConfig)
	}{
		{"no decay", func(c *power.CapConfig) { c.DemandDecay = 0 }},
		{"negative headroom", func(c *power.CapConfig) { c.HeadroomWatts = -1 }},
		{"NaN fraction", func(c *power.CapConfig) { c.HeadroomFraction = nan() }},
		{"negative gain", func(c *power.CapConfig) { c.TrackingGain = -0.1 }},
		{"tracking 1", func(c *power.CapConfig) { c.MaxTracking = 1 }},
		{"negative deadband", func(c *power.CapConfig) { c.DeadbandWatts = -1 }},
		{"burst below 1", func(c *power.CapConfig) { c.BurstRatio = 0.5 }},
		{"burst infinite", func(c *power.CapConfig) { c.BurstRatio = math.Inf(1) }},
		{"exponent 0", func(c *power.CapConfig) { c.FrequencyExponent = 0 }},
		{"no max step", func(c *power.CapConfig) { c.MaxStep = 0 }},
	}
	for _, tt := range tests {
		c := power.DefaultCapConfig()
		tt.change(&c)
		if _, err := power.NewCapController(c); !errors.Is(err, power.ErrConfig) {
			t.Errorf("%s: NewCapController = %v; want ErrConfig", tt.name, err)
		}
	}
	// BurstRatio 0 leaves PL2 alone; 1.5 lets it sit above PL1.
	for _, tt := range []struct {
		ratio float64
		want  string
	}{{0, ""}, {1.5, "42000000"}} { // PL1 stays at its 28 W: the cap of 50 W is above it
		cfg := power.DefaultCapConfig()
		cfg.BurstRatio = tt.ratio
		c, err := power.NewCapController(cfg)
		if err != nil {
			t.Fatal(err)
		}
		h := power.Host{Knobs: loadKnobs(t, "laptop"), DomainWatts: map[string]float64{"package-0": 28}}
		got := values(c.Step(28, 50, time.Second, h))
		if got[key("rapl.pl1_uw", "package-0")] == "" || got[key("rapl.pl2_uw", "package-0")] != tt.want {
			t.Errorf("BurstRatio %v: PL1 %q, PL2 %q; want PL2 %q", tt.ratio, got[key("rapl.pl1_uw", "package-0")], got[key("rapl.pl2_uw", "package-0")], tt.want)
		}
	}
}

func TestHostFromSample(t *testing.T) {
	s := &gamesav1.Sample{
		Cpu: &gamesav1.CPU{Cores: []*gamesav1.CPUCore{{FrequencyMhz: 1200}, {FrequencyMhz: 3400.5}}},
		Power: &gamesav1.Power{
			OnAc:       false,
			TotalWatts: 21,
			Rapl: []*gamesav1.RAPLDomain{
				{Zone: "intel-rapl:0", Name: "package-0", Watts: 15},
				{Zone: "intel-rapl:0:0", Name: "core", Watts: 11},
				{Zone: "intel-rapl:1", Name: "psys", Watts: 30},
				{Zone: "intel-rapl:2", Name: "package-1", Watts: 6},
			},
			Batteries: []*gamesav1.Battery{
				{CapacityPercent: 50, EnergyWh: 10, EnergyFullWh: 20},
				{CapacityPercent: 100, EnergyWh: 60, EnergyFullWh: 60},
			},
		},
		Gpus: []*gamesav1.GPU{{Index: 0, PowerWatts: 80}, {Index: 3, PowerWatts: 9}},
	}
	knobs := loadKnobs(t, "laptop")
	h := power.HostFromSample(s, knobs)
	want := map[string]float64{"package-0": 15, "package-1": 6, "gpu0": 80, "gpu3": 9}
	if len(h.DomainWatts) != len(want) {
		t.Errorf("DomainWatts = %v; want %v", h.DomainWatts, want)
	}
	for k, v := range want {
		if h.DomainWatts[k] != v {
			t.Errorf("DomainWatts[%q] = %v; want %v", k, h.DomainWatts[k], v)
		}
	}
	if h.OnAC || !h.HasBattery || h.BatteryPercent != 87.5 || h.MaxCoreKHz != 3400500 || len(h.Knobs) != len(knobs) {
		t.Errorf("HostFromSample = AC %v, battery %v %v %%, fastest core %v kHz; want false, true 87.5 %% (70 of 80 Wh), 3400500",
			h.OnAC, h.HasBattery, h.BatteryPercent, h.MaxCoreKHz)
	}
	if got := power.MeasuredWatts(s); got != 21+80+9 {
		t.Errorf("MeasuredWatts = %v; want total 21 + GPUs 89", got)
	}
	empty := power.HostFromSample(nil, nil)
	if !empty.OnAC || empty.HasBattery || power.MeasuredWatts(nil) != 0 {
		t.Errorf("HostFromSample(nil) = %+v; want on AC, no battery", empty)
	}
	// A Host read again keeps its map and none of its old contents.
	reused := h
	reused.GameCores = []int{1}
	reused.ReadSample(&gamesav1.Sample{Gpus: []*gamesav1.GPU{{Index: 20, PowerWatts: 7}}}, nil)
	if len(reused.DomainWatts) != 1 || reused.DomainWatts["gpu20"] != 7 || !reused.OnAC || reused.HasBattery || reused.GameCores != nil {
		t.Errorf("ReadSample over a host = %+v; want the new sample's GPU alone, on AC, no battery, no game cores", reused)
	}
	if a := testing.AllocsPerRun(20, func() { reused.ReadSample(s, knobs) }); a != 0 {
		t.Errorf("ReadSample into a host allocates %v times; want 0", a)
	}
}

// TestCapSteadyStep: while the limits hold, a step names the very actions
// of the step before, in the very same list, and allocates nothing; the
// reasons state the rule rather than the draw, so a draw that moves
// within the deadband changes nothing. A cap that changes makes new
// actions and leaves the lists handed out before as they were.
func TestCapSteadyStep(t *testing.T) {
	for _, tc := range []struct {
		name  string
		knobs []*gamesav1.Knob
		capW  float64
	}{
		{"desktop under the cap", loadKnobs(t, "desktop"), 1000},
		{"desktop held", loadKnobs(t, "desktop"), 200},
		{"laptop fallback held", withOwner(loadKnobs(t, "laptop"), "tlp", "rapl.pl1_uw", "rapl.pl2_uw"), 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCap(t)
			h := power.Host{Knobs: tc.knobs, DomainWatts: map[string]float64{"package-0": 60, "gpu0": 300}, MaxCoreKHz: 3e6}
			var last []*gamesav1.Action
			for range 30 { // settle: the integrators stop moving the limits
				last = c.Step(360, tc.capW, time.Second, h)
				h.Knobs = applied(h.Knobs, last)
			}
			i := 0
			step := func() []*gamesav1.Action {
				i++
				h.DomainWatts["package-0"] = 60 + 0.01*float64(i%2) // a live meter
				return c.Step(360, tc.capW, time.Second, h)
			}
			got := step()
			if len(got) == 0 || &got[0] != &last[0] {
				t.Fatalf("a steady step returned a new list: %v, before %v", got, last)
			}
			if a := testing.AllocsPerRun(50, func() { step() }); a != 0 {
				t.Errorf("a steady step allocates %v times; want 0", a)
			}
			for _, a := range got {
				if r := a.GetReasons(); len(r) != 1 || !strings.HasPrefix(r[0], "power cap ") || strings.Contains(r[0], " draws ") {
					t.Errorf("%s %s: reasons %q; want the cap's rule, not a draw", a.GetKnob(), a.GetTarget(), r)
				}
			}
			before := values(got)
			moved := c.Step(360, tc.capW/2, time.Second, h)
			if len(moved) == 0 || &moved[0] == &got[0] {
				t.Fatal("the cap halved and the step returned the old list")
			}
			if after := values(got); !maps.Equal(after, before) {
				t.Errorf("the new step rewrote the list handed out before: %v, was %v", after, before)
			}
		})
	}
}

// TestCapDisabledPL1: a package whose PL1 reads below its minimum (a
// disabled constraint) gives no limit to keep under or restore; the CPUs
// are capped through their frequency instead.
func TestCapDisabledPL1(t *testing.T) {
	knobs := loadKnobs(t, "laptop")
	for _, k := range knobs {
		if k.GetName() == "rapl.pl1_uw" && k.GetTarget() == "package-0" {
			k.Value = "0"
		}
	}
	c := newCap(t)
	acts := values(c.Step(40, 20, time.Second, power.Host{Knobs: knobs, DomainWatts: map[string]float64{"package-0": 40}}))
	if _, ok := acts[key("rapl.pl1_uw", "package-0")]; ok {
		t.Errorf("actions %v; want none on the disabled PL1", acts)
	}
	if _, ok := acts[key("cpufreq.max_khz", "cpu0")]; !ok {
		t.Errorf("actions %v; want the frequency fallback", acts)
	}
}
