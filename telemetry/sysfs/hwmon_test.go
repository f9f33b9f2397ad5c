package sysfs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"google.golang.org/protobuf/proto"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
	"github.com/krystalstack/gamesa/telemetry"
	"github.com/krystalstack/gamesa/telemetry/telemetrytest"
)

func thermalNames(s *gamesav1.Sample) []string {
	var names []string
	for _, t := range s.Thermal {
		names = append(names, t.Name)
	}
	return names
}

func fanNames(s *gamesav1.Sample) []string {
	var names []string
	for _, f := range s.Fans {
		names = append(names, f.Name)
	}
	return names
}

// The fixture's sensors, in the order Collect must produce them.
var fixtureHwmonTemps = []string{
	"coretemp/Package id 0", "coretemp/Core 0", "coretemp/Core 1", "coretemp/Core 2", "coretemp/Core 3",
	"acpitz/temp1", "nvme/Composite", "nvme/Sensor 1", "nvme/Sensor 2", "thinkpad/temp1",
}

func TestHwmonReadsOnlyValuesBetweenScans(t *testing.T) {
	roots := telemetrytest.Fixture(t, fixtureDir)
	h := NewHwmon(roots)
	reads := countReads{}
	h.r.read = reads.read
	ctx := context.Background()
	if err := h.Collect(ctx, sampleAt(t0)); err != nil {
		t.Fatalf("first Collect: %v", err)
	}
	for call := 2; call <= rescanEvery; call++ {
		clear(reads)
		s := sampleAt(t0)
		if err := h.Collect(ctx, s); err != nil {
			t.Fatalf("Collect #%d: %v", call, err)
		}
		if got := thermalNames(s); !slices.Equal(got, fixtureHwmonTemps) {
			t.Fatalf("Collect #%d temps = %q; want %q", call, got, fixtureHwmonTemps)
		}
		var files []string
		for path, n := range reads {
			if n != 1 {
				t.Errorf("Collect #%d read %s %d times; want once", call, path, n)
			}
			files = append(files, filepath.Base(path))
		}
		for _, f := range files {
			if !strings.HasSuffix(f, "_input") {
				t.Fatalf("Collect #%d read %s between scans; want only *_input files", call, f)
			}
		}
		if want := len(fixtureHwmonTemps) + 2; len(files) != want {
			t.Fatalf("Collect #%d read %d files; want %d (10 temps, 2 fans)", call, len(files), want)
		}
	}
	clear(reads)
	if err := h.Collect(ctx, sampleAt(t0)); err != nil {
		t.Fatalf("Collect #%d: %v", rescanEvery+1, err)
	}
	if n := reads[filepath.Join(roots.Sys, "class/hwmon/hwmon0/name")]; n != 1 {
		t.Errorf("Collect #%d read hwmon0/name %d times; want 1 (a re-scan)", rescanEvery+1, n)
	}
}

func TestHwmonHotplug(t *testing.T) {
	roots := telemetrytest.Fixture(t, fixtureDir)
	h := NewHwmon(roots)
	ctx := context.Background()
	collect := func(call string) *gamesav1.Sample {
		t.Helper()
		s := sampleAt(t0)
		if err := h.Collect(ctx, s); err != nil {
			t.Fatalf("%s: Collect = %v; want nil", call, err)
		}
		return s
	}
	collect("first")

	// A new chip shows up at the next scheduled scan, not before.
	writeTree(t, roots.Sys, map[string]string{
		"class/hwmon/hwmon4/name":        "amdgpu",
		"class/hwmon/hwmon4/temp1_label": "edge",
		"class/hwmon/hwmon4/temp1_input": "61000",
	})
	for call := 2; call <= rescanEvery; call++ {
		if got := thermalNames(collect("before re-scan")); slices.Contains(got, "amdgpu/edge") {
			t.Fatalf("Collect #%d saw amdgpu/edge before the re-scan", call)
		}
	}
	if got := thermalNames(collect("re-scan")); !slices.Contains(got, "amdgpu/edge") {
		t.Fatalf("Collect after %d calls = %q; want amdgpu/edge added", rescanEvery, got)
	}

	// A chip that vanishes is dropped quietly and re-scanned at once.
	if err := os.Remove(filepath.Join(roots.Sys, "class/hwmon/hwmon3")); err != nil {
		t.Fatal(err)
	}
	s := collect("vanished")
	if got := fanNames(s); len(got) != 0 {
		t.Errorf("fans after hwmon3 vanished = %q; want none", got)
	}
	if !h.disc.stale {
		t.Errorf("a vanished input did not mark the file set stale")
	}
	s = collect("after vanish")
	if got, want := thermalNames(s), append(slices.Clone(fixtureHwmonTemps[:9]), "amdgpu/edge"); !slices.Equal(got, want) {
		t.Errorf("temps after re-scan = %q; want %q", got, want)
	}
}

