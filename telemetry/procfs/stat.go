package procfs

import (
	"bytes"
	"strconv"
)

// Columns of a "cpu" line of /proc/stat that the collector uses. guest and
// guest_nice follow steal but are already counted in user and nice.
const (
	tUser = iota
	tNice
	tSystem
	tIdle
	tIowait
	tIrq
	tSoftirq
	tSteal
	numCPUTimes
)

// minCPUTimes is how many columns every kernel since 2.4 prints; iowait,
// irq, softirq and steal came later and read as zero when absent.
const minCPUTimes = tIdle + 1

var cpuTimeNames = [numCPUTimes]string{"user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"}

// cpuTimes are the cumulative USER_HZ ticks of one "cpu" line.
type cpuTimes [numCPUTimes]uint64

// coreTimes is one "cpuN" line.
type coreTimes struct {
	id uint32
	t  cpuTimes
	ok bool // false when the line failed to parse
}

// statSnapshot is what the CPU collector takes from one read of /proc/stat.
type statSnapshot struct {
	total        cpuTimes
	totalOK      bool
	cores        []coreTimes // sorted by id
	ctxt, intr   uint64
	ctxtOK       bool
	intrOK       bool
	procsRunning uint32
	procsBlocked uint32
}

// parseStat parses /proc/stat into snap, reusing snap's core slice. src names
// the file in errors.
func parseStat(src string, b []byte, snap *statSnapshot, errs *fieldErrors) {
	cores := snap.cores[:0]
	*snap = statSnapshot{}
	for len(b) > 0 {
		var line []byte
		line, b = cutLine(b)
		key, rest := nextField(line)
		switch {
		case string(key) == "cpu":
			snap.totalOK = parseCPUTimes(src, key, rest, &snap.total, errs)
		case bytes.HasPrefix(key, []byte("cpu")):
			id, ok := parseUint(key[3:])
			if !ok || id > 1<<20 {
				errs.add(badField(src, "cpu id", key))
				continue
			}
			ct := coreTimes{id: uint32(id)}
			ct.ok = parseCPUTimes(src, key, rest, &ct.t, errs)
			cores = insertCore(cores, ct)
		case string(key) == "ctxt":
			snap.ctxt, snap.ctxtOK = parseFirst(src, "ctxt", rest, errs)
		case string(key) == "intr":
			// Only the total: the per-IRQ columns can run to thousands.
			snap.intr, snap.intrOK = parseFirst(src, "intr", rest, errs)
		case string(key) == "procs_running":
			v, _ := parseFirst(src, "procs_running", rest, errs)
			snap.procsRunning = clampUint32(v)
		case string(key) == "procs_blocked":
			v, _ := parseFirst(src, "procs_blocked", rest, errs)
			snap.procsBlocked = clampUint32(v)
		}
	}
	snap.cores = cores
}

// parseCPUTimes parses the columns of one "cpu" line. The name is only built
// into a string on the error path.
func parseCPUTimes(src string, name, rest []byte, t *cpuTimes, errs *fieldErrors) bool {
	for i := range numCPUTimes {
		var f []byte
		f, rest = nextField(rest)
		if len(f) == 0 {
			if i < minCPUTimes {
				errs.add(badField(src, string(name)+" "+cpuTimeNames[i], []byte("<missing>")))
				return false
			}
			return true
		}
		v, ok := parseUint(f)
		if !ok {
			errs.add(badField(src, string(name)+" "+cpuTimeNames[i], f))
			return false
		}
		t[i] = v
	}
	return true
}

func parseFirst(src, name string, rest []byte, errs *fieldErrors) (uint64, bool) {
	f, _ := nextField(rest)
	v, ok := parseUint(f)
	if !ok {
		errs.add(badField(src, name, f))
	}
	return v, ok
}

// insertCore keeps cores sorted by id; the kernel prints them in order, so
// this is an append in practice. A repeated id replaces the earlier line.
func insertCore(cores []coreTimes, ct coreTimes) []coreTimes {
	i := len(cores)
	for i > 0 && cores[i-1].id >= ct.id {
		i--
	}
	if i < len(cores) && cores[i].id == ct.id {
		cores[i] = ct
		return cores
	}
	cores = append(cores, coreTimes{})
	copy(cores[i+1:], cores[i:])
	cores[i] = ct
	return cores
}

func clampUint32(v uint64) uint32 {
	if v > 1<<32-1 {
		return 1<<32 - 1
	}
	return uint32(v)
}

// cpuShares is one interval of a "cpu" line in percent of its ticks.
type cpuShares struct {
	util, user, system, iowait, steal float64
}

// shares turns two readings of a "cpu" line into percentages. user includes
// nice, and system includes irq and softirq, so that user + system + steal
// equals util; iowait is idle time and not part of util.
func shares(cur, prev *cpuTimes) cpuShares {
	var d cpuTimes
	var total uint64
	for i := range cur {
		d[i] = delta(cur[i], prev[i])
		total += d[i]
	}
	if total == 0 {
		return cpuShares{}
	}
	pct := func(v uint64) float64 { return float64(v) / float64(total) * 100 }
	return cpuShares{
		util:   pct(total - d[tIdle] - d[tIowait]),
		user:   pct(d[tUser] + d[tNice]),
		system: pct(d[tSystem] + d[tIrq] + d[tSoftirq]),
		iowait: pct(d[tIowait]),
		steal:  pct(d[tSteal]),
	}
}

// parseCPUModel returns the processor model from /proc/cpuinfo. x86 names it
// "model name"; other architectures use one of the fallbacks.
func parseCPUModel(b []byte) string {
	keys := [...]string{"model name", "Hardware", "cpu model", "cpu", "Processor"}
	best, bestRank := []byte(nil), len(keys)
	for len(b) > 0 {
		var line []byte
		line, b = cutLine(b)
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		k = bytes.TrimSpace(k)
		for rank, want := range keys[:bestRank] {
			if string(k) == want {
				best, bestRank = bytes.TrimSpace(v), rank
				break
			}
		}
		if bestRank == 0 {
			break
		}
	}
	return text(best)
}

// parseKHz parses a cpufreq frequency file (kHz) into MHz.
func parseKHz(src string, b []byte) (float64, error) {
	f, _ := nextField(bytes.TrimSpace(b))
	v, ok := parseUint(f)
	if !ok {
		return 0, badField(src, "frequency", b)
	}
	return float64(v) / 1000, nil
}

// formatCPUDir is "cpu" followed by the id, the name of a sysfs cpu directory.
func formatCPUDir(id uint32) string {
	return "cpu" + strconv.FormatUint(uint64(id), 10)
}
