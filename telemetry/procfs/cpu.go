package procfs

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
	"github.com/krystalstack/gamesa/telemetry"
)

// reprobeEvery is how many calls the CPU collector trusts its list of
// cpufreq files before looking again: a driver loaded late, or a core
// brought online without changing the set of ids, shows up within a minute
// at the default 1 s tick, and a machine without cpufreq pays one stat per
// core a minute instead of per tick.
const reprobeEvery = 60

// CPU reads /proc/stat once per call into s.Cpu (total and per-core shares
// of time) and the /proc/stat parts of s.Load (procs running and blocked,
// context switches and interrupts per second), plus per-core cpufreq from
// sysfs. The model comes from /proc/cpuinfo, read at the first call only.
type CPU struct {
	statPath    string
	cpuinfoPath string
	r           reader

	// snaps holds the current and the previous reading; cur indexes the
	// one being filled, so no core slice is reallocated per call.
	snaps   [2]statSnapshot
	cur     int
	hasPrev bool
	iv      interval

	modelRead bool
	model     string

	freq cpufreq
}

// NewCPU returns the CPU collector for the machine at roots.
func NewCPU(roots telemetry.Roots) *CPU {
	return &CPU{
		statPath:    filepath.Join(roots.Proc, "stat"),
		cpuinfoPath: filepath.Join(roots.Proc, "cpuinfo"),
		freq:        cpufreq{base: filepath.Join(roots.Sys, "devices", "system", "cpu")},
	}
}

// Collect implements telemetry.Collector.
func (c *CPU) Collect(_ context.Context, s *gamesav1.Sample) error {
	secs := c.iv.advance(s)
	b, err := c.r.read(c.statPath)
	if err != nil {
		// The next reading is measured against nothing rather than
		// against a reading from before the gap.
		c.hasPrev = false
		return notAvailable(err)
	}
	var errs fieldErrors
	cur, prev := &c.snaps[c.cur], &c.snaps[1-c.cur]
	parseStat(c.statPath, b, cur, &errs)
	if !c.modelRead {
		c.modelRead = true
		c.model, err = c.readModel()
		errs.add(err)
	}

	out := &gamesav1.CPU{Model: c.model, Cores: make([]*gamesav1.CPUCore, len(cur.cores))}
	if c.hasPrev && cur.totalOK && prev.totalOK {
		sh := shares(&cur.total, &prev.total)
		out.UtilizationPercent, out.UserPercent, out.SystemPercent = sh.util, sh.user, sh.system
		out.IowaitPercent, out.StealPercent = sh.iowait, sh.steal
	}
	j := 0 // walks prev.cores; both lists are sorted by id
	for i := range cur.cores {
		cc := &cur.cores[i]
		core := &gamesav1.CPUCore{Id: cc.id}
		for j < len(prev.cores) && prev.cores[j].id < cc.id {
			j++
		}
		if c.hasPrev && cc.ok && j < len(prev.cores) && prev.cores[j].id == cc.id && prev.cores[j].ok {
			sh := shares(&cc.t, &prev.cores[j].t)
			core.UtilizationPercent, core.UserPercent = sh.util, sh.user
			core.SystemPercent, core.IowaitPercent = sh.system, sh.iowait
		}
		out.Cores[i] = core
	}
	c.freq.fill(out.Cores, &errs)
	s.Cpu = out

	if s.Load == nil {
		s.Load = &gamesav1.Load{}
	}
	s.Load.ProcsRunning, s.Load.ProcsBlocked = cur.procsRunning, cur.procsBlocked
	s.Load.ContextSwitchesPerSecond, s.Load.InterruptsPerSecond = 0, 0
	if c.hasPrev {
		if cur.ctxtOK && prev.ctxtOK {
			s.Load.ContextSwitchesPerSecond = uint64(math.Round(rate(cur.ctxt, prev.ctxt, secs)))
		}
		if cur.intrOK && prev.intrOK {
			s.Load.InterruptsPerSecond = uint64(math.Round(rate(cur.intr, prev.intr, secs)))
		}
	}

	c.cur = 1 - c.cur
	c.hasPrev = true
	return errs.err()
}

