package sysfs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
	"github.com/krystalstack/gamesa/telemetry"
)

// RAPL reads the Intel/AMD RAPL energy counters under <Sys>/class/powercap
// and turns them into watts. It implements telemetry.Collector.
//
// Only the intel-rapl:N and intel-rapl:N:M zones are read. The
// intel-rapl-mmio:N zones that recent Intel laptops also expose are a second
// interface (MMIO instead of MSR) to the same package domains: reading both
// would count the package twice, and their power limits are a separate set
// that the kernel keeps in step with the MSR ones.
//
// On kernels since 5.10 energy_uj is readable by root only (a side channel,
// CVE-2020-8694). Without root every zone is still listed with its power
// limits, and Collect returns one error, matching fs.ErrPermission, that
// says to run as root.
type RAPL struct {
	roots telemetry.Roots
	r     attrReader
	disc  discovery

	zones   []raplZone
	scanErr error
}

type raplZone struct {
	id       string // "intel-rapl:0:1"
	path     []int  // the id's numbers, for ordering: [0 1]
	name     string // "package-0", "core", "psys", ...
	energy   string // path of energy_uj
	maxRange uint64 // max_energy_range_uj; 0 when unknown
	longTerm string // path of the long_term constraint's power_limit_uw
	short    string // path of the short_term constraint's power_limit_uw

	// The previous reading, for the rate.
	prevEnergy uint64
	prevTime   time.Time
	havePrev   bool
}

// NewRAPL returns a RAPL collector reading below roots.Sys.
func NewRAPL(roots telemetry.Roots) *RAPL {
	return &RAPL{roots: roots}
}

// Collect appends one RAPLDomain per zone to s.Power.Rapl (creating
// s.Power), ordered by zone id, and sets s.Power.TotalWatts: the psys zone's
// draw where the platform has one (it covers the whole SoC and more, so
// adding packages to it would count them twice), else the sum of the
// top-level package zones and the dram zones (children of a package on
// intel_rapl). A total is set only when every zone in it was rated. Watts cover the time since the previous
// call, by s.Time; they are 0 on the first call and whenever a zone has no
// earlier reading.
func (p *RAPL) Collect(ctx context.Context, s *gamesav1.Sample) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if p.disc.due() {
		zones, err := p.scan()
		prev := make(map[string]raplZone, len(p.zones))
		for _, z := range p.zones {
			prev[z.id] = z
		}
		for i := range zones {
			if old, ok := prev[zones[i].id]; ok {
				zones[i].prevEnergy, zones[i].prevTime, zones[i].havePrev = old.prevEnergy, old.prevTime, old.havePrev
			}
		}
		p.zones, p.scanErr = zones, err
	}
	if len(p.zones) == 0 {
		return p.scanErr
	}
	var errs []error
	if p.scanErr != nil {
		errs = append(errs, p.scanErr)
	}
	if s.Power == nil {
		s.Power = &gamesav1.Power{}
	}
	// Without a sample time there is no interval; rates wait for the next
	// call that has one.
	now, haveTime := time.Time{}, s.GetTime() != nil
	if haveTime {
		now = s.GetTime().AsTime()
	}
	var denied []string
	// A total is published only when every zone it adds up was rated this
	// tick: a partial sum (one socket's counter unreadable, the first tick
	// after a rescan) would look like a sudden drop in power.
	var psys, sum float64
	psysZone, havePsys := false, false
	nCounted, nRated := 0, 0
	for i := range p.zones {
		z := &p.zones[i]
		d := &gamesav1.RAPLDomain{Zone: z.id, Name: z.name}
		e, err := p.r.uint(z.energy)
		rated := false
		switch {
		case err == nil:
			d.EnergyUj = e
			d.Watts, rated = z.rate(e, now, haveTime)
		case errors.Is(err, fs.ErrPermission):
			denied = append(denied, z.id)
			z.havePrev = false
		case isGone(err):
			p.disc.stale = true
			z.havePrev = false
		default:
			errs = append(errs, err)
			z.havePrev = false
		}
		errs = p.readLimit(errs, z.longTerm, &d.LongTermLimitWatts)
		errs = p.readLimit(errs, z.short, &d.ShortTermLimitWatts)
		s.Power.Rapl = append(s.Power.Rapl, d)

		switch {
		case len(z.path) == 1 && z.name == "psys":
			psysZone = true
			if rated {
				psys, havePsys = d.Watts, true
			}
		// intel_rapl registers dram as a child of its package
		// (intel-rapl:0:2), some platforms at the top level: both count.
		case len(z.path) == 1 && strings.HasPrefix(z.name, "package"), strings.HasPrefix(z.name, "dram"):
			nCounted++
			if rated {
				sum += d.Watts
				nRated++
			}
		}
	}
	switch {
	case psysZone:
		if havePsys {
			s.Power.TotalWatts = psys
		}
	case nCounted > 0 && nRated == nCounted:
		s.Power.TotalWatts = sum
	}
	if len(denied) > 0 {
		errs = append(errs, &raplPermissionError{dir: filepath.Join(p.roots.Sys, "class", "powercap"), zones: denied})
	}
	return errors.Join(errs...)
}

