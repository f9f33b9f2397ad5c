package coord_test

import (
	"slices"
	"testing"
	"time"

	"github.com/krystalstack/gamesa/optimizer/coord"
)

// A hog moved out of a game's way uses less CPU there; it stays a hog
// down to HogKeepCPUPercent instead of bouncing back at the next tick.
func TestHogStaysMovedWhileBusy(t *testing.T) {
	c, err := coord.New(coord.DefaultConfig(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	regs := []coord.Registration{{PID: 100, Class: coord.ClassGame, At: time.Unix(1, 0)}}
	plan := func(hogCPU float64, prev []int32) coord.Decision {
		return c.Plan(coord.Input{
			Processes: []coord.Process{
				{PID: 100, PPID: 1, Name: "frameloop", Cmdline: "./frameloop", UID: 1000, CPUPercent: 50},
				{PID: 200, PPID: 1, Name: "hog", Cmdline: "./hog", UID: 1000, CPUPercent: hogCPU},
			},
			Topology:      coord.FlatTopology(4),
			Registrations: regs,
			PrevHogs:      prev,
		})
	}
	first := plan(90, nil)
	if !slices.Equal(first.Hogs, []int32{200}) {
		t.Fatalf("a hog at 90%% CPU beside a game: Hogs %v; want [200]", first.Hogs)
	}
	for _, tc := range []struct {
		cpu  float64
		prev []int32
		hog  bool
	}{
		{8, first.Hogs, true},    // moved, and less busy for it: stays
		{8, nil, false},          // never moved: 8 % is no hog
		{3, first.Hogs, false},   // really quiet: let go
		{25, nil, true},          // busy: a hog either way
		{8, []int32{999}, false}, // another app's history does not count
	} {
		d := plan(tc.cpu, tc.prev)
		if got := slices.Contains(d.Hogs, 200); got != tc.hog {
			t.Errorf("hog at %.0f%% with PrevHogs %v: hog %v; want %v", tc.cpu, tc.prev, got, tc.hog)
		}
	}
}
