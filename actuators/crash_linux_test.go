//go:build linux

package actuators_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/krystalstack/gamesa/actuators"
)

// TestCrashRecovery: a helper process applies a plan in enforce mode (a
// real process's priorities, cgroup v1 membership and group settings, and
// fixture sysfs knobs) and is killed with SIGKILL. The next Open finds the
// journal pending, refuses to apply, and Recover puts every original back.
func TestCrashRecovery(t *testing.T) {
	needV1(t)
	name := v1Name(t)
	c := startHelper(t)
	cfg, dir := fixture(t)
	cfg.Proc, cfg.CgroupRoot, cfg.CgroupName = "/proc", v1Root, name
	cfg.Scope.PIDs = []int{c.pid}
	cfg.RespectTuners = false

	before := map[int]threadState{}
	for _, tid := range c.tids(t) {
		before[tid] = readThread(t, c.pid, tid)
	}
	origOOM := oomScoreAdj(t, c.pid)
	origCPU, origCpuset := cgroupOf(t, c.pid, "cpu"), cgroupOf(t, c.pid, "cpuset")
	files := map[string]string{}
	for _, f := range []string{
		"sys/devices/system/cpu/cpu0/cpufreq/scaling_governor",
		"sys/devices/system/cpu/cpu1/cpufreq/scaling_max_freq",
		"sys/class/powercap/intel-rapl:0/constraint_0_power_limit_uw",
		"sys/class/backlight/intel_backlight/brightness",
		"sys/firmware/acpi/platform_profile",
	} {
		files[f] = readFile(t, filepath.Join(dir, f))
	}
	cpu := "0"
	if before[c.pid].affinity == "0" {
		cpu = "1"
	}

	hc := configJSON{
		Proc: cfg.Proc, Sys: cfg.Sys, Dev: cfg.Dev, Run: cfg.Run, CgroupRoot: cfg.CgroupRoot, CgroupName: name,
		JournalPath: cfg.JournalPath, PIDs: cfg.Scope.PIDs,
		Plan: []string{
			actuators.KnobAffinity, c.target(), cpu,
			actuators.KnobNice, c.target(), "7",
			actuators.KnobIOPrio, c.target(), "be/7",
			actuators.KnobPolicy, c.target(), "idle",
			actuators.KnobOOMScoreAdj, c.target(), "500",
			actuators.KnobCgroupMember, c.target(), "background",
			actuators.KnobCgroupWeight, "background", "10",
			actuators.KnobCgroupQuota, "background", "20000",
			actuators.KnobGovernor, "cpu0", "performance",
			actuators.KnobMaxKHz, "cpu1", "2000000",
			actuators.KnobRAPLPL1, "package-0", "12000000",
			actuators.KnobBacklight, "intel_backlight", "9600",
			actuators.KnobPlatformProfile, "", "performance",
		},
	}
	helper, res := startApplyHelper(t, os.Args[0], 0, hc)
	for _, r := range res {
		if r.Status != "applied" {
			t.Errorf("helper Apply(%s %s) = %s (%s); want applied", r.Knob, r.Target, r.Status, r.Err)
		}
	}
	// While the helper lives, its journal is locked.
	if _, err := actuators.Open(context.Background(), cfg); !errors.Is(err, actuators.ErrJournalLocked) {
		t.Errorf("Open(journal of a live agent) = %v; want ErrJournalLocked", err)
	}
	helper.Process.Signal(syscall.SIGKILL)
	helper.Wait()

	// The changes outlive the helper.
	if got := readThread(t, c.pid, c.pid); got.nice != 7 || got.policy != 5 || got.affinity != cpu {
		t.Fatalf("after the crash: %v; want the helper's changes", got)
	}
	if got := cgroupOf(t, c.pid, "cpu"); got != "/"+name+"/background" {
		t.Fatalf("after the crash: cpu cgroup %s; want the helper's group", got)
	}

	s := open(t, cfg)
	if !s.Pending() {
		t.Fatal("Pending() = false after a crash; want true")
	}
	blocked := s.Apply(context.Background(), plan(actuators.KnobNice, c.target(), "1"))
	if blocked[0].Status != actuators.Rejected || !errors.Is(blocked[0].Err, actuators.ErrRecoveryPending) {
		t.Errorf("Apply(pending) = %v, %v; want rejected, ErrRecoveryPending", blocked[0].Status, blocked[0].Err)
	}
	rec, err := s.Recover(context.Background())
	if err != nil {
		t.Fatalf("Recover() = %v%s", err, statuses(rec))
	}
	if s.Pending() {
		t.Error("Pending() = true after Recover; want false")
	}
	for _, r := range rec {
		if r.Status != actuators.Applied {
			t.Errorf("Recover(%s %s) = %v, %v; want applied", r.Action.Knob, r.Action.Target, r.Status, r.Err)
		}
	}

	for _, tid := range c.tids(t) {
		if got := readThread(t, c.pid, tid); got != before[tid] {
			t.Errorf("thread %d after Recover = %v; want %v", tid, got, before[tid])
		}
	}
	if got := oomScoreAdj(t, c.pid); got != origOOM {
		t.Errorf("oom_score_adj after Recover = %s; want %s", got, origOOM)
	}
	if got := cgroupOf(t, c.pid, "cpu"); got != origCPU {
		t.Errorf("cpu cgroup after Recover = %s; want %s", got, origCPU)
	}
	if got := cgroupOf(t, c.pid, "cpuset"); got != origCpuset {
		t.Errorf("cpuset cgroup after Recover = %s; want %s", got, origCpuset)
	}
	for _, ctrl := range []string{"cpu", "cpuset"} {
		if _, err := os.Stat(filepath.Join(v1Root, ctrl, name)); !os.IsNotExist(err) {
			t.Errorf("after Recover: %s/%s: %v; want it removed", ctrl, name, err)
		}
	}
	for f, want := range files {
		if got := readFile(t, filepath.Join(dir, f)); got != want {
			t.Errorf("%s after Recover = %q; want %q", f, got, want)
		}
	}
	apply(t, s, actuators.Applied, plan(actuators.KnobNice, c.target(), "1"))
	revert(t, s)
}
