package procfs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
	"github.com/krystalstack/gamesa/telemetry"
)

func TestCPUFixture(t *testing.T) {
	dir, roots := fixture(t)
	c := NewCPU(roots)
	s := twoTicks(t, dir, c)
	checkGolden(t, "cpu", s)

	// The fixture's deltas over the 2 s (200 ticks per core):
	//   cpu0 user 100 system 20 idle 60 iowait 10 softirq 10
	//   cpu1 user 40 nice 10 system 10 idle 140
	//   cpu2 system 2 idle 196 iowait 2
	//   cpu3 user 150 system 30 steal 20
	cpu := s.GetCpu()
	for _, tc := range []struct {
		field     string
		got, want float64
	}{
		{"utilization", cpu.GetUtilizationPercent(), 49},
		{"user", cpu.GetUserPercent(), 37.5},
		{"system", cpu.GetSystemPercent(), 9},
		{"iowait", cpu.GetIowaitPercent(), 1.5},
		{"steal", cpu.GetStealPercent(), 2.5},
	} {
		if !near(tc.got, tc.want) {
			t.Errorf("cpu %s = %v; want %v", tc.field, tc.got, tc.want)
		}
	}
	wantCores := []struct {
		util, user, system, iowait, mhz float64
		epp                             string
	}{
		{65, 50, 15, 5, 2900.112, "balance_performance"},
		{30, 25, 5, 0, 3100, "balance_performance"},
		{1, 0, 1, 1, 400, "balance_performance"},
		{100, 75, 15, 0, 3100, "performance"},
	}
	if len(cpu.GetCores()) != len(wantCores) {
		t.Fatalf("got %d cores; want %d", len(cpu.GetCores()), len(wantCores))
	}
	for i, w := range wantCores {
		core := cpu.GetCores()[i]
		if core.GetId() != uint32(i) || !near(core.GetUtilizationPercent(), w.util) || !near(core.GetUserPercent(), w.user) ||
			!near(core.GetSystemPercent(), w.system) || !near(core.GetIowaitPercent(), w.iowait) {
			t.Errorf("core %d = %v; want util %v user %v system %v iowait %v", i, core, w.util, w.user, w.system, w.iowait)
		}
		if !near(core.GetFrequencyMhz(), w.mhz) || core.GetMinFrequencyMhz() != 400 || core.GetMaxFrequencyMhz() != 3100 ||
			core.GetGovernor() != "powersave" || core.GetEnergyPerformancePreference() != w.epp {
			t.Errorf("core %d cpufreq = %v; want %v MHz in 400..3100, powersave, %s", i, core, w.mhz, w.epp)
		}
	}
	if want := "Intel(R) Core(TM) i5-7200U CPU @ 2.50GHz"; cpu.GetModel() != want {
		t.Errorf("model = %q; want %q", cpu.GetModel(), want)
	}
	load := s.GetLoad()
	if load.GetProcsRunning() != 5 || load.GetProcsBlocked() != 0 ||
		load.GetContextSwitchesPerSecond() != 12000 || load.GetInterruptsPerSecond() != 5000 {
		t.Errorf("load = %v; want 5 running, 0 blocked, 12000 ctxt/s, 5000 intr/s", load)
	}
}

func TestCPUFirstCall(t *testing.T) {
	_, roots := fixture(t)
	s := collect(t, NewCPU(roots), 0)
	if got := s.GetCpu().GetUtilizationPercent(); got != 0 {
		t.Errorf("first utilization = %v; want 0", got)
	}
	for _, core := range s.GetCpu().GetCores() {
		if core.GetUtilizationPercent() != 0 || core.GetUserPercent() != 0 {
			t.Errorf("first call core %d = %v; want zero shares", core.GetId(), core)
		}
	}
	if got := len(s.GetCpu().GetCores()); got != 4 {
		t.Errorf("cores = %d; want 4", got)
	}
	load := s.GetLoad()
	if load.GetProcsRunning() != 3 || load.GetProcsBlocked() != 1 || load.GetContextSwitchesPerSecond() != 0 {
		t.Errorf("first load = %v; want 3 running, 1 blocked, no rates", load)
	}
}

