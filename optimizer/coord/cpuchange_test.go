package coord_test

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/krystalstack/gamesa/optimizer/coord"
)

// withSecondGame adds an emulator beside the scenario's processes: a
// second game app, so that the busiest game, the foreground of a
// machine without registrations, can change with CPU use alone.
func withSecondGame(in coord.Input) coord.Input {
	in.Processes = append(slices.Clip(in.Processes),
		coord.Process{PID: 6100, PPID: 900, Name: "retroarch", Cmdline: "retroarch -L snes9x_libretro.so", CPUPercent: 150, UID: 1000},
		coord.Process{PID: 6101, PPID: 6100, Name: "retroarch", Cmdline: "retroarch --audio", CPUPercent: 20, UID: 1000})
	return in
}

// cpuLevels are app CPU uses at and around what a plan reads of them:
// the hog thresholds (Config.HogKeepCPUPercent 5, HogCPUPercent 20) and
// whole CPUs (an encoder's reservation), with the fallback's threshold
// (Config.FallbackMinCPUPercent 1) and quiet and busy levels beside.
var cpuLevels = []float64{0, 0.5, 1, 4.999, 5, 5.001, 19.999, 20, 20.001, 60, 99.9, 100, 100.1, 180, 200.5, 250}

// cpuChange changes CPU use alone, as the ticks of a live machine do:
// every busy process's within a quarter of its level in base, or one
// app's use to one of cpuLevels, or one game's to just above or below
// another game's, which makes it the busiest or not. PrevHogs are the last decision's hogs, as the policy
// pipeline passes them, or now and then none.
func cpuChange(rng *rand.Rand, in coord.Input, base []float64, last coord.Decision) coord.Input {
	ps := slices.Clone(in.Processes)
	pos := make(map[int32]int, len(ps))
	for i, p := range ps {
		pos[p.PID] = i
	}
	// setApp puts cpu on one of a's processes, or spreads it as a's use
	// is spread now (which keeps a game's busiest process, its name).
	setApp := func(a coord.App, cpu float64, spread bool) {
		for _, pid := range a.PIDs {
			p := &ps[pos[pid]]
			p.CPUPercent = p.CPUPercent * cpu / a.CPUPercent
			if !spread || !(a.CPUPercent > 0) {
				p.CPUPercent = 0
			}
		}
		if !spread || !(a.CPUPercent > 0) {
			ps[pos[a.PIDs[rng.IntN(len(a.PIDs))]]].CPUPercent = cpu
		}
	}
	switch rng.IntN(6) {
	case 0, 1:
		for i, cpu := range base {
			ps[i].CPUPercent = cpu * (0.75 + 0.5*rng.Float64())
		}
	case 2, 3:
		setApp(last.Apps[rng.IntN(len(last.Apps))], cpuLevels[rng.IntN(len(cpuLevels))], rng.IntN(2) == 0)
	case 4:
		var games []coord.App
		for _, a := range last.Apps {
			if a.Class == coord.ClassGame {
				games = append(games, a)
			}
		}
		if len(games) > 1 {
			i := rng.IntN(len(games))
			j := (i + 1 + rng.IntN(len(games)-1)) % len(games)
			setApp(games[i], games[j].CPUPercent+[]float64{-1, 0, 1}[rng.IntN(3)], true)
		}
	case 5:
		in.PrevHogs = nil
		in.Processes = ps
		return in
	}
	in.PrevHogs = last.Hogs
	in.Processes = ps
	return in
}

// sameDecision reports whether two decisions are the same to the last
// bit: the rendering, the actions with their reasons, and the apps (CPU
// sums, memory and members), hogs, split and notes beside it.
func sameDecision(got, want coord.Decision) bool {
	return render(got) == render(want) && sameActions(got, want) && reflect.DeepEqual(got.Apps, want.Apps) &&
		slices.Equal(got.Hogs, want.Hogs) && slices.Equal(got.FirstCPUs, want.FirstCPUs) &&
		slices.Equal(got.RestCPUs, want.RestCPUs) && slices.Equal(got.Notes, want.Notes)
}

// TestCPUChangesMatchFreshCoordinator plans long runs of ticks in which
// only CPU use changes, as on a live machine, with one long-lived
// Coordinator (whose plan holds while the CPU use moves no decision) and
// a fresh one per tick, with and without a fallback, on every scenario
// and on two with a second game: the decisions must be the same as they
// cross the hog thresholds, change the busiest game (the foreground),
// the encoders' reservation and the render + compile split, and now and
// then a registration comes or goes. The long-lived Coordinator plans
// through PlanShared (whose apps it may write again) and now and then
// through Plan, whose decision must stay as it was once later ticks are
// planned.
func TestCPUChangesMatchFreshCoordinator(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "scenarios", "*.json"))
	type run struct {
		name string
		in   coord.Input
	}
	var runs []run
	for _, path := range paths {
		runs = append(runs, run{filepath.Base(path), loadScenario(t, path)})
	}
	for _, name := range []string{"game-voice-desktop.json", "stream-game-voice-desktop.json"} {
		runs = append(runs, run{name + " + retroarch", withSecondGame(loadScenario(t, filepath.Join("testdata", "scenarios", name)))})
	}
	rng := rand.New(rand.NewPCG(17, 29))
	for _, r := range runs {
		for _, fb := range []*flipFallback{nil, {class: coord.ClassCompiler}} {
			var fallback coord.Fallback
			if fb != nil {
				fallback = fb
			}
			long := mustNew(t, fallback)
			in := r.in
			regs := in.Registrations
			base := make([]float64, len(in.Processes))
			for i, p := range in.Processes {
				base[i] = p.CPUPercent
			}
			var kept coord.Decision // the last of Plan's
			var keptText, keptApps string
			for tick := range 150 {
				var got coord.Decision
				if rng.IntN(4) == 0 {
					got = long.Plan(in)
					kept, keptText, keptApps = got, render(got), fmt.Sprint(got.Apps)
				} else {
					var settings []coord.Setting
					got, settings, _ = long.PlanShared(in)
					got.Actions = settingsAsActions(settings)
				}
				want := mustNew(t, fallback).Plan(in)
				if !sameDecision(got, want) {
					t.Fatalf("%s (fallback %v) tick %d: long-lived Plan differs from a fresh one:\n%s\nhogs %v\nvs\n%s\nhogs %v",
						r.name, fb != nil, tick, render(got), got.Hogs, render(want), want.Hogs)
				}
				if kept.Apps != nil && (render(kept) != keptText || fmt.Sprint(kept.Apps) != keptApps) {
					t.Fatalf("%s tick %d: a decision of Plan changed", r.name, tick)
				}
				in = cpuChange(rng, in, base, got)
				if len(regs) > 0 && rng.IntN(20) == 0 {
					// A registration comes or goes: another foreground.
					if len(in.Registrations) > 0 {
						in.Registrations = nil
					} else {
						in.Registrations = regs
					}
				}
			}
		}
	}
}

