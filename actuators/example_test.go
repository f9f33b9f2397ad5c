package actuators_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"

	"github.com/krystalstack/gamesa/actuators"
	"github.com/krystalstack/gamesa/telemetry/telemetrytest"
)

// Example applies a plan to a fixture machine and reverts it, as the node
// does in enforce mode.
func Example() {
	dir, err := os.MkdirTemp("", "actuators-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	if err := telemetrytest.CopyTree("testdata/fixture", dir); err != nil {
		panic(err)
	}

	cfg := actuators.DefaultConfig()
	cfg.Proc, cfg.Run = dir, dir // no other tuners here
	cfg.Sys, cfg.Dev = filepath.Join(dir, "sys"), filepath.Join(dir, "dev")
	cfg.CgroupRoot = filepath.Join(dir, "cgroup2")
	cfg.JournalPath = filepath.Join(dir, "data", "actuators.journal")

	ctx := context.Background()
	s, err := actuators.Open(ctx, cfg)
	if err != nil {
		panic(err)
	}
	defer s.Close()
	if s.Pending() {
		// The last run crashed: put its originals back first.
		if _, err := s.Recover(ctx); err != nil {
			panic(err)
		}
	}

	plan := &gamesav1.Plan{Mode: "MAX_BATTERY", Actions: []*gamesav1.Action{
		{Knob: actuators.KnobEPP, Target: "cpu0", Value: "power", Reasons: []string{"on battery"}},
		{Knob: actuators.KnobRAPLPL1, Target: "package-0", Value: "2000000", Reasons: []string{"battery budget"}},
		{Knob: actuators.KnobGovernor, Target: "cpu0", Value: "powersave"},
		{Knob: actuators.KnobPlatformProfile, Value: "quiet"},
	}}
	for _, r := range s.Apply(ctx, plan) {
		line := fmt.Sprintf("%s %q: %v", r.Action.Knob, r.Action.Target, r.Status)
		switch {
		case r.Err != nil:
			line += ": " + r.Err.Error()
		case r.Status == actuators.Applied:
			line += " " + r.Previous + " -> " + r.Value
		}
		if r.Note != "" {
			line += " (" + r.Note + ")"
		}
		fmt.Println(line)
	}
	res, err := s.Revert(ctx)
	if err != nil {
		panic(err)
	}
	for _, r := range res {
		fmt.Printf("revert %s %q: %v -> %s\n", r.Action.Knob, r.Action.Target, r.Status, r.Value)
	}
	// Output:
	// cpufreq.epp "cpu0": applied balance_performance -> power
	// rapl.pl1_uw "package-0": applied 28000000 -> 5000000 (clamped from 2000000 to 5000000)
	// cpufreq.governor "cpu0": unchanged
	// platform.profile "": rejected: platform.profile: "quiet" is not one of [low-power balanced performance]: bad value
	// revert rapl.pl1_uw "package-0": applied -> 28000000
	// revert cpufreq.epp "cpu0": applied -> balance_performance
}
