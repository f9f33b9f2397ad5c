package policy_test

import (
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/krystalstack/gamesa/optimizer/coord"
	"github.com/krystalstack/gamesa/optimizer/policy"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// TestAffinityLeftToWritableCPUSets plans the busy desktop with the
// groups' cpusets writable, read-only, missing and half there: a process
// the plan moves into a group gets an affinity of its own exactly when
// the knob inventory does not show that group's cpuset writable.
func TestAffinityLeftToWritableCPUSets(t *testing.T) {
	for _, tc := range []struct {
		name     string
		writable []string // the groups whose cpuset is writable; the others' is read-only or missing
		drop     bool     // leave the other groups' cpuset out of the inventory
	}{
		{"writable", []string{coord.GroupForeground, coord.GroupBackground}, false},
		{"read-only", nil, false},
		{"missing", nil, true},
		{"background only", []string{coord.GroupBackground}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var knobs []*gamesav1.Knob
			for _, k := range loadKnobs(t, "desktop-16") {
				if k.GetName() == coord.KnobCgroupCPUSet && !slices.Contains(tc.writable, k.GetTarget()) {
					if tc.drop {
						continue
					}
					k = proto.CloneOf(k)
					k.Writable = false
				}
				knobs = append(knobs, k)
			}
			p, err := policy.New(policy.DefaultConfig(), policy.DefaultParts())
			if err != nil {
				t.Fatal(err)
			}
			in := policy.Input{Knobs: knobs, Processes: busyDesktop(), Topology: loadTopology(t, "desktop-8c16t")}
			var d *policy.Decision
			for tick := range 5 {
				in.Now = time.Date(2025, 6, 1, 20, 0, tick, 0, time.UTC)
				d = p.Decide(in)
				checkDecision(t, d)
			}
			plan := planValues(d)
			members := 0
			for k, group := range plan {
				if k.Knob != coord.KnobCgroupMember {
					continue
				}
				members++
				_, own := plan[policy.Key{Knob: coord.KnobAffinity, Target: k.Target}]
				if want := !slices.Contains(tc.writable, group); own != want {
					t.Errorf("%s in group %s: an affinity of its own %v; want %v", k.Target, group, own, want)
				}
			}
			if members == 0 {
				t.Fatal("the plan moves no process into a group; the test needs some")
			}
		})
	}
}
