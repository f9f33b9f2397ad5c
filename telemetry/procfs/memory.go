package procfs

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"path/filepath"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
	"github.com/krystalstack/gamesa/telemetry"
)

// Memory reads /proc/meminfo into s.Memory.
type Memory struct {
	path string
	r    reader
}

// NewMemory returns the memory collector for the machine at roots.
func NewMemory(roots telemetry.Roots) *Memory {
	return &Memory{path: filepath.Join(roots.Proc, "meminfo")}
}

// Collect implements telemetry.Collector.
func (m *Memory) Collect(_ context.Context, s *gamesav1.Sample) error {
	b, err := m.r.read(m.path)
	if err != nil {
		return notAvailable(err)
	}
	mem, err := parseMeminfo(m.path, b)
	s.Memory = mem
	return err
}

// meminfo keys the collector uses, in the order of the kernel's output.
const (
	miTotal = iota
	miFree
	miAvailable
	miBuffers
	miCached
	miSwapTotal
	miSwapFree
	miDirty
	numMeminfo
)

var meminfoKeys = [numMeminfo]string{
	"MemTotal", "MemFree", "MemAvailable", "Buffers", "Cached", "SwapTotal", "SwapFree", "Dirty",
}

// parseMeminfo parses /proc/meminfo. Values are in kB (KiB, despite the
// unit) and come out in bytes. used is total - MemAvailable; kernels before
// 3.14 lack MemAvailable, and then used is total - free - buffers - cached.
// Cached is the page cache as the kernel reports it, without SReclaimable.
func parseMeminfo(src string, b []byte) (*gamesav1.Memory, error) {
	var v [numMeminfo]uint64
	var seen [numMeminfo]bool
	var errs fieldErrors
	for len(b) > 0 {
		var line []byte
		line, b = cutLine(b)
		key, rest, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		k := -1
		for i, want := range meminfoKeys {
			if string(key) == want {
				k = i
				break
			}
		}
		if k < 0 {
			continue
		}
		num, rest := nextField(rest)
		unit, _ := nextField(rest)
		n, ok := parseUint(num)
		if !ok || (len(unit) > 0 && string(unit) != "kB") || n > math.MaxUint64/1024 {
			errs.add(badField(src, meminfoKeys[k], line[len(key)+1:]))
			continue
		}
		if len(unit) > 0 {
			n *= 1024
		}
		v[k], seen[k] = n, true
	}
	if !seen[miTotal] {
		errs.add(fmt.Errorf("%s: field MemTotal: missing", src))
	}
	mem := &gamesav1.Memory{
		TotalBytes:     v[miTotal],
		AvailableBytes: v[miAvailable],
		FreeBytes:      v[miFree],
		BuffersBytes:   v[miBuffers],
		CachedBytes:    v[miCached],
		DirtyBytes:     v[miDirty],
		SwapTotalBytes: v[miSwapTotal],
		SwapFreeBytes:  v[miSwapFree],
	}
	if seen[miAvailable] {
		mem.UsedBytes = sub(v[miTotal], v[miAvailable])
	} else {
		mem.UsedBytes = sub(sub(sub(v[miTotal], v[miFree]), v[miBuffers]), v[miCached])
		mem.AvailableBytes = v[miTotal] - mem.UsedBytes // the old kernels' estimate
	}
	if mem.TotalBytes > 0 {
		mem.UsedPercent = float64(mem.UsedBytes) / float64(mem.TotalBytes) * 100
	}
	return mem, errs.err()
}

// sub is a-b, or 0 when b exceeds a (inconsistent numbers never wrap).
func sub(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}