func (c *CPU) readModel() (string, error) {
	var r reader // read once: not worth keeping a buffer for
	b, err := r.read(c.cpuinfoPath)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil // some containers hide it; the model is optional
	}
	if err != nil {
		return "", err
	}
	return parseCPUModel(b), nil
}

// cpufreq reads the per-core cpufreq files, remembering which exist.
type cpufreq struct {
	base  string // <Sys>/devices/system/cpu
	cores []freqFiles
	calls int
	stale bool // a file that existed vanished: probe again
	r     reader
}

// freqFiles are the paths of one core's cpufreq files; "" when absent.
type freqFiles struct {
	id                 uint32
	cur, min, max      string
	governor, epp      string
	hwMinMHz, hwMaxMHz float64 // cpuinfo_{min,max}_freq, read at probe: fixed by the hardware
}

// fill sets the frequency fields of cores (sorted by id).
func (f *cpufreq) fill(cores []*gamesav1.CPUCore, errs *fieldErrors) {
	if f.needProbe(cores) {
		f.probe(cores, errs)
	}
	f.calls++
	for i, core := range cores {
		ff := &f.cores[i]
		core.FrequencyMhz = f.readMHz(ff.cur, errs)
		core.MinFrequencyMhz, core.MaxFrequencyMhz = ff.hwMinMHz, ff.hwMaxMHz
		if ff.min != "" {
			core.MinFrequencyMhz = f.readMHz(ff.min, errs)
		}
		if ff.max != "" {
			core.MaxFrequencyMhz = f.readMHz(ff.max, errs)
		}
		core.Governor = f.readWord(ff.governor, errs)
		core.EnergyPerformancePreference = f.readWord(ff.epp, errs)
	}
}

func (f *cpufreq) needProbe(cores []*gamesav1.CPUCore) bool {
	if f.stale || f.calls%reprobeEvery == 0 || len(cores) != len(f.cores) {
		return true
	}
	for i, core := range cores {
		if f.cores[i].id != core.Id {
			return true
		}
	}
	return false
}

func (f *cpufreq) probe(cores []*gamesav1.CPUCore, errs *fieldErrors) {
	f.stale = false
	f.cores = slices.Grow(f.cores[:0], len(cores))
	for _, core := range cores {
		dir := filepath.Join(f.base, formatCPUDir(core.Id), "cpufreq")
		ff := freqFiles{id: core.Id}
		if _, err := os.Stat(dir); err == nil {
			exists := func(name string) string {
				p := filepath.Join(dir, name)
				if _, err := os.Stat(p); err != nil {
					return ""
				}
				return p
			}
			ff.cur = exists("scaling_cur_freq")
			ff.min = exists("scaling_min_freq")
			ff.max = exists("scaling_max_freq")
			ff.governor = exists("scaling_governor")
			ff.epp = exists("energy_performance_preference")
			ff.hwMinMHz = f.readMHz(exists("cpuinfo_min_freq"), errs)
			ff.hwMaxMHz = f.readMHz(exists("cpuinfo_max_freq"), errs)
		}
		f.cores = append(f.cores, ff)
	}
}

// readMHz reads a kHz file; "" means absent and reads as 0.
func (f *cpufreq) readMHz(path string, errs *fieldErrors) float64 {
	b := f.read(path, errs)
	if b == nil {
		return 0
	}
	v, err := parseKHz(path, b)
	errs.add(err)
	return v
}

// readWord reads a one-word file such as scaling_governor.
func (f *cpufreq) readWord(path string, errs *fieldErrors) string {
	b := f.read(path, errs)
	return text(bytes.TrimSpace(b))
}

func (f *cpufreq) read(path string, errs *fieldErrors) []byte {
	if path == "" {
		return nil
	}
	b, err := f.r.read(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		f.stale = true // the core went offline or the driver went away
		return nil
	case err != nil:
		errs.add(err)
		return nil
	}
	return b
}
