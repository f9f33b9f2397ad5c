package procfs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
	"github.com/krystalstack/gamesa/telemetry"
)

func diskNames(disks []*gamesav1.Disk) []string {
	var names []string
	for _, d := range disks {
		names = append(names, d.GetName())
	}
	return names
}

func TestDisksFixture(t *testing.T) {
	dir, roots := fixture(t)
	s := twoTicks(t, dir, NewDisks(roots))
	checkGolden(t, "disk", s)

	// No sysfs in the fixture: the name rule drops the partitions; loop
	// devices and the never-used sr0 are left out.
	disks := s.GetDisks()
	if got, want := strings.Join(diskNames(disks), ","), "nvme0n1,sda,dm-0"; got != want {
		t.Fatalf("disks = %s; want %s", got, want)
	}
	// Over 2 s nvme0n1 read 400 I/Os, 16384 sectors; wrote 100, 4096
	// sectors; and had I/O in flight for 500 ms.
	nvme := disks[0]
	for _, tc := range []struct {
		field     string
		got, want float64
	}{
		{"read B/s", nvme.GetReadBytesPerSecond(), 16384 * 512 / 2},
		{"write B/s", nvme.GetWriteBytesPerSecond(), 4096 * 512 / 2},
		{"reads/s", nvme.GetReadsPerSecond(), 200},
		{"writes/s", nvme.GetWritesPerSecond(), 50},
		{"busy %", nvme.GetBusyPercent(), 25},
		{"sda read B/s", disks[1].GetReadBytesPerSecond(), 2048 * 512 / 2},
		{"sda busy %", disks[1].GetBusyPercent(), 5},
		{"dm-0 busy %", disks[2].GetBusyPercent(), 0},
	} {
		if !near(tc.got, tc.want) {
			t.Errorf("nvme0n1 %s = %v; want %v", tc.field, tc.got, tc.want)
		}
	}
	if got, want := nvme.GetReadBytesTotal(), uint64(13245112+16384)*512; got != want {
		t.Errorf("read bytes total = %d; want %d", got, want)
	}
}

func TestDisksUseSysBlock(t *testing.T) {
	dir, roots := fixture(t)
	// With sysfs present it decides: a partition-looking name that sysfs
	// lists as a disk is kept, and a disk that sysfs lacks is dropped.
	for _, name := range []string{"nvme0n1", "nvme0n1p1"} {
		writeFile(t, dir, filepath.Join("sys/block", name, "size"), "1000215216\n")
	}
	disks := collect(t, NewDisks(roots), 0).GetDisks()
	if got, want := strings.Join(diskNames(disks), ","), "nvme0n1,nvme0n1p1"; got != want {
		t.Errorf("disks = %s; want %s", got, want)
	}
}

func TestDisksCountersBackwards(t *testing.T) {
	dir, roots := fixture(t)
	d := NewDisks(roots)
	collect(t, d, 0)
	// nvme0n1 counters restart (the device was re-created); sda's io_ticks
	// grow by more than the interval, which sysfs cannot mean but a clock
	// jump can make it look like.
	writeFile(t, dir, "proc/diskstats", `
 259       0 nvme0n1 10 0 80 1 5 0 40 1 0 2 3 0 0 0 0 0 0
   8       0 sda 20111 3211 4980224 80234 5012 2231 1502976 30123 0 65112 110357 0 0 0 0 0 0
`)
	disks := collect(t, d, 2).GetDisks()
	if len(disks) != 2 {
		t.Fatalf("disks = %v; want nvme0n1 and sda", disks)
	}
	if n := disks[0]; n.GetReadBytesPerSecond() != 0 || n.GetReadsPerSecond() != 0 || n.GetBusyPercent() != 0 || n.GetReadBytesTotal() != 80*512 {
		t.Errorf("nvme0n1 after reset = %v; want zero rates and the new total", n)
	}
	if got := disks[1].GetBusyPercent(); got != 100 {
		t.Errorf("sda busy = %v; want it capped at 100", got)
	}
}

func TestDisksNewDeviceHasNoRate(t *testing.T) {
	dir, roots := fixture(t)
	d := NewDisks(roots)
	collect(t, d, 0)
	editFile(t, dir, "proc/diskstats", "   8       0 sda", "   8      16 sdb 900 0 90000 10 0 0 0 0 0 100 10 0 0 0 0 0 0\n   8       0 sda")
	for _, disk := range collect(t, d, 2).GetDisks() {
		if disk.GetName() == "sdb" && (disk.GetReadBytesPerSecond() != 0 || disk.GetReadBytesTotal() != 90000*512) {
			t.Errorf("hot-plugged sdb = %v; want no rate in its first sample", disk)
		}
	}
}

func TestDisksMalformed(t *testing.T) {
	dir, roots := fixture(t)
	editFile(t, dir, "proc/diskstats", "sda 20111 3211 4980224", "sda 20111 3211 49802x4")
	s := sampleAt(0)
	err := NewDisks(roots).Collect(t.Context(), s)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "proc", "diskstats")) || !strings.Contains(err.Error(), "sda sectors_read") {
		t.Fatalf("Collect = %v; want an error naming proc/diskstats and sda sectors_read", err)
	}
	if got, want := strings.Join(diskNames(s.GetDisks()), ","), "nvme0n1,dm-0"; got != want {
		t.Errorf("disks = %s; want %s", got, want)
	}
}

func TestDisksMissing(t *testing.T) {
	dir, roots := fixture(t)
	if err := os.Remove(filepath.Join(dir, "proc", "diskstats")); err != nil {
		t.Fatal(err)
	}
	if err := NewDisks(roots).Collect(t.Context(), sampleAt(0)); !errors.Is(err, telemetry.ErrNotAvailable) {
		t.Errorf("Collect = %v; want ErrNotAvailable", err)
	}
}

func TestParseDiskstatsFormats(t *testing.T) {
	in := `   8       0 sda 1 2 3 4 5 6 7 8 9 10 11
   8       1 sda1 100 200 300 400
 259       0 nvme0n1 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15
   8      16 sdb 1 2 3
`
	var got []string
	var errs fieldErrors
	parseDiskstats("diskstats", []byte(in), &errs, func(name []byte, c diskCounters) {
		got = append(got, string(name))
		if c != (diskCounters{reads: 1, readSectors: 3, writes: 5, writeSectors: 7, ioTicksMS: 10}) {
			t.Errorf("%s counters = %+v", name, c)
		}
	})
	if strings.Join(got, ",") != "sda,nvme0n1" {
		t.Errorf("devices = %v; want sda (4.x, 11 columns) and nvme0n1 (4.18+, 15), not the 2.6 partition line", got)
	}
	if err := errs.err(); err == nil || !strings.Contains(err.Error(), "sdb read_ms") {
		t.Errorf("error = %v; want sdb's missing read_ms", err)
	}
}

func TestIsPartitionName(t *testing.T) {
	for _, tc := range []struct {
		name string
		want bool
	}{
		{"sda", false}, {"sda1", true}, {"sdaa12", true}, {"vdb3", true}, {"xvda1", true}, {"hdc", false},
		{"nvme0n1", false}, {"nvme0n1p1", true}, {"mmcblk0", false}, {"mmcblk0p2", true}, {"nbd0p1", true},
		{"dm-0", false}, {"md127", false}, {"sr0", false}, {"zd0", false}, {"123", false}, {"", false},
	} {
		if got := isPartitionName(tc.name); got != tc.want {
			t.Errorf("isPartitionName(%q) = %v; want %v", tc.name, got, tc.want)
		}
	}
}
