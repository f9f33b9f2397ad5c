package power

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// The knobs this package plans for, as plan.proto names them. The
// optimizer may not import the actuators, so the names are spelled here.
const (
	knobGovernor   = "cpufreq.governor"
	knobMinKHz     = "cpufreq.min_khz"
	knobMaxKHz     = "cpufreq.max_khz"
	knobEPP        = "cpufreq.epp"
	knobBoost      = "cpufreq.boost"
	knobProfile    = "platform.profile"
	knobLatency    = "pmqos.cpu_dma_latency_us"
	knobPL1        = "rapl.pl1_uw"
	knobPL2        = "rapl.pl2_uw"
	knobGPUPower   = "nvml.power_limit_mw"
	knobBacklight  = "backlight.brightness"
	knobUSBSuspend = "usb.autosuspend"
	knobASPM       = "pcie.aspm_policy"
	knobSATALink   = "sata.link_power"
)

// number parses a knob's numeric text; ok is false for anything that is
// not a finite number.
func number(s string) (v float64, ok bool) {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false
	}
	return v, true
}

// bounds returns a numeric knob's inclusive bounds.
func bounds(k *gamesav1.Knob) (lo, hi float64, ok bool) {
	lo, okLo := number(k.GetMin())
	hi, okHi := number(k.GetMax())
	if !okLo || !okHi || hi < lo {
		return 0, 0, false
	}
	return lo, hi, true
}

// formatInt writes v, rounded to an integer and clamped to [lo, hi], as a
// knob value. Knob values are integers in the knob's unit.
func formatInt(v, lo, hi float64) string { return string(appendInt(nil, v, lo, hi)) }

// appendInt is formatInt appending to b.
func appendInt(b []byte, v, lo, hi float64) []byte {
	r := math.Round(min(max(v, lo), hi))
	// Rounding may step over a fractional bound; the integers inside the
	// bounds are the only values the knob takes.
	if r > hi {
		r = math.Floor(hi)
	}
	if r < lo {
		r = math.Ceil(lo)
	}
	return strconv.AppendFloat(b, r, 'f', 0, 64)
}

// unusable says why GAMESA must leave a knob alone, or "" when it may set
// it: it must be writable and no other tuner may manage it.
func unusable(k *gamesav1.Knob) string {
	switch {
	case k.GetOwner() != "":
		return "managed by " + k.GetOwner()
	case !k.GetWritable():
		return "not writable"
	}
	return ""
}

// usable reports whether GAMESA may set k: unusable(k) == "", without
// the text.
func usable(k *gamesav1.Knob) bool { return k.GetOwner() == "" && k.GetWritable() }

// cpuIndex reads a "cpuN" target; ok is false for any other target.
func cpuIndex(target string) (int, bool) {
	n, ok := strings.CutPrefix(target, "cpu")
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(n)
	if err != nil || i < 0 || n != strconv.Itoa(i) {
		return 0, false
	}
	return i, true
}

// notes collects why knobs got no action, counting targets, so that
// sixteen CPUs make one line rather than sixteen.
type notes struct {
	order []string
	count map[string]int
}

func (n *notes) add(knob, why string) {
	if n.count == nil {
		n.count = map[string]int{}
	}
	key := knob + ": " + why
	if n.count[key] == 0 {
		n.order = append(n.order, key)
	}
	n.count[key]++
}

// lines returns the notes, each with its count of targets when above one.
func (n *notes) lines() []string {
	out := make([]string, 0, len(n.order))
	for _, key := range n.order {
		if c := n.count[key]; c > 1 {
			out = append(out, fmt.Sprintf("%s (%d targets)", key, c))
			continue
		}
		out = append(out, key)
	}
	return out
}

// sortedKeysInto returns m's keys in order, in buf[:0].
func sortedKeysInto[V any](buf []string, m map[string]V) []string {
	keys := buf[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// containsInt reports whether xs holds x.
func containsInt(xs []int, x int) bool { return slices.Contains(xs, x) }
