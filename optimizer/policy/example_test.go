package policy_test

import (
	"fmt"
	"time"

	"github.com/krystalstack/gamesa/optimizer/coord"
	"github.com/krystalstack/gamesa/optimizer/policy"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// The node's loop: one decision a second. A game and a CPU hog on four
// cores; the game's settings take force on the third tick (hysteresis),
// and every action says why.
func ExamplePipeline_Decide() {
	p, err := policy.New(policy.DefaultConfig(), policy.DefaultParts())
	if err != nil {
		fmt.Println(err)
		return
	}
	procs := []coord.Process{
		{PID: 1, Name: "systemd", Cmdline: "/sbin/init"},
		{PID: 700, PPID: 1, Name: "hl2_linux", Cmdline: "/home/u/.local/share/Steam/steamapps/common/Half-Life 2/hl2_linux -game hl2", CPUPercent: 180},
		{PID: 800, PPID: 1, Name: "stress-ng", Cmdline: "stress-ng --cpu 2", CPUPercent: 200},
	}
	sample := &gamesav1.Sample{Power: &gamesav1.Power{OnAc: true}}
	start := time.Date(2025, 6, 1, 20, 0, 0, 0, time.UTC)
	for tick := range 3 {
		d := p.Decide(policy.Input{Now: start.Add(time.Duration(tick) * time.Second), Sample: sample,
			Processes: procs, Topology: coord.FlatTopology(4)})
		fmt.Printf("tick %d: mode %s, scenario %q, %d actions, %d held\n", tick+1, d.Mode, d.Scenario, len(d.Plan.GetActions()), len(d.Held))
		if tick == 2 {
			for _, a := range d.Plan.GetActions() {
				if a.GetTarget() == "pid:700" && a.GetKnob() == "process.nice" {
					fmt.Printf("%s %s = %s\n", a.GetKnob(), a.GetTarget(), a.GetValue())
					for _, r := range a.GetReasons() {
						fmt.Println("  -", r)
					}
				}
			}
		}
	}
	// Output:
	// tick 1: mode GAMING, scenario "game", 0 actions, 12 held
	// tick 2: mode GAMING, scenario "game", 0 actions, 12 held
	// tick 3: mode GAMING, scenario "game", 12 actions, 0 held
	// process.nice pid:700 = -10
	//   - game: hl2_linux gets CPUs 1-3 (3 whole cores), the rest run on CPUs 0
	//   - hl2_linux is the foreground game (busiest game; rule "steam game")
}
