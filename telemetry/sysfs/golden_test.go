package sysfs

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/krystalstack/gamesa/telemetry/telemetrytest"
)

// TestGolden runs collectors once over a tree and compares what each filled,
// and the error it returned, with testdata/<tree>_<collector>.golden.
func TestGolden(t *testing.T) {
	trees := []struct {
		name       string
		dir        string
		collectors []string
	}{
		// The shared laptop: symlinked class entries, every kind of sensor.
		{"fixture", fixtureDir, []string{"hwmon", "thermal_zone", "rapl", "power_supply"}},
		// Garbage in every kind of file: the rest must still be filled.
		{"malformed", "testdata/malformed", []string{"hwmon", "thermal_zone", "rapl", "power_supply"}},
		// charge_* and current_now, an empty slot, a mouse, adapters offline.
		{"battery-charge", "testdata/battery-charge", []string{"power_supply"}},
		// Name collisions, numeric order, missing names, the old layout.
		{"multi", "testdata/multi", []string{"hwmon", "thermal_zone"}},
	}
	for _, tree := range trees {
		roots := telemetrytest.Fixture(t, tree.dir)
		copyDir := filepath.Dir(roots.Sys)
		for _, nc := range allCollectors(roots) {
			if !slices.Contains(tree.collectors, nc.name) {
				continue
			}
			t.Run(tree.name+"/"+nc.name, func(t *testing.T) {
				s := sampleAt(t0)
				err := nc.c.Collect(context.Background(), s)
				checkGolden(t, tree.name+"_"+nc.name, render(t, s, err, copyDir, tree.dir))
			})
		}
	}
}
