package power_test

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/krystalstack/gamesa/optimizer/power"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

var now = time.Date(2025, 11, 25, 20, 0, 0, 0, time.UTC)

// perCPU expands one value to "name cpuN" keys for the given CPUs.
func perCPU(want map[string]string, name, value string, cpus ...int) {
	for _, c := range cpus {
		want[key(name, "cpu"+strconv.Itoa(c))] = value
	}
}

// TestPlanFor checks every action each mode plans for a laptop (intel
// pstate, EPP, platform profile, backlight), a desktop (acpi-cpufreq,
// RAPL, NVML, SATA) and a VM (no knobs): the whole plan, not a sample.
func TestPlanFor(t *testing.T) {
	laptop, desktop, vm := loadKnobs(t, "laptop"), loadKnobs(t, "desktop"), loadKnobs(t, "vm")
	all8 := []int{0, 1, 2, 3, 4, 5, 6, 7}
	tests := []struct {
		name  string
		mode  power.Mode
		host  power.Host
		want  func(map[string]string)
		notes []string // substrings the notes must contain
	}{
		{"laptop balanced", power.Balanced, power.Host{Knobs: laptop}, func(w map[string]string) {
			// Everything else already holds the balanced value.
			w[key("usb.autosuspend", "1-3")] = "on"
		}, nil},
		{"laptop max battery", power.MaxBattery, power.Host{Knobs: laptop}, func(w map[string]string) {
			w[key("platform.profile", "")] = "low-power"
			perCPU(w, "cpufreq.epp", "power", 0, 1, 2, 3)
			w[key("cpufreq.boost", "")] = "0"
			w[key("backlight.brightness", "intel_backlight")] = "7680" // 40 % of 19200
			w[key("usb.autosuspend", "1-2")] = "auto"
			w[key("pcie.aspm_policy", "")] = "powersupersave"
		}, nil},
		{"laptop max performance", power.MaxPerformance, power.Host{Knobs: laptop}, func(w map[string]string) {
			w[key("platform.profile", "")] = "performance"
			perCPU(w, "cpufreq.governor", "performance", 0, 1, 2, 3)
			perCPU(w, "cpufreq.epp", "performance", 0, 1, 2, 3)
			w[key("usb.autosuspend", "1-3")] = "on"
			w[key("pcie.aspm_policy", "")] = "performance"
		}, nil},
		{"laptop gaming on cores 2-3", power.Gaming, power.Host{Knobs: laptop, GameCores: []int{2, 3}}, func(w map[string]string) {
			w[key("platform.profile", "")] = "performance"
			perCPU(w, "cpufreq.governor", "performance", 2, 3)
			perCPU(w, "cpufreq.epp", "performance", 2, 3)
			perCPU(w, "cpufreq.min_khz", "2350000", 2, 3) // 50 % of 4.7 GHz
			w[key("pmqos.cpu_dma_latency_us", "")] = "50"
			w[key("usb.autosuspend", "1-3")] = "on"
			w[key("pcie.aspm_policy", "")] = "performance"
		}, nil},
		{"desktop balanced", power.Balanced, power.Host{Knobs: desktop}, func(w map[string]string) {
			w[key("nvml.power_limit_mw", "gpu0")] = "314500" // 85 % of 370 W
			w[key("sata.link_power", "host0")] = "med_power_with_dipm"
			w[key("sata.link_power", "host1")] = "med_power_with_dipm"
		}, nil},
		{"desktop max battery", power.MaxBattery, power.Host{Knobs: desktop}, func(w map[string]string) {
			perCPU(w, "cpufreq.governor", "powersave", all8...)
			w[key("cpufreq.boost", "")] = "0"
			w[key("nvml.power_limit_mw", "gpu0")] = "100000"
			w[key("pcie.aspm_policy", "")] = "powersupersave"
			w[key("sata.link_power", "host0")] = "med_power_with_dipm"
			w[key("sata.link_power", "host1")] = "med_power_with_dipm"
		}, nil},
		{"desktop max performance", power.MaxPerformance, power.Host{Knobs: desktop}, func(w map[string]string) {
			perCPU(w, "cpufreq.governor", "performance", all8...)
			w[key("nvml.power_limit_mw", "gpu0")] = "370000"
			w[key("pcie.aspm_policy", "")] = "performance"
		}, nil},
		{"desktop gaming, every core", power.Gaming, power.Host{Knobs: desktop}, func(w map[string]string) {
			perCPU(w, "cpufreq.governor", "performance", all8...)
			perCPU(w, "cpufreq.min_khz", "2250000", all8...)
			w[key("pmqos.cpu_dma_latency_us", "")] = "50"
			w[key("nvml.power_limit_mw", "gpu0")] = "370000"
			w[key("pcie.aspm_policy", "")] = "performance"
		}, nil},
		{"vm gaming", power.Gaming, power.Host{Knobs: vm}, func(map[string]string) {},
			[]string{"none of the knobs mode GAMING manages is present"}},
		{"vm balanced", power.Balanced, power.Host{}, func(map[string]string) {},
			[]string{"none of the knobs mode BALANCED manages is present"}},
		{"laptop with power-profiles-daemon", power.MaxBattery,
			power.Host{Knobs: withOwner(laptop, "power-profiles-daemon", "platform.profile", "cpufreq.epp", "cpufreq.boost")},
			func(w map[string]string) {
				w[key("backlight.brightness", "intel_backlight")] = "7680"
				w[key("usb.autosuspend", "1-2")] = "auto"
				w[key("pcie.aspm_policy", "")] = "powersupersave"
			},
			[]string{"platform.profile: managed by power-profiles-daemon", "cpufreq.epp: managed by power-profiles-daemon (4 targets)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := map[string]string{}
			tt.want(want)
			plan, notes := power.PlanFor(tt.mode, tt.host, now)
			if plan.GetMode() != tt.mode.String() || !plan.GetTime().AsTime().Equal(now) {
				t.Errorf("plan mode %q at %v; want %q at %v", plan.GetMode(), plan.GetTime().AsTime(), tt.mode, now)
			}
			got := actionMap(t, plan.GetActions())
			for k, v := range want {
				a, ok := got[k]
				switch {
				case !ok:
					t.Errorf("PlanFor(%v) has no action for %s; want %q", tt.mode, k, v)
				case a.GetValue() != v:
					t.Errorf("PlanFor(%v) sets %s = %q; want %q", tt.mode, k, a.GetValue(), v)
				}
			}
			for k, a := range got {
				if _, ok := want[k]; !ok {
					t.Errorf("PlanFor(%v) sets %s = %q; want no action", tt.mode, k, a.GetValue())
				}
			}
			joined := strings.Join(notes, "\n")
			for _, n := range tt.notes {
				if !strings.Contains(joined, n) {
					t.Errorf("PlanFor(%v) notes %q; want one containing %q", tt.mode, notes, n)
				}
			}
			if len(plan.GetActions()) == 0 && len(notes) == 0 && len(tt.host.Knobs) == 0 {
				t.Errorf("PlanFor(%v) on a bare host: empty plan and no note; want a reason", tt.mode)
			}
		})
	}
}

