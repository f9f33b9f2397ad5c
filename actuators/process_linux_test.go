//go:build linux

package actuators_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/krystalstack/gamesa/actuators"
)

// needRoot skips tests that change other processes' priorities.
func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

// child is a process started for a test.
type child struct {
	cmd    *exec.Cmd
	pid    int
	stdin  io.WriteCloser
	stdout *bufio.Reader
}

// startHelper starts the test binary as a multi-threaded sleeper and waits
// until it is ready. It is killed at the end of the test.
func startHelper(t testing.TB) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=sleep")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, pid: cmd.Process.Pid, stdin: stdin, stdout: bufio.NewReader(out)}
	t.Cleanup(c.stop)
	line, err := c.stdout.ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("helper said %q, %v; want ready", line, err)
	}
	return c
}

// startSleep starts /bin/sleep, as uid when uid > 0.
func startSleep(t testing.TB, uid uint32) *child {
	t.Helper()
	cmd := exec.Command("sleep", "600")
	if uid > 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, pid: cmd.Process.Pid}
	t.Cleanup(c.stop)
	// Wait until exec has replaced the forked test binary, so that comm
	// and the credentials are sleep's.
	poll(t, "sleep to exec", func() bool {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", c.pid))
		return strings.TrimSpace(string(b)) == "sleep"
	})
	return c
}

func (c *child) stop() {
	if c.stdin != nil {
		c.stdin.Close()
	}
	c.cmd.Process.Kill()
	c.cmd.Wait()
}

func (c *child) target() string { return "pid:" + strconv.Itoa(c.pid) }

// tids lists the child's threads from /proc.
func (c *child) tids(t testing.TB) []int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", c.pid))
	if err != nil {
		t.Fatal(err)
	}
	var tids []int
	for _, e := range ents {
		n, _ := strconv.Atoi(e.Name())
		tids = append(tids, n)
	}
	return tids
}

// threadState is what a thread looks like from /proc and ioprio_get, read
// without the package's own code.
type threadState struct {
	nice, policy, rtprio int
	affinity             string
	ioprio               int
}

func (s threadState) String() string {
	return fmt.Sprintf("nice %d policy %d/%d cpus %s ioprio %#x", s.nice, s.policy, s.rtprio, s.affinity, s.ioprio)
}

func readThread(t testing.TB, pid, tid int) threadState {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/task/%d", pid, tid)
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	field := func(n int) int { // stat field n, counted from 1
		v, err := strconv.Atoi(f[n-3])
		if err != nil {
			t.Fatalf("%s/stat field %d: %v", dir, n, err)
		}
		return v
	}
	var s threadState
	s.nice, s.rtprio, s.policy = field(19), field(40), field(41)
	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
			s.affinity = strings.TrimSpace(v)
		}
	}
	r, _, e := unix.Syscall(unix.SYS_IOPRIO_GET, 1, uintptr(tid), 0)
	if e != 0 {
		t.Fatalf("ioprio_get(%d): %v", tid, e)
	}
	s.ioprio = int(r)
	return s
}

func oomScoreAdj(t testing.TB, pid int) string {
	return readFile(t, fmt.Sprintf("/proc/%d/oom_score_adj", pid))
}

// processConfig is a Config for the real /proc with c opted in.
func processConfig(t testing.TB, pids ...int) actuators.Config {
	cfg := actuators.DefaultConfig()
	cfg.JournalPath = filepath.Join(t.TempDir(), "journal")
	cfg.Scope.PIDs = pids
	cfg.Logger = testLogger(t)
	// Other tuners may run on a developer's machine; these tests are
	// about the knobs.
	cfg.RespectTuners = false
	return cfg
}

func allCPUs(t testing.TB) string {
	return readFile(t, "/sys/devices/system/cpu/online")
}

