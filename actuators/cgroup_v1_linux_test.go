//go:build linux

package actuators_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/krystalstack/gamesa/actuators"
)

// v1Root is where this machine mounts its cgroup v1 controllers.
const v1Root = "/sys/fs/cgroup"

// needV1 skips unless the host has cgroup v1 cpu and cpuset controllers
// that this process may change.
func needV1(t testing.TB) {
	t.Helper()
	needRoot(t)
	for _, f := range []string{"cpu/cpu.shares", "cpuset/cpuset.cpus"} {
		if _, err := os.Stat(filepath.Join(v1Root, f)); err != nil {
			t.Skipf("no cgroup v1 %s: %v", f, err)
		}
	}
}

// v1Name returns a hierarchy name of the test's own, and removes the
// hierarchy at the end of the test if the test left it behind.
func v1Name(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("gamesa-test-%d-%s", os.Getpid(), strings.ReplaceAll(t.Name(), "/", "-"))
	t.Cleanup(func() {
		for _, ctrl := range []string{"cpu", "cpuset"} {
			base := filepath.Join(v1Root, ctrl, name)
			ents, _ := os.ReadDir(base)
			for _, e := range ents {
				if e.IsDir() {
					evacuateForTest(t, filepath.Join(base, e.Name()), filepath.Join(v1Root, ctrl))
					os.Remove(filepath.Join(base, e.Name()))
				}
			}
			os.Remove(base)
		}
	})
	return name
}

func evacuateForTest(t testing.TB, from, to string) {
	b, _ := os.ReadFile(filepath.Join(from, "cgroup.procs"))
	for _, pid := range strings.Fields(string(b)) {
		os.WriteFile(filepath.Join(to, "cgroup.procs"), []byte(pid), 0)
	}
}

// cgroupOf returns a process's cgroup path for a v1 controller, from
// /proc/<pid>/cgroup.
func cgroupOf(t testing.TB, pid int, ctrl string) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		f := strings.SplitN(strings.TrimSpace(line), ":", 3)
		for _, c := range strings.Split(f[1], ",") {
			if c == ctrl {
				return f[2]
			}
		}
	}
	t.Fatalf("pid %d has no %s cgroup", pid, ctrl)
	return ""
}

// TestCgroupV1 moves a real process into a GAMESA group on this machine's
// cgroup v1, sets the group's shares, quota and cpuset, checks the cgroup
// files, and reverts: the process is back and the hierarchy gone.
func TestCgroupV1(t *testing.T) {
	needV1(t)
	name := v1Name(t)
	c := startSleep(t, 0)
	origCPU, origCpuset := cgroupOf(t, c.pid, "cpu"), cgroupOf(t, c.pid, "cpuset")
	cfg := processConfig(t, c.pid)
	cfg.CgroupRoot, cfg.CgroupName = v1Root, name
	s := open(t, cfg)
	cpus := allCPUs(t)
	last := cpus[len(cpus)-1:]
	apply(t, s, actuators.Applied, plan(
		actuators.KnobCgroupMember, c.target(), "background",
		actuators.KnobCgroupWeight, "background", "20",
		actuators.KnobCgroupQuota, "background", "50000 100000",
		actuators.KnobCgroupCpuset, "background", last,
		actuators.KnobCgroupWeight, "foreground", "400",
	))
	for _, ctrl := range []string{"cpu", "cpuset"} {
		if got, want := cgroupOf(t, c.pid, ctrl), "/"+name+"/background"; got != want {
			t.Errorf("pid %d %s cgroup = %s; want %s", c.pid, ctrl, got, want)
		}
	}
	bg := filepath.Join(v1Root, "cpu", name, "background")
	for file, want := range map[string]string{
		filepath.Join(bg, "cpu.shares"):                                 "205",
		filepath.Join(bg, "cpu.cfs_quota_us"):                           "50000",
		filepath.Join(bg, "cpu.cfs_period_us"):                          "100000",
		filepath.Join(v1Root, "cpuset", name, "background/cpuset.cpus"): last,
		filepath.Join(v1Root, "cpu", name, "foreground/cpu.shares"):     "4096",
	} {
		if got := readFile(t, file); got != want {
			t.Errorf("%s = %q; want %q", file, got, want)
		}
	}
	apply(t, s, actuators.Unchanged, plan(
		actuators.KnobCgroupMember, c.target(), "background",
		actuators.KnobCgroupWeight, "background", "20"))

	rev := revert(t, s)
	for _, r := range rev {
		if r.Status != actuators.Applied {
			t.Errorf("Revert(%s %s) = %v, %v; want applied", r.Action.Knob, r.Action.Target, r.Status, r.Err)
		}
	}
	if got := cgroupOf(t, c.pid, "cpu"); got != origCPU {
		t.Errorf("after Revert: cpu cgroup = %s; want %s", got, origCPU)
	}
	if got := cgroupOf(t, c.pid, "cpuset"); got != origCpuset {
		t.Errorf("after Revert: cpuset cgroup = %s; want %s", got, origCpuset)
	}
	for _, ctrl := range []string{"cpu", "cpuset"} {
		if _, err := os.Stat(filepath.Join(v1Root, ctrl, name)); !os.IsNotExist(err) {
			t.Errorf("after Revert: %s/%s: %v; want it removed", ctrl, name, err)
		}
	}
}

// TestCgroupV1Stragglers: a process that joins a GAMESA group on its own
// (a child forked after the move) does not keep the group from going.
func TestCgroupV1Stragglers(t *testing.T) {
	needV1(t)
	name := v1Name(t)
	c := startSleep(t, 0)
	other := startSleep(t, 0)
	cfg := processConfig(t, c.pid)
	cfg.CgroupRoot, cfg.CgroupName = v1Root, name
	s := open(t, cfg)
	apply(t, s, actuators.Applied, plan(actuators.KnobCgroupMember, c.target(), "foreground"))
	for _, ctrl := range []string{"cpu", "cpuset"} {
		p := filepath.Join(v1Root, ctrl, name, "foreground/cgroup.procs")
		if err := os.WriteFile(p, []byte(fmt.Sprint(other.pid)), 0); err != nil {
			t.Fatal(err)
		}
	}
	revert(t, s)
	for _, ctrl := range []string{"cpu", "cpuset"} {
		if _, err := os.Stat(filepath.Join(v1Root, ctrl, name)); !os.IsNotExist(err) {
			t.Errorf("after Revert: %s/%s: %v; want it removed", ctrl, name, err)
		}
		if got := cgroupOf(t, other.pid, ctrl); got != "/" {
			t.Errorf("straggler's %s cgroup = %s; want /", ctrl, got)
		}
	}
}
