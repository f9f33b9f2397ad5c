package policy_test

import (
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/krystalstack/gamesa/optimizer/coord"
	"github.com/krystalstack/gamesa/optimizer/policy"
)

// sameDecisions reports the first way two decisions differ, "" for none:
// everything the API shows (Proto), the plan's mode, and the releases'
// times.
func sameDecisions(a, b *policy.Decision) string {
	switch {
	case !proto.Equal(a.Proto(), b.Proto()):
		return "the decisions differ"
	case a.Plan.GetMode() != b.Plan.GetMode():
		return "the plans' modes differ"
	case !reflect.DeepEqual(a.Release, b.Release):
		return "the releases differ"
	}
	return ""
}

// TestMemosMatchPlainPipeline plays every scenario script with a
// pipeline that files a repeated coordinator plan as a block and
// resolves a repeated conflict as the last time, and with a plain one
// (policy.Plain) that files each setting and resolves each conflict
// afresh: the decisions must be the same, tick by tick.
func TestMemosMatchPlainPipeline(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "scenarios", "*.json"))
	if len(paths) == 0 {
		t.Fatal("no scenarios")
	}
	for _, path := range paths {
		memo, plain := runScenario(t, path, false), runScenario(t, path, false, policy.Plain)
		if len(memo) != len(plain) {
			t.Fatalf("%s: %d decisions, and %d plain", path, len(memo), len(plain))
		}
		for i := range memo {
			if diff := sameDecisions(memo[i].d, plain[i].d); diff != "" {
				t.Fatalf("%s: decision %d: %s:\n%s\nplain:\n%s", path, i, diff,
					renderDecision(memo[i].d), renderDecision(plain[i].d))
			}
		}
	}
}

// renderDecision writes a decision's plan, held changes and conflicts.
func renderDecision(d *policy.Decision) string {
	return render([]step{{tick: &tick{Full: true}, first: true, d: d}})
}

// TestMemosOnALiveDesktop drives two pipelines, one with its memos and
// a plain one (see TestMemosMatchPlainPipeline), through the same ticks of a busy desktop whose rules contest the
// coordinator's settings (conflicts.yaml, app-targets.yaml, and
// live.yaml's, which come and go with the power source): CPU use moving
// every tick, now and then across a hog threshold, processes exiting and
// starting, a registered game, a registration coming and going, the
// power source, the package's draw and the cluster cap changing. Each applies its plan to its own
// copy of the machine. The decisions must be the same, tick by tick.
func TestMemosOnALiveDesktop(t *testing.T) {
	sc := &scenarioFile{RuleFiles: []string{"conflicts.yaml", "app-targets.yaml", "live.yaml"}}
	sc.Config.ConfirmTicks, sc.Config.Linger = 2, "5s"
	game := coord.Registration{PID: 2000, Class: coord.ClassGame, Priority: 5, At: time.Date(2025, 6, 1, 19, 0, 0, 0, time.UTC)}
	newMachine := func() *machine {
		temp := 60.0
		return &machine{t: t, procs: busyDesktop(), knobs: loadKnobs(t, "desktop-16"), topo: loadTopology(t, "desktop-8c16t"),
			sample: sampleState{Temp: &temp}, original: map[policy.Key]string{}, regs: []coord.Registration{game}}
	}
	memo, plain := newPipeline(t, sc), newPipeline(t, sc)
	policy.Plain(plain)
	mm, mp := newMachine(), newMachine()
	base := map[int32]float64{} // each process's level of CPU use
	for _, p := range mm.procs {
		base[p.PID] = p.CPUPercent
	}
	rng := rand.New(rand.NewPCG(11, 13))
	start := time.Date(2025, 6, 1, 20, 0, 0, 0, time.UTC)
	next := int32(20000)
	for tick := range 400 {
		now := start.Add(time.Duration(tick) * time.Second)
		liveChange(rng, mm, mp, base, &next, now)
		db, dp := memo.Decide(mm.input(now, uint64(tick))), plain.Decide(mp.input(now, uint64(tick)))
		if diff := sameDecisions(db, dp); diff != "" {
			t.Fatalf("tick %d: %s:\n%s\nplain:\n%s", tick, diff, renderDecision(db), renderDecision(dp))
		}
		checkDecision(t, db)
		mm.apply(db)
		mp.apply(dp)
	}
}

// liveChange makes the same change to both machines (see
// TestMemosOnALiveDesktop).
func liveChange(rng *rand.Rand, a, b *machine, base map[int32]float64, next *int32, now time.Time) {
	var change func(m *machine)
	switch r := rng.IntN(40); {
	case r < 4: // a process to a level, maybe across a hog threshold (5 %, 20 %), clear of both
		pid := a.procs[rng.IntN(len(a.procs))].PID
		base[pid] = []float64{0, 3, 8, 15, 30, 80}[rng.IntN(6)]
	case r < 6: // a process exits
		pid := a.procs[3+rng.IntN(len(a.procs)-3)].PID
		change = func(m *machine) {
			m.procs = slices.DeleteFunc(m.procs, func(p coord.Process) bool { return p.PID == pid })
		}
	case r < 8: // a compiler worker starts
		pid := *next
		*next++
		base[pid] = 90
		change = func(m *machine) {
			m.procs = append(m.procs, coord.Process{PID: pid, PPID: 4001, Name: "cc1plus", Cmdline: "cc1plus -O2 x.cpp", UID: 1000})
		}
	case r < 10: // a registration comes or goes
		change = func(m *machine) {
			if len(m.regs) > 1 {
				m.regs = m.regs[:1]
				return
			}
			m.regs = append(slices.Clip(m.regs), coord.Registration{PID: 8000, Class: coord.ClassIDE, Priority: 3, At: now})
		}
	case r < 12: // the power source
		change = func(m *machine) {
			onAC := m.sample.OnAC == nil || !*m.sample.OnAC
			m.sample.OnAC = &onAC
		}
	case r < 13: // the cluster's cap
		capW := []float64{0, 60, 150}[rng.IntN(3)]
		change = func(m *machine) { m.capW = capW }
	}
	if change != nil {
		change(a)
		change(b)
	}
	for i := range a.procs {
		cpu := base[a.procs[i].PID] * (0.75 + 0.5*rng.Float64())
		a.procs[i].CPUPercent, b.procs[i].CPUPercent = cpu, cpu
	}
	// The package's draw, which the cap controller's limits follow.
	watts := 40 + 80*rng.Float64()
	a.sample.PackageWatts, b.sample.PackageWatts = &watts, &watts
}
