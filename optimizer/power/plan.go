package power

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// ModeConfig holds the numbers the modes use. Start from
// DefaultModeConfig.
type ModeConfig struct {
	// GamingLatencyUS is the PM QoS CPU latency request Gaming holds, µs:
	// low enough to keep the cores out of deep C-states (whose exit
	// latency is 100 µs or more on recent x86 parts) and so off the frame
	// path, high enough to leave the shallow ones that cost little power.
	GamingLatencyUS int64
	// GamingMinFreqPercent is the floor of the game's cores in Gaming, as a
	// percentage of their maximum frequency: the governor need not ramp up
	// from idle clocks when a frame starts.
	GamingMinFreqPercent float64
	// BatteryBacklightPercent is the brightness MaxBattery dims the
	// backlight to, as a percentage of its maximum; a dimmer setting the
	// user chose is kept.
	BatteryBacklightPercent float64
	// BalancedGPUPercent is Balanced's GPU power limit as a percentage of
	// the highest the board accepts. The inventory does not carry the
	// board's default limit, which is 75–100 % of that on most boards.
	BalancedGPUPercent float64
}

// DefaultModeConfig returns the values the package documents.
func DefaultModeConfig() ModeConfig {
	return ModeConfig{
		GamingLatencyUS:         50,
		GamingMinFreqPercent:    50,
		BatteryBacklightPercent: 40,
		BalancedGPUPercent:      85,
	}
}

// Validate reports every field out of range.
func (c ModeConfig) Validate() error {
	var errs []error
	percent := func(name string, v float64) {
		if !(v >= 0 && v <= 100) {
			errs = append(errs, fmt.Errorf("%w: %s = %v: must be within 0..100", ErrConfig, name, v))
		}
	}
	if c.GamingLatencyUS < 0 {
		errs = append(errs, fmt.Errorf("%w: GamingLatencyUS = %d: must be ≥ 0", ErrConfig, c.GamingLatencyUS))
	}
	percent("GamingMinFreqPercent", c.GamingMinFreqPercent)
	percent("BatteryBacklightPercent", c.BatteryBacklightPercent)
	percent("BalancedGPUPercent", c.BalancedGPUPercent)
	return errors.Join(errs...)
}

// PlanFor is DefaultModeConfig().PlanFor.
func PlanFor(mode Mode, h Host, now time.Time) (*gamesav1.Plan, []string) {
	return DefaultModeConfig().PlanFor(mode, h, now)
}

// PlanFor returns the plan that puts the host in mode at now, and notes
// that say which knobs the mode manages got no action and why.
//
// Each mode names a value for every knob it manages, so a plan does not
// depend on the mode before it; the exception is the backlight, which
// MaxBattery dims and no mode brightens (it is the user's). Actions go
// only to knobs in h.Knobs that are writable and that no other tuner
// manages; enumerated values are the mode's first preference among the
// knob's choices, numeric ones are clamped to the knob's min..max. A knob
// that already holds the mode's value gets no action: the plan lists
// changes. Every action carries the mode and the reason. The power limits
// a cap enforces (rapl.*, cpufreq.max_khz) are the CapController's; the
// GPU's limit is both's, and Merge reconciles them. An unknown mode, or a
// host with nothing to change, gives a plan with no actions and a note.
func (c ModeConfig) PlanFor(mode Mode, h Host, now time.Time) (*gamesav1.Plan, []string) {
	plan := &gamesav1.Plan{Time: timestamppb.New(now), Mode: mode.String()}
	var ns notes
	if !mode.Valid() {
		return plan, []string{fmt.Sprintf("%v is not a mode; nothing planned", mode)}
	}
	managed := 0
	for _, r := range modeRules() {
		for _, k := range h.Knobs {
			if k.GetName() != r.knob {
				continue
			}
			managed++
			if why := unusable(k); why != "" {
				ns.add(k.GetName(), why)
				continue
			}
			v, text, skip := r.decide(&c, mode, &h, k)
			if skip != "" {
				ns.add(k.GetName(), skip)
				continue
			}
			if v == "" || sameValue(v, k.GetValue()) {
				continue
			}
			if cs := k.GetChoices(); len(cs) > 0 && !slices.Contains(cs, v) {
				// A numeric value for a knob that lists choices: the
				// inventory contradicts itself; leave the knob alone.
				ns.add(k.GetName(), fmt.Sprintf("%s is not among its choices", v))
				continue
			}
			plan.Actions = append(plan.Actions, &gamesav1.Action{
				Knob: k.GetName(), Target: k.GetTarget(), Value: v,
				Reasons: []string{fmt.Sprintf("mode %s: %s", mode, text)},
			})
		}
	}
	if managed == 0 {
		ns.add("host", fmt.Sprintf("none of the knobs mode %s manages is present; nothing planned", mode))
	}
	return plan, ns.lines()
}

