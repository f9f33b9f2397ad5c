package coord_test

import (
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/krystalstack/gamesa/optimizer/coord"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// settingsAsActions makes Actions of settings, to compare them with
// Plan's.
func settingsAsActions(ss []coord.Setting) []*gamesav1.Action {
	out := make([]*gamesav1.Action, len(ss))
	for i, s := range ss {
		out[i] = &gamesav1.Action{Knob: s.Knob, Target: s.Target, Value: s.Value, Reasons: s.Reasons}
	}
	return out
}

// TestPlanSettingsMatchesPlan plans changing ticks with one long-lived
// Coordinator through PlanSettings, reusing its buffer, and with a fresh
// one through Plan: the settings must be Plan's actions, in order, and
// the rest of the decision the same.
func TestPlanSettingsMatchesPlan(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "scenarios", "*.json"))
	rng := rand.New(rand.NewPCG(9, 9))
	long := mustNew(t, nil)
	var buf []coord.Setting
	for _, path := range paths {
		in := loadScenario(t, path)
		for tick := range 30 {
			var got coord.Decision
			got, buf = long.PlanSettings(in, buf[:0])
			if got.Actions != nil {
				t.Fatalf("%s tick %d: PlanSettings gave Actions", path, tick)
			}
			got.Actions = settingsAsActions(buf)
			want := mustNew(t, nil).Plan(in)
			if render(got) != render(want) || !sameActions(got, want) {
				t.Fatalf("%s tick %d: PlanSettings differs from Plan:\n%s\nvs\n%s", path, tick, render(got), render(want))
			}
			in = mutate(rng, in)
		}
	}
}

// TestPlanSharedMatchesPlan is TestPlanSettingsMatchesPlan through
// PlanShared. Each scenario's first tick is planned twice: the second
// plan, of the same input, is the very list of the first. (Later ticks
// may list a pid twice, which regroups, and plans, every time.)
func TestPlanSharedMatchesPlan(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "scenarios", "*.json"))
	rng := rand.New(rand.NewPCG(9, 9))
	long := mustNew(t, nil)
	var lastSerial uint64
	var lastList []coord.Setting
	for _, path := range paths {
		in := loadScenario(t, path)
		for tick := range 30 {
			got, settings, serial := long.PlanShared(in)
			if serial == lastSerial && !sameList(settings, lastList) {
				t.Fatalf("%s tick %d: serial %d again, with another list", path, tick, serial)
			}
			got.Actions = settingsAsActions(settings)
			want := mustNew(t, nil).Plan(in)
			if render(got) != render(want) || !sameActions(got, want) {
				t.Fatalf("%s tick %d: PlanShared differs from Plan:\n%s\nvs\n%s", path, tick, render(got), render(want))
			}
			_, again, againSerial := long.PlanShared(in)
			if tick == 0 && (againSerial != serial || !sameList(again, settings)) {
				t.Fatalf("%s tick %d: the same input planned again gave another list (serial %d, then %d)", path, tick, serial, againSerial)
			}
			lastSerial, lastList = againSerial, again
			in = mutate(rng, in)
		}
	}
}

// sameList reports whether a and b are one list: the same elements of
// the same array.
func sameList(a, b []coord.Setting) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// TestNiceBefore plans a game whose processes GAMESA already reniced:
// with their nice values from before, the boost is still asked for; read
// from the process list alone, it is not.
func TestNiceBefore(t *testing.T) {
	in := loadScenario(t, filepath.Join("testdata", "scenarios", "game-voice-desktop.json"))
	fresh := mustNew(t, nil).Plan(in)
	boosted := boostedPIDs(fresh)
	if len(boosted) == 0 {
		t.Fatal("the scenario boosts no process; the test needs one")
	}
	reniced := slices.Clone(in.Processes)
	var before []coord.PIDNice
	for i := range reniced {
		if pr := &reniced[i]; slices.Contains(boosted, pr.PID) {
			before = append(before, coord.PIDNice{PID: pr.PID, Nice: pr.Nice})
			pr.Nice = -20 // at or above any boost: nothing left to ask
		}
	}
	slices.Reverse(before) // any order will do
	c := mustNew(t, nil)
	if got := boostedPIDs(c.Plan(coord.Input{Processes: reniced, Topology: in.Topology})); len(got) != 0 {
		t.Fatalf("reniced to -20 without NiceBefore: boosts %v; want none", got)
	}
	withBefore := c.Plan(coord.Input{Processes: reniced, Topology: in.Topology, NiceBefore: before})
	if got := boostedPIDs(withBefore); !slices.Equal(got, boosted) {
		t.Fatalf("with NiceBefore: boosts %v; want %v, as before the renice", got, boosted)
	}
	if render(withBefore) != render(fresh) {
		t.Fatalf("with NiceBefore the plan differs from the one before the renice:\n%s\nvs\n%s", render(withBefore), render(fresh))
	}
}

// boostedPIDs lists the pids the decision asks a negative nice value for.
func boostedPIDs(d coord.Decision) []int32 {
	var out []int32
	for _, a := range d.Actions {
		if a.GetKnob() != coord.KnobNice || !strings.HasPrefix(a.GetValue(), "-") {
			continue
		}
		if pid, err := strconv.ParseInt(strings.TrimPrefix(a.GetTarget(), "pid:"), 10, 32); err == nil {
			out = append(out, int32(pid))
		}
	}
	return out
}

// TestSteadyPlanAllocations plans an unchanged machine tick after tick:
// once the memos are warm, PlanSettings allocates only the Decision's own
// memory (the apps, their pids, the core split, the hogs).
func TestSteadyPlanAllocations(t *testing.T) {
	if testing.Short() {
		t.Skip("counts allocations over many plans")
	}
	in := loadScenario(t, filepath.Join("testdata", "scenarios", "stream-game-voice-desktop.json"))
	c := mustNew(t, nil)
	var buf []coord.Setting
	d, buf := c.PlanSettings(in, buf[:0])
	if len(d.Hogs) == 0 || d.FirstCPUs == nil {
		t.Fatalf("the scenario has hogs %v and a split %v; the test needs both", d.Hogs, d.FirstCPUs)
	}
	allocs := testing.AllocsPerRun(50, func() {
		_, buf = c.PlanSettings(in, buf[:0])
	})
	if allocs > 4 {
		t.Errorf("a steady PlanSettings allocates %.0f times; want at most 4 (apps, pids, split, hogs)", allocs)
	}
}

// TestTopologyChangedInPlace plans, then changes the topology in the
// caller's own slices (CPUs going offline, siblings rewritten): the next
// plan must split the machine as it is now, as a fresh Coordinator does.
func TestTopologyChangedInPlace(t *testing.T) {
	in := loadScenario(t, filepath.Join("testdata", "scenarios", "game-voice-desktop.json"))
	in.Topology = loadTopology(t, "desktop-8c16t")
	c := mustNew(t, nil)
	before := c.Plan(in)
	cpus := in.Topology.CPUs
	for i := range cpus {
		cpus[i].Siblings = cpus[i].Siblings[:1] // SMT off: every CPU its own core
		cpus[i].Siblings[0] = cpus[i].ID
	}
	in.Topology.CPUs = cpus[:6] // and CPUs 6 and up offline
	got, want := c.Plan(in), mustNew(t, nil).Plan(in)
	if render(got) != render(want) {
		t.Fatalf("after the topology changed in place:\n%s\nwant\n%s", render(got), render(want))
	}
	if slices.Equal(got.FirstCPUs, before.FirstCPUs) {
		t.Fatalf("the split stayed %v after the topology changed; the test should change it", got.FirstCPUs)
	}
}
