package sysfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
	"github.com/krystalstack/gamesa/telemetry"
)

// ThermalZones reads the kernel's thermal zones under <Sys>/class/thermal.
// It implements telemetry.Collector.
//
// Zones and their trip points are discovered on the first call, every
// rescanEvery calls after it and after a zone vanished; the calls between
// read only each zone's temp.
type ThermalZones struct {
	roots telemetry.Roots
	r     attrReader
	disc  discovery

	zones   []thermalZone
	scanErr error
}

type thermalZone struct {
	index     int
	zone      string // "thermal_zoneN"
	typ       string
	temp      string // path of temp
	max, crit float64
	seen      bool // see hwmonTemp.seen
}

// NewThermalZones returns a thermal zone collector reading below roots.Sys.
func NewThermalZones(roots telemetry.Roots) *ThermalZones {
	return &ThermalZones{roots: roots}
}

// Collect appends one ThermalSensor (kind "thermal_zone", named
// "thermal_zoneN/<type>") per readable zone to s.Thermal, ordered by zone
// index. max_celsius comes from the zone's first "hot" trip point and
// critical_celsius from its first "critical" one.
func (z *ThermalZones) Collect(ctx context.Context, s *gamesav1.Sample) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if z.disc.due() {
		zones, err := z.scan()
		seen := make(map[string]bool, len(z.zones))
		for _, tz := range z.zones {
			seen[tz.temp] = tz.seen
		}
		for i := range zones {
			zones[i].seen = seen[zones[i].temp]
		}
		z.zones, z.scanErr = zones, err
	}
	if len(z.zones) == 0 {
		return z.scanErr
	}
	var errs []error
	if z.scanErr != nil {
		errs = append(errs, z.scanErr)
	}
	for i := range z.zones {
		tz := &z.zones[i]
		v, err := z.r.int(tz.temp)
		if err != nil {
			switch {
			case isGone(err):
				z.disc.stale = true
			case isAbsent(err) || errors.Is(err, syscall.EINVAL):
				// Zones backed by a sleeping device (iwlwifi with the
				// interface down) answer ENODATA or EINVAL.
				if tz.seen {
					errs = append(errs, fmt.Errorf("zone stopped answering: %w", err))
				}
			default:
				errs = append(errs, err)
			}
			continue
		}
		tz.seen = true
		s.Thermal = append(s.Thermal, &gamesav1.ThermalSensor{
			Name:               tz.zone + "/" + tz.typ,
			Kind:               "thermal_zone",
			Chip:               tz.typ,
			Label:              tz.typ,
			TemperatureCelsius: milliCelsius(v),
			MaxCelsius:         tz.max,
			CriticalCelsius:    tz.crit,
		})
	}
	return errors.Join(errs...)
}

func (z *ThermalZones) scan() ([]thermalZone, error) {
	classDir, entries, err := listClass(z.roots.Sys, "thermal", "thermal_zone", "thermal")
	if err != nil {
		return nil, err
	}
	var zones []thermalZone
	var errs []error
	for _, e := range entries {
		tz, err := z.scanZone(e.index, e.dir)
		if err != nil {
			errs = append(errs, err)
		}
		if tz.temp != "" {
			zones = append(zones, tz)
		}
	}
	if len(zones) == 0 && len(errs) == 0 {
		return nil, fmt.Errorf("thermal: no zones in %s: %w", classDir, telemetry.ErrNotAvailable)
	}
	return zones, errors.Join(errs...)
}

func (z *ThermalZones) scanZone(idx int, dir string) (thermalZone, error) {
	tz := thermalZone{index: idx, zone: "thermal_zone" + strconv.Itoa(idx)}
	tz.typ = tz.zone
	var errs []error
	if typ, err := z.r.string(filepath.Join(dir, "type")); err == nil && typ != "" {
		tz.typ = typ
	} else if err != nil && !isGone(err) {
		errs = append(errs, err)
	}
	entries, err := os.ReadDir(dir)
	if isGone(err) {
		return tz, nil // removed since the class directory was listed
	}
	if err != nil {
		return tz, fmt.Errorf("thermal: %w", err)
	}
	var trips []int
	for _, e := range entries {
		if e.Name() == "temp" {
			tz.temp = filepath.Join(dir, "temp")
			continue
		}
		if n, item, ok := indexedAttr(e.Name(), "trip_point_"); ok && item == "type" {
			trips = append(trips, n)
		}
	}
	slices.Sort(trips)
	for _, n := range trips {
		base := filepath.Join(dir, "trip_point_"+strconv.Itoa(n)+"_")
		typ, err := z.r.bytes(base + "type")
		if err != nil {
			if !isGone(err) && !isAbsent(err) {
				errs = append(errs, err)
			}
			continue
		}
		var dst *float64
		switch string(typ) {
		case "critical":
			dst = &tz.crit
		case "hot":
			dst = &tz.max
		default:
			continue
		}
		if *dst != 0 {
			continue // the first trip of a kind wins
		}
		v, err := z.r.int(base + "temp")
		if err != nil {
			if !isGone(err) && !isAbsent(err) {
				errs = append(errs, err)
			}
			continue
		}
		*dst = limitCelsius(v)
	}
	return tz, errors.Join(errs...)
}
