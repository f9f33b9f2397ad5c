package coord_test

import (
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/krystalstack/gamesa/optimizer/coord"
)

// flipFallback is a Fallback whose answer the test changes between
// ticks, as the workload classifier's changes with the machine's load.
type flipFallback struct{ class coord.Class }

func (f *flipFallback) ClassifyApp(*coord.App, []coord.Process) (coord.Class, bool) {
	return f.class, f.class != coord.ClassUnknown
}

// steadyChange changes what changes between the ticks of a machine whose
// process list holds still, one thing at a time or nothing at all: CPU
// use, memory, nice values, the inputs beside the list, the fallback's
// answer, and now and then a parent.
func steadyChange(rng *rand.Rand, in coord.Input, last coord.Decision, fb *flipFallback, topos []coord.Topology) coord.Input {
	ps := slices.Clone(in.Processes)
	pick := func() *coord.Process { return &ps[rng.IntN(len(ps))] }
	switch rng.IntN(11) {
	case 0, 1: // the same tick again
	case 2:
		pick().CPUPercent = float64(rng.IntN(200))
	case 3:
		pick().RSSBytes += 4096
	case 4:
		pick().Nice = int32(rng.IntN(40) - 20)
	case 5:
		in.PrevHogs = [][]int32{nil, last.Hogs, {ps[0].PID}}[rng.IntN(3)]
	case 6:
		p := pick()
		in.NiceBefore = []coord.PIDNice{{PID: p.PID, Nice: int32(rng.IntN(40) - 20)}}
	case 7:
		in.CPUSetGroups = [][]string{nil, {coord.GroupBackground}, {coord.GroupForeground, coord.GroupBackground}}[rng.IntN(3)]
	case 8:
		in.Topology = topos[rng.IntN(len(topos))]
	case 9:
		fb.class = []coord.Class{coord.ClassUnknown, coord.ClassCompiler, coord.ClassGame}[rng.IntN(3)]
	case 10:
		in.Registrations = slices.Clone(in.Registrations)
		p := pick()
		in.Registrations = append(in.Registrations, coord.Registration{PID: p.PID, Class: coord.ClassGame,
			Priority: int32(rng.IntN(2)), At: time.Unix(int64(rng.IntN(100)), 0)})
		if rng.IntN(2) == 0 {
			pick().PPID = 0 // an orphan the grouping must see
		}
	}
	in.Processes = ps
	return in
}

// TestSteadyTicksMatchFreshCoordinator plans long runs of ticks that
// keep the process list, as a steady machine's do, with one long-lived
// Coordinator (which then reuses its grouping, hands out the last apps
// again and repeats its last plan where it can) and a fresh one per
// tick: the decisions must be the same, and a decision must stay as it
// was once later ticks are planned.
func TestSteadyTicksMatchFreshCoordinator(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "scenarios", "*.json"))
	topos := []coord.Topology{loadTopology(t, "desktop-8c16t"), loadTopology(t, "vm-2cpu"), loadTopology(t, "hybrid-12700k")}
	rng := rand.New(rand.NewPCG(21, 4))
	for _, path := range paths {
		fb := &flipFallback{}
		long := mustNew(t, fb)
		in := loadScenario(t, path)
		var last coord.Decision
		var lastText string
		for tick := range 60 {
			got := long.Plan(in)
			if last.Apps != nil && render(last) != lastText {
				t.Fatalf("%s tick %d: the previous decision changed:\n%s\nwas\n%s", path, tick, render(last), lastText)
			}
			want := mustNew(t, fb).Plan(in)
			if render(got) != render(want) || !sameActions(got, want) {
				t.Fatalf("%s tick %d: long-lived Plan differs from a fresh one:\n%s\nvs\n%s", path, tick, render(got), render(want))
			}
			last, lastText = got, render(got)
			in = steadyChange(rng, in, got, fb, topos)
		}
	}
}