func TestHwmonUnreadableSensor(t *testing.T) {
	tests := []struct {
		name      string
		errno     syscall.Errno
		seenFirst bool // the sensor worked on the first call
		wantErr   bool
	}{
		{"EIO, never readable", syscall.EIO, false, false},
		{"ENODATA, never readable", syscall.ENODATA, false, false},
		{"ENXIO, never readable", syscall.ENXIO, false, false},
		{"EIO after working", syscall.EIO, true, true},
		{"ENODATA after working", syscall.ENODATA, true, true},
		{"EACCES, never readable", syscall.EACCES, false, true},
	}
	const file = "hwmon0/temp5_input" // coretemp/Core 3
	// The cases only read the tree: one copy serves them all.
	roots := telemetrytest.Fixture(t, fixtureDir)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHwmon(roots)
			fail := map[string]error{}
			h.r.read = failReads(fail)
			if !tt.seenFirst {
				fail[file] = tt.errno
			}
			if err := h.Collect(context.Background(), sampleAt(t0)); err != nil && tt.seenFirst {
				t.Fatalf("first Collect = %v; want nil", err)
			}
			fail[file] = tt.errno
			// Past a re-scan too: whether the sensor worked must survive it.
			for call := 2; call <= rescanEvery+1; call++ {
				s := sampleAt(t0)
				err := h.Collect(context.Background(), s)
				if slices.Contains(thermalNames(s), "coretemp/Core 3") {
					t.Fatalf("Collect #%d listed the failing sensor", call)
				}
				if len(s.Thermal) != len(fixtureHwmonTemps)-1 {
					t.Fatalf("Collect #%d listed %d temps; want the other %d", call, len(s.Thermal), len(fixtureHwmonTemps)-1)
				}
				if (err != nil) != tt.wantErr {
					t.Fatalf("Collect #%d error = %v; want error: %v", call, err, tt.wantErr)
				}
				if err != nil && (!errors.Is(err, tt.errno) || !strings.Contains(err.Error(), file)) {
					t.Fatalf("Collect #%d error = %v; want %v naming %s", call, err, tt.errno, file)
				}
			}
		})
	}
}

func TestHwmonNotAvailable(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
	}{
		{"no class dir", map[string]string{"class/thermal/thermal_zone0/temp": "1"}},
		{"empty class dir", map[string]string{"class/hwmon/.keep": ""}},
		{"dangling symlink", map[string]string{"class/hwmon/hwmon0": "->../../devices/gone/hwmon0"}},
		{"chips without inputs", map[string]string{
			"class/hwmon/hwmon0/name":        "acpi_fan",
			"class/hwmon/hwmon1/temp1_crit":  "100000",
			"class/hwmon/hwmonX/temp1_input": "1000", // not an hwmon index
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, filepath.Join(dir, "sys"), tt.files)
			h := NewHwmon(telemetry.FixtureRoots(dir))
			for call := 1; call <= 2; call++ {
				s := sampleAt(t0)
				err := h.Collect(context.Background(), s)
				if !errors.Is(err, telemetry.ErrNotAvailable) {
					t.Errorf("Collect #%d = %v; want ErrNotAvailable", call, err)
				}
				if len(s.Thermal)+len(s.Fans) != 0 {
					t.Errorf("Collect #%d filled %d temps, %d fans; want none", call, len(s.Thermal), len(s.Fans))
				}
			}
		})
	}
}

func TestCollectCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, nc := range allCollectors(telemetrytest.Fixture(t, fixtureDir)) {
		s := sampleAt(t0)
		if err := nc.c.Collect(ctx, s); !errors.Is(err, context.Canceled) {
			t.Errorf("%s: Collect(canceled) = %v; want context.Canceled", nc.name, err)
		}
		if len(s.Thermal) != 0 || s.Power != nil {
			t.Errorf("%s: Collect(canceled) filled the sample", nc.name)
		}
	}
}

func TestUniqueNames(t *testing.T) {
	tests := []struct {
		name string
		keys []nameKey
		want []string
	}{
		{"unique", []nameKey{{"coretemp/Core 0", 0, "temp2"}, {"nvme/Composite", 2, "temp1"}},
			[]string{"coretemp/Core 0", "nvme/Composite"}},
		{"two chips", []nameKey{{"nvme/Composite", 1, "temp1"}, {"nvme/Sensor 1", 1, "temp2"}, {"nvme/Composite", 4, "temp1"}},
			[]string{"nvme/Composite (hwmon1)", "nvme/Sensor 1", "nvme/Composite (hwmon4)"}},
		{"one chip repeats", []nameKey{{"asus/CPU", 3, "temp1"}, {"asus/CPU", 3, "temp2"}},
			[]string{"asus/CPU (hwmon3 temp1)", "asus/CPU (hwmon3 temp2)"}},
		{"both", []nameKey{{"a/x", 1, "temp1"}, {"a/x", 1, "temp2"}, {"a/x", 2, "temp1"}},
			[]string{"a/x (hwmon1 temp1)", "a/x (hwmon1 temp2)", "a/x (hwmon2)"}},
	}
	for _, tt := range tests {
		if got := uniqueNames(tt.keys); !slices.Equal(got, tt.want) {
			t.Errorf("%s: uniqueNames(%v) = %q; want %q", tt.name, tt.keys, got, tt.want)
		}
	}
}

// TestHwmonInvalidUTF8Label: a firmware label with an invalid byte is made
// valid (U+FFFD) so the sample still marshals.
func TestHwmonInvalidUTF8Label(t *testing.T) {
	roots := telemetrytest.Fixture(t, fixtureDir)
	writeTree(t, roots.Sys, map[string]string{"class/hwmon/hwmon0/temp1_label": "CPU\xff\n"})
	s := sampleAt(t0)
	if err := NewHwmon(roots).Collect(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if _, err := proto.Marshal(s); err != nil {
		t.Fatalf("sample with a non-UTF-8 label does not marshal: %v", err)
	}
	found := false
	for _, th := range s.Thermal {
		if th.Label == "CPU\uFFFD" {
			found = true
		}
	}
	if !found {
		t.Errorf("no sensor labelled %q among %v", "CPU\uFFFD", s.Thermal)
	}
}
