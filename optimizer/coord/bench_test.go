package coord_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/krystalstack/gamesa/optimizer/coord"
)

// busyDesktop is 300 processes: the game-voice-desktop scenario padded
// with idle user and system processes and a browser with many tabs, as a
// sample's process list on a busy desktop holds.
func busyDesktop(b *testing.B) coord.Input {
	in := loadScenario(b, "testdata/scenarios/game-voice-desktop.json")
	for pid := int32(10000); len(in.Processes) < 300; pid++ {
		p := coord.Process{PID: pid, PPID: 900, Name: fmt.Sprintf("svc-%d", pid), Cmdline: fmt.Sprintf("/usr/libexec/svc-%d --daemon --config /etc/svc/%d.conf", pid, pid), CPUPercent: float64(pid % 3)}
		if pid%4 == 0 {
			p.PPID, p.Name, p.Cmdline = 5000, "Isolated Web Co", "/usr/lib/firefox/firefox -contentproc -childID 7 -isForBrowser -prefsLen 31337 tab"
		}
		in.Processes = append(in.Processes, p)
	}
	return in
}

// BenchmarkPlan300 classifies 300 processes and plans one tick.
func BenchmarkPlan300(b *testing.B) {
	c := mustNew(b, nil)
	in := busyDesktop(b)
	b.ReportAllocs()
	for b.Loop() {
		d := c.Plan(in)
		if d.Scenario != coord.ScenarioGameVoice {
			b.Fatalf("scenario %q", d.Scenario)
		}
		b.ReportMetric(float64(len(d.Actions)), "actions/op")
	}
}

// BenchmarkPlan300Cold plans with a new Coordinator each time: the first
// tick after start, every process matched against the rules.
func BenchmarkPlan300Cold(b *testing.B) {
	rs, err := coord.NewRuleSet(coord.DefaultRules())
	if err != nil {
		b.Fatal(err)
	}
	in := busyDesktop(b)
	b.ReportAllocs()
	for b.Loop() {
		c, err := coord.New(coord.DefaultConfig(), rs, nil)
		if err != nil {
			b.Fatal(err)
		}
		if d := c.Plan(in); d.Scenario != coord.ScenarioGameVoice {
			b.Fatalf("scenario %q", d.Scenario)
		}
	}
}

// BenchmarkClassify300 is the classification alone.
func BenchmarkClassify300(b *testing.B) {
	c := mustNew(b, nil)
	in := busyDesktop(b)
	b.ReportAllocs()
	for b.Loop() {
		c.Classify(in.Processes, nil)
	}
}

// BenchmarkPlanShared300Live plans the 300 processes through PlanShared,
// as the policy pipeline does, with every process's CPU use moving within
// a quarter of its level from tick to tick, as on a live machine: the
// plan holds (replans/op says how often it did not) and the apps take
// each tick's sums in place.
func BenchmarkPlanShared300Live(b *testing.B) {
	c := mustNew(b, nil)
	in := busyDesktop(b)
	base := make([]float64, len(in.Processes))
	for i, p := range in.Processes {
		base[i] = p.CPUPercent
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var last uint64
	replans := 0
	b.ReportAllocs()
	for b.Loop() {
		for i, cpu := range base {
			in.Processes[i].CPUPercent = cpu * (0.75 + 0.5*rng.Float64())
		}
		d, _, serial := c.PlanShared(in)
		if d.Scenario != coord.ScenarioGameVoice {
			b.Fatalf("scenario %q", d.Scenario)
		}
		if serial != last {
			replans++
		}
		last, in.PrevHogs = serial, d.Hogs
	}
	b.ReportMetric(float64(replans)/float64(b.N), "replans/op")
}
