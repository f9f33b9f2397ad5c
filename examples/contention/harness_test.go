package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/krystalstack/gamesa/examples/contention/internal/measure"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

func TestParseStat(t *testing.T) {
	// A command name with spaces and parentheses, as a process may set.
	line := "4242 (my (odd) game) S 17 4242 4242 0 -1 4194560 100 0 0 0 5 3 0 0 30 10 2 0 98765 1000000 200 " +
		"18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
	st, err := parseStat(line)
	if err != nil {
		t.Fatal(err)
	}
	want := stat{comm: "my (odd) game", ppid: 17, pgrp: 4242, nice: 10, cpuTicks: 8, startTime: 98765}
	if st != want {
		t.Errorf("parseStat = %+v; want %+v", st, want)
	}
	for _, bad := range []string{"", "4242 no name", "1 (x) S 1 2", "1 (x) S x 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0"} {
		if _, err := parseStat(bad); err == nil {
			t.Errorf("parseStat(%q) succeeded; want an error", bad)
		}
	}
}

func TestReadProcStateOfSelf(t *testing.T) {
	st, err := readProcState(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	nice, err := syscall.Getpriority(syscall.PRIO_PROCESS, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The raw getpriority syscall returns 20 - nice.
	if st.PID != os.Getpid() || st.CPUs == "" || st.Nice != 20-nice {
		t.Errorf("readProcState(self) = %+v; want this pid, a CPU list and nice %d", st, 20-nice)
	}
}

func TestParseCPULine(t *testing.T) {
	got, err := parseCPULine("cpu  100 5 50 1000 20 3 2 1 7 0")
	if err != nil || got != (machineTicks{busy: 161, total: 1181}) {
		t.Errorf("parseCPULine = %+v, %v; want busy 161 of 1181", got, err)
	}
	for _, bad := range []string{"", "cpu0 1 2 3 4 5 6 7 8", "cpu 1 2 3", "cpu 1 2 3 x 5 6 7 8"} {
		if _, err := parseCPULine(bad); err == nil {
			t.Errorf("parseCPULine(%q) succeeded; want an error", bad)
		}
	}
}

func TestOtherCPUs(t *testing.T) {
	a := cpuSample{machine: machineTicks{busy: 1000, total: 5000}, ours: 600}
	// 200 ticks of wall time on 2 CPUs (400 in all), all busy: 300 of
	// them the run's, 100 someone else's, half a CPU.
	b := cpuSample{machine: machineTicks{busy: 1400, total: 5400}, ours: 900}
	if got := otherCPUs(a, b, 2); got != 0.5 {
		t.Errorf("otherCPUs = %v; want 0.5", got)
	}
	if got := otherCPUs(a, a, 2); got != 0 {
		t.Errorf("otherCPUs over no time = %v; want 0", got)
	}
}

// FuzzParseStat: /proc/<pid>/stat is the kernel's, but a command name is
// whatever the process chose; no input may panic the parser, nor the
// /proc/stat one.
func FuzzParseStat(f *testing.F) {
	f.Add("1 (init) S 0 1 1 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0 0 0 0")
	f.Add("2 ()) S 0 1 1 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 5")
	f.Add("3 (a) (b) R")
	f.Add("cpu  100 5 50 1000 20 3 2 1 7 0")
	f.Fuzz(func(t *testing.T, s string) {
		st, err := parseStat(s)
		if err == nil && strings.Count(s, ")") == 0 {
			t.Fatalf("parseStat(%q) = %+v without a name in parentheses", s, st)
		}
		_, _ = parseCPULine(s) // must not panic; the counters may be anything

	})
}

func TestStatusField(t *testing.T) {
	status := "Name:\tframeloop\nCpus_allowed:\t3\nCpus_allowed_list:\t0-1\nMems_allowed_list:\t0\n"
	if v, ok := statusField(status, "Cpus_allowed_list"); !ok || v != "0-1" {
		t.Errorf("Cpus_allowed_list = %q, %v; want 0-1", v, ok)
	}
	if _, ok := statusField(status, "Cpus"); ok {
		t.Error("a key prefix matched")
	}
}

// TestStopKillsTheGroup starts a shell whose child ignores SIGTERM: stop
// ends the leader with SIGTERM and the child with its group.
func TestStopKillsTheGroup(t *testing.T) {
	cmd := exec.Command("sh", "-c", `sh -c 'trap "" TERM; echo $$; exec sleep 600' & wait`)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p, err := startProc("shell", cmd)
	if err != nil {
		t.Fatal(err)
	}
	defer p.kill()
	var child int
	if _, err := fmt.Fscan(stdout, &child); err != nil {
		t.Fatalf("reading the child's pid: %v", err)
	}
	_ = p.stop(10 * time.Second) // sh ends on SIGTERM with a non-zero status
	if p.running() {
		t.Error("the leader survived stop")
	}
	// Orphaned by the shell, the child is reaped by init: gone, or a
	// zombie for a moment, once SIGKILL has reached it.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		state := stateOf(child)
		if state == "?" || strings.HasPrefix(state, "Z") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the group's child %d survived stop (state %q)", child, state)
		}
	}
	if err := p.stop(time.Second); err != p.err {
		t.Errorf("a second stop returned %v; want the first's %v", err, p.err)
	}
}