// TestProcessKnobs changes every per-thread knob and oom_score_adj of a
// real multi-threaded process, checks every thread through /proc and
// ioprio_get, then reverts, including a thread started after the change.
func TestProcessKnobs(t *testing.T) {
	needRoot(t)
	c := startHelper(t)
	before := map[int]threadState{}
	for _, tid := range c.tids(t) {
		before[tid] = readThread(t, c.pid, tid)
	}
	if len(before) < 3 {
		t.Fatalf("helper has %d threads; want 3 or more", len(before))
	}
	origOOM := oomScoreAdj(t, c.pid)
	lead := before[c.pid]
	cpu := "0"
	if lead.affinity == "0" {
		cpu = "1"
	}

	s := open(t, processConfig(t, c.pid))
	res := apply(t, s, actuators.Applied, plan(
		actuators.KnobAffinity, c.target(), cpu,
		actuators.KnobNice, c.target(), "-15",
		actuators.KnobIOPrio, c.target(), "be/6",
		actuators.KnobPolicy, c.target(), "batch",
		actuators.KnobOOMScoreAdj, c.target(), "300",
	))
	if res[1].Value != "-10" || res[1].Note == "" {
		t.Errorf("Apply(nice -15) = %q, note %q; want -10 clamped", res[1].Value, res[1].Note)
	}
	want := threadState{nice: -10, policy: 3, affinity: cpu, ioprio: 2<<13 | 6}
	for _, tid := range c.tids(t) {
		if got := readThread(t, c.pid, tid); got != want {
			t.Errorf("thread %d after Apply = %v; want %v", tid, got, want)
		}
	}
	if got := oomScoreAdj(t, c.pid); got != "300" {
		t.Errorf("oom_score_adj = %s; want 300", got)
	}
	// Another plan on top keeps the first originals.
	apply(t, s, actuators.Applied, plan(actuators.KnobNice, c.target(), "3", actuators.KnobPolicy, c.target(), "idle"))
	apply(t, s, actuators.Unchanged, plan(actuators.KnobNice, c.target(), "3"))

	// A thread started now inherits the changed values.
	n := len(c.tids(t))
	if _, err := io.WriteString(c.stdin, "spawn\n"); err != nil {
		t.Fatal(err)
	}
	if line, err := c.stdout.ReadString('\n'); err != nil || line != "spawned\n" {
		t.Fatalf("helper said %q, %v; want spawned", line, err)
	}
	if len(c.tids(t)) <= n {
		t.Fatalf("helper has %d threads after spawning, had %d", len(c.tids(t)), n)
	}

	rev := revert(t, s)
	if len(rev) != 5 {
		t.Errorf("Revert() = %s; want 5 reverts", statuses(rev))
	}
	for _, r := range rev {
		if r.Status != actuators.Applied {
			t.Errorf("Revert(%s) = %v, %v; want applied", r.Action.Knob, r.Status, r.Err)
		}
	}
	for _, tid := range c.tids(t) {
		want, ok := before[tid]
		if !ok {
			want = lead // a new thread gets the main thread's originals
		}
		if got := readThread(t, c.pid, tid); got != want {
			t.Errorf("thread %d after Revert = %v; want %v", tid, got, want)
		}
	}
	if got := oomScoreAdj(t, c.pid); got != origOOM {
		t.Errorf("oom_score_adj after Revert = %s; want %s", got, origOOM)
	}
}

// TestProcessThreadOriginals: threads that started with different values
// each get their own back.
func TestProcessThreadOriginals(t *testing.T) {
	needRoot(t)
	c := startHelper(t)
	tids := c.tids(t)
	odd := tids[len(tids)-1]
	if err := unix.Setpriority(unix.PRIO_PROCESS, odd, 4); err != nil {
		t.Fatal(err)
	}
	s := open(t, processConfig(t, c.pid))
	apply(t, s, actuators.Applied, plan(actuators.KnobNice, c.target(), "9"))
	for _, tid := range tids {
		if got := readThread(t, c.pid, tid).nice; got != 9 {
			t.Errorf("thread %d nice = %d; want 9", tid, got)
		}
	}
	revert(t, s)
	for _, tid := range tids {
		want := 0
		if tid == odd {
			want = 4
		}
		if got := readThread(t, c.pid, tid).nice; got != want {
			t.Errorf("thread %d nice after Revert = %d; want %d", tid, got, want)
		}
	}
}

