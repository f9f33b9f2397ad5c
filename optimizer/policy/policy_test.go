package policy_test

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/krystalstack/gamesa/optimizer/coord"
	"github.com/krystalstack/gamesa/optimizer/policy"
	"github.com/krystalstack/gamesa/optimizer/power"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// planValues indexes a decision's plan by setting.
func planValues(d *policy.Decision) map[policy.Key]string {
	m := map[policy.Key]string{}
	for _, a := range d.Plan.GetActions() {
		m[policy.Key{Knob: a.GetKnob(), Target: a.GetTarget()}] = a.GetValue()
	}
	return m
}

func scenario(t *testing.T, name string) []step {
	t.Helper()
	return runScenario(t, "testdata/scenarios/"+name+".json", false)
}

// The heuristic foreground flips between two games every second: the
// plan does not change at all; the registration then acts on its tick.
func TestFlappingForegroundHoldsPlan(t *testing.T) {
	steps := scenario(t, "flapping-foreground")
	steady := planValues(steps[3].d)
	flips := 0
	for i := 4; i < 10; i++ {
		d := steps[i].d
		if fg := d.ForegroundApp(); fg != nil && fg.Root != steps[i-1].d.ForegroundApp().Root {
			flips++
		}
		if got := planValues(d); !maps(got, steady) {
			t.Errorf("tick %d: the plan changed while the foreground flapped", i+1)
		}
	}
	if flips < 5 {
		t.Fatalf("the foreground flipped %d times; the scenario should flip it every tick", flips)
	}
	reg := steps[10].d
	k := policy.Key{Knob: coord.KnobCgroupMember, Target: "pid:7000"}
	if v := planValues(reg)[k]; v != coord.GroupForeground || !strings.HasPrefix(reg.ForegroundBy, "registered") {
		t.Fatalf("registration tick: %s = %q, foreground by %q; want foreground at once", k, v, reg.ForegroundBy)
	}
}

