package actuators_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/krystalstack/gamesa/actuators"
)

// TestSysfsKnobs applies every sysfs knob of the fixture, checks the file,
// reverts, and checks the original is back.
func TestSysfsKnobs(t *testing.T) {
	tests := []struct {
		knob, target, value string
		file                string // below the fixture root
		orig, want          string // file content before and after
		note                bool   // the value is clamped
		// kernelShows is what the kernel then shows in the file, where
		// that differs from what was written (the fixture is a plain
		// file).
		kernelShows string
	}{
		{actuators.KnobGovernor, "cpu1", "performance", "sys/devices/system/cpu/cpu1/cpufreq/scaling_governor", "powersave", "performance", false, ""},
		{actuators.KnobMinKHz, "cpu0", "1200000", "sys/devices/system/cpu/cpu0/cpufreq/scaling_min_freq", "800000", "1200000", false, ""},
		{actuators.KnobMinKHz, "cpu2", "9000000", "sys/devices/system/cpu/cpu2/cpufreq/scaling_min_freq", "800000", "4200000", true, ""},
		{actuators.KnobMaxKHz, "cpu2", "100", "sys/devices/system/cpu/cpu2/cpufreq/scaling_max_freq", "3600000", "800000", true, ""},
		{actuators.KnobMaxKHz, "cpu3", "9000000", "sys/devices/system/cpu/cpu3/cpufreq/scaling_max_freq", "3600000", "4200000", true, ""},
		{actuators.KnobEPP, "cpu0", "power", "sys/devices/system/cpu/cpu0/cpufreq/energy_performance_preference", "balance_performance", "power", false, ""},
		{actuators.KnobEPP, "cpu1", "128", "sys/devices/system/cpu/cpu1/cpufreq/energy_performance_preference", "balance_performance", "128", false, ""},
		// intel_pstate's no_turbo is the negation of boost.
		{actuators.KnobBoost, "", "0", "sys/devices/system/cpu/intel_pstate/no_turbo", "0", "1", false, ""},
		{actuators.KnobPlatformProfile, "", "low-power", "sys/firmware/acpi/platform_profile", "balanced", "low-power", false, ""},
		{actuators.KnobRAPLPL1, "package-0", "15000000", "sys/class/powercap/intel-rapl:0/constraint_0_power_limit_uw", "28000000", "15000000", false, ""},
		{actuators.KnobRAPLPL1, "package-0", "99000000", "sys/class/powercap/intel-rapl:0/constraint_0_power_limit_uw", "28000000", "45000000", true, ""},
		{actuators.KnobRAPLPL1, "package-0", "1000", "sys/class/powercap/intel-rapl:0/constraint_0_power_limit_uw", "28000000", "5000000", true, ""},
		// No constraint_1_max_power_uw (0): no upper bound but the floor.
		{actuators.KnobRAPLPL2, "package-0", "90000000", "sys/class/powercap/intel-rapl:0/constraint_1_power_limit_uw", "64000000", "90000000", false, ""},
		{actuators.KnobRAPLPL1, "package-0/core", "9000000", "sys/class/powercap/intel-rapl:0:0/constraint_0_power_limit_uw", "0", "9000000", false, ""},
		{actuators.KnobBacklight, "intel_backlight", "48000", "sys/class/backlight/intel_backlight/brightness", "19200", "48000", false, ""},
		{actuators.KnobBacklight, "intel_backlight", "0", "sys/class/backlight/intel_backlight/brightness", "19200", "960", true, ""},
		{actuators.KnobUSBSuspend, "1-1", "auto", "sys/bus/usb/devices/1-1/power/control", "on", "auto", false, ""},
		{actuators.KnobPCIeASPM, "", "powersave", "sys/module/pcie_aspm/parameters/policy", "[default] performance powersave powersupersave", "powersave", false,
			"default performance [powersave] powersupersave"},
		{actuators.KnobSATALink, "host0", "med_power_with_dipm", "sys/class/scsi_host/host0/link_power_management_policy", "max_performance", "med_power_with_dipm", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.knob+"/"+tt.target+"="+tt.value, func(t *testing.T) {
			cfg, dir := fixture(t)
			s := open(t, cfg)
			path := filepath.Join(dir, tt.file)
			res := apply(t, s, actuators.Applied, plan(tt.knob, tt.target, tt.value))
			if got := readFile(t, path); got != tt.want {
				t.Errorf("after Apply(%s %s=%q): %s = %q; want %q", tt.knob, tt.target, tt.value, tt.file, got, tt.want)
			}
			if tt.kernelShows != "" {
				writeFile(t, path, tt.kernelShows+"\n")
				tt.orig = strings.Trim(strings.Fields(tt.orig)[0], "[]")
			}
			if (res[0].Note != "") != tt.note {
				t.Errorf("Apply(%s %s=%q).Note = %q; want a note: %v", tt.knob, tt.target, tt.value, res[0].Note, tt.note)
			}
			// The same plan again changes nothing.
			apply(t, s, actuators.Unchanged, plan(tt.knob, tt.target, tt.value))
			rev := revert(t, s)
			if len(rev) != 1 || rev[0].Status != actuators.Applied {
				t.Fatalf("Revert() = %s; want one applied", statuses(rev))
			}
			if got := readFile(t, path); got != tt.orig {
				t.Errorf("after Revert: %s = %q; want %q", tt.file, got, tt.orig)
			}
			if rev := revert(t, s); len(rev) != 0 {
				t.Errorf("second Revert() = %s; want nothing to do", statuses(rev))
			}
		})
	}
}

