package power_test

import (
	"context"
	"fmt"
	"time"

	"github.com/krystalstack/gamesa/optimizer/power"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
	"github.com/krystalstack/gamesa/telemetry/sim"
)

// A mode's plan for a laptop: EPP and the governor on the game's cores,
// a PM QoS request, the platform profile; an owned knob left alone.
func ExamplePlanFor() {
	knobs := []*gamesav1.Knob{
		{Name: "platform.profile", Value: "balanced", Choices: []string{"low-power", "balanced", "performance"}, Writable: true, Owner: "power-profiles-daemon"},
		{Name: "cpufreq.epp", Target: "cpu0", Value: "balance_performance", Choices: []string{"performance", "balance_performance", "power"}, Writable: true},
		{Name: "cpufreq.epp", Target: "cpu1", Value: "balance_performance", Choices: []string{"performance", "balance_performance", "power"}, Writable: true},
		{Name: "pmqos.cpu_dma_latency_us", Value: "2000000000", Min: "0", Max: "2000000000", Unit: "us", Writable: true},
	}
	mode, err := power.ParseMode("gaming")
	if err != nil {
		fmt.Println(err)
		return
	}
	plan, notes := power.PlanFor(mode, power.Host{Knobs: knobs, GameCores: []int{1}}, time.Unix(1_700_000_000, 0))
	for _, a := range plan.Actions {
		fmt.Printf("%s %s = %s: %s\n", a.Knob, a.Target, a.Value, a.Reasons[0])
	}
	for _, n := range notes {
		fmt.Println("note:", n)
	}
	// Output:
	// cpufreq.epp cpu1 = performance: mode GAMING: EPP performance for frame latency
	// pmqos.cpu_dma_latency_us  = 50: mode GAMING: PM QoS CPU latency 50 µs keeps the cores out of deep idle states
	// note: platform.profile: managed by power-profiles-daemon
}

// The cap loop on the simulated machine: sample, step, apply, once a
// second. A render draws 45 W until a 30 W cap arrives.
func ExampleCapController() {
	cfg := sim.DefaultConfig()
	cfg.Scenario, cfg.GPU = sim.ScenarioRender, nil
	cfg.ThermalResistanceCPerW, cfg.FanStoppedResistanceCPerW = 0.8, 1.2
	m, err := sim.New(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	c, err := power.NewCapController(power.DefaultCapConfig())
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	for tick := range 8 {
		capW := 0.0
		if tick >= 4 {
			capW = 30
		}
		now = now.Add(time.Second)
		s, err := m.Sample(ctx, now)
		if err != nil {
			fmt.Println(err)
			return
		}
		knobs, err := m.Inventory(ctx)
		if err != nil {
			fmt.Println(err)
			return
		}
		measured := power.MeasuredWatts(s)
		actions := c.Step(measured, capW, time.Second, power.HostFromSample(s, knobs))
		if err := m.Apply(ctx, &gamesav1.Plan{Actions: actions}); err != nil {
			fmt.Println(err)
			return
		}
		if tick > 0 {
			fmt.Printf("tick %d: cap %2.0f W, measured %4.1f W, PL1 %4.1f W\n", tick, capW, measured, s.Power.Rapl[0].LongTermLimitWatts)
		}
	}
	// Output:
	// tick 1: cap  0 W, measured 45.0 W, PL1 45.0 W
	// tick 2: cap  0 W, measured 45.0 W, PL1 45.0 W
	// tick 3: cap  0 W, measured 45.0 W, PL1 45.0 W
	// tick 4: cap 30 W, measured 45.0 W, PL1 45.0 W
	// tick 5: cap 30 W, measured 30.0 W, PL1 30.0 W
	// tick 6: cap 30 W, measured 30.0 W, PL1 30.0 W
	// tick 7: cap 30 W, measured 30.0 W, PL1 30.0 W
}
