package power

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// AutoSwitchConfig says which mode AutoSwitch picks on each kind of power.
// Start from DefaultAutoSwitchConfig.
type AutoSwitchConfig struct {
	// OnAC is the mode on mains power: Balanced or MaxPerformance, say.
	OnAC Mode
	// OnBattery is the mode on battery while the charge is not low.
	OnBattery Mode
	// LowBatteryPercent: on battery at or below this charge, the mode is
	// MaxBattery until the charge is back at ResumePercent or above (or the
	// machine is on AC). The gap keeps a charge reading that wobbles by a
	// percent from flipping the mode.
	LowBatteryPercent float64
	ResumePercent     float64
	// Debounce is how long a change between AC and battery must last
	// before the mode follows it, so that a loose plug does not flap it.
	Debounce time.Duration
}

// DefaultAutoSwitchConfig returns Balanced on AC and on battery, MaxBattery
// from 30 % down to the next charge back at 35 %, and a 3 s debounce.
func DefaultAutoSwitchConfig() AutoSwitchConfig {
	return AutoSwitchConfig{
		OnAC:              Balanced,
		OnBattery:         Balanced,
		LowBatteryPercent: 30,
		ResumePercent:     35,
		Debounce:          3 * time.Second,
	}
}

// Validate reports every field out of range.
func (c AutoSwitchConfig) Validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		m    Mode
	}{{"OnAC", c.OnAC}, {"OnBattery", c.OnBattery}} {
		if !f.m.Valid() {
			errs = append(errs, fmt.Errorf("%w: %s = %v: not a mode", ErrConfig, f.name, f.m))
		}
	}
	if !(c.LowBatteryPercent >= 0 && c.LowBatteryPercent < c.ResumePercent && c.ResumePercent <= 100) {
		errs = append(errs, fmt.Errorf("%w: LowBatteryPercent %v, ResumePercent %v: want 0 ≤ low < resume ≤ 100",
			ErrConfig, c.LowBatteryPercent, c.ResumePercent))
	}
	if c.Debounce < 0 {
		errs = append(errs, fmt.Errorf("%w: Debounce = %v: must be ≥ 0", ErrConfig, c.Debounce))
	}
	return errors.Join(errs...)
}

// Decision is the mode AutoSwitch chose at one tick.
type Decision struct {
	Mode Mode
	// Changed is true when Mode differs from the previous Update's (and on
	// the first Update).
	Changed bool
	// Reason says why, in words a user can read.
	Reason string
}

// AutoSwitch picks the power mode from the power source and the battery
// charge, unless the user has chosen one. It is a plain state machine:
// time comes in with each Update. It is not safe for concurrent use; the
// node's loop owns it and serialises the user's SetOverride with Update.
type AutoSwitch struct {
	cfg AutoSwitchConfig

	started    bool
	mode       Mode
	onAC       bool // the power source the mode follows, after debouncing
	pending    bool // the other source has been seen since pendingAt
	pendingAt  time.Time
	low        bool // on battery with the charge low (with hysteresis)
	override   Mode
	overridden bool
	// reason is the last Decision's reason and what it was written from,
	// written again only when that changes.
	reason reasonMemo
}

// reasonMemo is a Decision.Reason with its inputs: which case, the mode,
// and the battery charge (read by the low-battery case only).
type reasonMemo struct {
	kind    reasonKind
	mode    Mode
	percent float64
	text    string
}

// NewAutoSwitch returns an AutoSwitch with cfg, or cfg's validation error.
func NewAutoSwitch(cfg AutoSwitchConfig) (*AutoSwitch, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &AutoSwitch{cfg: cfg}, nil
}

// SetOverride makes m the mode whatever the power source, until
// ClearOverride: the user's choice wins. It takes effect at the next
// Update.
func (a *AutoSwitch) SetOverride(m Mode) error {
	if !m.Valid() {
		return fmt.Errorf("%w: %d", ErrUnknownMode, int(m))
	}
	a.override, a.overridden = m, true
	return nil
}

// ClearOverride hands the choice back to the power source.
func (a *AutoSwitch) ClearOverride() { a.overridden = false }

// Override returns the user's mode, if one is set.
func (a *AutoSwitch) Override() (Mode, bool) { return a.override, a.overridden }

// Mode returns the mode of the last Update (Balanced before the first).
func (a *AutoSwitch) Mode() Mode { return a.mode }

// Update takes the host's power state at now and returns the mode. The
// first Update adopts the power source at once; later a change of source
// counts once it has lasted Debounce. A now before an earlier one counts
// as no time passing.
func (a *AutoSwitch) Update(h Host, now time.Time) Decision {
	if !a.started {
		a.onAC = h.OnAC
	} else if h.OnAC != a.onAC {
		if !a.pending {
			a.pending, a.pendingAt = true, now
		}
		if now.Sub(a.pendingAt) >= a.cfg.Debounce {
			a.onAC, a.pending = h.OnAC, false
		}
	} else {
		a.pending = false
	}

	known := h.HasBattery && !math.IsNaN(h.BatteryPercent)
	switch {
	case a.onAC || !known:
		a.low = false
	case a.low:
		a.low = h.BatteryPercent < a.cfg.ResumePercent
	default:
		a.low = h.BatteryPercent <= a.cfg.LowBatteryPercent
	}

	var d Decision
	kind, percent := byUser, 0.0
	switch {
	case a.overridden:
		d.Mode = a.override
	case a.onAC:
		d.Mode, kind = a.cfg.OnAC, onAC
	case a.low:
		d.Mode, kind, percent = MaxBattery, lowBattery, h.BatteryPercent
	default:
		d.Mode, kind = a.cfg.OnBattery, onBattery
	}
	d.Reason = a.reasonFor(kind, d.Mode, percent)
	d.Changed = !a.started || d.Mode != a.mode
	a.started, a.mode = true, d.Mode
	return d
}

// reasonKind is which of Update's cases chose the mode.
type reasonKind uint8

const (
	byUser reasonKind = iota
	onAC
	lowBattery
	onBattery
)

// reasonFor says why mode was chosen in case kind (a low battery at
// percent), formatted again only when the case, the mode or the charge
// quoted changes.
func (a *AutoSwitch) reasonFor(kind reasonKind, mode Mode, percent float64) string {
	r := &a.reason
	if r.text != "" && r.kind == kind && r.mode == mode && r.percent == percent {
		return r.text
	}
	text := ""
	switch kind {
	case byUser:
		text = fmt.Sprintf("chosen by the user: %s", mode)
	case onAC:
		text = fmt.Sprintf("on AC power: %s", mode)
	case lowBattery:
		text = fmt.Sprintf("on battery at %.0f %%, low (at or below %.0f %% until back at %.0f %%): %s",
			percent, a.cfg.LowBatteryPercent, a.cfg.ResumePercent, mode)
	default:
		text = fmt.Sprintf("on battery: %s", mode)
	}
	*r = reasonMemo{kind: kind, mode: mode, percent: percent, text: text}
	return text
}