func maps(a, b map[policy.Key]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// After the game exits its settings stay Linger, then are released once,
// and the machine (restoring them) ends with the game's processes' nice
// values as they were.
func TestReleaseAfterGameExits(t *testing.T) {
	steps := scenario(t, "game-exit")
	exit := time.Time{}
	released := map[policy.Key]time.Time{}
	for _, st := range steps {
		if exit.IsZero() && st.d.Scenario == coord.ScenarioNone {
			exit = st.d.Time
		}
		for _, r := range st.d.Release {
			if _, twice := released[r.Key]; twice {
				t.Errorf("%s released twice", r.Key)
			}
			released[r.Key] = st.d.Time
		}
	}
	lastAsked := exit.Add(-time.Second)
	for _, pid := range []int{2000, 2004, 3000} {
		k := policy.Key{Knob: coord.KnobNice, Target: fmt.Sprintf("pid:%d", pid)}
		at, ok := released[k]
		if !ok {
			t.Errorf("%s never released", k)
			continue
		}
		if got := at.Sub(lastAsked); got != policy.DefaultConfig().Linger {
			t.Errorf("%s released %v after it was last asked for; want the linger, %v", k, got, policy.DefaultConfig().Linger)
		}
	}
	last := steps[len(steps)-1].d
	if last.Mode != power.Balanced {
		t.Errorf("mode after the game: %v; want BALANCED", last.Mode)
	}
	for k := range planValues(last) {
		if strings.HasPrefix(k.Target, "pid:20") || strings.HasPrefix(k.Target, "pid:30") {
			t.Errorf("%s still in the plan after its release", k)
		}
	}
}

// A thermal rule's 35 W cap beats the cluster's 90 W at once, and the
// limits follow it.
func TestThermalCapBeatsClusterCap(t *testing.T) {
	steps := scenario(t, "thermal-cap")
	hot := steps[3].d
	if hot.Cap.Watts != 35 || hot.Cap.ClusterWatts != 90 || hot.Cap.Rule != "thermal-forecast-cap" {
		t.Fatalf("cap %+v; want the rule's 35 W under the cluster's 90 W", hot.Cap)
	}
	pl1 := planValues(hot)[policy.Key{Knob: "rapl.pl1_uw", Target: "package-0"}]
	var uw float64
	if _, err := fmt.Sscan(pl1, &uw); err != nil || uw > 35e6 {
		t.Fatalf("PL1 %q on the tick the rule fired; want at most 35 W at once", pl1)
	}
	if cool := steps[7].d; cool.Cap.Watts != 90 {
		t.Fatalf("cap %v W once the forecast fell; want the cluster's 90 W", cool.Cap.Watts)
	}
}

// The user's mode beats a rule's at once; a rule's beats the automatic
// choice; an urgent rule's beats a lesser rule's at once.
func TestModePrecedence(t *testing.T) {
	steps := scenario(t, "mode-override")
	for _, c := range []struct {
		tick int
		mode power.Mode
		why  string
	}{
		{0, power.Gaming, "rule game-foreground"},
		{2, power.MaxBattery, "chosen by the user"},
		{4, power.Gaming, "rule game-foreground"},
		{7, power.MaxBattery, "rule low-battery"},
		{9, power.Gaming, "chosen by the user"},
	} {
		d := steps[c.tick].d
		if d.Mode != c.mode || !strings.HasPrefix(d.ModeReason, c.why) {
			t.Errorf("tick %d: mode %v (%s); want %v (%s...)", c.tick+1, d.Mode, d.ModeReason, c.mode, c.why)
		}
	}
}

// Rule actions on app:compile reach every compile process, a new worker
// included, and no plan ever names an app target.
func TestAppTargetsExpandToPids(t *testing.T) {
	steps := scenario(t, "app-targets")
	for _, st := range steps {
		for _, a := range st.d.Plan.GetActions() {
			if strings.HasPrefix(a.GetTarget(), "app:") {
				t.Fatalf("%v: %s %s left unexpanded", st.d.Time, a.GetKnob(), a.GetTarget())
			}
		}
	}
	last := planValues(steps[len(steps)-1].d)
	for _, pid := range []int{4001, 4002, 4003, 4004} {
		k := policy.Key{Knob: coord.KnobNice, Target: fmt.Sprintf("pid:%d", pid)}
		if last[k] != "10" {
			t.Errorf("%s = %q; want background-compile's 10", k, last[k])
		}
	}
}

// Every overruled request names a setting whose action in the plan has
// the winner's value and a line saying what it overrode.
func TestConflictsNoteTheirLosers(t *testing.T) {
	steps := scenario(t, "conflicts")
	d := steps[len(steps)-1].d
	if len(d.Overruled) < 5 {
		t.Fatalf("%d overruled; the scenario has more conflicts", len(d.Overruled))
	}
	acts := map[policy.Key]*gamesav1.Action{}
	for _, a := range d.Plan.GetActions() {
		acts[policy.Key{Knob: a.GetKnob(), Target: a.GetTarget()}] = a
	}
	sources := map[policy.Source]bool{}
	for _, o := range d.Overruled {
		sources[o.Source] = true
		a := acts[o.Key]
		if a == nil || a.GetValue() != o.ByValue {
			t.Errorf("%s: overruled by %s, plan has %v", o.Key, o.ByValue, a)
			continue
		}
		note := fmt.Sprintf("overrides %s %s from the %s: ", o.Knob, o.Value, o.Source)
		if !slices.ContainsFunc(a.GetReasons(), func(r string) bool { return strings.HasPrefix(r, note) }) {
			t.Errorf("%s: reasons %q lack %q", o.Key, a.GetReasons(), note)
		}
	}
	for _, s := range []policy.Source{policy.SourceMode, policy.SourceCoordinator, policy.SourceRule, policy.SourceCap} {
		if !sources[s] {
			t.Errorf("no request of the %s overruled; the scenario has one", s)
		}
	}
}

// Proto carries the decision whole, and round-trips through JSON.
func TestDecisionProto(t *testing.T) {
	steps := scenario(t, "game-exit")
	for _, st := range steps {
		d := st.d
		pd := d.Proto()
		if len(pd.GetActions()) != len(d.Plan.GetActions()) || pd.GetMode() != d.Mode.String() || pd.GetScenario() != d.Scenario ||
			len(pd.GetHeld()) != len(d.Held) || len(pd.GetReleased()) != len(d.Release) || len(pd.GetFired()) != len(d.Fired) ||
			len(pd.GetApps()) != len(d.Apps) || len(pd.GetOverruled()) != len(d.Overruled) {
			t.Fatalf("%v: Proto() lost parts of the decision", d.Time)
		}
		if fg := d.ForegroundApp(); (fg == nil) != (pd.GetForeground() == nil) || (fg != nil && fg.Root != pd.GetForeground().GetRoot()) {
			t.Fatalf("%v: foreground %v vs %v", d.Time, fg, pd.GetForeground())
		}
		for _, h := range pd.GetHeld() {
			if h.GetWhy() == "" {
				t.Fatalf("%v: held %s %s without why", d.Time, h.GetKnob(), h.GetTarget())
			}
		}
		b, err := protojson.Marshal(pd)
		if err != nil {
			t.Fatal(err)
		}
		back := &gamesav1.Decision{}
		if err := protojson.Unmarshal(b, back); err != nil || !proto.Equal(back, pd) {
			t.Fatalf("%v: JSON round trip: %v", d.Time, err)
		}
	}
}

// Decide's plan is what the node applies: applying it and deciding again
// with the same input changes nothing (a setting in force holds, nothing
// is released for holding).
func TestPlanIsAFixedPoint(t *testing.T) {
	steps := scenario(t, "game-voice-desktop")
	last := steps[len(steps)-1].d
	if len(last.Held) != 0 || len(last.Release) != 0 {
		t.Fatalf("steady state: %d held, %d released; want none", len(last.Held), len(last.Release))
	}
	if !maps(planValues(last), planValues(steps[len(steps)-2].d)) {
		t.Fatal("the plan changed between two steady ticks")
	}
}

// FuzzDecide feeds arbitrary process lists, knob values and sample
// values (all from outside: /proc, sysfs, the inventory) through a few
// ticks: no panic, and every decision keeps the invariants.
func FuzzDecide(f *testing.F) {
	f.Add([]byte("game+voice"), 310.0, 95.0, "performance", int32(-5), 90.0)
	f.Add([]byte{0, 1, 2, 3, 255, 254}, math.NaN(), math.Inf(1), "", int32(19), -1.0)
	f.Add([]byte("\x00\x00\x00"), -50.0, 1e300, "not-a-number", int32(-20), math.NaN())
	knobs := loadKnobs(f, "desktop-16")
	topo := loadTopology(f, "desktop-8c16t")
	base := busyDesktop()[:80]
	f.Fuzz(func(t *testing.T, seed []byte, cpu, temp float64, value string, nice int32, capW float64) {
		p, err := policy.New(policy.DefaultConfig(), policy.DefaultParts())
		if err != nil {
			t.Fatal(err)
		}
		procs := slices.Clone(base)
		for i, b := range seed {
			pr := &procs[i%len(procs)]
			switch b % 5 {
			case 0:
				pr.PPID = int32(b) // cycles and strangers in the parent chain
			case 1:
				pr.Name = value
			case 2:
				pr.CPUPercent = cpu
			case 3:
				pr.Nice = nice
			case 4:
				pr.PID = -int32(b)
			}
		}
		ks := make([]*gamesav1.Knob, len(knobs))
		for i, k := range knobs {
			ks[i] = proto.CloneOf(k)
			if i < len(seed) && seed[i]%2 == 0 {
				ks[i].Value, ks[i].Min = value, value
			}
		}
		s := &gamesav1.Sample{
			Cpu:      &gamesav1.CPU{UtilizationPercent: cpu},
			Thermal:  []*gamesav1.ThermalSensor{{TemperatureCelsius: temp}},
			Power:    &gamesav1.Power{OnAc: len(seed)%2 == 0, TotalWatts: temp, Rapl: []*gamesav1.RAPLDomain{{Zone: "intel-rapl:0", Name: "package-0", Watts: cpu}}},
			Insights: &gamesav1.Insights{ThermalForecast: []*gamesav1.ThermalForecast{{HorizonSeconds: 30, Celsius: temp}}, WorkloadClass: value},
		}
		regs := []coord.Registration{{PID: nice, Class: coord.ClassGame}}
		now := time.Unix(1_700_000_000, 0)
		for tick := range 4 {
			d := p.Decide(policy.Input{Now: now.Add(time.Duration(tick) * time.Second), Sample: s, Knobs: ks, Processes: procs,
				Registrations: regs, Topology: topo, ClusterCapWatts: capW})
			checkDecision(t, d)
			if _, err := protojson.Marshal(d.Proto()); err != nil {
				t.Fatalf("Proto: %v", err)
			}
		}
	})
}