// rule is how the modes set one knob. decide returns the value and the
// reason, "" for no action, or skip saying why the knob cannot take the
// mode's value.
type rule struct {
	knob   string
	decide func(c *ModeConfig, m Mode, h *Host, k *gamesav1.Knob) (value, reason, skip string)
}

// modeRules lists the knobs the modes manage, in the order a plan sets
// them: the firmware profile first (it may move the others), the
// governor before EPP (intel_pstate refuses some EPP values under the
// performance governor), then the rest.
func modeRules() []rule {
	return []rule{
		{knobProfile, func(_ *ModeConfig, m Mode, _ *Host, k *gamesav1.Knob) (string, string, string) {
			switch m {
			case MaxBattery:
				return choose(k, "platform profile %s: the firmware's most frugal limits and fan curve", "low-power", "quiet", "cool", "balanced")
			case MaxPerformance, Gaming:
				return choose(k, "platform profile %s: the firmware's highest sustained power", "performance", "balanced-performance", "balanced")
			}
			return choose(k, "platform profile %s", "balanced")
		}},
		{knobGovernor, func(_ *ModeConfig, m Mode, h *Host, k *gamesav1.Knob) (string, string, string) {
			switch {
			case m == MaxBattery:
				return choose(k, "governor %s keeps clocks low", "powersave", "conservative", "schedutil")
			case m == MaxPerformance:
				return choose(k, "governor %s for throughput", "performance", "schedutil")
			case m == Gaming && h.gameCore(k.GetTarget()):
				return choose(k, "governor %s on the game's cores for frame latency", "performance", "schedutil")
			}
			// Under intel_pstate "powersave" is the balanced governor
			// (EPP does the rest); elsewhere it pins the lowest clock,
			// so schedutil comes first.
			return choose(k, "governor %s follows the load", "schedutil", "ondemand", "powersave")
		}},
		{knobEPP, func(_ *ModeConfig, m Mode, h *Host, k *gamesav1.Knob) (string, string, string) {
			switch {
			case m == MaxBattery:
				return choose(k, "EPP %s to save energy", "power", "balance_power")
			case m == MaxPerformance:
				return choose(k, "EPP %s for throughput", "performance", "balance_performance")
			case m == Gaming && h.gameCore(k.GetTarget()):
				return choose(k, "EPP %s for frame latency", "performance", "balance_performance")
			}
			return choose(k, "EPP %s", "balance_performance", "default", "balance_power")
		}},
		{knobBoost, func(_ *ModeConfig, m Mode, _ *Host, k *gamesav1.Knob) (string, string, string) {
			if m == MaxBattery {
				return choose(k, "boost off (%s): turbo clocks cost more energy than they save", "0")
			}
			return choose(k, "boost on (%s)", "1")
		}},
		{knobMinKHz, func(c *ModeConfig, m Mode, h *Host, k *gamesav1.Knob) (string, string, string) {
			lo, hi, ok := bounds(k)
			if !ok {
				return "", "", "no numeric bounds"
			}
			if m == Gaming && h.gameCore(k.GetTarget()) {
				v := formatInt(hi*c.GamingMinFreqPercent/100, lo, hi)
				return v, fmt.Sprintf("the game's core kept at %s kHz or faster, so frames do not wait for clocks to ramp", v), ""
			}
			v := formatInt(lo, lo, hi)
			return v, "minimum frequency back to the hardware's lowest", ""
		}},
		{knobLatency, func(c *ModeConfig, m Mode, _ *Host, k *gamesav1.Knob) (string, string, string) {
			lo, hi, ok := bounds(k)
			if !ok {
				return "", "", "no numeric bounds"
			}
			if m == Gaming {
				v := formatInt(float64(c.GamingLatencyUS), lo, hi)
				return v, fmt.Sprintf("PM QoS CPU latency %s µs keeps the cores out of deep idle states", v), ""
			}
			return formatInt(hi, lo, hi), "no PM QoS latency request", ""
		}},
		{knobGPUPower, func(c *ModeConfig, m Mode, _ *Host, k *gamesav1.Knob) (string, string, string) {
			lo, hi, ok := bounds(k)
			if !ok {
				return "", "", "no numeric bounds"
			}
			switch m {
			case MaxBattery:
				return formatInt(lo, lo, hi), "GPU at its lowest power limit", ""
			case MaxPerformance, Gaming:
				return formatInt(hi, lo, hi), "GPU at full power", ""
			}
			v := formatInt(hi*c.BalancedGPUPercent/100, lo, hi)
			return v, fmt.Sprintf("GPU power limit %s mW (%.0f %% of its maximum)", v, c.BalancedGPUPercent), ""
		}},
		{knobBacklight, func(c *ModeConfig, m Mode, _ *Host, k *gamesav1.Knob) (string, string, string) {
			if m != MaxBattery {
				return "", "", ""
			}
			lo, hi, ok := bounds(k)
			cur, okCur := number(k.GetValue())
			if !ok || !okCur {
				return "", "", "no numeric value and bounds"
			}
			want := math.Max(lo, math.Round(hi*c.BatteryBacklightPercent/100))
			if cur <= want {
				return "", "", ""
			}
			return formatInt(want, lo, hi), fmt.Sprintf("backlight dimmed to %.0f %%: the panel is a laptop's largest load at rest", c.BatteryBacklightPercent), ""
		}},
		{knobUSBSuspend, func(_ *ModeConfig, m Mode, _ *Host, k *gamesav1.Knob) (string, string, string) {
			switch m {
			case MaxBattery:
				return choose(k, "USB autosuspend %s: idle devices sleep", "auto")
			case Gaming:
				return choose(k, "USB autosuspend %s: input devices never wake late", "on")
			}
			return choose(k, "USB autosuspend %s: devices stay awake, the kernel's default", "on")
		}},
		{knobASPM, func(_ *ModeConfig, m Mode, _ *Host, k *gamesav1.Knob) (string, string, string) {
			switch m {
			case MaxBattery:
				return choose(k, "PCIe ASPM %s: links sleep when idle", "powersupersave", "powersave")
			case MaxPerformance, Gaming:
				return choose(k, "PCIe ASPM %s: no link wake-up latency", "performance")
			}
			return choose(k, "PCIe ASPM %s", "default")
		}},
		{knobSATALink, func(_ *ModeConfig, m Mode, _ *Host, k *gamesav1.Knob) (string, string, string) {
			switch m {
			case MaxBattery:
				return choose(k, "SATA link power %s", "med_power_with_dipm", "min_power")
			case MaxPerformance, Gaming:
				return choose(k, "SATA link power %s: no link wake-up latency", "max_performance")
			}
			return choose(k, "SATA link power %s", "med_power_with_dipm", "medium_power")
		}},
	}
}