func TestCPUKeepsLoadAverages(t *testing.T) {
	_, roots := fixture(t)
	s := sampleAt(0)
	s.Load = &gamesav1.Load{Load1: 1.5, Load5: 2.5, Load15: 3.5}
	if err := NewCPU(roots).Collect(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	if l := s.GetLoad(); l.GetLoad1() != 1.5 || l.GetLoad5() != 2.5 || l.GetLoad15() != 3.5 || l.GetProcsRunning() != 3 {
		t.Errorf("load = %v; want the load averages kept and procs_running 3", l)
	}
}

func TestCPUCountersBackwards(t *testing.T) {
	dir, roots := fixture(t)
	c := NewCPU(roots)
	collect(t, c, 0)
	// Every counter lower than before, as after a checkpoint/restore of a VM.
	writeFile(t, dir, "proc/stat", `cpu  100 0 100 1000 0 0 0 0 0 0
cpu0 25 0 25 250 0 0 0 0 0 0
cpu1 25 0 25 250 0 0 0 0 0 0
cpu2 25 0 25 250 0 0 0 0 0 0
cpu3 25 0 25 250 0 0 0 0 0 0
intr 100
ctxt 100
procs_running 1
procs_blocked 0
`)
	s := collect(t, c, 1)
	if got := s.GetCpu().GetUtilizationPercent(); got != 0 {
		t.Errorf("utilization after reset = %v; want 0", got)
	}
	if l := s.GetLoad(); l.GetContextSwitchesPerSecond() != 0 || l.GetInterruptsPerSecond() != 0 {
		t.Errorf("rates after reset = %v; want 0", l)
	}
	// One column going back (iowait does on NO_HZ kernels) must not skew the rest.
	writeFile(t, dir, "proc/stat", `cpu  200 0 100 1100 0 0 0 0 0 0
cpu0 125 0 25 250 0 0 0 0 0 0
cpu1 25 0 25 350 0 0 0 0 0 0
cpu2 25 0 25 250 0 0 0 0 0 0
cpu3 25 0 25 250 0 0 0 0 0 0
`)
	s = collect(t, c, 2)
	if got := s.GetCpu().GetCores()[0].GetUtilizationPercent(); got != 100 {
		t.Errorf("cpu0 utilization = %v; want 100", got)
	}
	if got := s.GetCpu().GetUtilizationPercent(); got != 50 {
		t.Errorf("utilization = %v; want 50", got)
	}
}

func TestCPUMalformed(t *testing.T) {
	dir, roots := fixture(t)
	c := NewCPU(roots)
	collect(t, c, 0)
	copyTree(t, tick2, dir)
	b := readFixture(t, dir, "proc/stat")
	lines := strings.Split(b, "\n")
	f := strings.Fields(lines[3]) // cpu2
	f[3] = "9x02"                 // system
	lines[3] = strings.Join(f, " ")
	writeFile(t, dir, "proc/stat", strings.Join(lines, "\n"))

	s := sampleAt(tickSeconds)
	err := c.Collect(t.Context(), s)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "proc", "stat")) || !strings.Contains(err.Error(), "cpu2 system") {
		t.Fatalf("Collect error = %v; want one naming proc/stat and cpu2 system", err)
	}
	if errors.Is(err, telemetry.ErrNotAvailable) {
		t.Errorf("a parse error must not read as not available: %v", err)
	}
	cores := s.GetCpu().GetCores()
	if len(cores) != 4 || cores[2].GetUtilizationPercent() != 0 || cores[0].GetUtilizationPercent() != 65 {
		t.Errorf("cores = %v; want 4 cores, cpu2 without shares, cpu0 at 65%%", cores)
	}
	if s.GetCpu().GetUtilizationPercent() != 49 || s.GetLoad().GetContextSwitchesPerSecond() != 12000 {
		t.Errorf("cpu = %v load = %v; want the other fields filled", s.GetCpu(), s.GetLoad())
	}
}

