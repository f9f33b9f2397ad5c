package power_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/krystalstack/gamesa/optimizer/power"
)

// TestAutoSwitch replays power events second by second and checks the
// mode after each.
func TestAutoSwitch(t *testing.T) {
	type step struct {
		at       int // seconds from the start
		onAC     bool
		battery  float64
		override string // "set:gaming", "clear"
		want     power.Mode
		changed  bool
		reason   string // a substring of the reason
	}
	perf := power.DefaultAutoSwitchConfig()
	perf.OnAC = power.MaxPerformance
	tests := []struct {
		name  string
		cfg   power.AutoSwitchConfig
		steps []step
	}{
		{"unplug, drain, plug in", perf, []step{
			{at: 0, onAC: true, battery: 80, want: power.MaxPerformance, changed: true, reason: "on AC"},
			{at: 1, onAC: false, battery: 80, want: power.MaxPerformance}, // not yet: debounce
			{at: 3, onAC: false, battery: 80, want: power.MaxPerformance}, // 2 s of 3
			{at: 4, onAC: false, battery: 80, want: power.Balanced, changed: true, reason: "on battery"},
			{at: 100, onAC: false, battery: 31, want: power.Balanced},
			{at: 101, onAC: false, battery: 30, want: power.MaxBattery, changed: true, reason: "30 %"},
			{at: 102, onAC: false, battery: 31, want: power.MaxBattery}, // wobble: hysteresis holds
			{at: 103, onAC: false, battery: 34.9, want: power.MaxBattery},
			{at: 104, onAC: false, battery: 35, want: power.Balanced, changed: true},
			{at: 105, onAC: false, battery: 29, want: power.MaxBattery, changed: true},
			{at: 106, onAC: true, battery: 29, want: power.MaxBattery},
			{at: 109, onAC: true, battery: 29, want: power.MaxPerformance, changed: true, reason: "on AC"},
		}},
		{"a loose plug does not flap the mode", power.DefaultAutoSwitchConfig(), []step{
			{at: 0, onAC: true, battery: 90, want: power.Balanced, changed: true},
			{at: 10, onAC: false, battery: 20, want: power.Balanced},
			{at: 11, onAC: true, battery: 20, want: power.Balanced},
			{at: 12, onAC: false, battery: 20, want: power.Balanced}, // the debounce starts again
			{at: 14, onAC: false, battery: 20, want: power.Balanced},
			{at: 15, onAC: false, battery: 20, want: power.MaxBattery, changed: true, reason: "low"},
		}},
		{"starting on battery, low", power.DefaultAutoSwitchConfig(), []step{
			{at: 0, onAC: false, battery: 12, want: power.MaxBattery, changed: true},
			{at: 1, onAC: false, battery: 12, want: power.MaxBattery},
		}},
		{"the user's choice wins", power.DefaultAutoSwitchConfig(), []step{
			{at: 0, onAC: false, battery: 12, want: power.MaxBattery, changed: true},
			{at: 1, onAC: false, battery: 12, override: "set:gaming", want: power.Gaming, changed: true, reason: "user"},
			{at: 50, onAC: true, battery: 12, want: power.Gaming},
			{at: 60, onAC: true, battery: 12, want: power.Gaming},
			{at: 61, onAC: true, battery: 12, override: "clear", want: power.Balanced, changed: true, reason: "on AC"},
		}},
		{"no battery", power.DefaultAutoSwitchConfig(), []step{
			{at: 0, onAC: true, battery: -1, want: power.Balanced, changed: true},
		}},
		{"time going backwards counts as none", power.DefaultAutoSwitchConfig(), []step{
			{at: 100, onAC: true, battery: 50, want: power.Balanced, changed: true},
			{at: 101, onAC: false, battery: 50, want: power.Balanced},
			{at: 50, onAC: false, battery: 20, want: power.Balanced},
			{at: 104, onAC: false, battery: 20, want: power.MaxBattery, changed: true},
		}},
	}
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := power.NewAutoSwitch(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tt.steps {
				switch {
				case strings.HasPrefix(s.override, "set:"):
					m, err := power.ParseMode(strings.TrimPrefix(s.override, "set:"))
					if err != nil {
						t.Fatal(err)
					}
					if err := a.SetOverride(m); err != nil {
						t.Fatal(err)
					}
					if got, ok := a.Override(); !ok || got != m {
						t.Errorf("Override() = %v, %v; want %v, true", got, ok, m)
					}
				case s.override == "clear":
					a.ClearOverride()
					if _, ok := a.Override(); ok {
						t.Error("Override() still set after ClearOverride")
					}
				}
				h := power.Host{OnAC: s.onAC, HasBattery: s.battery >= 0, BatteryPercent: s.battery}
				d := a.Update(h, start.Add(time.Duration(s.at)*time.Second))
				if d.Mode != s.want || d.Changed != s.changed || !strings.Contains(d.Reason, s.reason) {
					t.Errorf("t = %d s (AC %v, %v %%): Update = %v, changed %v, %q; want %v, changed %v, reason with %q",
						s.at, s.onAC, s.battery, d.Mode, d.Changed, d.Reason, s.want, s.changed, s.reason)
				}
				if a.Mode() != d.Mode {
					t.Errorf("Mode() = %v after Update returned %v", a.Mode(), d.Mode)
				}
			}
		})
	}
}

