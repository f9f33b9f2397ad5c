package procfs

import (
	"context"
	"os"
	"path/filepath"
	"strings"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
	"github.com/krystalstack/gamesa/telemetry"
)

// sectorSize is the unit of the sector columns of /proc/diskstats, fixed at
// 512 bytes whatever the device's real sector size.
const sectorSize = 512

// Disks reads /proc/diskstats into s.Disks: whole block devices only, in the
// kernel's order.
//
// Left out: partitions (their I/O is already in the disk's line), loop, ram
// and zram devices (memory and files, not disks), and devices that have
// never completed a read or a write (an empty card reader or optical drive).
// Device-mapper and md devices are kept: they are what a user knows as
// volumes, but their traffic is also counted on the disks beneath them, so
// summing all entries double counts.
//
// A whole disk is one with a directory under <Sys>/block; when sysfs is not
// there the device name decides (sda1, nvme0n1p2 and mmcblk0p1 are
// partitions).
type Disks struct {
	path     string
	sysBlock string
	r        reader
	iv       interval
	devs     map[string]*diskState
	gen      uint32
}

type diskState struct {
	c     diskCounters
	whole bool
	gen   uint32
}

// diskCounters are the /proc/diskstats columns the collector uses.
type diskCounters struct {
	reads, readSectors, writes, writeSectors, ioTicksMS uint64
}

// NewDisks returns the disk collector for the machine at roots.
func NewDisks(roots telemetry.Roots) *Disks {
	return &Disks{
		path:     filepath.Join(roots.Proc, "diskstats"),
		sysBlock: filepath.Join(roots.Sys, "block"),
		devs:     make(map[string]*diskState),
	}
}

// Collect implements telemetry.Collector.
func (d *Disks) Collect(_ context.Context, s *gamesav1.Sample) error {
	secs := d.iv.advance(s)
	b, err := d.r.read(d.path)
	if err != nil {
		clear(d.devs) // rates after a gap start from nothing
		return notAvailable(err)
	}
	d.gen++
	var errs fieldErrors
	var disks []*gamesav1.Disk
	parseDiskstats(d.path, b, &errs, func(name []byte, c diskCounters) {
		st, seen := d.devs[string(name)]
		if !seen {
			st = &diskState{whole: d.isWholeDisk(string(name))}
			d.devs[string(name)] = st
		}
		prev, fresh := st.c, !seen || st.gen != d.gen-1
		st.c, st.gen = c, d.gen
		if !st.whole || (c.reads == 0 && c.writes == 0) {
			return
		}
		disk := &gamesav1.Disk{
			Name:            text(name),
			ReadBytesTotal:  c.readSectors * sectorSize,
			WriteBytesTotal: c.writeSectors * sectorSize,
		}
		if !fresh && secs > 0 {
			disk.ReadBytesPerSecond = rate(c.readSectors, prev.readSectors, secs) * sectorSize
			disk.WriteBytesPerSecond = rate(c.writeSectors, prev.writeSectors, secs) * sectorSize
			disk.ReadsPerSecond = rate(c.reads, prev.reads, secs)
			disk.WritesPerSecond = rate(c.writes, prev.writes, secs)
			disk.BusyPercent = min(rate(c.ioTicksMS, prev.ioTicksMS, secs)/1000*100, 100)
		}
		disks = append(disks, disk)
	})
	for name, st := range d.devs {
		if st.gen != d.gen {
			delete(d.devs, name)
		}
	}
	s.Disks = disks
	return errs.err()
}

// isWholeDisk decides once per device name whether it is listed.
func (d *Disks) isWholeDisk(name string) bool {
	for _, p := range [...]string{"loop", "ram", "zram"} {
		if strings.HasPrefix(name, p) {
			return false
		}
	}
	if _, err := os.Stat(d.sysBlock); err == nil {
		_, err := os.Stat(filepath.Join(d.sysBlock, name))
		return err == nil
	}
	return !isPartitionName(name)
}

// isPartitionName is the naming rule for when sysfs is not there: sd, hd, vd
// and xvd disks number their partitions directly (sda1), and disks whose
// names end in a digit put a "p" before the partition number (nvme0n1p1,
// mmcblk0p2, nbd0p1).
func isPartitionName(name string) bool {
	base := strings.TrimRight(name, "0123456789")
	if base == name || base == "" {
		return false
	}
	if n := len(base); n >= 2 && base[n-1] == 'p' && base[n-2] >= '0' && base[n-2] <= '9' {
		return true
	}
	for _, p := range [...]string{"sd", "hd", "vd", "xvd"} {
		if rest, ok := strings.CutPrefix(base, p); ok && rest != "" && strings.Trim(rest, "abcdefghijklmnopqrstuvwxyz") == "" {
			return true
		}
	}
	return false
}

// diskstatsFields names the columns after the device name, for errors.
var diskstatsFields = [...]string{
	"reads", "reads_merged", "sectors_read", "read_ms",
	"writes", "writes_merged", "sectors_written", "write_ms",
	"in_flight", "io_ticks", "weighted_io_ms",
}

// parseDiskstats calls fn for each device line of /proc/diskstats. Kernels
// print 11, 15 (4.18+) or 17 (5.5+) counters; a line with 4 is a partition
// on a 2.6 kernel and is skipped. A device whose line does not parse is
// reported and skipped; the others are still passed to fn.
func parseDiskstats(src string, b []byte, errs *fieldErrors, fn func(name []byte, c diskCounters)) {
	for len(b) > 0 {
		var line []byte
		line, b = cutLine(b)
		_, rest := nextField(line) // major
		_, rest = nextField(rest)  // minor
		name, rest := nextField(rest)
		if len(name) == 0 {
			continue
		}
		var v [len(diskstatsFields)]uint64
		n, ok := 0, true
		for ; n < len(v); n++ {
			var f []byte
			f, rest = nextField(rest)
			if len(f) == 0 {
				break
			}
			if v[n], ok = parseUint(f); !ok {
				errs.add(badField(src, string(name)+" "+diskstatsFields[n], f))
				break
			}
		}
		switch {
		case !ok:
			continue
		case n == 4:
			continue
		case n < len(v):
			errs.add(badField(src, string(name)+" "+diskstatsFields[n], []byte("<missing>")))
			continue
		}
		fn(name, diskCounters{reads: v[0], readSectors: v[2], writes: v[4], writeSectors: v[6], ioTicksMS: v[9]})
	}
}