// stateOf is /proc/<pid>/stat from field 3 (the state) on, "?" when the
// process is gone.
func stateOf(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "?"
	}
	s := string(b)
	return strings.TrimSpace(s[strings.LastIndexByte(s, ')')+1:])
}

func TestStartProcNeedsAGroup(t *testing.T) {
	if _, err := startProc("true", exec.Command("true")); err == nil {
		t.Error("startProc without Setpgid succeeded; want an error")
	}
}

func TestChooseIdentity(t *testing.T) {
	self := os.Getuid()
	id, err := chooseIdentity(-1)
	switch {
	case self == 0 && (err != nil || id.uid != minScopeUID || !id.switched):
		t.Errorf("as root: %+v, %v; want uid %d, switched", id, err, minScopeUID)
	case self != 0 && self >= minScopeUID && self <= maxScopeUID && (err != nil || id.switched):
		t.Errorf("as uid %d: %+v, %v; want yourself", self, id, err)
	}
	if _, err := chooseIdentity(0); err == nil {
		t.Error("uid 0 accepted; root's processes are out of the agent's scope")
	}
	if self != 0 {
		if _, err := chooseIdentity(self + 1); err == nil {
			t.Error("another user's uid accepted without root")
		}
	}
}

func TestCopyLogFindsTheReadyLine(t *testing.T) {
	log := `{"msg":"starting"}` + "\nnot json\n" +
		`{"msg":"node ready","grpc":"127.0.0.1:1234","http":"127.0.0.1:5678"}` + "\n" +
		`{"msg":"node ready","grpc":"127.0.0.1:9","http":"127.0.0.1:9"}` + "\n"
	var w bytes.Buffer
	ready := make(chan [2]string, 1)
	copyLog(strings.NewReader(log), &w, ready)
	if got := <-ready; got != [2]string{"127.0.0.1:1234", "127.0.0.1:5678"} {
		t.Errorf("ready addresses %v; want the first ready line's", got)
	}
	if w.String() != log {
		t.Errorf("log copied as %q; want %q", w.String(), log)
	}
}

func TestPlanWatchKeepsDistinctOutcomes(t *testing.T) {
	w := &planWatch{index: map[[4]string]int{}}
	result := func(knob, target, value, status string) *gamesav1.ActionResult {
		return &gamesav1.ActionResult{Action: &gamesav1.Action{Knob: knob, Target: target, Value: value}, Status: status}
	}
	t0 := time.Unix(1000, 0)
	w.record(&gamesav1.GetPlanResponse{Results: []*gamesav1.ActionResult{
		result(knobNice, "pid:1", "-10", statusApplied), result(knobAffinity, "pid:2", "0", statusApplied)}}, t0)
	w.record(&gamesav1.GetPlanResponse{Results: []*gamesav1.ActionResult{
		result(knobNice, "pid:1", "-10", statusUnchanged), result(knobAffinity, "pid:2", "0", statusApplied)}}, t0.Add(time.Second))
	got := w.results("pid:1")
	if len(got) != 2 || got[0].Status != statusApplied || got[1].Status != statusUnchanged || !got[1].First.Equal(t0.Add(time.Second)) {
		t.Errorf("pid:1 outcomes %+v; want applied then unchanged, each once", got)
	}
	if all := w.results(""); len(all) != 3 {
		t.Errorf("%d outcomes; want 3 distinct", len(all))
	}
	if none := w.results("pid:3"); none == nil || len(none) != 0 {
		t.Errorf("outcomes of an unknown target: %#v; want an empty list", none)
	}
}

