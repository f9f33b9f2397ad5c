package sim

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// The knobs a simulated machine has, named as plan.proto names them. They
// are the power and frequency limits that a power cap is enforced through
// on real hardware, so a control loop written against the actuators can run
// on the simulation unchanged.
const (
	knobPL1    = "rapl.pl1_uw"
	knobPL2    = "rapl.pl2_uw"
	knobGPU    = "nvml.power_limit_mw"
	knobMaxKHz = "cpufreq.max_khz"

	raplTarget = "package-0"
	gpuTarget  = "gpu0"
	// raplFloorW is the lowest RAPL limit the simulated package accepts.
	// Below what MinMHz needs it runs at MinMHz and exceeds the limit, as
	// a real package must.
	raplFloorW = 1
)

// limits are the power and frequency limits in force during one Sample
// call: a copy, taken under the lock, of what the setters last set.
type limits struct {
	pl1    float64   // RAPL PL1, W; 0 for none beyond TDPWatts
	pl2    float64   // RAPL PL2, W; 0 for TDPWatts
	gpu    float64   // GPU power limit, W; 0 for GPU.TDPWatts
	maxMHz []float64 // per core: the highest frequency cpufreq allows
}

// shortTermLimit is the package's instantaneous power limit: TDPWatts, or
// a lower PL2.
func (m *Machine) shortTermLimit() float64 {
	if pl2 := m.lim.pl2; pl2 > 0 {
		return min(m.cfg.TDPWatts, pl2)
	}
	return m.cfg.TDPWatts
}

// powerLimit is the most power the package may draw during the next h
// seconds: the short-term limit, and PL1 — within the step when there is
// no window, else as much as keeps the running average at or below PL1.
func (m *Machine) powerLimit(h float64) float64 {
	limit := m.shortTermLimit()
	pl1 := m.lim.pl1
	if pl1 <= 0 {
		return limit
	}
	w := m.cfg.PowerLimitWindow.Seconds()
	if w == 0 || h == 0 {
		return min(limit, pl1)
	}
	return min(limit, raplBudget(m.raplAvg, pl1, w, h))
}

// raplBudget is the most power that, drawn for h seconds, leaves a running
// average (time constant w) that starts at avg at or below limit: above
// limit while the average is below it (the turbo budget a lull leaves),
// below it while the average is above (after the limit was lowered).
func raplBudget(avg, limit, w, h float64) float64 {
	return avg + (limit-avg)/-math.Expm1(-h/w)
}

// raplAverage advances the running average of package power by h seconds
// at p watts.
func raplAverage(avg, p, window, h float64) float64 {
	if window == 0 {
		return p
	}
	return avg + (p-avg)*-math.Expm1(-h/window)
}

// gpuPowerLimit is the GPU's power limit in force.
func (m *Machine) gpuPowerLimit() float64 {
	if m.lim.gpu > 0 {
		return m.lim.gpu
	}
	return m.cfg.GPU.TDPWatts
}

// knobRange is one knob's bounds as integers in its unit.
type knobRange struct {
	unit     string
	min, max int64
}

// ranges returns the bounds of the four kinds of knob; the GPU's only
// when there is one.
func (c *Config) ranges() map[string]knobRange {
	r := map[string]knobRange{
		knobPL1:    {"uW", raplFloorW * 1e6, int64(math.Floor(c.TDPWatts * 1e6))},
		knobPL2:    {"uW", raplFloorW * 1e6, int64(math.Floor(c.TDPWatts * 1e6))},
		knobMaxKHz: {"kHz", int64(math.Ceil(c.MinMHz * 1e3)), int64(math.Floor(c.MaxMHz * 1e3))},
	}
	if g := c.GPU; g != nil {
		// NVML reports half the default limit as the lowest for most boards.
		r[knobGPU] = knobRange{"mW", int64(math.Ceil(g.TDPWatts / 2 * 1e3)), int64(math.Floor(g.TDPWatts * 1e3))}
	}
	return r
}