// TestSysfsRejects covers values and targets the knobs refuse.
func TestSysfsRejects(t *testing.T) {
	tests := []struct {
		knob, target, value string
		want                actuators.Status
		err                 error
	}{
		{actuators.KnobGovernor, "cpu0", "ondemand", actuators.Rejected, actuators.ErrBadValue},
		{actuators.KnobGovernor, "cpu9", "performance", actuators.Unavailable, actuators.ErrUnavailable},
		{actuators.KnobGovernor, "core0", "performance", actuators.Rejected, actuators.ErrBadTarget},
		{actuators.KnobMinKHz, "cpu0", "fast", actuators.Rejected, actuators.ErrBadValue},
		{actuators.KnobEPP, "cpu0", "256", actuators.Rejected, actuators.ErrBadValue},
		{actuators.KnobBoost, "", "on", actuators.Rejected, actuators.ErrBadValue},
		{actuators.KnobBoost, "cpu0", "1", actuators.Rejected, actuators.ErrBadTarget},
		{actuators.KnobPlatformProfile, "", "quiet", actuators.Rejected, actuators.ErrBadValue},
		{actuators.KnobRAPLPL1, "package-1", "10000000", actuators.Unavailable, actuators.ErrUnavailable},
		{actuators.KnobRAPLPL1, "package-0", "-5", actuators.Applied, nil}, // clamped to the floor
		{actuators.KnobBacklight, "../../etc", "1", actuators.Rejected, actuators.ErrBadTarget},
		{actuators.KnobUSBSuspend, "1-1", "off", actuators.Rejected, actuators.ErrBadValue},
		{actuators.KnobPCIeASPM, "", "turbo", actuators.Rejected, actuators.ErrBadValue},
		{actuators.KnobNVMLPower, "gpu0", "100000", actuators.Unavailable, actuators.ErrUnavailable},
		{"cpufreq.turbo", "", "1", actuators.Rejected, actuators.ErrUnknownKnob},
		{"cgroup.hierarchy", "", "present", actuators.Rejected, actuators.ErrUnknownKnob},
	}
	for _, tt := range tests {
		t.Run(tt.knob+"/"+tt.target+"="+tt.value, func(t *testing.T) {
			cfg, _ := fixture(t)
			s := open(t, cfg)
			res := s.Apply(context.Background(), plan(tt.knob, tt.target, tt.value))
			if res[0].Status != tt.want || (tt.err != nil && !errors.Is(res[0].Err, tt.err)) {
				t.Errorf("Apply(%s %s=%q) = %v, %v; want %v, %v", tt.knob, tt.target, tt.value, res[0].Status, res[0].Err, tt.want, tt.err)
			}
		})
	}
}

