package power_test

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/krystalstack/gamesa/optimizer/power"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// FuzzParseMode: a mode name from a user (CLI, gRPC, a config file) either
// parses to a valid mode whose name parses back to it, or fails with
// ErrUnknownMode.
func FuzzParseMode(f *testing.F) {
	for _, s := range []string{"gaming", "MAX_BATTERY", "max-performance", " balanced ", "", "Mode(1)", "gaming\x00", "ＧＡＭＩＮＧ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := power.ParseMode(s)
		if err != nil {
			if m != 0 {
				t.Errorf("ParseMode(%q) = %v with error %v; want the zero Mode", s, m, err)
			}
			return
		}
		if !m.Valid() {
			t.Fatalf("ParseMode(%q) = %v; not a valid mode", s, m)
		}
		back, err := power.ParseMode(m.String())
		if err != nil || back != m {
			t.Errorf("ParseMode(%q) = %v, but ParseMode(%q) = %v, %v", s, m, m.String(), back, err)
		}
		var u power.Mode
		if err := u.UnmarshalText([]byte(s)); err != nil || u != m {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v", s, u, err, m)
		}
	})
}

// fuzzKnob builds a knob from fuzzed text.
func fuzzKnob(name, target, value, lo, hi, choices string) *gamesav1.Knob {
	k := &gamesav1.Knob{Name: name, Target: target, Value: value, Min: lo, Max: hi, Writable: true}
	if choices != "" {
		k.Choices = strings.Split(choices, ",")
	}
	return k
}

// checkBounds fails when an action names a knob absent from knobs, or
// sets a value outside its bounds or choices.
func checkBounds(t *testing.T, knobs []*gamesav1.Knob, acts []*gamesav1.Action) {
	t.Helper()
	for _, a := range acts {
		i := slices.IndexFunc(knobs, func(k *gamesav1.Knob) bool {
			return k.GetName() == a.GetKnob() && k.GetTarget() == a.GetTarget()
		})
		if i < 0 {
			t.Fatalf("action on %s %q, which is not in the inventory", a.GetKnob(), a.GetTarget())
		}
		k := knobs[i]
		if len(k.GetChoices()) > 0 && !slices.Contains(k.GetChoices(), a.GetValue()) {
			t.Fatalf("%s = %q; not one of %q", a.GetKnob(), a.GetValue(), k.GetChoices())
		}
		lo, err1 := strconv.ParseFloat(k.GetMin(), 64)
		hi, err2 := strconv.ParseFloat(k.GetMax(), 64)
		if err1 != nil || err2 != nil || len(k.GetChoices()) > 0 {
			continue
		}
		v, err := strconv.ParseFloat(a.GetValue(), 64)
		if err != nil || math.IsNaN(v) || v < lo || v > hi {
			t.Fatalf("%s = %q; want a number within %q..%q", a.GetKnob(), a.GetValue(), k.GetMin(), k.GetMax())
		}
	}
}

// FuzzPlanFor feeds the modes knobs described in any way and checks that
// the plans stay within what the knobs say they accept.
func FuzzPlanFor(f *testing.F) {
	f.Add("cpufreq.min_khz", "cpu0", "400000", "400000", "4700000", "", 0, 50.0)
	f.Add("backlight.brightness", "acpi_video0", "100", "1", "100", "", 1, 10.0)
	f.Add("cpufreq.epp", "cpu1", "default", "", "", "power,performance", 3, -1.0)
	f.Add("nvml.power_limit_mw", "gpu0", "x", "5e5", "1e5", "", 2, 0.0)
	f.Add("pmqos.cpu_dma_latency_us", "", "NaN", "-Inf", "Inf", "", 3, 100.0)
	f.Fuzz(func(t *testing.T, name, target, value, lo, hi, choices string, mode int, battery float64) {
		knobs := []*gamesav1.Knob{fuzzKnob(name, target, value, lo, hi, choices)}
		m := power.Mode(((mode % 4) + 4) % 4)
		plan, _ := power.PlanFor(m, power.Host{Knobs: knobs, BatteryPercent: battery, HasBattery: true, GameCores: []int{0}}, time.Unix(0, 0))
		checkBounds(t, knobs, plan.GetActions())
	})
}

// FuzzCapStep feeds the cap controller odd limits, draws and caps and
// checks that its limits stay within the knobs' bounds.
func FuzzCapStep(f *testing.F) {
	f.Add("28000000", "5000000", "64000000", "320000", "100000", "370000", 30.0, 25.0, 150.0, 200.0, int64(time.Second))
	f.Add("0", "0", "0", "1", "2", "1", 1e308, -1.0, math.NaN(), 5.0, int64(-1))
	f.Add("1e9", "1e3", "1e12", "5", "5", "5", 0.0, 1e-300, math.Inf(1), 1e-9, int64(time.Hour))
	f.Fuzz(func(t *testing.T, pl1, pl1lo, pl1hi, gpu, gpulo, gpuhi string, cpuW, gpuW, measured, capW float64, dt int64) {
		knobs := []*gamesav1.Knob{
			fuzzKnob("rapl.pl1_uw", "package-0", pl1, pl1lo, pl1hi, ""),
			fuzzKnob("rapl.pl2_uw", "package-0", pl1, pl1lo, pl1hi, ""),
			fuzzKnob("nvml.power_limit_mw", "gpu0", gpu, gpulo, gpuhi, ""),
		}
		c, err := power.NewCapController(power.DefaultCapConfig())
		if err != nil {
			t.Fatal(err)
		}
		h := power.Host{Knobs: knobs, DomainWatts: map[string]float64{"package-0": cpuW, "gpu0": gpuW}}
		for _, cw := range []float64{capW, capW / 2, capW, 0} {
			acts := c.Step(measured, cw, time.Duration(dt), h)
			checkBounds(t, knobs, acts)
		}
	})
}
