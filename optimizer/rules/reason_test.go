package rules

import (
	"strings"
	"testing"
	"time"
)

// TestAppendReason checks that AppendReason writes Reason's text after
// what the buffer holds, for every action of the default rules on a tick
// that fires most of them.
func TestAppendReason(t *testing.T) {
	schema := testSchema(t)
	rs, err := Default(schema)
	if err != nil {
		t.Fatal(err)
	}
	f := schema.NewFeatures()
	for k, v := range map[string]string{"power.on_ac": "false", "power.battery_percent": "12", "thermal.forecast_30s": "93.5",
		"app.foreground.class": "game", "app.running.game": "true"} {
		if err := f.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	res := NewEngine(rs).Evaluate(f, time.Unix(1_700_000_000, 0))
	if len(res.Actions) < 2 {
		t.Fatalf("%d actions; the test needs several", len(res.Actions))
	}
	buf := []byte("prefix|")
	for _, d := range res.Actions {
		want := d.Reason()
		if !strings.HasPrefix(want, "rule "+d.Rule.Name+": ") {
			t.Errorf("Reason() = %q; want it to start with the rule's name", want)
		}
		if got := string(d.AppendReason(buf)); got != "prefix|"+want {
			t.Errorf("AppendReason(%q) = %q; want %q", buf, got, "prefix|"+want)
		}
	}
}

// TestEvaluateReusesSteadyResult: an evaluation where the same rules fire
// on the same values of what they read returns the last Result, without
// an allocation; a change to a feature no fired rule reads keeps it too,
// and one to a feature a fired rule reads gives a new Result that quotes
// the new value.
func TestEvaluateReusesSteadyResult(t *testing.T) {
	schema := testSchema(t)
	rs, err := Default(schema)
	if err != nil {
		t.Fatal(err)
	}
	f := schema.NewFeatures()
	set := func(k, v string) {
		t.Helper()
		if err := f.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	set("thermal.forecast_30s", "93.5")
	set("app.foreground.class", "game")
	set("cpu.utilization", "40")
	eng := NewEngine(rs)
	now := time.Unix(1_700_000_000, 0)
	first := eng.Evaluate(f, now)
	if first.NumFired() < 2 {
		t.Fatalf("%d rules fired; the test needs several", first.NumFired())
	}
	if again := eng.Evaluate(f, now.Add(time.Second)); again != first {
		t.Error("the same tick again gave a new Result")
	}
	if a := testing.AllocsPerRun(20, func() {
		now = now.Add(time.Second)
		eng.Evaluate(f, now).Fired()
	}); a != 0 {
		t.Errorf("a steady evaluation allocates %v times; want 0", a)
	}
	set("cpu.utilization", "55") // no default rule reads it
	if got := eng.Evaluate(f, now.Add(time.Second)); got != first {
		t.Error("a change no fired rule reads gave a new Result")
	}
	set("thermal.forecast_30s", "95")
	moved := eng.Evaluate(f, now.Add(2*time.Second))
	if moved == first {
		t.Fatal("a change a fired rule reads kept the last Result")
	}
	found := false
	for _, fr := range moved.Fired() {
		if fr.Rule.Name == "thermal-forecast-cap" {
			found = strings.Contains(fr.Reason(), "95")
		}
	}
	if !found {
		t.Errorf("the new Result's reasons %v do not quote the new forecast 95", moved.Fired())
	}
	for _, fr := range first.Fired() {
		if strings.Contains(fr.Reason(), "95") {
			t.Errorf("the first Result's reason changed with the features: %q", fr.Reason())
		}
	}
}