// TestSysfsAllCPUs: an empty target stands for every CPU, and the result
// sums them up.
func TestSysfsAllCPUs(t *testing.T) {
	cfg, dir := fixture(t)
	gov := func(cpu string) string {
		return filepath.Join(dir, "sys/devices/system/cpu", cpu, "cpufreq/scaling_governor")
	}
	writeFile(t, gov("cpu2"), "performance\n")
	s := open(t, cfg)
	res := apply(t, s, actuators.Applied, plan(actuators.KnobGovernor, "", "performance"))
	if want := "cpu0=powersave,cpu1=powersave,cpu2=performance,cpu3=powersave"; res[0].Previous != want {
		t.Errorf("Apply(governor all).Previous = %q; want %q", res[0].Previous, want)
	}
	for _, c := range []string{"cpu0", "cpu1", "cpu2", "cpu3"} {
		if got := readFile(t, gov(c)); got != "performance" {
			t.Errorf("%s governor = %q; want performance", c, got)
		}
	}
	rev := revert(t, s)
	if len(rev) != 3 {
		t.Errorf("Revert() = %s; want the 3 CPUs that changed", statuses(rev))
	}
	for c, want := range map[string]string{"cpu0": "powersave", "cpu1": "powersave", "cpu2": "performance", "cpu3": "powersave"} {
		if got := readFile(t, gov(c)); got != want {
			t.Errorf("after Revert: %s governor = %q; want %q", c, got, want)
		}
	}
}

// TestRevertLeavesOthersChanges: a knob someone else changed after us is
// not put back.
func TestRevertLeavesOthersChanges(t *testing.T) {
	cfg, dir := fixture(t)
	s := open(t, cfg)
	profile := filepath.Join(dir, "sys/firmware/acpi/platform_profile")
	bl := filepath.Join(dir, "sys/class/backlight/intel_backlight/brightness")
	apply(t, s, actuators.Applied, plan(
		actuators.KnobPlatformProfile, "", "performance",
		actuators.KnobBacklight, "intel_backlight", "50000"))
	writeFile(t, profile, "low-power\n") // the user picked another profile
	res := revert(t, s)
	got := map[string]actuators.Status{}
	for _, r := range res {
		got[r.Action.Knob] = r.Status
		if r.Action.Knob == actuators.KnobPlatformProfile && !errors.Is(r.Err, actuators.ErrChangedSince) {
			t.Errorf("Revert(platform.profile).Err = %v; want ErrChangedSince", r.Err)
		}
	}
	if got[actuators.KnobPlatformProfile] != actuators.Skipped || got[actuators.KnobBacklight] != actuators.Applied {
		t.Errorf("Revert() = %s; want profile skipped, backlight applied", statuses(res))
	}
	if v := readFile(t, profile); v != "low-power" {
		t.Errorf("platform_profile = %q; want the user's low-power", v)
	}
	if v := readFile(t, bl); v != "19200" {
		t.Errorf("brightness = %q; want 19200", v)
	}
}

// TestRevertKeepsFirstOriginal: setting a knob twice restores the value
// from before the first change.
func TestRevertKeepsFirstOriginal(t *testing.T) {
	cfg, dir := fixture(t)
	s := open(t, cfg)
	path := filepath.Join(dir, "sys/class/backlight/intel_backlight/brightness")
	for _, v := range []string{"30000", "40000", "50000"} {
		apply(t, s, actuators.Applied, plan(actuators.KnobBacklight, "intel_backlight", v))
	}
	rev := revert(t, s)
	if len(rev) != 1 || rev[0].Previous != "50000" || rev[0].Value != "19200" {
		t.Errorf("Revert() = %s; want one revert 50000 -> 19200", statuses(rev))
	}
	if got := readFile(t, path); got != "19200" {
		t.Errorf("brightness = %q; want 19200", got)
	}
}

// TestDeniedGoesOn: a read-only knob is Denied and the plan's other
// actions still apply.
func TestDeniedGoesOn(t *testing.T) {
	cfg, dir := fixture(t)
	ro := filepath.Join(dir, "sys/class/scsi_host/host1/link_power_management_policy")
	if err := os.Chmod(ro, 0o444); err != nil {
		t.Fatal(err)
	}
	s := open(t, cfg)
	res := s.Apply(context.Background(), plan(
		actuators.KnobSATALink, "host1", "min_power",
		actuators.KnobSATALink, "host0", "min_power"))
	if res[0].Status != actuators.Denied || !errors.Is(res[0].Err, fs.ErrPermission) {
		t.Errorf("Apply(host1, read-only) = %v, %v; want denied, permission", res[0].Status, res[0].Err)
	}
	if res[1].Status != actuators.Applied {
		t.Errorf("Apply(host0) = %v, %v; want applied", res[1].Status, res[1].Err)
	}
	if got := readFile(t, ro); got != "med_power_with_dipm" {
		t.Errorf("host1 policy = %q; want it untouched", got)
	}
	// The denied change left nothing to revert.
	rev := revert(t, s)
	if len(rev) != 1 || rev[0].Action.Target != "host0" {
		t.Errorf("Revert() = %s; want host0 only", statuses(rev))
	}
	// All targets: host0 applies, host1 is denied, the sum is denied.
	res = s.Apply(context.Background(), plan(actuators.KnobSATALink, "", "min_power"))
	if res[0].Status != actuators.Denied {
		t.Errorf("Apply(all hosts) = %v, %v; want denied", res[0].Status, res[0].Err)
	}
	if got := readFile(t, filepath.Join(dir, "sys/class/scsi_host/host0/link_power_management_policy")); got != "min_power" {
		t.Errorf("host0 policy = %q; want min_power", got)
	}
}