// TestPlanForInvariants holds for every mode on every fixture, with knobs
// owned, read-only and badly described mixed in: actions only for knobs
// present, writable and unowned; values within bounds and choices; a
// reason naming the mode; no action that changes nothing.
func TestPlanForInvariants(t *testing.T) {
	hosts := map[string][]*gamesav1.Knob{
		"laptop":  loadKnobs(t, "laptop"),
		"desktop": loadKnobs(t, "desktop"),
		"owned":   withOwner(loadKnobs(t, "desktop"), "tuned", "cpufreq.governor", "pmqos.cpu_dma_latency_us", "sata.link_power"),
	}
	odd := loadKnobs(t, "laptop")
	for _, k := range odd {
		switch k.GetName() {
		case "backlight.brightness":
			k.Writable = false
		case "cpufreq.min_khz":
			k.Min, k.Max = "high", "low"
		case "cpufreq.epp":
			k.Choices = []string{"something_else"}
		}
	}
	hosts["odd"] = odd
	for name, knobs := range hosts {
		index := map[string]*gamesav1.Knob{}
		for _, k := range knobs {
			index[key(k.GetName(), k.GetTarget())] = k
		}
		for _, m := range power.Modes() {
			plan, _ := power.PlanFor(m, power.Host{Knobs: knobs, GameCores: []int{1}}, now)
			for _, a := range plan.GetActions() {
				k := index[key(a.GetKnob(), a.GetTarget())]
				what := fmt.Sprintf("%s %v: %s %q = %q", name, m, a.GetKnob(), a.GetTarget(), a.GetValue())
				switch {
				case k == nil:
					t.Errorf("%s: knob not in the inventory", what)
					continue
				case !k.GetWritable() || k.GetOwner() != "":
					t.Errorf("%s: knob writable %v, owner %q; want writable and unowned", what, k.GetWritable(), k.GetOwner())
				case a.GetValue() == k.GetValue():
					t.Errorf("%s: the knob already holds it", what)
				case len(a.GetReasons()) == 0 || !strings.HasPrefix(a.GetReasons()[0], "mode "+m.String()+": "):
					t.Errorf("%s: reasons %q; want the first to start with \"mode %s: \"", what, a.GetReasons(), m)
				}
				if len(k.GetChoices()) > 0 && !slices.Contains(k.GetChoices(), a.GetValue()) {
					t.Errorf("%s: not one of %q", what, k.GetChoices())
				}
				if k.GetMin() != "" || k.GetMax() != "" {
					v, err1 := strconv.ParseFloat(a.GetValue(), 64)
					lo, err2 := strconv.ParseFloat(k.GetMin(), 64)
					hi, err3 := strconv.ParseFloat(k.GetMax(), 64)
					if err := errors.Join(err1, err2, err3); err != nil || v < lo || v > hi {
						t.Errorf("%s: want a number within %s..%s (%v)", what, k.GetMin(), k.GetMax(), err)
					}
				}
			}
		}
	}
}