// TestCPUChangesKeepPlan plans a game beside voice chat and a busy
// desktop whose CPU use moves a little every tick, crossing no
// threshold, through PlanShared: the plan holds (the very settings of
// the first tick, its serial), and the apps are the first tick's, with
// each tick's sums written in. A Plan in between gets apps of its own,
// which the next PlanShared leaves as they are. A hog that quietens
// but stays one keeps the plan; a new hog makes a new plan.
func TestCPUChangesKeepPlan(t *testing.T) {
	in := withSecondGame(loadScenario(t, filepath.Join("testdata", "scenarios", "game-voice-desktop.json")))
	c := mustNew(t, nil)
	first, _, _ := c.PlanShared(in)
	in.PrevHogs = first.Hogs
	first, settings, serial := c.PlanShared(in)
	rng := rand.New(rand.NewPCG(5, 8))
	for tick := range 20 {
		in.Processes = slices.Clone(in.Processes)
		for i := range in.Processes {
			in.Processes[i].CPUPercent *= 1 + 0.01*rng.Float64() // up a little: no threshold crossed from below
		}
		in.PrevHogs = first.Hogs
		d, again, againSerial := c.PlanShared(in)
		if againSerial != serial || !sameList(again, settings) {
			t.Fatalf("tick %d: CPU use that crossed no threshold made a new plan (serial %d, was %d)", tick, againSerial, serial)
		}
		var sum float64
		for _, pid := range d.Apps[d.Foreground].PIDs {
			sum += in.Processes[slices.IndexFunc(in.Processes, func(p coord.Process) bool { return p.PID == pid })].CPUPercent
		}
		if got := d.Apps[d.Foreground].CPUPercent; got != sum {
			t.Fatalf("tick %d: the foreground's CPU use is %v; its processes sum to %v", tick, got, sum)
		}
		fresh := mustNew(t, nil).Plan(in)
		d.Actions = settingsAsActions(again)
		if !sameDecision(d, fresh) {
			t.Fatalf("tick %d: the plan held differs from a fresh one:\n%s\nvs\n%s", tick, render(d), render(fresh))
		}
		if &d.Apps[0] != &first.Apps[0] {
			t.Fatalf("tick %d: PlanShared made new apps for new sums", tick)
		}
	}
	kept := c.Plan(in)
	keptApps := fmt.Sprint(kept.Apps)
	in.Processes = slices.Clone(in.Processes)
	in.Processes[0].CPUPercent++
	if d, _, _ := c.PlanShared(in); &d.Apps[0] == &kept.Apps[0] {
		t.Fatal("PlanShared wrote the apps of a Plan")
	}
	if fmt.Sprint(kept.Apps) != keptApps {
		t.Fatal("the apps of a Plan changed")
	}
	// A hog that quietens below HogCPUPercent, not below
	// HogKeepCPUPercent, stays one: the plan holds.
	if len(first.Hogs) == 0 {
		t.Fatal("the scenario has no hog")
	}
	in.Processes = slices.Clone(in.Processes)
	for i := range in.Processes {
		if in.Processes[i].PID == first.Hogs[0] {
			in.Processes[i].CPUPercent = 10
		} else if slices.Contains(appOf(first, first.Hogs[0]).PIDs, in.Processes[i].PID) {
			in.Processes[i].CPUPercent = 0
		}
	}
	if d, _, next := c.PlanShared(in); next != serial || !slices.Equal(d.Hogs, first.Hogs) {
		t.Fatalf("a hog at 10%%: serial %d (was %d), hogs %v (were %v); want the plan held", next, serial, d.Hogs, first.Hogs)
	}
	// A busy app that crosses HogCPUPercent is a new hog: a new plan.
	i := slices.IndexFunc(in.Processes, func(p coord.Process) bool { return p.Name == "bash" })
	in.Processes[i].CPUPercent = 50
	d, _, next := c.PlanShared(in)
	if next == serial || len(d.Hogs) <= len(first.Hogs) {
		t.Fatalf("a new hog: serial %d (was %d), hogs %v (were %v); want a new plan with one more hog", next, serial, d.Hogs, first.Hogs)
	}
}

// appOf returns d's app of root pid root.
func appOf(d coord.Decision, root int32) coord.App {
	for _, a := range d.Apps {
		if a.Root == root {
			return a
		}
	}
	return coord.App{}
}