// TestUnavailableHost: a host without any of the knobs reports them
// unavailable and lists none.
func TestUnavailableHost(t *testing.T) {
	dir := t.TempDir()
	cfg := actuators.DefaultConfig()
	cfg.Proc, cfg.Sys, cfg.Dev, cfg.Run, cfg.CgroupRoot = dir, dir, dir, dir, dir
	cfg.JournalPath = filepath.Join(dir, "j")
	s := open(t, cfg)
	knobs, err := s.Inventory(context.Background())
	if err != nil || len(knobs) != 0 {
		t.Errorf("Inventory() = %v, %v; want nothing", knobs, err)
	}
	for _, a := range plan(
		actuators.KnobGovernor, "", "performance",
		actuators.KnobGovernor, "cpu0", "performance",
		actuators.KnobBoost, "", "1",
		actuators.KnobPlatformProfile, "", "balanced",
		actuators.KnobRAPLPL1, "package-0", "10000000",
		actuators.KnobBacklight, "", "100",
		actuators.KnobUSBSuspend, "1-1", "auto",
		actuators.KnobPCIeASPM, "", "default",
		actuators.KnobSATALink, "", "min_power",
		actuators.KnobDMALatency, "", "10",
		actuators.KnobCgroupWeight, "foreground", "50",
		actuators.KnobNVMLPower, "gpu0", "100000",
	).Actions {
		res := s.Apply(context.Background(), plan(a.Knob, a.Target, a.Value))
		if res[0].Status != actuators.Unavailable || !errors.Is(res[0].Err, actuators.ErrUnavailable) {
			t.Errorf("Apply(%s %s) = %v, %v; want unavailable", a.Knob, a.Target, res[0].Status, res[0].Err)
		}
	}
}