// TestPlanForIsStateless: a mode's plan leaves the knobs the same whatever
// mode came before (the backlight aside, which no mode brightens).
func TestPlanForIsStateless(t *testing.T) {
	for _, fixture := range []string{"laptop", "desktop"} {
		start := loadKnobs(t, fixture)
		h := power.Host{GameCores: []int{0, 1}}
		for _, a := range power.Modes() {
			for _, b := range power.Modes() {
				h.Knobs = start
				pa, _ := power.PlanFor(a, h, now)
				h.Knobs = applied(start, pa.GetActions())
				pb, _ := power.PlanFor(b, h, now)
				after := applied(h.Knobs, pb.GetActions())

				h.Knobs = start
				direct, _ := power.PlanFor(b, h, now)
				want := applied(start, direct.GetActions())
				for i := range after {
					if after[i].GetName() == "backlight.brightness" {
						continue
					}
					if after[i].GetValue() != want[i].GetValue() {
						t.Errorf("%s: %v then %v leaves %s %q = %q; %v alone gives %q", fixture, a, b,
							after[i].GetName(), after[i].GetTarget(), after[i].GetValue(), b, want[i].GetValue())
					}
				}
			}
		}
	}
}

func TestPlanForBacklight(t *testing.T) {
	tests := []struct {
		cur  string
		mode power.Mode
		want string // "" for no action
	}{
		{"19200", power.MaxBattery, "7680"},
		{"7681", power.MaxBattery, "7680"},
		{"7680", power.MaxBattery, ""}, // already dim enough
		{"1000", power.MaxBattery, ""}, // dimmer than that: the user's choice
		{"1000", power.Balanced, ""},   // never brightened
		{"1000", power.Gaming, ""},
	}
	for _, tt := range tests {
		k := &gamesav1.Knob{Name: "backlight.brightness", Target: "intel_backlight", Value: tt.cur, Min: "192", Max: "19200", Writable: true}
		plan, _ := power.PlanFor(tt.mode, power.Host{Knobs: []*gamesav1.Knob{k}}, now)
		got := ""
		if len(plan.GetActions()) > 0 {
			got = plan.GetActions()[0].GetValue()
		}
		if got != tt.want {
			t.Errorf("PlanFor(%v) with brightness %s sets %q; want %q", tt.mode, tt.cur, got, tt.want)
		}
	}
}