func TestCPUMissing(t *testing.T) {
	dir, roots := fixture(t)
	if err := os.Remove(filepath.Join(dir, "proc", "stat")); err != nil {
		t.Fatal(err)
	}
	s := sampleAt(0)
	err := NewCPU(roots).Collect(t.Context(), s)
	if !errors.Is(err, telemetry.ErrNotAvailable) {
		t.Errorf("Collect without proc/stat = %v; want ErrNotAvailable", err)
	}
	if s.Cpu != nil {
		t.Errorf("Cpu = %v; want nil", s.Cpu)
	}
}

func TestCPUFreqFallbackAndAbsence(t *testing.T) {
	dir, roots := fixture(t)
	cpu1 := filepath.Join(dir, "sys/devices/system/cpu/cpu1/cpufreq")
	for _, f := range []string{"scaling_min_freq", "scaling_max_freq", "energy_performance_preference"} {
		if err := os.Remove(filepath.Join(cpu1, f)); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, dir, "sys/devices/system/cpu/cpu1/cpufreq/cpuinfo_max_freq", "3500000\n")
	if err := os.RemoveAll(filepath.Join(dir, "sys/devices/system/cpu/cpu3")); err != nil {
		t.Fatal(err)
	}
	cores := collect(t, NewCPU(roots), 0).GetCpu().GetCores()
	if c := cores[1]; c.GetMinFrequencyMhz() != 400 || c.GetMaxFrequencyMhz() != 3500 || c.GetEnergyPerformancePreference() != "" || c.GetFrequencyMhz() != 3100 {
		t.Errorf("cpu1 = %v; want min/max from cpuinfo_* (400, 3500), no EPP, 3100 MHz", c)
	}
	if c := cores[3]; c.GetFrequencyMhz() != 0 || c.GetMinFrequencyMhz() != 0 || c.GetMaxFrequencyMhz() != 0 || c.GetGovernor() != "" {
		t.Errorf("cpu3 without cpufreq = %v; want zero and empty", c)
	}
}

func TestCPUFreqProbeIsCached(t *testing.T) {
	dir, roots := fixture(t)
	sysCPU := filepath.Join(dir, "sys/devices/system/cpu")
	hidden := filepath.Join(dir, "cpu-hidden")
	if err := os.Rename(sysCPU, hidden); err != nil {
		t.Fatal(err)
	}
	c := NewCPU(roots)
	collect(t, c, 0) // probes: nothing there
	// A driver that appears later is found at the next periodic probe, not
	// before: the calls in between pay no stat for files that are absent.
	if err := os.Rename(hidden, sysCPU); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < reprobeEvery; i++ {
		if f := collect(t, c, float64(i)).GetCpu().GetCores()[0].GetFrequencyMhz(); f != 0 {
			t.Fatalf("call %d: frequency %v before the re-probe; want 0", i, f)
		}
	}
	if f := collect(t, c, reprobeEvery).GetCpu().GetCores()[0].GetFrequencyMhz(); f != 2700 {
		t.Errorf("after %d calls frequency = %v; want 2700", reprobeEvery, f)
	}
}

func TestCPUFreqHotplug(t *testing.T) {
	dir, roots := fixture(t)
	c := NewCPU(roots)
	collect(t, c, 0)
	// cpu4 comes online: a new id in /proc/stat re-probes at once.
	editFile(t, dir, "proc/stat", "intr", "cpu4 10 0 10 100 0 0 0 0 0 0\nintr")
	writeFile(t, dir, "sys/devices/system/cpu/cpu4/cpufreq/scaling_cur_freq", "1200000\n")
	cores := collect(t, c, 1).GetCpu().GetCores()
	if len(cores) != 5 || cores[4].GetId() != 4 || cores[4].GetFrequencyMhz() != 1200 {
		t.Errorf("cores = %v; want cpu4 at 1200 MHz", cores)
	}
	// A file that vanishes (the core went offline under us) is no error.
	if err := os.RemoveAll(filepath.Join(dir, "sys/devices/system/cpu/cpu4")); err != nil {
		t.Fatal(err)
	}
	if got := collect(t, c, 2).GetCpu().GetCores()[4].GetFrequencyMhz(); got != 0 {
		t.Errorf("cpu4 frequency after its cpufreq vanished = %v; want 0", got)
	}
}

