package sysfs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/krystalstack/gamesa/telemetry"
)

// TestLiveHost runs every collector against the real /sys. What the machine
// has decides what each must answer: where a class directory has none of
// the entries a collector reads, it must say ErrNotAvailable (this
// project's build machines have no hwmon, RAPL or battery); where it has
// some, the result is logged, since a real machine's sensors are not ours to
// predict. Nothing may panic.
func TestLiveHost(t *testing.T) {
	roots := telemetry.DefaultRoots()
	globs := map[string]string{
		"hwmon":        "class/hwmon/hwmon*",
		"thermal_zone": "class/thermal/thermal_zone*",
		"rapl":         "class/powercap/intel-rapl:*",
	}
	for _, nc := range allCollectors(roots) {
		t.Run(nc.name, func(t *testing.T) {
			for call := range 2 {
				s := sampleAt(time.Now().Add(time.Duration(call) * time.Second))
				err := nc.c.Collect(context.Background(), s)
				t.Logf("Collect #%d = %v; thermal %d, fans %d, power %v", call+1, err, len(s.Thermal), len(s.Fans), s.Power)
				if nc.name == "power_supply" {
					checkLivePowerSupply(t, roots, err, s.GetPower().GetOnAc())
					continue
				}
				matches, _ := filepath.Glob(filepath.Join(roots.Sys, globs[nc.name]))
				if len(matches) == 0 && !errors.Is(err, telemetry.ErrNotAvailable) {
					t.Errorf("Collect #%d = %v; want ErrNotAvailable: %s matches nothing", call+1, err, globs[nc.name])
				}
			}
		})
	}
}

func checkLivePowerSupply(t *testing.T, roots telemetry.Roots, err error, onAC bool) {
	t.Helper()
	entries, derr := os.ReadDir(filepath.Join(roots.Sys, "class/power_supply"))
	switch {
	case errors.Is(derr, os.ErrNotExist):
		if !errors.Is(err, telemetry.ErrNotAvailable) {
			t.Errorf("Collect = %v; want ErrNotAvailable: no power_supply directory", err)
		}
	case derr == nil && len(entries) == 0:
		if err != nil || !onAC {
			t.Errorf("Collect = %v, on_ac %v; want nil, true: an empty power_supply directory is a desktop", err, onAC)
		}
	}
}
