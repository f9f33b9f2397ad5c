package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/krystalstack/gamesa/internal/cpulist"
	"github.com/krystalstack/gamesa/optimizer/coord"
)

// The knobs the test checks on the live processes.
const (
	knobAffinity = "process.affinity"
	knobNice     = "process.nice"
)

// How long the agent gets to plan and apply: a registration acts at
// once, the hogs' moves after the policy's confirmation ticks, all on a
// loaded 2-core machine.
const applyTimeout = 45 * time.Second

// TestContentionShortForm is the benchmark's CI form: one short run in
// each mode with 2 hogs, asserting only what the agent did, never how
// fast anything ran. In observe mode it plans for the game and changes
// nothing; in enforce mode every action its plan holds for the game and
// the hogs is applied, the live processes keep the CPUs (an affinity of
// their own, or the cpuset of the group they were moved into) and nice
// values it applied, and the game's CPUs are not the hogs'. (Which nice
// values it plans depends on where they start: a hog already at or below
// the demotion keeps its own.)
func TestContentionShortForm(t *testing.T) {
	b := testBench(t)
	self, err := readProcState(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	t.Run("observe", func(t *testing.T) {
		s := startTestSession(ctx, t, b, modeObserve)
		// The agent has planned for the game once it shows what enforce
		// mode would do to it.
		s.waitFor(t, "a would-apply action for the game", func() (bool, string) {
			got := s.watch.results(s.gameTarget())
			return slices.ContainsFunc(got, func(r seenResult) bool { return r.Status == statusWouldApply }), fmt.Sprint(got)
		})
		game, hogs, err := s.states()
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range append(hogs, game) {
			if st.CPUs != self.CPUs || st.Nice != self.Nice {
				t.Errorf("observe mode changed pid %d: cpus %s nice %d; started with cpus %s nice %d",
					st.PID, st.CPUs, st.Nice, self.CPUs, self.Nice)
			}
		}
		for _, r := range s.watch.results("") {
			if r.Status == statusApplied {
				t.Errorf("observe mode applied %s %s=%s", r.Target, r.Knob, r.Value)
			}
		}
		if err := s.stop(); err != nil {
			t.Error(err)
		}
	})

	t.Run("enforce", func(t *testing.T) {
		s := startTestSession(ctx, t, b, modeEnforce)
		targets := []string{s.gameTarget()}
		for i := range s.hogs {
			targets = append(targets, s.hogTarget(i))
		}
		var applied map[string]map[string]string // target → knob → value
		s.waitFor(t, "the plan applied to the game and every hog", func() (bool, string) {
			applied = s.appliedValues(targets)
			live, why := s.liveMatches(t, applied)
			return live && len(applied[s.gameTarget()]) > 0 && allHave(applied, targets, knobAffinity), why
		})
		gameCPUs := cpuSet(t, applied[s.gameTarget()][knobAffinity])
		for _, target := range targets[1:] {
			hogCPUs := cpuSet(t, applied[target][knobAffinity])
			if slices.ContainsFunc(hogCPUs, func(c int) bool { return slices.Contains(gameCPUs, c) }) {
				t.Errorf("hog %s runs on CPUs %v, the game on %v; want them apart", target, hogCPUs, gameCPUs)
			}
		}
		// Every action the plan held for them took, whatever the knob
		// (a person's own agent may not raise priorities: denied).
		for _, target := range targets {
			for _, r := range s.watch.results(target) {
				ok := r.Status == statusApplied || r.Status == statusUnchanged || (r.Status == statusDenied && os.Geteuid() != 0)
				if !ok {
					t.Errorf("%s %s=%s: %s (%s)", target, r.Knob, r.Value, r.Status, r.Note)
				}
			}
		}
		if err := s.stop(); err != nil {
			t.Error(err)
		}
	})
}

// testBench builds the binaries into a directory the game's user can
// reach and calibrates a light game (a quarter of the frame budget).
// It skips when no user in the actuators' scope can run the processes, or
// when this gamesa lacks `run` or `explain`.
func testBench(t *testing.T) *bench {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the benchmark runs Linux processes")
	}
	id, err := chooseIdentity(-1)
	if err != nil {
		t.Skipf("no user to run the game as: %v (run as root, or as a user with uid %d..%d)", err, minScopeUID, maxScopeUID)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build the binaries with")
	}
	dir, err := os.MkdirTemp("", "gamesa-contention-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bins := map[string]string{}
	for _, pkg := range []string{"cmd/gamesa", "examples/contention/frameloop", "examples/contention/hog"} {
		out := filepath.Join(dir, filepath.Base(pkg))
		cmd := exec.Command(goBin, "build", "-o", out, "github.com/krystalstack/gamesa/"+pkg)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, b)
		}
		bins[filepath.Base(pkg)] = out
	}
	ctx := context.Background()
	for _, command := range []string{"run", "explain"} {
		if !hasCommand(ctx, bins["gamesa"], command) {
			t.Skipf("this gamesa has no `%s` command yet: the short form needs the game registered and the policy's plan", command)
		}
	}
	iters, err := calibrate(ctx, bins["frameloop"], framePeriod/4)
	if err != nil {
		t.Fatal(err)
	}
	return &bench{gamesa: bins["gamesa"], frameloop: bins["frameloop"], hog: bins["hog"], id: id, viaRun: true,
		explain: true, iters: iters, hogs: 2, scratch: dir}
}

