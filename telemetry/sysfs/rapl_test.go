package sysfs

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
	"github.com/krystalstack/gamesa/telemetry"
	"github.com/krystalstack/gamesa/telemetry/telemetrytest"
)

// The fixture's max_energy_range_uj, the same for every zone.
const fixtureRange = 262143328850

func setEnergy(t *testing.T, sys string, energy map[string]uint64) {
	t.Helper()
	for zone, e := range energy {
		path := filepath.Join(sys, "class/powercap", zone, "energy_uj")
		if err := os.WriteFile(path, []byte(strconv.FormatUint(e, 10)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func raplWatts(s *gamesav1.Sample) map[string]float64 {
	w := map[string]float64{}
	for _, d := range s.GetPower().GetRapl() {
		w[d.Zone] = d.Watts
	}
	return w
}

func TestRAPLRates(t *testing.T) {
	tests := []struct {
		name          string
		prep          func(t *testing.T, sys string)
		first, second map[string]uint64
		dt            time.Duration
		want          map[string]float64
		wantTotal     float64
	}{
		{
			name:   "psys is the total",
			first:  map[string]uint64{"intel-rapl:0": 1_000_000, "intel-rapl:0:0": 500_000, "intel-rapl:0:1": 100_000, "intel-rapl:1": 2_000_000},
			second: map[string]uint64{"intel-rapl:0": 31_000_000, "intel-rapl:0:0": 20_500_000, "intel-rapl:0:1": 2_100_000, "intel-rapl:1": 52_000_000},
			dt:     2 * time.Second,
			want:   map[string]float64{"intel-rapl:0": 15, "intel-rapl:0:0": 10, "intel-rapl:0:1": 1, "intel-rapl:1": 25},
			// psys covers the packages; adding them would count twice.
			wantTotal: 25,
		},
		{
			name:   "wrap-around adds max_energy_range_uj + 1",
			first:  map[string]uint64{"intel-rapl:0": fixtureRange - 328_850},
			second: map[string]uint64{"intel-rapl:0": 1_000_000},
			dt:     time.Second,
			want:   map[string]float64{"intel-rapl:0": 1.328851},
		},
		{
			name: "backwards without a known range is dropped",
			prep: func(t *testing.T, sys string) {
				writeTree(t, sys, map[string]string{"class/powercap/intel-rapl:0/max_energy_range_uj": "0\n"})
			},
			first:  map[string]uint64{"intel-rapl:0": 5_000_000},
			second: map[string]uint64{"intel-rapl:0": 1_000_000},
			dt:     time.Second,
			want:   map[string]float64{"intel-rapl:0": 0},
		},
		{
			name:   "no time elapsed",
			first:  map[string]uint64{"intel-rapl:0": 1_000_000},
			second: map[string]uint64{"intel-rapl:0": 9_000_000},
			dt:     0,
			want:   map[string]float64{"intel-rapl:0": 0},
		},
		{
			name: "no psys: packages and top-level dram add up",
			prep: func(t *testing.T, sys string) {
				if err := os.Remove(filepath.Join(sys, "class/powercap/intel-rapl:1")); err != nil {
					t.Fatal(err)
				}
				writeTree(t, sys, map[string]string{
					"class/powercap/intel-rapl:2/name":                "dram\n",
					"class/powercap/intel-rapl:2/energy_uj":           "0\n",
					"class/powercap/intel-rapl:2/max_energy_range_uj": "65532610987\n",
				})
			},
			first:     map[string]uint64{"intel-rapl:0": 0, "intel-rapl:0:0": 0, "intel-rapl:2": 0},
			second:    map[string]uint64{"intel-rapl:0": 12_000_000, "intel-rapl:0:0": 8_000_000, "intel-rapl:2": 3_000_000},
			dt:        time.Second,
			want:      map[string]float64{"intel-rapl:0": 12, "intel-rapl:0:0": 8, "intel-rapl:2": 3},
			wantTotal: 15, // the core subzone is inside the package
		},
		{
			name: "no psys: dram as a child of its package (intel_rapl's layout) counts",
			prep: func(t *testing.T, sys string) {
				if err := os.Remove(filepath.Join(sys, "class/powercap/intel-rapl:1")); err != nil {
					t.Fatal(err)
				}
				writeTree(t, sys, map[string]string{
					"class/powercap/intel-rapl:0:2/name":                "dram\n",
					"class/powercap/intel-rapl:0:2/energy_uj":           "0\n",
					"class/powercap/intel-rapl:0:2/max_energy_range_uj": "65532610987\n",
				})
			},
			first:     map[string]uint64{"intel-rapl:0": 0, "intel-rapl:0:0": 0, "intel-rapl:0:2": 0},
			second:    map[string]uint64{"intel-rapl:0": 12_000_000, "intel-rapl:0:0": 8_000_000, "intel-rapl:0:2": 3_000_000},
			dt:        time.Second,
			want:      map[string]float64{"intel-rapl:0": 12, "intel-rapl:0:0": 8, "intel-rapl:0:2": 3},
			wantTotal: 15,
		},
		{
			name: "no psys: a package without a rate this tick leaves the total unknown",
			prep: func(t *testing.T, sys string) {
				if err := os.Remove(filepath.Join(sys, "class/powercap/intel-rapl:1")); err != nil {
					t.Fatal(err)
				}
				writeTree(t, sys, map[string]string{
					"class/powercap/intel-rapl:2/name":                "package-1\n",
					"class/powercap/intel-rapl:2/energy_uj":           "0\n",
					"class/powercap/intel-rapl:2/max_energy_range_uj": "0\n",
				})
			},
			// package-1 goes backwards with no known range: no rate, so no
			// total (package-0 alone would look like half the power).
			first:     map[string]uint64{"intel-rapl:0": 0, "intel-rapl:2": 5_000_000},
			second:    map[string]uint64{"intel-rapl:0": 12_000_000, "intel-rapl:2": 1_000_000},
			dt:        time.Second,
			want:      map[string]float64{"intel-rapl:0": 12, "intel-rapl:2": 0},
			wantTotal: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			roots := telemetrytest.Fixture(t, fixtureDir)
			if tt.prep != nil {
				tt.prep(t, roots.Sys)
			}
			r := NewRAPL(roots)
			setEnergy(t, roots.Sys, tt.first)
			s := sampleAt(t0)
			if err := r.Collect(context.Background(), s); err != nil {
				t.Fatalf("first Collect = %v; want nil", err)
			}
			for zone, w := range raplWatts(s) {
				if w != 0 {
					t.Errorf("first Collect: %s watts = %v; want 0", zone, w)
				}
			}
			if s.Power.TotalWatts != 0 {
				t.Errorf("first Collect: total_watts = %v; want 0", s.Power.TotalWatts)
			}
			setEnergy(t, roots.Sys, tt.second)
			s = sampleAt(t0.Add(tt.dt))
			if err := r.Collect(context.Background(), s); err != nil {
				t.Fatalf("second Collect = %v; want nil", err)
			}
			got := raplWatts(s)
			for zone, want := range tt.want {
				if !near(got[zone], want) {
					t.Errorf("%s watts = %v; want %v", zone, got[zone], want)
				}
			}
			if !near(s.Power.TotalWatts, tt.wantTotal) {
				t.Errorf("total_watts = %v; want %v", s.Power.TotalWatts, tt.wantTotal)
			}
		})
	}
}

// A re-scan must keep each zone's previous reading, or every 60th sample
// would lose its rates.
func TestRAPLRescanKeepsRates(t *testing.T) {
	roots := telemetrytest.Fixture(t, fixtureDir)
	r := NewRAPL(roots)
	for call := 1; call <= rescanEvery+1; call++ {
		setEnergy(t, roots.Sys, map[string]uint64{"intel-rapl:0": uint64(call) * 7_000_000})
		s := sampleAt(t0.Add(time.Duration(call) * time.Second))
		if err := r.Collect(context.Background(), s); err != nil {
			t.Fatalf("Collect #%d = %v", call, err)
		}
		want := 7.0
		if call == 1 {
			want = 0
		}
		if got := raplWatts(s)["intel-rapl:0"]; !near(got, want) {
			t.Fatalf("Collect #%d: package watts = %v; want %v", call, got, want)
		}
	}
}

func checkPermissionDenied(t *testing.T, err error, s *gamesav1.Sample) {
	t.Helper()
	if !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("Collect = %v; want fs.ErrPermission", err)
	}
	if errors.Is(err, telemetry.ErrNotAvailable) {
		t.Errorf("Collect = %v; want an error, not ErrNotAvailable", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "energy_uj: permission denied (run as root)") || !strings.Contains(msg, "intel-rapl:0:1") {
		t.Errorf("Collect error = %q; want it to say energy_uj: permission denied (run as root) and name the zones", msg)
	}
	rapl := s.GetPower().GetRapl()
	if len(rapl) != 4 {
		t.Fatalf("Collect listed %d zones; want the fixture's 4 with their limits", len(rapl))
	}
	if pkg := rapl[0]; pkg.Zone != "intel-rapl:0" || pkg.LongTermLimitWatts != 28 || pkg.ShortTermLimitWatts != 64 || pkg.EnergyUj != 0 {
		t.Errorf("package zone = %v; want limits 28 W and 64 W, no energy", pkg)
	}
}

func TestRAPLPermissionDenied(t *testing.T) {
	r := NewRAPL(telemetrytest.Fixture(t, fixtureDir))
	// Kernels since 5.10 make energy_uj 0400; root here would read it anyway.
	r.r.read = failReads(map[string]error{"/energy_uj": syscall.EACCES})
	for call := 1; call <= 2; call++ {
		s := sampleAt(t0.Add(time.Duration(call) * time.Second))
		checkPermissionDenied(t, r.Collect(context.Background(), s), s)
		if s.Power.TotalWatts != 0 {
			t.Errorf("Collect #%d: total_watts = %v; want 0 (unknown)", call, s.Power.TotalWatts)
		}
	}
}

func TestRAPLPermissionDeniedChmod(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("running as root, where chmod 000 does not deny reads; TestRAPLPermissionDenied covers it by injection")
	}
	roots := telemetrytest.Fixture(t, fixtureDir)
	for _, zone := range []string{"intel-rapl:0", "intel-rapl:0:0", "intel-rapl:0:1", "intel-rapl:1"} {
		if err := os.Chmod(filepath.Join(roots.Sys, "class/powercap", zone, "energy_uj"), 0); err != nil {
			t.Fatal(err)
		}
	}
	s := sampleAt(t0)
	checkPermissionDenied(t, NewRAPL(roots).Collect(context.Background(), s), s)
}

func TestRAPLKeepsOtherPower(t *testing.T) {
	s := sampleAt(t0)
	s.Power = &gamesav1.Power{OnAc: true, Batteries: []*gamesav1.Battery{{Name: "BAT0"}}}
	if err := NewRAPL(telemetrytest.Fixture(t, fixtureDir)).Collect(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if !s.Power.OnAc || len(s.Power.Batteries) != 1 || len(s.Power.Rapl) != 4 {
		t.Errorf("Power = %v; want the battery and on_ac kept, 4 zones added", s.Power)
	}
}

func TestRAPLNotAvailable(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
	}{
		{"no powercap", map[string]string{"class/hwmon/hwmon0/name": "x"}},
		{"mmio zones and control types only", map[string]string{
			"class/powercap/intel-rapl/enabled":             "1",
			"class/powercap/intel-rapl-mmio:0/name":         "package-0",
			"class/powercap/intel-rapl-mmio:0/energy_uj":    "1",
			"class/powercap/dtpm/enabled":                   "0",
			"class/powercap/intel-rapl:x/energy_uj":         "1",
			"class/powercap/intel-rapl:0/name":              "package-0", // no energy_uj
			"class/powercap/intel-rapl:0/constraint_0_name": "long_term",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, filepath.Join(dir, "sys"), tt.files)
			s := sampleAt(t0)
			err := NewRAPL(telemetry.FixtureRoots(dir)).Collect(context.Background(), s)
			if !errors.Is(err, telemetry.ErrNotAvailable) {
				t.Errorf("Collect = %v; want ErrNotAvailable", err)
			}
			if s.Power != nil {
				t.Errorf("Collect set Power = %v; want nil", s.Power)
			}
		})
	}
}
