package power_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/krystalstack/gamesa/optimizer/power"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// serverKnobs is a two-socket server with four GPUs and 64 CPUs: the
// largest inventory the controller is likely to see.
func serverKnobs() []*gamesav1.Knob {
	var ks []*gamesav1.Knob
	for p := range 2 {
		t := fmt.Sprintf("package-%d", p)
		ks = append(ks,
			&gamesav1.Knob{Name: "rapl.pl1_uw", Target: t, Value: "205000000", Min: "5000000", Max: "205000000", Unit: "uW", Writable: true},
			&gamesav1.Knob{Name: "rapl.pl2_uw", Target: t, Value: "250000000", Min: "5000000", Max: "1099511627776", Unit: "uW", Writable: true})
	}
	for g := range 4 {
		ks = append(ks, &gamesav1.Knob{Name: "nvml.power_limit_mw", Target: fmt.Sprintf("gpu%d", g), Value: "300000", Min: "100000", Max: "300000", Unit: "mW", Writable: true})
	}
	for c := range 64 {
		ks = append(ks, &gamesav1.Knob{Name: "cpufreq.max_khz", Target: fmt.Sprintf("cpu%d", c), Value: "3500000", Min: "800000", Max: "3500000", Unit: "kHz", Writable: true})
	}
	return ks
}

// BenchmarkStep times one control step on a capped machine: the RAPL and
// NVML domains of a server, and the frequency fallback on its 64 CPUs.
func BenchmarkStep(b *testing.B) {
	withoutRAPL := func(ks []*gamesav1.Knob) []*gamesav1.Knob {
		var out []*gamesav1.Knob
		for _, k := range ks {
			if k.Name != "rapl.pl1_uw" && k.Name != "rapl.pl2_uw" {
				out = append(out, k)
			}
		}
		return out
	}
	draws := map[string]float64{"package-0": 180, "package-1": 150, "gpu0": 290, "gpu1": 120, "gpu2": 300, "gpu3": 40}
	for _, bc := range []struct {
		name  string
		knobs []*gamesav1.Knob
	}{
		{"rapl+nvml", serverKnobs()},
		{"cpufreq-fallback", withoutRAPL(serverKnobs())},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c, err := power.NewCapController(power.DefaultCapConfig())
			if err != nil {
				b.Fatal(err)
			}
			h := power.Host{Knobs: bc.knobs, DomainWatts: draws, MaxCoreKHz: 3.1e6}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				// Alternate caps so that every step computes new shares.
				c.Step(1080, 700+float64(i%2)*100, time.Second, h)
				i++
			}
		})
	}
}

// BenchmarkPlanFor times a mode's plan for a 64-CPU server inventory.
func BenchmarkPlanFor(b *testing.B) {
	h := power.Host{Knobs: serverKnobs()}
	for _, k := range h.Knobs {
		if k.Name == "cpufreq.max_khz" {
			h.Knobs = append(h.Knobs, &gamesav1.Knob{Name: "cpufreq.epp", Target: k.Target, Value: "balance_performance",
				Choices: []string{"default", "performance", "balance_performance", "balance_power", "power"}, Writable: true})
		}
	}
	now := time.Unix(1_700_000_000, 0)
	b.ReportAllocs()
	for b.Loop() {
		power.PlanFor(power.Gaming, h, now)
	}
}
