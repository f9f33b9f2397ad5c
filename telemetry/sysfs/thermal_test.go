package sysfs

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/krystalstack/gamesa/telemetry"
	"github.com/krystalstack/gamesa/telemetry/telemetrytest"
)

func TestThermalZoneTrips(t *testing.T) {
	tests := []struct {
		name          string
		trips         map[string]string // trip_point_N_<item> → content
		wantMax, want float64           // max, critical
	}{
		{"no trips", nil, 0, 0},
		{"passive only", map[string]string{"0_type": "passive", "0_temp": "95000"}, 0, 0},
		{"critical", map[string]string{"0_type": "critical", "0_temp": "119000"}, 0, 119},
		{"hot and critical", map[string]string{
			"0_type": "critical", "0_temp": "128000", "1_type": "hot", "1_temp": "110500",
		}, 110.5, 128},
		{"lowest index wins, numerically", map[string]string{
			"10_type": "critical", "10_temp": "90000", "2_type": "critical", "2_temp": "100000",
		}, 0, 100},
		{"placeholder limit", map[string]string{"0_type": "critical", "0_temp": "-273150"}, 0, 0},
		{"trip without temp", map[string]string{"0_type": "critical"}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			files := map[string]string{
				"class/thermal/thermal_zone0/type": "acpitz\n",
				"class/thermal/thermal_zone0/temp": "40000\n",
			}
			for k, v := range tt.trips {
				files["class/thermal/thermal_zone0/trip_point_"+k] = v + "\n"
			}
			writeTree(t, filepath.Join(dir, "sys"), files)
			s := sampleAt(t0)
			if err := NewThermalZones(telemetry.FixtureRoots(dir)).Collect(context.Background(), s); err != nil {
				t.Fatalf("Collect = %v; want nil", err)
			}
			if len(s.Thermal) != 1 {
				t.Fatalf("Collect listed %d zones; want 1", len(s.Thermal))
			}
			z := s.Thermal[0]
			if z.MaxCelsius != tt.wantMax || z.CriticalCelsius != tt.want {
				t.Errorf("max, critical = %v, %v; want %v, %v", z.MaxCelsius, z.CriticalCelsius, tt.wantMax, tt.want)
			}
			if z.Name != "thermal_zone0/acpitz" || z.Kind != "thermal_zone" || z.TemperatureCelsius != 40 {
				t.Errorf("zone = %v; want thermal_zone0/acpitz, kind thermal_zone, 40 °C", z)
			}
		})
	}
}

func TestThermalZoneUnreadable(t *testing.T) {
	tests := []struct {
		name      string
		errno     syscall.Errno
		seenFirst bool
		wantErr   bool
	}{
		{"ENODATA, never readable", syscall.ENODATA, false, false},
		{"EINVAL, never readable", syscall.EINVAL, false, false},
		{"EIO after working", syscall.EIO, true, true},
		{"EPERM", syscall.EPERM, false, true},
	}
	const file = "thermal_zone1/temp"
	// The cases only read the tree: one copy serves them all.
	roots := telemetrytest.Fixture(t, fixtureDir)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			z := NewThermalZones(roots)
			fail := map[string]error{}
			z.r.read = failReads(fail)
			if !tt.seenFirst {
				fail[file] = tt.errno
			}
			if err := z.Collect(context.Background(), sampleAt(t0)); err != nil && tt.seenFirst {
				t.Fatalf("first Collect = %v; want nil", err)
			}
			fail[file] = tt.errno
			s := sampleAt(t0)
			err := z.Collect(context.Background(), s)
			if len(s.Thermal) != 1 || s.Thermal[0].Name != "thermal_zone0/x86_pkg_temp" {
				t.Errorf("zones = %q; want only thermal_zone0/x86_pkg_temp", thermalNames(s))
			}
			if (err != nil) != tt.wantErr {
				t.Fatalf("Collect = %v; want error: %v", err, tt.wantErr)
			}
			if err != nil && (!errors.Is(err, tt.errno) || !strings.Contains(err.Error(), file)) {
				t.Errorf("Collect = %v; want %v naming %s", err, tt.errno, file)
			}
		})
	}
}

func TestThermalZonesNotAvailable(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
	}{
		{"no class dir", map[string]string{"class/hwmon/hwmon0/name": "x"}},
		{"cooling devices only", map[string]string{"class/thermal/cooling_device0/type": "Processor"}},
		{"zone without temp", map[string]string{"class/thermal/thermal_zone0/type": "acpitz"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, filepath.Join(dir, "sys"), tt.files)
			s := sampleAt(t0)
			err := NewThermalZones(telemetry.FixtureRoots(dir)).Collect(context.Background(), s)
			if !errors.Is(err, telemetry.ErrNotAvailable) {
				t.Errorf("Collect = %v; want ErrNotAvailable", err)
			}
			if len(s.Thermal) != 0 {
				t.Errorf("Collect listed %q; want nothing", thermalNames(s))
			}
		})
	}
}