// TestProcessRealtime: real-time classes need the opt-in.
func TestProcessRealtime(t *testing.T) {
	needRoot(t)
	c := startSleep(t, 0)
	s := open(t, processConfig(t, c.pid))
	res := s.Apply(context.Background(), plan(
		actuators.KnobPolicy, c.target(), "fifo/10",
		actuators.KnobIOPrio, c.target(), "rt/3"))
	for _, r := range res {
		if r.Status != actuators.Rejected || !errors.Is(r.Err, actuators.ErrRealtime) {
			t.Errorf("Apply(%s %s) = %v, %v; want rejected, ErrRealtime", r.Action.Knob, r.Action.Value, r.Status, r.Err)
		}
	}
	s.Close()

	cfg := processConfig(t, c.pid)
	cfg.AllowRealtime = true
	s = open(t, cfg)
	apply(t, s, actuators.Applied, plan(
		actuators.KnobPolicy, c.target(), "rr/10",
		actuators.KnobIOPrio, c.target(), "rt/3"))
	if got := readThread(t, c.pid, c.pid); got.policy != 2 || got.rtprio != 10 || got.ioprio != 1<<13|3 {
		t.Errorf("after Apply: %v; want policy 2/10, ioprio rt/3", got)
	}
	revert(t, s)
	if got := readThread(t, c.pid, c.pid); got.policy != 0 || got.rtprio != 0 || got.ioprio != 0 {
		t.Errorf("after Revert: %v; want normal, ioprio none", got)
	}
}

// TestProcessScope: what may never be touched, and what the scope admits.
func TestProcessScope(t *testing.T) {
	needRoot(t)
	root := startSleep(t, 0)
	user := startSleep(t, 1000)
	self := "pid:" + strconv.Itoa(os.Getpid())
	init := readThread(t, 1, 1)
	tests := []struct {
		name   string
		target string
		scope  func(*actuators.Config)
		want   actuators.Status
	}{
		{"pid 1", "pid:1", func(c *actuators.Config) { c.Scope.PIDs = []int{1} }, actuators.Rejected},
		{"kthreadd", "pid:2", func(c *actuators.Config) { c.Scope.PIDs = []int{2} }, actuators.Rejected},
		{"self", self, func(c *actuators.Config) { c.Scope.PIDs = []int{os.Getpid()} }, actuators.Rejected},
		{"root process", root.target(), func(c *actuators.Config) {}, actuators.Rejected},
		{"root process by name", root.target(), func(c *actuators.Config) { c.Scope.Names = []string{"sleep"} }, actuators.Applied},
		{"root process by uid", root.target(), func(c *actuators.Config) { c.Scope.UIDs = []uint32{0} }, actuators.Applied},
		{"user process", user.target(), func(c *actuators.Config) {}, actuators.Applied},
		{"user process, users off", user.target(), func(c *actuators.Config) { c.Scope.MaxUID = 0 }, actuators.Rejected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := processConfig(t)
			tt.scope(&cfg)
			s := open(t, cfg)
			res := s.Apply(context.Background(), plan(actuators.KnobNice, tt.target, "7"))
			if res[0].Status != tt.want {
				t.Fatalf("Apply(nice %s) = %v, %v; want %v", tt.target, res[0].Status, res[0].Err, tt.want)
			}
			if tt.want == actuators.Rejected && !errors.Is(res[0].Err, actuators.ErrOutOfScope) {
				t.Errorf("Apply(nice %s).Err = %v; want ErrOutOfScope", tt.target, res[0].Err)
			}
			revert(t, s)
		})
	}
	if got := readThread(t, 1, 1); got != init {
		t.Errorf("pid 1 = %v; want it untouched, %v", got, init)
	}
}

// TestProcessGone: a process that exits between plan and apply is
// skipped, and so is its revert.
func TestProcessGone(t *testing.T) {
	needRoot(t)
	c := startSleep(t, 0)
	s := open(t, processConfig(t, c.pid))
	apply(t, s, actuators.Applied, plan(actuators.KnobNice, c.target(), "5"))
	c.stop()
	res := s.Apply(context.Background(), plan(
		actuators.KnobNice, c.target(), "6",
		actuators.KnobOOMScoreAdj, c.target(), "100",
		actuators.KnobCgroupMember, c.target(), "background"))
	for _, r := range res {
		if r.Status != actuators.Skipped || !errors.Is(r.Err, actuators.ErrGone) {
			t.Errorf("Apply(%s, exited) = %v, %v; want skipped, ErrGone", r.Action.Knob, r.Status, r.Err)
		}
	}
	rev := revert(t, s)
	if len(rev) != 1 || rev[0].Status != actuators.Skipped {
		t.Errorf("Revert() = %s; want one skipped", statuses(rev))
	}
}

