package sysfs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
	"github.com/krystalstack/gamesa/telemetry"
)

// Hwmon reads the temperatures and fans of every hwmon chip under
// <Sys>/class/hwmon. It implements telemetry.Collector.
//
// Discovery (which chips and sensors exist, their labels and limits) runs on
// the first call, every rescanEvery calls after it, and after a sensor file
// vanished; the calls between read only the current values. Limits (tempN_max,
// tempN_crit, fanN_min, fanN_max) are fixed by the hardware or set rarely, so
// they are read at discovery too.
type Hwmon struct {
	roots telemetry.Roots
	r     attrReader
	disc  discovery

	chips   []hwmonChip
	scanErr error // the last discovery's error, returned until the next one
}

type hwmonChip struct {
	index int    // N of hwmonN
	name  string // contents of "name", else "hwmonN"
	temps []hwmonTemp
	fans  []hwmonFan
}

type hwmonTemp struct {
	index     int
	input     string // path of tempN_input
	name      string // unique "chip/label"
	label     string
	max, crit float64
	// seen is set once the input produced a value, so that a sensor which
	// fails after working is reported while one that never worked (an
	// unpopulated header) stays quiet. It survives re-scans.
	seen bool
}

type hwmonFan struct {
	index    int
	input    string // path of fanN_input
	name     string
	label    string
	min, max float64
	seen     bool
}

// NewHwmon returns an hwmon collector reading below roots.Sys.
func NewHwmon(roots telemetry.Roots) *Hwmon {
	return &Hwmon{roots: roots}
}

// Collect appends one ThermalSensor (kind "hwmon") per readable tempN_input
// to s.Thermal and one Fan per readable fanN_input to s.Fans, ordered by
// hwmon index, then sensor index.
func (h *Hwmon) Collect(ctx context.Context, s *gamesav1.Sample) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if h.disc.due() {
		chips, err := h.scan()
		carrySeen(h.chips, chips)
		h.chips, h.scanErr = chips, err
	}
	if len(h.chips) == 0 {
		return h.scanErr
	}
	var errs []error
	if h.scanErr != nil {
		errs = append(errs, h.scanErr)
	}
	for ci := range h.chips {
		c := &h.chips[ci]
		for ti := range c.temps {
			t := &c.temps[ti]
			v, err := h.r.int(t.input)
			if err != nil {
				errs = h.readFailed(errs, t.seen, err)
				continue
			}
			t.seen = true
			s.Thermal = append(s.Thermal, &gamesav1.ThermalSensor{
				Name:               t.name,
				Kind:               "hwmon",
				Chip:               c.name,
				Label:              t.label,
				TemperatureCelsius: milliCelsius(v),
				MaxCelsius:         t.max,
				CriticalCelsius:    t.crit,
			})
		}
		for fi := range c.fans {
			f := &c.fans[fi]
			v, err := h.r.int(f.input)
			if err != nil {
				errs = h.readFailed(errs, f.seen, err)
				continue
			}
			f.seen = true
			s.Fans = append(s.Fans, &gamesav1.Fan{
				Name:   f.name,
				Chip:   c.name,
				Label:  f.label,
				Rpm:    float64(v),
				MinRpm: f.min,
				MaxRpm: f.max,
			})
		}
	}
	return errors.Join(errs...)
}

// readFailed sorts a failed value read: a vanished file asks for a re-scan,
// an absent sensor is skipped quietly unless it worked before, anything else
// (a parse error, EACCES) is reported.
func (h *Hwmon) readFailed(errs []error, seen bool, err error) []error {
	switch {
	case isGone(err):
		h.disc.stale = true
	case isAbsent(err):
		if seen {
			errs = append(errs, fmt.Errorf("sensor stopped answering: %w", err))
		}
	default:
		errs = append(errs, err)
	}
	return errs
}

// scan discovers the chips. It returns the chips found (possibly with
// errors for single attributes) or an error wrapping
// telemetry.ErrNotAvailable when there are none.
func (h *Hwmon) scan() ([]hwmonChip, error) {
	classDir, entries, err := listClass(h.roots.Sys, "hwmon", "hwmon", "hwmon")
	if err != nil {
		return nil, err
	}
	var chips []hwmonChip
	var errs []error
	for _, e := range entries {
		c, err := h.scanChip(e.index, e.dir)
		if err != nil {
			errs = append(errs, err)
		}
		if len(c.temps) > 0 || len(c.fans) > 0 {
			chips = append(chips, c)
		}
	}
	if len(chips) == 0 && len(errs) == 0 {
		return nil, fmt.Errorf("hwmon: no sensors in %s: %w", classDir, telemetry.ErrNotAvailable)
	}
	nameSensors(chips)
	return chips, errors.Join(errs...)
}

