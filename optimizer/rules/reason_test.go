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
