package policy_test

import (
	"testing"
	"time"

	"github.com/krystalstack/gamesa/optimizer/policy"
	"github.com/krystalstack/gamesa/optimizer/power"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// TestSameInventoryValueChangesInPlace hands Decide the same inventory
// slice tick after tick, as the node does between its reads of the
// machine, with the backlight's value changed in place: MaxBattery's plan
// must follow the value (it dims only a brighter backlight), though the
// knobs are the same objects.
func TestSameInventoryValueChangesInPlace(t *testing.T) {
	p, err := policy.New(policy.DefaultConfig(), policy.DefaultParts())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.SetModeOverride(power.MaxBattery); err != nil {
		t.Fatal(err)
	}
	backlight := &gamesav1.Knob{Name: "backlight.brightness", Target: "intel_backlight", Unit: "raw",
		Min: "0", Max: "100", Value: "20", Writable: true}
	knobs := []*gamesav1.Knob{backlight}
	start := time.Date(2025, 6, 1, 20, 0, 0, 0, time.UTC)
	dimmed := func(tick int) (string, bool) {
		d := p.Decide(policy.Input{Now: start.Add(time.Duration(tick) * time.Second), Knobs: knobs})
		for _, a := range d.Plan.GetActions() {
			if a.GetKnob() == backlight.Name && a.GetTarget() == backlight.Target {
				return a.GetValue(), true
			}
		}
		return "", false
	}
	for tick := range 3 {
		if v, ok := dimmed(tick); ok {
			t.Fatalf("tick %d: a backlight at 20 of 100 is dimmed to %s", tick, v)
		}
	}
	backlight.Value = "90"
	v, ok := dimmed(3)
	if !ok {
		t.Fatal("a backlight raised in place to 90 of 100 is not dimmed")
	}
	if v != "40" {
		t.Errorf("the backlight is dimmed to %s; want 40", v)
	}
}
