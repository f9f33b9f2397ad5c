package sysfs

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
	"github.com/krystalstack/gamesa/telemetry"
)

// PowerSupply reads batteries and AC adapters under
// <Sys>/class/power_supply. It implements telemetry.Collector.
//
// Supplies with scope "Device" (the battery of a wireless mouse or a game
// controller) are skipped: they power a peripheral, not this machine, and
// counting them would make a desktop look like it runs on battery.
//
// The supplies and which attributes each has are discovered on the first
// call, every rescanEvery calls after it and after a file vanished.
type PowerSupply struct {
	roots telemetry.Roots
	r     attrReader
	disc  discovery

	batteries []battery
	adapters  []string // paths of "online"
	scanErr   error
}

// battery holds the paths of one battery's attributes; "" where the driver
// does not provide it.
type battery struct {
	name                                       string
	present, status, capacity, voltage, cycles string
	energyNow, energyFull, energyDesign        string // µWh
	chargeNow, chargeFull, chargeDesign        string // µAh
	powerNow, currentNow                       string // µW, µA
}

// NewPowerSupply returns a power supply collector reading below roots.Sys.
func NewPowerSupply(roots telemetry.Roots) *PowerSupply {
	return &PowerSupply{roots: roots}
}

// Collect appends one Battery per present battery to s.Power.Batteries
// (creating s.Power), ordered by name, and sets s.Power.OnAc: true when an
// adapter (type Mains or USB) is online or when there is no battery at all;
// when the machine has batteries but reports no adapter, true unless a
// battery is discharging. An empty power_supply directory is a desktop:
// on AC, no error.
//
// Energies are in Wh from energy_* (µWh) or, for drivers that report charge,
// from charge_* (µAh) times voltage_now; power from power_now (µW) or
// current_now (µA) times voltage_now, as a magnitude (some drivers report a
// negative current while discharging).
func (p *PowerSupply) Collect(ctx context.Context, s *gamesav1.Sample) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if p.disc.due() {
		p.batteries, p.adapters, p.scanErr = p.scan()
	}
	if p.batteries == nil && p.adapters == nil && p.scanErr != nil {
		return p.scanErr
	}
	var errs []error
	if p.scanErr != nil {
		errs = append(errs, p.scanErr)
	}
	if s.Power == nil {
		s.Power = &gamesav1.Power{}
	}
	online, adapterKnown := false, false
	for _, path := range p.adapters {
		v, err := p.r.int(path)
		if err != nil {
			errs = p.readFailed(errs, err)
			continue
		}
		adapterKnown = true
		online = online || v != 0
	}
	batteries, discharging := 0, false
	for i := range p.batteries {
		b, err := p.readBattery(&p.batteries[i])
		if err != nil {
			errs = append(errs, err)
		}
		if b == nil {
			continue
		}
		batteries++
		discharging = discharging || b.Status == "Discharging"
		s.Power.Batteries = append(s.Power.Batteries, b)
	}
	switch {
	case online, batteries == 0:
		s.Power.OnAc = true
	case adapterKnown:
		s.Power.OnAc = false
	default:
		s.Power.OnAc = !discharging
	}
	return errors.Join(errs...)
}

// readFailed sorts a failed read: a vanished file asks for a re-scan; a
// field the driver cannot report now (ENODATA, ENODEV, ...) stays 0; other
// errors are returned.
func (p *PowerSupply) readFailed(errs []error, err error) []error {
	switch {
	case isGone(err):
		p.disc.stale = true
	case isAbsent(err):
	default:
		errs = append(errs, err)
	}
	return errs
}