func TestSummaryAndTable(t *testing.T) {
	results := []runResult{
		{Rep: 1, Mode: modeObserve, Frames: measure.FrameStats{FPS: 30, P99FrameMS: 50, Missed: 0.5}, HogRate: 1000},
		{Rep: 1, Mode: modeEnforce, Frames: measure.FrameStats{FPS: 60, P99FrameMS: 16.7, Missed: 0}, HogRate: 700},
		{Rep: 2, Mode: modeEnforce, Frames: measure.FrameStats{FPS: 58, P99FrameMS: 33.3, Missed: 0.02}, HogRate: 600},
		{Rep: 2, Mode: modeObserve, Frames: measure.FrameStats{FPS: 32, P99FrameMS: 50, Missed: 0.45}, HogRate: 1000},
		{Rep: 3, Mode: modeObserve, Frames: measure.FrameStats{FPS: 28, P99FrameMS: 66.7, Missed: 0.6}, HogRate: 800},
		{Rep: 3, Mode: modeEnforce, Frames: measure.FrameStats{FPS: 59, P99FrameMS: 16.7, Missed: 0.01}, HogRate: 600},
	}
	fillHogShares(results)
	if results[1].HogShare != 0.7 || results[0].HogShare != 1 || results[5].HogShare != 0.75 {
		t.Errorf("hog shares %v, %v, %v; want 1, 0.7, 0.75", results[0].HogShare, results[1].HogShare, results[5].HogShare)
	}
	sums := summarize(results)
	if len(sums) != 2 || sums[0].Mode != modeObserve || sums[1].FPS != (spread{Median: 59, Min: 58, Max: 60}) {
		t.Fatalf("summaries %+v; want observe first, enforce fps 59 (58–60)", sums)
	}
	if g, ok := gain(sums); !ok || g < 0.96 || g > 0.97 {
		t.Errorf("gain = %v, %v; want 59/30 - 1", g, ok)
	}
	var out bytes.Buffer
	if err := printTable(&out, sums); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"59.0 (58.0–60.0)", "50.0 ms (50.0–66.7)", "1.0% (0.0–2.0)", "70% (60–75)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}

func TestSpreadOf(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want spread
	}{
		{nil, spread{}},
		{[]float64{3}, spread{3, 3, 3}},
		{[]float64{4, 1, 3, 2}, spread{2.5, 1, 4}},
		{[]float64{5, 1, 9}, spread{5, 1, 9}},
	} {
		if got := spreadOf(tc.in); got != tc.want {
			t.Errorf("spreadOf(%v) = %+v; want %+v", tc.in, got, tc.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	good := defaultConfig()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	good.gamesa, good.frameloop, good.hog = exe, exe, exe
	if err := good.validate(); err != nil {
		t.Fatalf("the defaults with real binaries: %v", err)
	}
	for name, mutate := range map[string]func(*config){
		"no reps":            func(c *config) { c.reps = 0 },
		"warm-up too long":   func(c *config) { c.warmup = c.duration },
		"too few hogs":       func(c *config) { c.hogs = 1 },
		"work over budget":   func(c *config) { c.work = 1 },
		"unknown launch":     func(c *config) { c.launch = "sideways" },
		"missing gamesa bin": func(c *config) { c.gamesa = "/nonexistent/gamesa" },
	} {
		c := good
		mutate(&c)
		if err := c.validate(); err == nil {
			t.Errorf("%s: validate succeeded; want an error", name)
		}
	}
	if err := (config{}).validate(); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an empty config: %v; want every problem, a missing binary among them", err)
	}
}