// TestInventory lists the fixture's knobs with values, bounds, choices and
// writability.
func TestInventory(t *testing.T) {
	cfg, dir := fixture(t)
	if err := os.Chmod(filepath.Join(dir, "sys/class/scsi_host/host1/link_power_management_policy"), 0o444); err != nil {
		t.Fatal(err)
	}
	s := open(t, cfg)
	knobs, err := s.Inventory(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	byKey := map[string]int{}
	for i, k := range knobs {
		key := k.Name + " " + k.Target
		if _, dup := byKey[key]; dup {
			t.Errorf("Inventory() lists %s twice", key)
		}
		byKey[key] = i
		got[key] = k.Value
	}
	want := map[string]string{
		"cpufreq.governor cpu0":                "powersave",
		"cpufreq.min_khz cpu3":                 "800000",
		"cpufreq.max_khz cpu1":                 "3600000",
		"cpufreq.epp cpu2":                     "balance_performance",
		"cpufreq.boost ":                       "1",
		"platform.profile ":                    "balanced",
		"pmqos.cpu_dma_latency_us ":            "2000000000",
		"rapl.pl1_uw package-0":                "28000000",
		"rapl.pl2_uw package-0":                "64000000",
		"rapl.pl1_uw package-0/core":           "0",
		"backlight.brightness intel_backlight": "19200",
		"usb.autosuspend 1-1":                  "on",
		"usb.autosuspend usb1":                 "auto",
		"pcie.aspm_policy ":                    "default",
		"sata.link_power host0":                "max_performance",
		"sata.link_power host1":                "med_power_with_dipm",
		"cgroup.weight foreground":             "100",
		"cgroup.quota background":              "max 100000",
		"cgroup.cpuset foreground":             "",
	}
	for key, v := range want {
		if g, ok := got[key]; !ok || g != v {
			t.Errorf("Inventory()[%s] = %q (listed: %v); want %q", key, g, ok, v)
		}
	}
	if len(knobs) != 4*4+2+1+3+1+2+1+2+3*2 {
		t.Errorf("Inventory() lists %d knobs; want %d", len(knobs), 4*4+2+1+3+1+2+1+2+3*2)
	}
	k := knobs[byKey["cpufreq.min_khz cpu0"]]
	if k.Min != "800000" || k.Max != "4200000" || k.Unit != "kHz" || !k.Writable {
		t.Errorf("Inventory(min_khz cpu0) = %v; want [800000, 4200000] kHz, writable", k)
	}
	k = knobs[byKey["cpufreq.governor cpu0"]]
	if !slices.Equal(k.Choices, []string{"performance", "powersave"}) {
		t.Errorf("Inventory(governor).Choices = %v", k.Choices)
	}
	k = knobs[byKey["rapl.pl1_uw package-0"]]
	if k.Min != "5000000" || k.Max != "45000000" || k.Unit != "uW" {
		t.Errorf("Inventory(pl1) = %v; want [5000000, 45000000] uW", k)
	}
	k = knobs[byKey["pcie.aspm_policy "]]
	if !slices.Equal(k.Choices, []string{"default", "performance", "powersave", "powersupersave"}) {
		t.Errorf("Inventory(aspm).Choices = %v", k.Choices)
	}
	if knobs[byKey["sata.link_power host1"]].Writable {
		t.Errorf("Inventory(sata host1, mode 0444).Writable = true; want false")
	}
	if k := knobs[byKey["backlight.brightness intel_backlight"]]; k.Min != "960" || k.Max != "96000" {
		t.Errorf("Inventory(backlight) = [%s, %s]; want [960, 96000]", k.Min, k.Max)
	}
}

// TestPMQoS holds a latency request in the fixture's device file and lets
// it go at revert; nothing of it goes to the journal.
func TestPMQoS(t *testing.T) {
	cfg, dir := fixture(t)
	s := open(t, cfg)
	dev := filepath.Join(dir, "dev/cpu_dma_latency")
	latency := func() int32 {
		b, err := os.ReadFile(dev)
		if err != nil || len(b) < 4 {
			t.Fatalf("read %s: %v (%d bytes)", dev, err, len(b))
		}
		return int32(binary.NativeEndian.Uint32(b))
	}
	apply(t, s, actuators.Applied, plan(actuators.KnobDMALatency, "", "20"))
	if got := latency(); got != 20 {
		t.Errorf("cpu_dma_latency = %d; want 20", got)
	}
	apply(t, s, actuators.Unchanged, plan(actuators.KnobDMALatency, "", "20"))
	apply(t, s, actuators.Applied, plan(actuators.KnobDMALatency, "", "5"))
	if got := latency(); got != 5 {
		t.Errorf("cpu_dma_latency = %d; want 5", got)
	}
	if fi, err := os.Stat(cfg.JournalPath); err != nil || fi.Size() != 8 {
		t.Errorf("journal after PM QoS only: %v, %d bytes; want the 8-byte header", err, fi.Size())
	}
	rev := revert(t, s)
	if len(rev) != 1 || rev[0].Action.Knob != actuators.KnobDMALatency || rev[0].Status != actuators.Applied {
		t.Errorf("Revert() = %s; want the request released", statuses(rev))
	}
	res := s.Apply(context.Background(), plan(actuators.KnobDMALatency, "", "-3"))
	if res[0].Status != actuators.Applied || res[0].Value != "0" || res[0].Note == "" {
		t.Errorf("Apply(latency -3) = %v %q note %q; want applied 0 with a note", res[0].Status, res[0].Value, res[0].Note)
	}
}

// TestCheck says what would change and changes nothing.
func TestCheck(t *testing.T) {
	cfg, dir := fixture(t)
	s := open(t, cfg)
	res := s.Check(context.Background(), plan(
		actuators.KnobGovernor, "cpu0", "performance",
		actuators.KnobGovernor, "cpu1", "powersave",
		actuators.KnobGovernor, "cpu1", "turbo"))
	want := []actuators.Status{actuators.WouldApply, actuators.Unchanged, actuators.Rejected}
	for i, r := range res {
		if r.Status != want[i] {
			t.Errorf("Check()[%d] = %v, %v; want %v", i, r.Status, r.Err, want[i])
		}
	}
	if got := readFile(t, filepath.Join(dir, "sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")); got != "powersave" {
		t.Errorf("after Check: governor = %q; want powersave", got)
	}
	if rev := revert(t, s); len(rev) != 0 {
		t.Errorf("Revert() after Check = %s; want nothing", statuses(rev))
	}
}
