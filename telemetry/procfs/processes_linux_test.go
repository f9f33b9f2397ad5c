package procfs

import (
	"os"
	"testing"

	"github.com/krystalstack/gamesa/telemetry"
)

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count open files: %v", err)
	}
	return len(ents)
}

func TestProcessesHoldAndClose(t *testing.T) {
	dir, roots := fixture(t)
	before := openFDs(t)
	p := newTestProcesses(t, roots, 5)
	twoTicks(t, dir, p)
	// One held file per listed process, and the file of the exited 2999
	// given back.
	if got := openFDs(t) - before; got != 11 || p.statf.open != 11 {
		t.Errorf("%d files open (%d counted); want 11, one per process", got, p.statf.open)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if got := openFDs(t) - before; got != 0 || p.statf.open != 0 {
		t.Errorf("%d files open after Close (%d counted); want 0", got, p.statf.open)
	}
	// Usable again, from scratch.
	for _, proc := range collect(t, p, 4).GetProcesses().GetTop() {
		if proc.GetCpuPercent() != 0 {
			t.Errorf("pid %d at %v%% right after Close; want 0", proc.GetPid(), proc.GetCpuPercent())
		}
	}
	p.Close() //nolint:errcheck // cannot fail
}

func TestProcessesHoldLimit(t *testing.T) {
	dir, roots := fixture(t)
	before := openFDs(t)
	p := newTestProcesses(t, roots, 5)
	p.statf.limit = 3
	s := twoTicks(t, dir, p)
	if got := openFDs(t) - before; got != 3 {
		t.Errorf("%d files open; want the limit, 3", got)
	}
	checkTop(t, s.GetProcesses().GetTop(), []procWant{{4242, 170}, {1523, 75}, {1710, 75}, {7000, 45}, {3000, 20}})
	p.Close() //nolint:errcheck // cannot fail
}

func TestProcessesLiveSeesFreshCounters(t *testing.T) {
	// The held stat file of this very process must show its CPU time grow:
	// pread at offset 0 regenerates a /proc file.
	p := NewProcesses(telemetry.DefaultRoots(), 0)
	defer p.Close()
	liveCollect(t, p)
	self := int32(os.Getpid())
	before := p.prev[self]
	if before.fd == noFD {
		t.Fatal("this process's stat file is not held")
	}
	busyUntil(t, 100_000_000) // 100 ms of CPU
	liveCollect(t, p)
	after := p.prev[self]
	if after.fd != before.fd || after.ticks <= before.ticks {
		t.Errorf("held file %d → %d, ticks %d → %d; want the same file showing more ticks", before.fd, after.fd, before.ticks, after.ticks)
	}
}