// rate records the reading e at now and returns the watts since the
// previous reading, and whether there was a valid one. The counter wraps at
// max_energy_range_uj; a backwards step is a wrap only when that range is
// known, otherwise the interval is dropped.
func (z *raplZone) rate(e uint64, now time.Time, haveTime bool) (float64, bool) {
	prevE, prevT, had := z.prevEnergy, z.prevTime, z.havePrev
	z.prevEnergy, z.prevTime, z.havePrev = e, now, haveTime
	if !had || !haveTime {
		return 0, false
	}
	dt := now.Sub(prevT).Seconds()
	if dt <= 0 {
		return 0, false
	}
	var delta uint64
	switch {
	case e >= prevE:
		delta = e - prevE
	case z.maxRange > 0 && prevE <= z.maxRange:
		delta = z.maxRange - prevE + e + 1
	default:
		return 0, false
	}
	return float64(delta) / 1e6 / dt, true
}

// readLimit reads a power_limit_uw into watts; path "" means the zone has no
// such constraint.
func (p *RAPL) readLimit(errs []error, path string, w *float64) []error {
	if path == "" {
		return errs
	}
	v, err := p.r.uint(path)
	switch {
	case err == nil:
		*w = float64(v) / 1e6
	case isGone(err):
		p.disc.stale = true
	default:
		errs = append(errs, err)
	}
	return errs
}

// raplPermissionError reports, once for all zones, that energy_uj needs
// root. It matches fs.ErrPermission.
type raplPermissionError struct {
	dir   string
	zones []string
}

func (e *raplPermissionError) Error() string {
	return "energy_uj: permission denied (run as root): " + strings.Join(e.zones, ", ") + " in " + e.dir
}

func (e *raplPermissionError) Unwrap() error { return fs.ErrPermission }

func (p *RAPL) scan() ([]raplZone, error) {
	classDir := filepath.Join(p.roots.Sys, "class", "powercap")
	entries, err := os.ReadDir(classDir)
	if err != nil {
		if isGone(err) {
			return nil, fmt.Errorf("rapl: %w: %w", err, telemetry.ErrNotAvailable)
		}
		return nil, fmt.Errorf("rapl: %w", err)
	}
	var zones []raplZone
	var errs []error
	for _, e := range entries {
		// "intel-rapl" itself is the control type, not a zone, and
		// "intel-rapl-mmio:N" duplicates the packages (see RAPL).
		path, ok := raplZoneID(e.Name())
		if !ok {
			continue
		}
		z, err := p.scanZone(e.Name(), path, filepath.Join(classDir, e.Name()))
		if err != nil {
			errs = append(errs, err)
		}
		if z.energy != "" {
			zones = append(zones, z)
		}
	}
	if len(zones) == 0 && len(errs) == 0 {
		return nil, fmt.Errorf("rapl: no intel-rapl zones in %s: %w", classDir, telemetry.ErrNotAvailable)
	}
	slices.SortFunc(zones, func(a, b raplZone) int { return slices.Compare(a.path, b.path) })
	return zones, errors.Join(errs...)
}

// raplZoneID parses "intel-rapl:0:1" into [0 1].
func raplZoneID(name string) ([]int, bool) {
	rest, ok := strings.CutPrefix(name, "intel-rapl:")
	if !ok {
		return nil, false
	}
	var path []int
	for part := range strings.SplitSeq(rest, ":") {
		n, ok := indexSuffix(part, "")
		if !ok {
			return nil, false
		}
		path = append(path, n)
	}
	return path, true
}

func (p *RAPL) scanZone(id string, path []int, dir string) (raplZone, error) {
	z := raplZone{id: id, path: path, name: id}
	var errs []error
	if name, err := p.r.string(filepath.Join(dir, "name")); err == nil && name != "" {
		z.name = name
	} else if err != nil && !isGone(err) {
		errs = append(errs, err)
	}
	if v, err := p.r.uint(filepath.Join(dir, "max_energy_range_uj")); err == nil {
		z.maxRange = v
	} else if !isGone(err) {
		errs = append(errs, err)
	}
	entries, err := os.ReadDir(dir)
	if isGone(err) {
		return z, nil // removed since the class directory was listed
	}
	if err != nil {
		return z, fmt.Errorf("rapl: %w", err)
	}
	for _, e := range entries {
		n := e.Name()
		if n == "energy_uj" {
			z.energy = filepath.Join(dir, n)
			continue
		}
		idx, item, ok := indexedAttr(n, "constraint_")
		if !ok || item != "name" {
			continue
		}
		cname, err := p.r.bytes(filepath.Join(dir, n))
		if err != nil {
			if !isGone(err) {
				errs = append(errs, err)
			}
			continue
		}
		limit := filepath.Join(dir, "constraint_"+strconv.Itoa(idx)+"_power_limit_uw")
		switch string(cname) {
		case "long_term":
			z.longTerm = limit
		case "short_term":
			z.short = limit
		}
	}
	return z, errors.Join(errs...)
}
