package coord_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/krystalstack/gamesa/internal/cpulist"
	"github.com/krystalstack/gamesa/optimizer/coord"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/scenarios")

// scenarioFile is a scenario's input: a topology fixture by name ("" for
// none), registrations and the process list.
type scenarioFile struct {
	Topology      string `json:"topology"`
	Registrations []struct {
		PID      int32  `json:"pid"`
		Class    string `json:"cls"`
		Priority int32  `json:"priority"`
	} `json:"registrations"`
	Processes []struct {
		PID     int32   `json:"pid"`
		PPID    int32   `json:"ppid"`
		Name    string  `json:"name"`
		Cmdline string  `json:"cmdline"`
		Cgroup  string  `json:"cgroup"`
		CPU     float64 `json:"cpu"`
		Nice    int32   `json:"nice"`
	} `json:"processes"`
}

func loadScenario(t testing.TB, path string) coord.Input {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f scenarioFile
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var in coord.Input
	if f.Topology != "" {
		in.Topology = loadTopology(t, f.Topology)
	}
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, r := range f.Registrations {
		in.Registrations = append(in.Registrations, coord.Registration{PID: r.PID, Class: coord.Class(r.Class), Priority: r.Priority, At: at.Add(time.Duration(i) * time.Second)})
	}
	for _, p := range f.Processes {
		in.Processes = append(in.Processes, coord.Process{PID: p.PID, PPID: p.PPID, Name: p.Name, Cmdline: p.Cmdline, Cgroup: p.Cgroup, CPUPercent: p.CPU, Nice: p.Nice, UID: 1000})
	}
	return in
}

// render writes a decision as the golden files hold it.
func render(d coord.Decision) string {
	var b strings.Builder
	fmt.Fprintf(&b, "scenario: %s\n", d.Scenario)
	if fg := d.ForegroundApp(); fg != nil {
		fmt.Fprintf(&b, "foreground: %s (root %d, %s) by %s\n", fg.Name, fg.Root, fg.Class, d.ForegroundBy)
	} else {
		fmt.Fprintf(&b, "foreground: none\n")
	}
	if d.FirstCPUs != nil {
		fmt.Fprintf(&b, "split: %s | %s\n", cpulist.Format(d.FirstCPUs), cpulist.Format(d.RestCPUs))
	}
	b.WriteString("apps:\n")
	for _, a := range d.Apps {
		fmt.Fprintf(&b, "  %d %s %s pids=%v cpu=%.0f rule=%q\n", a.Root, a.Class, a.Name, a.PIDs, a.CPUPercent, a.Rule)
	}
	b.WriteString("actions:\n")
	for _, a := range d.Actions {
		fmt.Fprintf(&b, "  %s %s = %s\n", a.GetKnob(), a.GetTarget(), a.GetValue())
		for _, r := range a.GetReasons() {
			fmt.Fprintf(&b, "    - %s\n", r)
		}
	}
	for _, n := range d.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	return b.String()
}

// TestScenarios runs each testdata/scenarios/*.json and compares the
// decision with the .golden file beside it (go test -update rewrites).
func TestScenarios(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "scenarios", "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	c := mustNew(t, nil)
	for _, path := range paths {
		name := strings.TrimSuffix(filepath.Base(path), ".json")
		t.Run(name, func(t *testing.T) {
			in := loadScenario(t, path)
			d := c.Plan(in)
			checkInvariants(t, in, d)
			got := render(d)
			golden := strings.TrimSuffix(path, ".json") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("Plan(%s) differs from %s:\n--- got\n%s\n--- want\n%s", name, golden, got, want)
			}
		})
	}
}