func TestAutoSwitchConfig(t *testing.T) {
	if _, err := power.NewAutoSwitch(power.DefaultAutoSwitchConfig()); err != nil {
		t.Fatalf("NewAutoSwitch(default) = %v", err)
	}
	tests := []struct {
		name   string
		change func(*power.AutoSwitchConfig)
	}{
		{"bad AC mode", func(c *power.AutoSwitchConfig) { c.OnAC = 7 }},
		{"bad battery mode", func(c *power.AutoSwitchConfig) { c.OnBattery = -1 }},
		{"resume below low", func(c *power.AutoSwitchConfig) { c.ResumePercent = 20 }},
		{"resume equal to low", func(c *power.AutoSwitchConfig) { c.ResumePercent = c.LowBatteryPercent }},
		{"resume over 100", func(c *power.AutoSwitchConfig) { c.ResumePercent = 120 }},
		{"low NaN", func(c *power.AutoSwitchConfig) { c.LowBatteryPercent = nan() }},
		{"negative debounce", func(c *power.AutoSwitchConfig) { c.Debounce = -time.Second }},
	}
	for _, tt := range tests {
		c := power.DefaultAutoSwitchConfig()
		tt.change(&c)
		if _, err := power.NewAutoSwitch(c); !errors.Is(err, power.ErrConfig) {
			t.Errorf("%s: NewAutoSwitch = %v; want ErrConfig", tt.name, err)
		}
	}
	a, _ := power.NewAutoSwitch(power.DefaultAutoSwitchConfig())
	if err := a.SetOverride(power.Mode(9)); !errors.Is(err, power.ErrUnknownMode) {
		t.Errorf("SetOverride(Mode(9)) = %v; want ErrUnknownMode", err)
	}
}

// TestAutoSwitchSteadyAllocatesNothing: a tick in the same state writes
// no new reason.
func TestAutoSwitchSteadyAllocatesNothing(t *testing.T) {
	a, err := power.NewAutoSwitch(power.DefaultAutoSwitchConfig())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	for _, h := range []power.Host{{OnAC: true}, {HasBattery: true, BatteryPercent: 60}, {HasBattery: true, BatteryPercent: 5}} {
		a.Update(h, now)
		now = now.Add(time.Hour) // past the debounce of a change of source
		first := a.Update(h, now)
		if n := testing.AllocsPerRun(20, func() {
			now = now.Add(time.Minute)
			if d := a.Update(h, now); d.Reason != first.Reason {
				t.Errorf("the reason changed from %q to %q in a steady state", first.Reason, d.Reason)
			}
		}); n != 0 {
			t.Errorf("%+v: Update allocates %v times a tick; want 0", h, n)
		}
	}
}