// readBattery reads one battery; it returns nil for an empty slot
// (present is 0).
func (p *PowerSupply) readBattery(bat *battery) (*gamesav1.Battery, error) {
	var errs []error
	// field reads an integer attribute; ok is false when it is absent or
	// failed (the failure is recorded).
	field := func(path string) (int64, bool) {
		if path == "" {
			return 0, false
		}
		v, err := p.r.int(path)
		if err != nil {
			errs = p.readFailed(errs, err)
			return 0, false
		}
		return v, true
	}
	if v, ok := field(bat.present); ok && v == 0 {
		return nil, errors.Join(errs...)
	}
	b := &gamesav1.Battery{Name: bat.name}
	if bat.status != "" {
		if v, err := p.r.bytes(bat.status); err == nil {
			b.Status = batteryStatus(v)
		} else {
			errs = p.readFailed(errs, err)
		}
	}
	uv, haveVolts := field(bat.voltage)
	volts := math.Abs(float64(uv)) / 1e6
	b.VoltageVolts = volts
	if bat.energyNow != "" || bat.energyFull != "" {
		b.EnergyWh = microWh(field(bat.energyNow))
		b.EnergyFullWh = microWh(field(bat.energyFull))
		b.EnergyFullDesignWh = microWh(field(bat.energyDesign))
	} else if haveVolts {
		b.EnergyWh = microAh(field(bat.chargeNow)) * volts
		b.EnergyFullWh = microAh(field(bat.chargeFull)) * volts
		b.EnergyFullDesignWh = microAh(field(bat.chargeDesign)) * volts
	}
	if v, ok := field(bat.powerNow); ok {
		b.PowerWatts = math.Abs(float64(v)) / 1e6
	} else if v, ok := field(bat.currentNow); ok && haveVolts {
		b.PowerWatts = math.Abs(float64(v)) / 1e6 * volts
	}
	if v, ok := field(bat.capacity); ok {
		b.CapacityPercent = float64(min(max(v, 0), 100))
	} else if bat.capacity == "" && b.EnergyFullWh > 0 {
		b.CapacityPercent = min(100*b.EnergyWh/b.EnergyFullWh, 100)
	}
	// A negative cycle count is some firmware's "unknown", which the wire
	// format spells 0.
	if v, ok := field(bat.cycles); ok && v > 0 {
		if v > math.MaxUint32 {
			errs = append(errs, fmt.Errorf("parse %s \"%d\": %w", bat.cycles, v, errRange))
		} else {
			b.CycleCount = uint32(v)
		}
	}
	return b, errors.Join(errs...)
}

// microWh converts a µWh reading; a failed or negative one is 0.
func microWh(v int64, ok bool) float64 {
	if !ok || v < 0 {
		return 0
	}
	return float64(v) / 1e6
}

// microAh converts a µAh reading to Ah; a failed or negative one is 0.
func microAh(v int64, ok bool) float64 { return microWh(v, ok) }

// batteryStatus returns the status as a string, without allocating for the
// values the kernel defines.
func batteryStatus(b []byte) string {
	for _, known := range [...]string{"Charging", "Discharging", "Full", "Not charging", "Unknown"} {
		if string(b) == known {
			return known
		}
	}
	return string(b)
}

func (p *PowerSupply) scan() (batteries []battery, adapters []string, err error) {
	classDir := filepath.Join(p.roots.Sys, "class", "power_supply")
	entries, err := os.ReadDir(classDir)
	if err != nil {
		if isGone(err) {
			return nil, nil, fmt.Errorf("power_supply: %w: %w", err, telemetry.ErrNotAvailable)
		}
		return nil, nil, fmt.Errorf("power_supply: %w", err)
	}
	// Non-nil, empty slices say "scanned, nothing there": a desktop.
	batteries, adapters = []battery{}, []string{}
	var errs []error
	for _, e := range entries {
		dir := filepath.Join(classDir, e.Name())
		attrs, err := os.ReadDir(dir)
		if err != nil {
			if !isGone(err) { // else removed since the listing
				errs = append(errs, fmt.Errorf("power_supply: %w", err))
			}
			continue
		}
		has := make(map[string]string, len(attrs))
		for _, a := range attrs {
			has[a.Name()] = filepath.Join(dir, a.Name())
		}
		if has["type"] == "" {
			continue
		}
		typ, err := p.r.string(has["type"])
		if err != nil {
			errs = p.readFailed(errs, err)
			continue
		}
		if has["scope"] != "" {
			if scope, err := p.r.bytes(has["scope"]); err == nil && string(scope) == "Device" {
				continue
			}
		}
		switch {
		case typ == "Battery":
			batteries = append(batteries, battery{
				name:         e.Name(),
				present:      has["present"],
				status:       has["status"],
				capacity:     has["capacity"],
				voltage:      has["voltage_now"],
				cycles:       has["cycle_count"],
				energyNow:    has["energy_now"],
				energyFull:   has["energy_full"],
				energyDesign: has["energy_full_design"],
				chargeNow:    has["charge_now"],
				chargeFull:   has["charge_full"],
				chargeDesign: has["charge_full_design"],
				powerNow:     has["power_now"],
				currentNow:   has["current_now"],
			})
		// Kernels before 4.x had USB_C, USB_PD, ... as types; later ones
		// say USB and move the detail to usb_type.
		case typ == "Mains", strings.HasPrefix(typ, "USB"):
			if online := has["online"]; online != "" {
				adapters = append(adapters, online)
			}
		}
	}
	return batteries, adapters, errors.Join(errs...)
}