// Inventory lists the machine's knobs with their current values and
// bounds, as the actuators' Set.Inventory lists a real host's (the
// signature is the same, so one interface serves both): rapl.pl1_uw and
// rapl.pl2_uw for "package-0" (µW, up to TDPWatts), nvml.power_limit_mw
// for "gpu0" when there is a GPU (mW, half its TDP up to its TDP), and
// cpufreq.max_khz for each "cpuN" (kHz, MinMHz..MaxMHz). All are writable
// and no other tuner owns them. It fails only when ctx is done.
func (m *Machine) Inventory(ctx context.Context) ([]*gamesav1.Knob, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	cfg := &m.cfg
	r := cfg.ranges()
	knob := func(name, target string, value float64) *gamesav1.Knob {
		kr := r[name]
		return &gamesav1.Knob{
			Name: name, Target: target, Unit: kr.unit, Writable: true,
			Value: strconv.FormatInt(int64(math.Round(value)), 10),
			Min:   strconv.FormatInt(kr.min, 10), Max: strconv.FormatInt(kr.max, 10),
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	pl1, pl2 := cfg.TDPWatts, cfg.TDPWatts
	if m.powerCap > 0 {
		pl1 = m.powerCap
	}
	if m.pl2 > 0 {
		pl2 = m.pl2
	}
	out := make([]*gamesav1.Knob, 0, 3+cfg.Cores)
	out = append(out, knob(knobPL1, raplTarget, pl1*1e6), knob(knobPL2, raplTarget, pl2*1e6))
	if g := cfg.GPU; g != nil {
		w := g.TDPWatts
		if m.gpuLimit > 0 {
			w = m.gpuLimit
		}
		out = append(out, knob(knobGPU, gpuTarget, w*1e3))
	}
	for c, f := range m.maxMHz {
		out = append(out, knob(knobMaxKHz, "cpu"+strconv.Itoa(c), f*1e3))
	}
	return out, nil
}

// Apply sets the knobs that plan's actions name, in order, as the
// actuators would on a real host: a value is an integer in the knob's unit
// within the bounds Inventory reports, and cpufreq.max_khz with an empty
// target sets every core. An action the machine cannot take (ErrNoKnob,
// ErrKnobValue) is skipped and the rest are applied; the error joins one
// error per skipped action. A done ctx applies nothing. A limit lowered on
// rapl.pl1_uw is met as Config.PowerLimitWindow says; the others hold from
// the next step on.
func (m *Machine) Apply(ctx context.Context, plan *gamesav1.Plan) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	r := m.cfg.ranges()
	var errs []error
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, a := range plan.GetActions() {
		if err := m.apply(r, a); err != nil {
			errs = append(errs, fmt.Errorf("sim: action %d (%s %q = %q): %w", i, a.GetKnob(), a.GetTarget(), a.GetValue(), err))
		}
	}
	return errors.Join(errs...)
}

// apply sets one knob; m.mu is held.
func (m *Machine) apply(r map[string]knobRange, a *gamesav1.Action) error {
	kr, ok := r[a.GetKnob()]
	if !ok {
		return ErrNoKnob
	}
	core := -1
	switch a.GetKnob() {
	case knobPL1, knobPL2:
		if a.GetTarget() != raplTarget {
			return fmt.Errorf("target: want %q: %w", raplTarget, ErrNoKnob)
		}
	case knobGPU:
		if a.GetTarget() != gpuTarget {
			return fmt.Errorf("target: want %q: %w", gpuTarget, ErrNoKnob)
		}
	case knobMaxKHz:
		if t := a.GetTarget(); t != "" {
			n, ok := strings.CutPrefix(t, "cpu")
			c, err := strconv.Atoi(n)
			if !ok || err != nil || c < 0 || c >= len(m.maxMHz) || n != strconv.Itoa(c) {
				return fmt.Errorf("target: want cpu0..cpu%d or empty for all: %w", len(m.maxMHz)-1, ErrNoKnob)
			}
			core = c
		}
	}
	v, err := strconv.ParseInt(strings.TrimSpace(a.GetValue()), 10, 64)
	if err != nil || v < kr.min || v > kr.max {
		return fmt.Errorf("want an integer within %d..%d %s: %w", kr.min, kr.max, kr.unit, ErrKnobValue)
	}
	switch a.GetKnob() {
	case knobPL1:
		m.powerCap = float64(v) / 1e6
	case knobPL2:
		m.pl2 = float64(v) / 1e6
	case knobGPU:
		m.gpuLimit = float64(v) / 1e3
	case knobMaxKHz:
		for c := range m.maxMHz {
			if core < 0 || c == core {
				m.maxMHz[c] = float64(v) / 1e3
			}
		}
	}
	return nil
}
