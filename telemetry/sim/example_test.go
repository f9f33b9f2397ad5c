package sim_test

import (
	"context"
	"fmt"
	"time"

	"github.com/krystalstack/gamesa/telemetry/sim"
)

// A simulated machine rendering, then under a power cap a cluster budget
// might set. Sample is called once per tick with the tick's time.
func Example() {
	cfg := sim.DefaultConfig()
	cfg.NodeID = "render-1"
	cfg.Scenario = sim.ScenarioRender
	m, err := sim.New(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	now := time.Unix(1_700_000_100, 0)
	tick := func(n int) {
		for range n {
			now = now.Add(time.Second)
			s, err := m.Sample(ctx, now)
			if err != nil {
				fmt.Println(err)
				return
			}
			if n == 1 {
				fmt.Printf("%s: %s busiest, %.0f %% CPU, %.0f W (limit %.0f W), %.0f °C, ceiling %.0f MHz\n",
					s.NodeId, s.Processes.Top[0].Name, s.Cpu.UtilizationPercent, s.Power.TotalWatts,
					s.Power.Rapl[0].LongTermLimitWatts, s.Thermal[0].TemperatureCelsius, s.Cpu.Cores[0].MaxFrequencyMhz)
			}
		}
	}
	tick(120) // warm up: the laptop throttles at 95 °C
	tick(1)
	if err := m.SetPowerCap(25); err != nil {
		fmt.Println(err)
		return
	}
	tick(58)
	tick(1)
	// Output:
	// render-1: blender busiest, 98 % CPU, 34 W (limit 45 W), 95 °C, ceiling 2423 MHz
	// render-1: blender busiest, 99 % CPU, 25 W (limit 25 W), 83 °C, ceiling 2002 MHz
}
