package policy_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/krystalstack/gamesa/optimizer/policy"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// planText writes every action of a plan with its reasons.
func planText(d *policy.Decision) string {
	var b strings.Builder
	for _, a := range d.Plan.GetActions() {
		fmt.Fprintf(&b, "%s %s = %s %q\n", a.GetKnob(), a.GetTarget(), a.GetValue(), a.GetReasons())
	}
	return b.String()
}

// TestSteadyPlansShareActions runs the busy desktop until its plan holds
// still: consecutive decisions then share the plan's action list. A
// hog's reasons state the rule that made it one, not its CPU use, so the
// compile's CPU use halving changes nothing of the plan. A cap that comes
// in makes a new plan with the cap's limits, in which the settings that
// did not change keep their actions, and the decision before keeps what
// it said.
func TestSteadyPlansShareActions(t *testing.T) {
	p, err := policy.New(policy.DefaultConfig(), policy.DefaultParts())
	if err != nil {
		t.Fatal(err)
	}
	in := policy.Input{Knobs: loadKnobs(t, "desktop-16"), Processes: busyDesktop(), Topology: loadTopology(t, "desktop-8c16t")}
	now := time.Date(2025, 6, 1, 20, 0, 0, 0, time.UTC)
	var prev, d *policy.Decision
	for tick := range 8 {
		in.Now = now.Add(time.Duration(tick) * time.Second)
		prev, d = d, p.Decide(in)
		checkDecision(t, d)
	}
	acts, prevActs := d.Plan.GetActions(), prev.Plan.GetActions()
	if len(acts) == 0 || len(acts) != len(prevActs) || &acts[0] != &prevActs[0] {
		t.Fatalf("a steady plan of %d actions does not share the last one's %d", len(acts), len(prevActs))
	}
	steady := planText(d)

	for i := range in.Processes {
		if pr := &in.Processes[i]; pr.Name == "cc1plus" {
			pr.CPUPercent /= 2
		}
	}
	in.Now = in.Now.Add(time.Second)
	halved := p.Decide(in)
	checkDecision(t, halved)
	if got := halved.Plan.GetActions(); len(got) != len(acts) || &got[0] != &acts[0] {
		t.Fatalf("the compile's CPU use halved and the plan changed:\n%s\nwas\n%s", planText(halved), steady)
	}

	in.ClusterCapWatts = 60
	in.Now = in.Now.Add(time.Second)
	capped := p.Decide(in)
	checkDecision(t, capped)
	if got := planText(d); got != steady {
		t.Fatalf("the next ticks changed the decision before them:\n%s\nwas\n%s", got, steady)
	}
	before := map[policy.Key]*gamesav1.Action{}
	for _, a := range acts {
		before[policy.Key{Knob: a.GetKnob(), Target: a.GetTarget()}] = a
	}
	limits := 0
	for _, a := range capped.Plan.GetActions() {
		if strings.HasPrefix(a.GetReasons()[0], "power cap ") {
			limits++
			continue
		}
		if b := before[policy.Key{Knob: a.GetKnob(), Target: a.GetTarget()}]; a != b {
			t.Errorf("under a new cap, %s %s = %s %q is a new action; the last plan's was %v", a.GetKnob(), a.GetTarget(), a.GetValue(), a.GetReasons(), b)
		}
	}
	if limits == 0 {
		t.Fatalf("under a new cap, no limit:\n%s", planText(capped))
	}
}

// TestSteadyDecisionsShareLists runs the busy desktop until a rule has
// overruled the coordinator for a while (the background compile's I/O
// priority): consecutive decisions then share the list of what was
// overruled. When the compile quietens, the conflict goes from the new
// decision, and the decision before keeps its list.
func TestSteadyDecisionsShareLists(t *testing.T) {
	p, err := policy.New(policy.DefaultConfig(), policy.DefaultParts())
	if err != nil {
		t.Fatal(err)
	}
	in := policy.Input{Knobs: loadKnobs(t, "desktop-16"), Processes: busyDesktop(), Topology: loadTopology(t, "desktop-8c16t")}
	now := time.Date(2025, 6, 1, 20, 0, 0, 0, time.UTC)
	var prev, d *policy.Decision
	for tick := range 16 { // past the compile rule's `for: 10s`
		in.Now = now.Add(time.Duration(tick) * time.Second)
		prev, d = d, p.Decide(in)
		checkDecision(t, d)
	}
	if len(d.Overruled) == 0 || len(d.Overruled) != len(prev.Overruled) || &d.Overruled[0] != &prev.Overruled[0] {
		t.Fatalf("a steady decision's %d overruled requests are not the last one's %d", len(d.Overruled), len(prev.Overruled))
	}
	overruled := fmt.Sprint(d.Overruled)

	for i := range in.Processes {
		if pr := &in.Processes[i]; pr.Name == "make" || pr.Name == "cc1plus" || pr.Name == "ld" {
			pr.CPUPercent = 0 // no hog: the coordinator asks nothing of it
		}
	}
	in.Now = in.Now.Add(time.Second)
	next := p.Decide(in)
	checkDecision(t, next)
	if got := fmt.Sprint(d.Overruled); got != overruled {
		t.Fatalf("the next tick changed the overruled requests before it:\n%s\nwas\n%s", got, overruled)
	}
	if len(next.Overruled) != 0 {
		t.Fatalf("the quiet compile's I/O priority is still contested: %v", next.Overruled)
	}
}