// TestSteadyPlanSharesApps plans an unchanged machine twice: the second
// decision hands out the first's apps, and planning it allocates
// nothing. When a process's CPU use changes, the apps are new and the
// first decision's stay as they were.
func TestSteadyPlanSharesApps(t *testing.T) {
	in := loadScenario(t, filepath.Join("testdata", "scenarios", "stream-game-voice-desktop.json"))
	c := mustNew(t, nil)
	var buf []coord.Setting
	first, buf := c.PlanSettings(in, buf[:0])
	second, buf := c.PlanSettings(in, buf[:0])
	if len(first.Apps) == 0 || &first.Apps[0] != &second.Apps[0] {
		t.Fatal("an unchanged machine's second plan made its apps anew")
	}
	if allocs := testing.AllocsPerRun(50, func() { _, buf = c.PlanSettings(in, buf[:0]) }); allocs != 0 {
		t.Errorf("a steady PlanSettings allocates %.0f times; want none", allocs)
	}
	before := render(first)
	in.Processes = slices.Clone(in.Processes)
	in.Processes[len(in.Processes)-1].CPUPercent += 40
	third, _ := c.PlanSettings(in, buf[:0])
	if &third.Apps[0] == &first.Apps[0] {
		t.Fatal("the apps were handed out again after a process's CPU use changed")
	}
	if render(first) != before {
		t.Fatalf("the first decision changed:\n%s\nwas\n%s", render(first), before)
	}
}

// TestCPUSetGroupsCarryAffinity plans a game beside voice chat and busy
// apps with and without the groups' cpusets: a process moved into a
// group whose cpuset the caller can set gets no affinity of its own, and
// the group's cpuset is the affinity it would have had; every other
// planned process keeps its affinity.
func TestCPUSetGroupsCarryAffinity(t *testing.T) {
	in := loadScenario(t, filepath.Join("testdata", "scenarios", "game-voice-desktop.json"))
	in.Topology = loadTopology(t, "desktop-8c16t")
	c := mustNew(t, nil)
	all := settingsOf(c.Plan(in))
	for _, groups := range [][]string{{coord.GroupBackground}, {coord.GroupForeground, coord.GroupBackground}} {
		in.CPUSetGroups = groups
		got := settingsOf(c.Plan(in))
		dropped := 0
		for key, value := range all {
			knob, target, _ := strings.Cut(key, " ")
			if _, kept := got[key]; kept {
				continue
			}
			group := all[coord.KnobCgroupMember+" "+target]
			if knob != coord.KnobAffinity || !slices.Contains(groups, group) {
				t.Errorf("groups %v: %s left out of the plan", groups, key)
				continue
			}
			if cpuset := all[coord.KnobCgroupCPUSet+" "+group]; cpuset != value {
				t.Errorf("groups %v: %s = %s left to group %s, whose cpuset is %s", groups, key, value, group, cpuset)
			}
			dropped++
		}
		for key := range got {
			if _, ok := all[key]; !ok {
				t.Errorf("groups %v: %s added to the plan", groups, key)
			}
		}
		for key := range all {
			knob, target, _ := strings.Cut(key, " ")
			if knob == coord.KnobAffinity && !slices.Contains(groups, all[coord.KnobCgroupMember+" "+target]) {
				if _, ok := got[key]; !ok {
					t.Errorf("groups %v: %s outside those groups lost its affinity", groups, key)
				}
			}
		}
		if dropped == 0 {
			t.Errorf("groups %v: no affinity left to a group; the scenario should move processes", groups)
		}
	}
}

// settingsOf maps "knob target" to value for a decision's actions.
func settingsOf(d coord.Decision) map[string]string {
	out := map[string]string{}
	for _, a := range d.Actions {
		out[a.GetKnob()+" "+a.GetTarget()] = a.GetValue()
	}
	return out
}

// TestReparentSameName moves a content process from one browser to
// another of the same name: its parent's name, and so its rule match,
// stay the same, but it belongs to the other app now.
func TestReparentSameName(t *testing.T) {
	procs := []coord.Process{
		{PID: 1, Name: "systemd", Cmdline: "/sbin/init"},
		{PID: 20, PPID: 1, Name: "firefox", Cmdline: "/usr/lib/firefox/firefox", CPUPercent: 10},
		{PID: 21, PPID: 1, Name: "firefox", Cmdline: "/usr/lib/firefox/firefox", CPUPercent: 10},
		{PID: 30, PPID: 20, Name: "Web Content", Cmdline: "/usr/lib/firefox/firefox -contentproc", CPUPercent: 40},
	}
	c := mustNew(t, nil)
	c.Plan(coord.Input{Processes: procs})
	procs = slices.Clone(procs)
	procs[3].PPID = 21
	in := coord.Input{Processes: procs}
	got, want := c.Plan(in), mustNew(t, nil).Plan(in)
	if render(got) != render(want) {
		t.Fatalf("after the reparent:\n%s\nwant\n%s", render(got), render(want))
	}
	if i := slices.IndexFunc(got.Apps, func(a coord.App) bool { return a.Root == 21 }); i < 0 || !slices.Contains(got.Apps[i].PIDs, 30) {
		t.Fatalf("pid 30 is not in pid 21's app after the reparent: %+v", got.Apps)
	}
}