// choose returns the first of prefs that the knob accepts, and text
// formatted with it, or a skip note when it accepts none.
func choose(k *gamesav1.Knob, text string, prefs ...string) (string, string, string) {
	for _, p := range prefs {
		if slices.Contains(k.GetChoices(), p) {
			return p, fmt.Sprintf(text, p), ""
		}
	}
	return "", "", fmt.Sprintf("accepts none of %q", prefs)
}

// gameCore reports whether a per-CPU target is one of the game's cores.
// Without GameCores every CPU is; a target that names no CPU (all of
// them) counts as one.
func (h *Host) gameCore(target string) bool {
	if len(h.GameCores) == 0 {
		return true
	}
	i, ok := cpuIndex(target)
	return !ok || containsInt(h.GameCores, i)
}

// Merge adds the cap controller's actions to a mode's plan and returns
// the plan. Where both set the same knob and target, the lower value of a
// limit (rapl.*, nvml.power_limit_mw, cpufreq.max_khz) wins — a cap is a
// ceiling, and a mode that asks for less asks for less still — and the
// action keeps both's reasons; for any other knob the cap's action wins.
// plan is changed in place; capActions are not.
func Merge(plan *gamesav1.Plan, capActions []*gamesav1.Action) *gamesav1.Plan {
	if plan == nil {
		plan = &gamesav1.Plan{}
	}
	index := map[[2]string]*gamesav1.Action{}
	for _, a := range plan.Actions {
		index[[2]string{a.GetKnob(), a.GetTarget()}] = a
	}
	for _, ca := range capActions {
		key := [2]string{ca.GetKnob(), ca.GetTarget()}
		a, ok := index[key]
		if !ok {
			a = &gamesav1.Action{Knob: ca.GetKnob(), Target: ca.GetTarget(), Value: ca.GetValue(), Reasons: slices.Clone(ca.GetReasons())}
			plan.Actions = append(plan.Actions, a)
			index[key] = a
			continue
		}
		mv, okM := number(a.GetValue())
		cv, okC := number(ca.GetValue())
		if isLimit(ca.GetKnob()) && okM && okC && mv <= cv {
			a.Reasons = append(a.Reasons, ca.GetReasons()...)
			continue
		}
		a.Value = ca.GetValue()
		a.Reasons = append(slices.Clone(ca.GetReasons()), a.Reasons...)
	}
	return plan
}

// isLimit reports a knob whose value is a ceiling on power or speed.
func isLimit(knob string) bool {
	switch knob {
	case knobPL1, knobPL2, knobGPUPower, knobMaxKHz:
		return true
	}
	return false
}

// sameValue reports whether two knob values are equal: as numbers where
// both are numbers ("800000" and "800000.0"), else as text.
func sameValue(a, b string) bool {
	x, okA := number(a)
	y, okB := number(b)
	if okA && okB {
		return x == y
	}
	return a == b
}
