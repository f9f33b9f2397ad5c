//go:build linux

package actuators_test

import (
	"context"
	"testing"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"

	"github.com/krystalstack/gamesa/actuators"
)

// BenchmarkApplyProcesses applies a 20-action plan to four real processes
// (five knobs each; the multi-threaded helper, so per-thread knobs touch
// every thread), alternating two plans or repeating one as in
// BenchmarkApplyFixture.
func BenchmarkApplyProcesses(b *testing.B) {
	needRoot(b)
	var kids []*child
	var pids []int
	for range 4 {
		c := startHelper(b)
		kids = append(kids, c)
		pids = append(pids, c.pid)
	}
	var plans [2]*gamesav1.Plan
	for i, v := range []struct{ cpus, nice, io, pol, oom string }{
		{"0", "3", "be/6", "batch", "200"},
		{allCPUs(b), "5", "idle", "normal", "300"},
	} {
		var kv []string
		for _, c := range kids {
			kv = append(kv,
				actuators.KnobAffinity, c.target(), v.cpus,
				actuators.KnobNice, c.target(), v.nice,
				actuators.KnobIOPrio, c.target(), v.io,
				actuators.KnobPolicy, c.target(), v.pol,
				actuators.KnobOOMScoreAdj, c.target(), v.oom)
		}
		plans[i] = plan(kv...)
	}
	for _, mode := range []string{"changing", "unchanged"} {
		b.Run(mode, func(b *testing.B) {
			cfg := processConfig(b, pids...)
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
