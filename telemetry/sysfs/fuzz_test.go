package sysfs

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
	"github.com/krystalstack/gamesa/telemetry"
	"github.com/krystalstack/gamesa/telemetry/telemetrytest"
)

func FuzzParseInt(f *testing.F) {
	for _, s := range []string{"0", "52000\n", "-273150", "+1", "9223372036854775808", "-", "1e6", " 7 "} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		in := trimSpace(b)
		got, err := parseInt(in)
		want, werr := strconv.ParseInt(string(in), 10, 64)
		if (err == nil) != (werr == nil) || got != want && err == nil {
			t.Errorf("parseInt(%q) = %d, %v; strconv.ParseInt says %d, %v", in, got, err, want, werr)
		}
	})
}

func FuzzParseUint(f *testing.F) {
	for _, s := range []string{"0", "262143328850\n", "18446744073709551616", "-5", "+5", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		in := trimSpace(b)
		got, err := parseUint(in)
		want, werr := strconv.ParseUint(string(in), 10, 64)
		if (err == nil) != (werr == nil) || got != want && err == nil {
			t.Errorf("parseUint(%q) = %d, %v; strconv.ParseUint says %d, %v", in, got, err, want, werr)
		}
	})
}

// fixtureFiles lists every attribute file the collectors can reach through
// the class directories of the sys tree, as the paths they open.
func fixtureFiles(f *testing.F, sys string) []string {
	f.Helper()
	var files []string
	for _, class := range []string{"hwmon", "thermal", "powercap", "power_supply"} {
		classDir := filepath.Join(sys, "class", class)
		entries, err := os.ReadDir(classDir)
		if err != nil {
			f.Fatal(err)
		}
		for _, e := range entries {
			attrs, err := os.ReadDir(filepath.Join(classDir, e.Name()))
			if err != nil {
				f.Fatal(err)
			}
			for _, a := range attrs {
				if !a.IsDir() {
					files = append(files, filepath.Join(classDir, e.Name(), a.Name()))
				}
			}
		}
	}
	slices.Sort(files)
	return files
}

// FuzzCollectors replaces one fixture file's content (picked by index) with
// the fuzzer's bytes and runs all four collectors twice: they must not
// panic, and every number they fill must be finite. The fuzzer's bytes never
// reach the disk, so every input shares one copy of the fixture.
func FuzzCollectors(f *testing.F) {
	roots := telemetrytest.Fixture(f, fixtureDir)
	root := filepath.Dir(roots.Sys)
	files := fixtureFiles(f, roots.Sys)
	seed := func(suffix, content string) {
		for i, p := range files {
			if filepath.ToSlash(p[len(root):]) == suffix {
				f.Add(uint16(i), []byte(content))
				return
			}
		}
		f.Fatalf("seed file %s not in the fixture", suffix)
	}
	seed("/sys/class/hwmon/hwmon0/temp1_input", "-99999999999999999999\n")
	seed("/sys/class/hwmon/hwmon0/name", "")
	seed("/sys/class/hwmon/hwmon3/fan1_label", "\x00\xff")
	seed("/sys/class/thermal/thermal_zone1/trip_point_0_type", "critical")
	seed("/sys/class/powercap/intel-rapl:0/energy_uj", "18446744073709551615")
	seed("/sys/class/powercap/intel-rapl:0/max_energy_range_uj", "0")
	seed("/sys/class/power_supply/BAT0/type", "Mains")
	seed("/sys/class/power_supply/BAT0/voltage_now", "-9223372036854775808")
	seed("/sys/class/power_supply/BAT0/energy_full", "0")

	f.Fuzz(func(t *testing.T, idx uint16, content []byte) {
		target := files[int(idx)%len(files)]
		read := func(path string, buf []byte) (int, error) {
			if path == target {
				return copy(buf, content), nil
			}
			return readAttr(path, buf)
		}
		h, z, r, p := NewHwmon(roots), NewThermalZones(roots), NewRAPL(roots), NewPowerSupply(roots)
		h.r.read, z.r.read, r.r.read, p.r.read = read, read, read, read
		for call := range 2 {
			s := sampleAt(t0.Add(time.Duration(call) * time.Second))
			for _, c := range []telemetry.Collector{h, z, r, p} {
				_ = c.Collect(context.Background(), s) // errors are expected; panics are not
			}
			checkFinite(t, s)
		}
	})
}

func checkFinite(t *testing.T, s *gamesav1.Sample) {
	t.Helper()
	// Whatever the files hold, the sample must still serialise: proto
	// strings must be valid UTF-8, and labels come from firmware.
	if _, err := proto.Marshal(s); err != nil {
		t.Fatalf("sample does not marshal: %v", err)
	}
	var vals []float64
	for _, x := range s.Thermal {
		vals = append(vals, x.TemperatureCelsius, x.MaxCelsius, x.CriticalCelsius)
	}
	for _, x := range s.Fans {
		vals = append(vals, x.Rpm, x.MinRpm, x.MaxRpm)
	}
	for _, x := range s.GetPower().GetRapl() {
		vals = append(vals, x.Watts, x.LongTermLimitWatts, x.ShortTermLimitWatts)
	}
	for _, x := range s.GetPower().GetBatteries() {
		vals = append(vals, x.CapacityPercent, x.PowerWatts, x.EnergyWh, x.EnergyFullWh, x.EnergyFullDesignWh, x.VoltageVolts)
	}
	vals = append(vals, s.GetPower().GetTotalWatts())
	for _, v := range vals {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("sample holds %v: %v", v, s)
		}
	}
}
