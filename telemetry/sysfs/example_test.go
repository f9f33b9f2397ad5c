package sysfs_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
	"github.com/krystalstack/gamesa/telemetry"
	"github.com/krystalstack/gamesa/telemetry/sysfs"
	"github.com/krystalstack/gamesa/telemetry/telemetrytest"
)

// The collectors are built once and called once per tick with the tick's
// time; RAPL's watts cover the interval between two calls.
func Example() {
	// An agent passes telemetry.DefaultRoots(). The example reads a copy of
	// the test fixture instead, with the ':' in its names restored (the
	// committed tree spells it %3A; see package telemetrytest).
	dir, err := os.MkdirTemp("", "sysfs-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	if err := telemetrytest.CopyTree("../testdata/fixture", dir); err != nil {
		fmt.Println(err)
		return
	}
	roots := telemetry.FixtureRoots(dir)
	collectors := []telemetry.Collector{
		sysfs.NewHwmon(roots),
		sysfs.NewThermalZones(roots),
		sysfs.NewRAPL(roots),
		sysfs.NewPowerSupply(roots),
	}
	now := time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)
	s := &gamesav1.Sample{Time: timestamppb.New(now)}
	for _, c := range collectors {
		if err := c.Collect(context.Background(), s); err != nil {
			fmt.Println("error:", err)
		}
	}
	for _, t := range s.Thermal[:2] {
		fmt.Printf("%s: %.1f °C (critical %.0f °C)\n", t.Name, t.TemperatureCelsius, t.CriticalCelsius)
	}
	fmt.Printf("%s: %.0f rpm\n", s.Fans[0].Name, s.Fans[0].Rpm)
	fmt.Printf("%s long-term limit: %.0f W\n", s.Power.Rapl[0].Name, s.Power.Rapl[0].LongTermLimitWatts)
	b := s.Power.Batteries[0]
	fmt.Printf("%s: %s, %.0f%%, %.2f W, on AC: %v\n", b.Name, b.Status, b.CapacityPercent, b.PowerWatts, s.Power.OnAc)
	// Output:
	// coretemp/Package id 0: 52.0 °C (critical 100 °C)
	// coretemp/Core 0: 49.0 °C (critical 100 °C)
	// thinkpad/CPU: 2950 rpm
	// package-0 long-term limit: 28 W
	// BAT0: Charging, 74%, 23.15 W, on AC: true
}
