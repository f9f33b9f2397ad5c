package sysfs

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/krystalstack/gamesa/telemetry"
)

// rescanEvery is how many Collect calls reuse one discovery of the file set.
// At the default 1 s tick a hot-plugged device (a dock's sensors, a second
// battery) shows up within a minute; a file that vanishes triggers a re-scan
// on the next call.
const rescanEvery = 60

// discovery schedules the re-scans of one collector's file set.
type discovery struct {
	done  bool // a scan has run
	stale bool // a read found a file gone: scan again before the next read
	calls int  // calls since the last scan
}

// due reports whether the next Collect must scan first, and counts the call.
func (d *discovery) due() bool {
	due := !d.done || d.stale || d.calls >= rescanEvery
	if due {
		d.done, d.stale, d.calls = true, false, 0
	}
	d.calls++
	return due
}

// isGone reports a file that no longer exists: the device went away, so the
// cached file set is out of date.
func isGone(err error) bool {
	return errors.Is(err, fs.ErrNotExist)
}

// isAbsent reports the errors drivers return for a sensor that exists as a
// file but has nothing to say: EIO and ENODATA (hwmon, batteries), ENXIO
// (thinkpad_acpi's unpopulated sensors), ENODEV (a device powered down) and
// EAGAIN (a bus busy for this read).
func isAbsent(err error) bool {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return false
	}
	switch errno {
	case syscall.EIO, syscall.ENODATA, syscall.ENXIO, syscall.ENODEV, syscall.EAGAIN:
		return true
	}
	return false
}

// indexSuffix parses the decimal index after prefix in name ("hwmon3" with
// prefix "hwmon" is 3). It rejects anything but plain digits so that
// "hwmon3.bak" or "thermal_zone" are not mistaken for entries.
// classEntry is one numbered entry of a sysfs class directory, such as
// hwmon3 or thermal_zone10.
type classEntry struct {
	index int
	dir   string
}

// listClass lists the entries of <sys>/class/<class> named prefix<N> in
// numeric order (hwmon10 after hwmon2); other entries (cooling_deviceN
// beside the thermal zones) are skipped. A missing class directory is an
// error wrapping telemetry.ErrNotAvailable; label prefixes errors.
func listClass(sys, class, prefix, label string) (classDir string, entries []classEntry, err error) {
	classDir = filepath.Join(sys, "class", class)
	des, err := os.ReadDir(classDir)
	if err != nil {
		if isGone(err) {
			return classDir, nil, fmt.Errorf("%s: %w: %w", label, err, telemetry.ErrNotAvailable)
		}
		return classDir, nil, fmt.Errorf("%s: %w", label, err)
	}
	for _, e := range des {
		// Entries are symlinks into /sys/devices; the name decides.
		if idx, ok := indexSuffix(e.Name(), prefix); ok {
			entries = append(entries, classEntry{index: idx, dir: filepath.Join(classDir, e.Name())})
		}
	}
	slices.SortFunc(entries, func(a, b classEntry) int { return cmp.Compare(a.index, b.index) })
	return classDir, entries, nil
}

func indexSuffix(name, prefix string) (int, bool) {
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok || rest == "" {
		return 0, false
	}
	for i := 0; i < len(rest); i++ {
		if rest[i] < '0' || rest[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(rest)
	if err != nil {
		return 0, false
	}
	return n, true
}

// indexedAttr splits an attribute name such as "temp12_input" into its
// index (12) and item ("input"), given the class prefix ("temp").
func indexedAttr(name, prefix string) (index int, item string, ok bool) {
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return 0, "", false
	}
	num, item, found := strings.Cut(rest, "_")
	if !found {
		return 0, "", false
	}
	if index, ok = indexSuffix(num, ""); !ok {
		return 0, "", false
	}
	return index, item, true
}

// milliCelsius converts a millidegree reading.
func milliCelsius(v int64) float64 { return float64(v) / 1000 }

// maxPlausibleCelsius bounds a reported limit. Drivers use out-of-range
// values for "no threshold": nvme reports 65261.85 °C (0xffff K), others
// 0 or negative values.
const maxPlausibleCelsius = 500

// limitCelsius converts a millidegree limit, mapping placeholders to 0,
// which the wire format defines as unknown.
func limitCelsius(v int64) float64 {
	c := milliCelsius(v)
	if c <= 0 || c > maxPlausibleCelsius {
		return 0
	}
	return c
}

// nameKey identifies one sensor for uniqueNames.
type nameKey struct {
	base   string // "chip/label"
	hwmon  int    // the hwmonN index
	sensor string // "temp3", "fan1"
}

// uniqueNames returns one name per key: the base where it is unique, else
// the base with the hwmon index appended ("nvme/Composite (hwmon2)"), and,
// where one chip repeats a label, with the sensor as well
// ("asus/CPU (hwmon3 temp2)"). Every colliding key is suffixed, not just the
// later ones, so no sensor's name depends on which chip was found first.
func uniqueNames(keys []nameKey) []string {
	names := make([]string, len(keys))
	count := make(map[string]int, len(keys))
	for i, k := range keys {
		names[i] = k.base
		count[k.base]++
	}
	dup := make(map[string]int, len(keys))
	for i, k := range keys {
		if count[k.base] > 1 {
			names[i] = k.base + " (hwmon" + strconv.Itoa(k.hwmon) + ")"
			dup[names[i]]++
		}
	}
	for i, k := range keys {
		if dup[names[i]] > 1 {
			names[i] = k.base + " (hwmon" + strconv.Itoa(k.hwmon) + " " + k.sensor + ")"
		}
	}
	return names
}