// testSession is a session that logs where its files are when the test
// fails and is stopped when the test ends.
type testSession struct{ *session }

func startTestSession(ctx context.Context, t *testing.T, b *bench, mode string) testSession {
	t.Helper()
	out := t.TempDir()
	s, err := b.startSession(ctx, mode, mode, out)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			if log, err := os.ReadFile(filepath.Join(out, "agent.log")); err == nil {
				t.Logf("the %s agent's log:\n%s", mode, tail(string(log), 40))
			}
		}
	})
	return testSession{s}
}

// waitFor polls cond until it holds, failing the test with cond's last
// account when applyTimeout passes first.
func (s testSession) waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(applyTimeout)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s in vain: %s", applyTimeout, what, why)
		}
		time.Sleep(100 * time.Millisecond) // polling, not an assertion
	}
}

// appliedValues maps each target to the latest value of each process
// knob the agent reported applied (or already in force after applying).
// A process the agent moved into a group whose cpuset it applied gets
// that cpuset as its affinity: where the group's cpuset can be set, the
// plan leaves its members' affinity to it (the kernel sets a process's
// affinity to its cpuset's CPUs when it joins).
func (s testSession) appliedValues(targets []string) map[string]map[string]string {
	took := func(r seenResult) bool { return r.Status == statusApplied || r.Status == statusUnchanged }
	cpusets := map[string]string{} // group → its cpuset
	for _, r := range s.watch.results("") {
		if r.Knob == coord.KnobCgroupCPUSet && took(r) {
			cpusets[r.Target] = r.Value
		}
	}
	out := map[string]map[string]string{}
	for _, target := range targets {
		out[target] = map[string]string{}
		group := ""
		for _, r := range s.watch.results(target) {
			switch {
			case !took(r):
			case r.Knob == knobAffinity || r.Knob == knobNice:
				out[target][r.Knob] = r.Value
			case r.Knob == coord.KnobCgroupMember:
				group = r.Value
			}
		}
		if _, own := out[target][knobAffinity]; !own && cpusets[group] != "" {
			out[target][knobAffinity] = cpusets[group]
		}
	}
	return out
}

// liveMatches reports whether every applied value holds on the live
// process, and what differs.
func (s testSession) liveMatches(t *testing.T, applied map[string]map[string]string) (bool, string) {
	var diffs []string
	for target, knobs := range applied {
		pid, _ := strconv.Atoi(strings.TrimPrefix(target, "pid:"))
		st, err := readProcState(pid)
		if err != nil {
			t.Fatalf("reading %s: %v", target, err)
		}
		if v, ok := knobs[knobAffinity]; ok && !slices.Equal(cpuSet(t, v), cpuSet(t, st.CPUs)) {
			diffs = append(diffs, fmt.Sprintf("%s: affinity %s applied, %s live", target, v, st.CPUs))
		}
		if v, ok := knobs[knobNice]; ok && v != strconv.Itoa(st.Nice) {
			diffs = append(diffs, fmt.Sprintf("%s: nice %s applied, %d live", target, v, st.Nice))
		}
	}
	return len(diffs) == 0, fmt.Sprintf("applied %v; differences %v", applied, diffs)
}

func allHave(applied map[string]map[string]string, targets []string, knob string) bool {
	for _, target := range targets {
		if _, ok := applied[target][knob]; !ok {
			return false
		}
	}
	return true
}

func cpuSet(t *testing.T, list string) []int {
	t.Helper()
	cpus, err := cpulist.Parse(list)
	if err != nil {
		t.Fatalf("CPU list %q: %v", list, err)
	}
	return cpus
}

func tail(s string, lines int) string {
	all := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(all[max(0, len(all)-lines):], "\n")
}