func TestCPUFreqMalformed(t *testing.T) {
	dir, roots := fixture(t)
	writeFile(t, dir, "sys/devices/system/cpu/cpu2/cpufreq/scaling_cur_freq", "fast\n")
	s := sampleAt(0)
	err := NewCPU(roots).Collect(t.Context(), s)
	if err == nil || !strings.Contains(err.Error(), "cpu2/cpufreq/scaling_cur_freq") {
		t.Fatalf("Collect = %v; want an error naming cpu2's scaling_cur_freq", err)
	}
	if got := s.GetCpu().GetCores()[1].GetFrequencyMhz(); got != 3100 {
		t.Errorf("cpu1 frequency = %v; want 3100 despite cpu2's error", got)
	}
}

func TestParseCPUModel(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"x86", "processor\t: 0\nmodel name\t: AMD Ryzen 7 5800X 8-Core Processor\n", "AMD Ryzen 7 5800X 8-Core Processor"},
		{"arm32", "Processor\t: ARMv7 Processor rev 4 (v7l)\nHardware\t: BCM2835\n", "BCM2835"},
		{"power", "processor\t: 0\ncpu\t\t: POWER9 (architected), altivec supported\n", "POWER9 (architected), altivec supported"},
		{"first wins", "model name\t: A\nmodel name\t: B\n", "A"},
		{"none", "processor\t: 0\nBogoMIPS\t: 48.00\n", ""},
		{"invalid utf-8", "model name\t: X\xff\n", "X\uFFFD"},
	} {
		if got := parseCPUModel([]byte(tc.in)); got != tc.want {
			t.Errorf("%s: parseCPUModel(%q) = %q; want %q", tc.name, tc.in, got, tc.want)
		}
	}
}

func TestParseStatOldKernel(t *testing.T) {
	// 2.6.0 printed four columns; steal and the rest read as zero.
	var snap statSnapshot
	var errs fieldErrors
	parseStat("stat", []byte("cpu  10 20 30 40\ncpu0 10 20 30 40\n"), &snap, &errs)
	if err := errs.err(); err != nil {
		t.Fatal(err)
	}
	want := cpuTimes{10, 20, 30, 40}
	if !snap.totalOK || snap.total != want || len(snap.cores) != 1 || snap.cores[0].t != want {
		t.Errorf("parseStat = %+v; want total and cpu0 %v", snap, want)
	}
	parseStat("stat", []byte("cpu  10 20 30\n"), &snap, &errs)
	if err := errs.err(); err == nil || !strings.Contains(err.Error(), "cpu idle") {
		t.Errorf("three columns: error %v; want one naming cpu idle", err)
	}
}

func TestParseStatSortsCores(t *testing.T) {
	var snap statSnapshot
	var errs fieldErrors
	parseStat("stat", []byte("cpu3 1 1 1 1\ncpu1 1 1 1 1\ncpu10 1 1 1 1\ncpu1 2 2 2 2\n"), &snap, &errs)
	var ids []uint32
	for _, c := range snap.cores {
		ids = append(ids, c.id)
	}
	if len(ids) != 3 || ids[0] != 1 || ids[1] != 3 || ids[2] != 10 || snap.cores[0].t[0] != 2 {
		t.Errorf("cores = %+v; want ids 1, 3, 10 with the later cpu1 line kept", snap.cores)
	}
}
