package coord_test

import (
	"errors"
	"testing"
	"time"

	"github.com/krystalstack/gamesa/optimizer/coord"
)

func TestRegistry(t *testing.T) {
	r := coord.NewRegistry()
	t0 := time.Unix(1000, 0)
	for _, bad := range []coord.Registration{{PID: 0, Class: coord.ClassGame}, {PID: 5, Class: "toaster"}, {PID: 5}} {
		if err := r.Register(bad); !errors.Is(err, coord.ErrRegistration) {
			t.Errorf("Register(%+v) = %v; want ErrRegistration", bad, err)
		}
	}
	regs := []coord.Registration{
		{PID: 10, Class: coord.ClassGame, Priority: 1, At: t0},
		{PID: 11, Class: coord.ClassGame, Priority: 1, At: t0.Add(time.Second)},
		{PID: 12, Class: coord.ClassIDE, Priority: 0, At: t0.Add(2 * time.Second)},
		{PID: 13, Class: coord.ClassRenderer, Priority: 2, At: t0, Start: 77},
	}
	for _, reg := range regs {
		if err := r.Register(reg); err != nil {
			t.Fatalf("Register(%+v) = %v", reg, err)
		}
	}
	order := func() []int32 {
		var pids []int32
		for _, s := range r.Snapshot() {
			pids = append(pids, s.PID)
		}
		return pids
	}
	if got, want := order(), []int32{13, 11, 10, 12}; !equal(got, want) {
		t.Errorf("Snapshot order = %v; want %v (priority, then most recent)", got, want)
	}
	// pid 13 was reused by another process (start time differs).
	gone := r.Prune(func(pid int32, start uint64) bool { return pid != 13 || start != 77 })
	if len(gone) != 1 || gone[0].PID != 13 {
		t.Errorf("Prune = %+v; want pid 13", gone)
	}
	if !r.Unregister(11) || r.Unregister(11) {
		t.Errorf("Unregister(11) twice: want true then false")
	}
	if got, want := order(), []int32{10, 12}; !equal(got, want) || r.Len() != 2 {
		t.Errorf("after Prune and Unregister: %v (len %d); want %v", got, r.Len(), want)
	}
}

func equal(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestConfigValidate(t *testing.T) {
	if err := coord.DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v", err)
	}
	cases := map[string]func(*coord.Config){
		"nice below floor":  func(c *coord.Config) { c.GameNice = -15 },
		"realtime ioprio":   func(c *coord.Config) { c.GameIOPrio = "rt/0" },
		"weight zero":       func(c *coord.Config) { c.BackgroundWeight = 0 },
		"share one":         func(c *coord.Config) { c.GameCoreShare = 1 },
		"NaN hog threshold": func(c *coord.Config) { c.HogCPUPercent = nan() },
		"negative scan":     func(c *coord.Config) { c.CmdlineScanBytes = -1 },
	}
	for name, mut := range cases {
		cfg := coord.DefaultConfig()
		mut(&cfg)
		if err := cfg.Validate(); !errors.Is(err, coord.ErrConfig) {
			t.Errorf("Validate(%s) = %v; want ErrConfig", name, err)
		}
		if _, err := coord.New(cfg, nil, nil); !errors.Is(err, coord.ErrConfig) {
			t.Errorf("New(%s) = %v; want ErrConfig", name, err)
		}
	}
}

func nan() float64 { var z float64; return z / z }