// TestProcessInventory lists a process's knobs, and the changed
// processes' in Inventory.
func TestProcessInventory(t *testing.T) {
	needRoot(t)
	c := startSleep(t, 0)
	s := open(t, processConfig(t, c.pid))
	ks, err := s.Process(context.Background(), c.pid)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, k := range ks {
		got[k.Name] = k.Value
		if !k.Writable {
			t.Errorf("Process(%d)[%s].Writable = false; want true (opted in)", c.pid, k.Name)
		}
	}
	want := map[string]string{
		actuators.KnobAffinity: allCPUs(t), actuators.KnobNice: "0", actuators.KnobIOPrio: "none",
		actuators.KnobPolicy: "normal", actuators.KnobOOMScoreAdj: oomScoreAdj(t, c.pid),
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("Process(%d)[%s] = %q; want %q", c.pid, k, got[k], v)
		}
	}
	if ks, err := s.Process(context.Background(), 1); err != nil || ks[0].Writable {
		t.Errorf("Process(1) = %v, %v; want knobs, not writable", ks, err)
	}
	apply(t, s, actuators.Applied, plan(actuators.KnobNice, c.target(), "2"))
	inv, err := s.Inventory(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, k := range inv {
		if k.Name == actuators.KnobNice && k.Target == c.target() {
			found = k.Value == "2"
		}
	}
	if !found {
		t.Errorf("Inventory() lacks %s nice=2", c.target())
	}
	revert(t, s)
}

// TestPermissionDenied runs the apply helper as an unprivileged user: it
// may not renice a root process nor write root's files, and each refusal
// is reported on its own while the rest of the plan applies.
func TestPermissionDenied(t *testing.T) {
	needRoot(t)
	victim := startSleep(t, 0)
	cfg, dir := fixture(t)
	// The unprivileged helper must reach the fixture, its binary and its
	// journal directory.
	for d := dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	bin := filepath.Join(dir, "actuators.test")
	copyBinary(t, bin)
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chown(data, 1000, 1000)
	bright := filepath.Join(dir, "sys/class/backlight/intel_backlight/brightness")
	os.Chmod(bright, 0o666)

	c := configJSON{
		Proc: "/proc", Sys: cfg.Sys, Dev: cfg.Dev, Run: cfg.Run, CgroupRoot: cfg.CgroupRoot, CgroupName: "gamesa",
		JournalPath: filepath.Join(data, "journal"), PIDs: []int{victim.pid},
		Plan: []string{
			actuators.KnobNice, victim.target(), "5",
			actuators.KnobGovernor, "cpu0", "performance",
			actuators.KnobBacklight, "intel_backlight", "5000",
			actuators.KnobOOMScoreAdj, victim.target(), "100",
		},
	}
	_, res := startApplyHelper(t, bin, 1000, c)
	want := []string{"denied", "denied", "applied", "denied"}
	for i, r := range res {
		if r.Status != want[i] {
			t.Errorf("helper Apply(%s %s) = %s (%s); want %s", r.Knob, r.Target, r.Status, r.Err, want[i])
		}
	}
	if got := readThread(t, victim.pid, victim.pid).nice; got != 0 {
		t.Errorf("victim nice = %d; want 0", got)
	}
	if got := readFile(t, bright); got != "5000" {
		t.Errorf("brightness = %s; want 5000", got)
	}
}

// copyBinary copies the test binary where another user can run it.
func copyBinary(t testing.TB, to string) {
	t.Helper()
	b, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// startApplyHelper starts the apply helper (the test binary at bin, as
// uid when uid > 0) and returns it, alive, with its results. It is killed
// at the end of the test at the latest.
func startApplyHelper(t testing.TB, bin string, uid uint32, c configJSON) (*exec.Cmd, []helperResult) {
	t.Helper()
	cmd := exec.Command(bin, "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=apply", "GAMESA_ACTUATORS_CONFIG="+toJSON(c))
	if uid > 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	var res []helperResult
	sc := bufio.NewScanner(out)
	for sc.Scan() && sc.Text() != "applied" {
		var r helperResult
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("helper printed %q: %v", sc.Text(), err)
		}
		res = append(res, r)
	}
	if len(res) != len(c.Plan)/3 {
		t.Fatalf("helper reported %d results for %d actions", len(res), len(c.Plan)/3)
	}
	return cmd, res
}