func TestPlanForInvalidMode(t *testing.T) {
	plan, notes := power.PlanFor(power.Mode(42), power.Host{Knobs: loadKnobs(t, "laptop")}, now)
	if len(plan.GetActions()) != 0 || len(notes) != 1 || !strings.Contains(notes[0], "not a mode") {
		t.Errorf("PlanFor(Mode(42)) = %d actions, notes %q; want none and a note", len(plan.GetActions()), notes)
	}
}

func TestModeConfig(t *testing.T) {
	if err := power.DefaultModeConfig().Validate(); err != nil {
		t.Fatalf("DefaultModeConfig().Validate() = %v", err)
	}
	tests := []struct {
		name   string
		change func(*power.ModeConfig)
	}{
		{"negative latency", func(c *power.ModeConfig) { c.GamingLatencyUS = -1 }},
		{"min freq over 100", func(c *power.ModeConfig) { c.GamingMinFreqPercent = 101 }},
		{"backlight NaN", func(c *power.ModeConfig) { c.BatteryBacklightPercent = nan() }},
		{"GPU negative", func(c *power.ModeConfig) { c.BalancedGPUPercent = -5 }},
	}
	for _, tt := range tests {
		c := power.DefaultModeConfig()
		tt.change(&c)
		if err := c.Validate(); !errors.Is(err, power.ErrConfig) {
			t.Errorf("%s: Validate() = %v; want ErrConfig", tt.name, err)
		}
	}
	// A config takes effect: a 20 µs Gaming latency.
	c := power.DefaultModeConfig()
	c.GamingLatencyUS = 20
	plan, _ := c.PlanFor(power.Gaming, power.Host{Knobs: loadKnobs(t, "desktop")}, now)
	if a := actionMap(t, plan.GetActions())[key("pmqos.cpu_dma_latency_us", "")]; a.GetValue() != "20" {
		t.Errorf("GamingLatencyUS 20: pmqos action %v; want 20", a)
	}
}

func TestMerge(t *testing.T) {
	act := func(knob, target, value, why string) *gamesav1.Action {
		return &gamesav1.Action{Knob: knob, Target: target, Value: value, Reasons: []string{why}}
	}
	mode := &gamesav1.Plan{Mode: "GAMING", Actions: []*gamesav1.Action{
		act("nvml.power_limit_mw", "gpu0", "370000", "mode"),
		act("cpufreq.epp", "cpu0", "performance", "mode"),
		act("rapl.pl1_uw", "package-0", "15000000", "mode battery"),
	}}
	capActs := []*gamesav1.Action{
		act("nvml.power_limit_mw", "gpu0", "200000", "cap"),    // lower: the cap wins
		act("rapl.pl1_uw", "package-0", "30000000", "cap"),     // higher: the mode's stays
		act("cpufreq.max_khz", "cpu0", "3000000", "cap"),       // only the cap's
		act("cpufreq.epp", "cpu0", "balance_performance", "x"), // not a limit: the cap's
	}
	got := actionMap(t, power.Merge(mode, capActs).GetActions())
	tests := []struct {
		k, value string
		reasons  []string
	}{
		{key("nvml.power_limit_mw", "gpu0"), "200000", []string{"cap", "mode"}},
		{key("rapl.pl1_uw", "package-0"), "15000000", []string{"mode battery", "cap"}},
		{key("cpufreq.max_khz", "cpu0"), "3000000", []string{"cap"}},
		{key("cpufreq.epp", "cpu0"), "balance_performance", []string{"x", "mode"}},
	}
	if len(got) != len(tests) {
		t.Errorf("Merge: %d actions; want %d", len(got), len(tests))
	}
	for _, tt := range tests {
		a := got[tt.k]
		if a.GetValue() != tt.value || !slices.Equal(a.GetReasons(), tt.reasons) {
			t.Errorf("Merge: %s = %q %q; want %q %q", tt.k, a.GetValue(), a.GetReasons(), tt.value, tt.reasons)
		}
	}
	if capActs[0].GetReasons()[0] != "cap" || len(capActs[0].GetReasons()) != 1 {
		t.Errorf("Merge changed the cap's actions: %v", capActs[0])
	}
	if p := power.Merge(nil, capActs[:1]); len(p.GetActions()) != 1 {
		t.Errorf("Merge(nil, one action) = %v; want a plan with it", p)
	}
}
