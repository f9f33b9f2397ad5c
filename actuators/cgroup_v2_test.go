package actuators_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/krystalstack/gamesa/actuators"
)

// TestCgroupV2 sets the groups' weight, quota and cpuset in the fixture's
// cgroup v2 tree and reverts them.
func TestCgroupV2(t *testing.T) {
	tests := []struct {
		knob, target, value string
		file                string
		orig, want          string
	}{
		{actuators.KnobCgroupWeight, "background", "20", "gamesa/background/cpu.weight", "100", "20"},
		{actuators.KnobCgroupWeight, "foreground", "50000", "gamesa/foreground/cpu.weight", "100", "10000"},
		{actuators.KnobCgroupQuota, "background", "50000", "gamesa/background/cpu.max", "max 100000", "50000 100000"},
		{actuators.KnobCgroupQuota, "background", "20000 50000", "gamesa/background/cpu.max", "max 100000", "20000 50000"},
		{actuators.KnobCgroupCpuset, "foreground", "1-3", "gamesa/foreground/cpuset.cpus", "", "1-3"},
		{actuators.KnobCgroupCpuset, "background", "0,1", "gamesa/background/cpuset.cpus", "", "0-1"},
	}
	for _, tt := range tests {
		t.Run(tt.knob+"/"+tt.target+"="+tt.value, func(t *testing.T) {
			cfg, dir := fixture(t)
			s := open(t, cfg)
			path := filepath.Join(dir, "cgroup2", tt.file)
			apply(t, s, actuators.Applied, plan(tt.knob, tt.target, tt.value))
			if got := readFile(t, path); got != tt.want {
				t.Errorf("after Apply(%s %s=%q): %s = %q; want %q", tt.knob, tt.target, tt.value, tt.file, got, tt.want)
			}
			apply(t, s, actuators.Unchanged, plan(tt.knob, tt.target, tt.value))
			revert(t, s)
			if got := readFile(t, path); got != tt.orig {
				t.Errorf("after Revert: %s = %q; want %q", tt.file, got, tt.orig)
			}
		})
	}
}

func TestCgroupV2Rejects(t *testing.T) {
	tests := []struct {
		knob, target, value string
		err                 error
	}{
		{actuators.KnobCgroupWeight, "middle", "10", actuators.ErrBadTarget},
		{actuators.KnobCgroupWeight, "background", "heavy", actuators.ErrBadValue},
		{actuators.KnobCgroupQuota, "background", "500", actuators.ErrOutOfBounds},
		{actuators.KnobCgroupQuota, "background", "50000 5000000", actuators.ErrOutOfBounds},
		{actuators.KnobCgroupQuota, "background", "50000 100000 7", actuators.ErrBadValue},
		{actuators.KnobCgroupCpuset, "background", "4", actuators.ErrOutOfBounds},
		{actuators.KnobCgroupCpuset, "background", "", actuators.ErrBadValue},
		{actuators.KnobCgroupMember, "pid:x", "background", actuators.ErrBadTarget},
		{actuators.KnobCgroupMember, "1234", "background", actuators.ErrBadTarget},
	}
	for _, tt := range tests {
		cfg, _ := fixture(t)
		s := open(t, cfg)
		res := s.Apply(context.Background(), plan(tt.knob, tt.target, tt.value))
		if res[0].Status != actuators.Rejected || !errors.Is(res[0].Err, tt.err) {
			t.Errorf("Apply(%s %s=%q) = %v, %v; want rejected, %v", tt.knob, tt.target, tt.value, res[0].Status, res[0].Err, tt.err)
		}
	}
}