// scanChip reads one hwmonN directory. Drivers on kernels before the hwmon
// core took over (and a few still) put the attributes in hwmonN/device
// instead, which is used when hwmonN itself has no "name".
func (h *Hwmon) scanChip(idx int, dir string) (hwmonChip, error) {
	c := hwmonChip{index: idx, name: "hwmon" + strconv.Itoa(idx)}
	attrDir := dir
	if _, err := os.Stat(filepath.Join(dir, "name")); isGone(err) {
		if _, err := os.Stat(filepath.Join(dir, "device", "name")); err == nil {
			attrDir = filepath.Join(dir, "device")
		}
	}
	entries, err := os.ReadDir(attrDir)
	if isGone(err) {
		return c, nil // removed since the class directory was listed
	}
	if err != nil {
		return c, fmt.Errorf("hwmon: %w", err)
	}
	var errs []error
	if name, err := h.r.string(filepath.Join(attrDir, "name")); err == nil && name != "" {
		c.name = name
	} else if err != nil && !isGone(err) {
		errs = append(errs, err)
	}
	temps := map[int]*hwmonTemp{}
	fans := map[int]*hwmonFan{}
	for _, e := range entries {
		n := e.Name()
		path := filepath.Join(attrDir, n)
		switch {
		case strings.HasPrefix(n, "temp"):
			idx, item, ok := indexedAttr(n, "temp")
			if !ok {
				continue
			}
			t := temps[idx]
			if t == nil {
				t = &hwmonTemp{index: idx, label: "temp" + strconv.Itoa(idx)}
				temps[idx] = t
			}
			switch item {
			case "input":
				t.input = path
			case "label":
				errs = h.readLabel(errs, path, &t.label)
			case "max":
				errs = h.readLimit(errs, path, &t.max)
			case "crit":
				errs = h.readLimit(errs, path, &t.crit)
			}
		case strings.HasPrefix(n, "fan"):
			idx, item, ok := indexedAttr(n, "fan")
			if !ok {
				continue
			}
			f := fans[idx]
			if f == nil {
				f = &hwmonFan{index: idx, label: "fan" + strconv.Itoa(idx)}
				fans[idx] = f
			}
			switch item {
			case "input":
				f.input = path
			case "label":
				errs = h.readLabel(errs, path, &f.label)
			case "min":
				errs = h.readRPM(errs, path, &f.min)
			case "max":
				errs = h.readRPM(errs, path, &f.max)
			}
		}
	}
	// A limit or label without an input file is no sensor.
	for _, t := range temps {
		if t.input != "" {
			c.temps = append(c.temps, *t)
		}
	}
	for _, f := range fans {
		if f.input != "" {
			c.fans = append(c.fans, *f)
		}
	}
	slices.SortFunc(c.temps, func(a, b hwmonTemp) int { return cmp.Compare(a.index, b.index) })
	slices.SortFunc(c.fans, func(a, b hwmonFan) int { return cmp.Compare(a.index, b.index) })
	return c, errors.Join(errs...)
}

// readLabel replaces *label with the file's content when it has any; an
// absent or empty label keeps the "tempN" fallback.
func (h *Hwmon) readLabel(errs []error, path string, label *string) []error {
	v, err := h.r.string(path)
	switch {
	case err == nil:
		if v != "" {
			*label = v
		}
	case isGone(err) || isAbsent(err):
	default:
		errs = append(errs, err)
	}
	return errs
}

func (h *Hwmon) readLimit(errs []error, path string, c *float64) []error {
	v, err := h.r.int(path)
	switch {
	case err == nil:
		*c = limitCelsius(v)
	case isGone(err) || isAbsent(err):
	default:
		errs = append(errs, err)
	}
	return errs
}

func (h *Hwmon) readRPM(errs []error, path string, rpm *float64) []error {
	v, err := h.r.int(path)
	switch {
	case err == nil:
		if v > 0 {
			*rpm = float64(v)
		}
	case isGone(err) || isAbsent(err):
	default:
		errs = append(errs, err)
	}
	return errs
}

// carrySeen copies the seen flags of the sensors that old and new share.
func carrySeen(old, next []hwmonChip) {
	seen := make(map[string]bool)
	for _, c := range old {
		for _, t := range c.temps {
			seen[t.input] = t.seen
		}
		for _, f := range c.fans {
			seen[f.input] = f.seen
		}
	}
	for ci := range next {
		for ti := range next[ci].temps {
			next[ci].temps[ti].seen = seen[next[ci].temps[ti].input]
		}
		for fi := range next[ci].fans {
			next[ci].fans[fi].seen = seen[next[ci].fans[fi].input]
		}
	}
}

// nameSensors gives every temperature and every fan a unique "chip/label".
func nameSensors(chips []hwmonChip) {
	var temps, fans []nameKey
	for _, c := range chips {
		for _, t := range c.temps {
			temps = append(temps, nameKey{c.name + "/" + t.label, c.index, "temp" + strconv.Itoa(t.index)})
		}
		for _, f := range c.fans {
			fans = append(fans, nameKey{c.name + "/" + f.label, c.index, "fan" + strconv.Itoa(f.index)})
		}
	}
	tn, fn := uniqueNames(temps), uniqueNames(fans)
	for ci := range chips {
		for ti := range chips[ci].temps {
			chips[ci].temps[ti].name, tn = tn[0], tn[1:]
		}
		for fi := range chips[ci].fans {
			chips[ci].fans[fi].name, fn = fn[0], fn[1:]
		}
	}
}
