package actuators_test

import (
	"context"
	"os"
	"strconv"
	"testing"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"

	"github.com/krystalstack/gamesa/actuators"
)

// fixturePlans returns two 20-action plans over the fixture's knobs that
// differ in every value, so alternating them changes every knob.
func fixturePlans() [2]*gamesav1.Plan {
	var plans [2]*gamesav1.Plan
	for i, v := range []struct{ gov, epp, min, max, bl, prof, pl1, pl2 string }{
		{"performance", "performance", "1000000", "4000000", "50000", "performance", "20000000", "40000000"},
		{"powersave", "power", "900000", "3000000", "30000", "low-power", "15000000", "30000000"},
	} {
		var kv []string
		for c := range 4 {
			cpu := "cpu" + strconv.Itoa(c)
			kv = append(kv,
				actuators.KnobGovernor, cpu, v.gov,
				actuators.KnobEPP, cpu, v.epp,
				actuators.KnobMinKHz, cpu, v.min,
				actuators.KnobMaxKHz, cpu, v.max)
		}
		kv = append(kv,
			actuators.KnobBacklight, "intel_backlight", v.bl,
			actuators.KnobPlatformProfile, "", v.prof,
			actuators.KnobRAPLPL1, "package-0", v.pl1,
			actuators.KnobRAPLPL2, "package-0", v.pl2)
		plans[i] = plan(kv...)
	}
	return plans
}

// BenchmarkApplyFixture applies a 20-action plan to the fixture tree.
// "changing" alternates two plans, so every action reads, is journalled
// (one fsync per plan), written and read back; "unchanged" repeats one
// plan, the steady state of a loop whose plan holds still.
//
// The tree goes on tmpfs (/dev/shm) where there is one, since sysfs lives
// in memory: on ext4 each truncating write of a fixture file also starts a
// writeback at close (auto_da_alloc), which real sysfs never does. The
// journal stays in the test's temporary directory, on disk.
func BenchmarkApplyFixture(b *testing.B) {
	plans := fixturePlans()
	for _, mode := range []string{"changing", "unchanged"} {
		b.Run(mode, func(b *testing.B) {
			dir := b.TempDir()
			if shm, err := os.MkdirTemp("/dev/shm", "actuators-bench"); err == nil {
				dir = shm
				b.Cleanup(func() { os.RemoveAll(shm) })
			}
			cfg, _ := fixtureIn(b, dir)
			cfg.Logger = nil
			s := open(b, cfg)
			ctx := context.Background()
			s.Apply(ctx, plans[1])
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				p := plans[0]
				if mode == "changing" {
					p = plans[i%2]
				}
				for _, r := range s.Apply(ctx, p) {
					if !r.Status.OK() {
						b.Fatalf("Apply(%s %s) = %v, %v", r.Action.Knob, r.Action.Target, r.Status, r.Err)
					}
				}
			}
			b.StopTimer()
			if _, err := s.Revert(ctx); err != nil {
				b.Fatal(err)
			}
		})
	}
}