// checkInvariants holds for every decision: every action has reasons;
// nice values stay within the floor; ioprio never real-time; no physical
// core is split between the foreground's CPUs and the rest; a process
// gets each knob at most once; pid 1 and kernel threads are untouched.
func checkInvariants(t *testing.T, in coord.Input, d coord.Decision) {
	t.Helper()
	cfg := coord.DefaultConfig()
	seen := map[string]bool{}
	for _, a := range d.Actions {
		key := a.GetKnob() + " " + a.GetTarget()
		if seen[key] {
			t.Errorf("%s planned twice", key)
		}
		seen[key] = true
		if len(a.GetReasons()) == 0 {
			t.Errorf("%s has no reason", key)
		}
		switch a.GetKnob() {
		case coord.KnobNice:
			var n int
			if _, err := fmt.Sscan(a.GetValue(), &n); err != nil || n < cfg.MinNice || n > 19 {
				t.Errorf("%s = %q; want a nice value within %d..19", key, a.GetValue(), cfg.MinNice)
			}
		case coord.KnobIOPrio:
			if strings.HasPrefix(a.GetValue(), "rt") {
				t.Errorf("%s = %q; a real-time I/O class", key, a.GetValue())
			}
		case coord.KnobAffinity, coord.KnobCgroupCPUSet:
			if cpus, err := cpulist.Parse(a.GetValue()); err != nil || len(cpus) == 0 {
				t.Errorf("%s = %q; want a non-empty CPU list", key, a.GetValue())
			}
		}
		if a.GetTarget() == "pid:1" || a.GetTarget() == "pid:2" {
			t.Errorf("%s touches pid 1 or kthreadd", key)
		}
	}
	for _, p := range in.Processes {
		if p.PPID == 2 && seen[coord.KnobNice+" pid:"+fmt.Sprint(p.PID)] {
			t.Errorf("kernel thread %d planned", p.PID)
		}
	}
	if d.FirstCPUs == nil {
		return
	}
	first := map[int]bool{}
	for _, c := range d.FirstCPUs {
		first[c] = true
	}
	for _, c := range d.RestCPUs {
		if first[c] {
			t.Errorf("CPU %d on both sides of the split", c)
		}
	}
	for _, core := range in.Topology.Cores() {
		n := 0
		for _, c := range core.CPUs {
			if first[c] {
				n++
			}
		}
		if n != 0 && n != len(core.CPUs) {
			t.Errorf("core %v split: foreground holds %d of its CPUs", core.CPUs, n)
		}
	}
}

// TestPlanDeterministic shuffles the process list, registrations and
// topology order of random inputs: the decision must not change, and
// planning twice gives the same result.
func TestPlanDeterministic(t *testing.T) {
	c := mustNew(t, nil)
	paths, _ := filepath.Glob(filepath.Join("testdata", "scenarios", "*.json"))
	rng := rand.New(rand.NewPCG(7, 11))
	topos := []string{"vm-2cpu", "desktop-8c16t", "ryzen-2ccx", "hybrid-12700k"}
	for trial := range 200 {
		in := loadScenario(t, paths[rng.IntN(len(paths))])
		in.Topology = loadTopology(t, topos[rng.IntN(len(topos))])
		// Random CPU loads and a random extra registration.
		for i := range in.Processes {
			if rng.IntN(3) == 0 {
				in.Processes[i].CPUPercent = float64(rng.IntN(300))
			}
		}
		if rng.IntN(2) == 0 {
			p := in.Processes[rng.IntN(len(in.Processes))]
			cl := coord.Classes()[rng.IntN(len(coord.Classes()))]
			in.Registrations = append(in.Registrations, coord.Registration{PID: p.PID, Class: cl, Priority: int32(rng.IntN(3))})
		}
		want := c.Plan(in)
		checkInvariants(t, in, want)
		shuffled := in
		shuffled.Processes = slices.Clone(in.Processes)
		rng.Shuffle(len(shuffled.Processes), func(i, j int) {
			shuffled.Processes[i], shuffled.Processes[j] = shuffled.Processes[j], shuffled.Processes[i]
		})
		shuffled.Registrations = slices.Clone(in.Registrations)
		slices.Reverse(shuffled.Registrations)
		shuffled.Topology.CPUs = slices.Clone(in.Topology.CPUs)
		slices.Reverse(shuffled.Topology.CPUs)
		for _, got := range []coord.Decision{c.Plan(in), c.Plan(shuffled)} {
			if render(got) != render(want) || !sameActions(got, want) {
				t.Fatalf("trial %d: Plan differs after a shuffle:\n%s\nvs\n%s", trial, render(got), render(want))
			}
		}
	}
}

func sameActions(a, b coord.Decision) bool {
	return slices.EqualFunc(a.Actions, b.Actions, func(x, y *gamesav1.Action) bool { return proto.Equal(x, y) })
}
