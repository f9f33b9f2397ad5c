package procfs

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
	"github.com/krystalstack/gamesa/telemetry"
)

// These tests read the machine they run on, so they check sanity, not
// values.

func liveSample() *gamesav1.Sample { return &gamesav1.Sample{Time: timestamppb.Now()} }

func liveCollect(t *testing.T, c telemetry.Collector) *gamesav1.Sample {
	t.Helper()
	s := liveSample()
	if err := c.Collect(t.Context(), s); err != nil {
		t.Fatalf("Collect on this host: %v", err)
	}
	if _, err := proto.Marshal(s); err != nil {
		t.Fatalf("sample from this host does not marshal: %v", err)
	}
	return s
}

// onlineCPUs counts the CPUs in /sys/devices/system/cpu/online ("0-3,8").
func onlineCPUs(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		t.Skipf("no sysfs cpu list: %v", err)
	}
	n := 0
	for _, r := range strings.Split(strings.TrimSpace(string(b)), ",") {
		lo, hi, found := strings.Cut(r, "-")
		a, err1 := strconv.Atoi(lo)
		z := a
		var err2 error
		if found {
			z, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil {
			t.Fatalf("cannot parse online list %q", b)
		}
		n += z - a + 1
	}
	return n
}

func TestLiveCPU(t *testing.T) {
	c := NewCPU(telemetry.DefaultRoots())
	liveCollect(t, c)
	busyUntil(t, 50*time.Millisecond)
	s := liveCollect(t, c)
	cores := s.GetCpu().GetCores()
	// /proc/stat lists the online CPUs; runtime.NumCPU counts the ones this
	// process may use, fewer only under an affinity mask.
	if len(cores) != runtime.NumCPU() && len(cores) != onlineCPUs(t) {
		t.Errorf("%d cores; want runtime.NumCPU() = %d (or the %d online)", len(cores), runtime.NumCPU(), onlineCPUs(t))
	}
	if u := s.GetCpu().GetUtilizationPercent(); !inPercent(u) {
		t.Errorf("utilization = %v; want 0..100", u)
	}
	for i, core := range cores {
		if i > 0 && core.GetId() <= cores[i-1].GetId() {
			t.Errorf("core %d after core %d; want ascending ids", core.GetId(), cores[i-1].GetId())
		}
	}
	if s.GetLoad().GetContextSwitchesPerSecond() == 0 {
		t.Error("no context switches while this test ran; want some")
	}
}

func TestLiveMemory(t *testing.T) {
	m := liveCollect(t, NewMemory(telemetry.DefaultRoots())).GetMemory()
	if m.GetTotalBytes() == 0 || m.GetUsedBytes() > m.GetTotalBytes() || m.GetAvailableBytes() == 0 || !inPercent(m.GetUsedPercent()) {
		t.Errorf("memory = %v; want total > 0, used <= total, some available", m)
	}
}

func TestLiveLoadDisksNet(t *testing.T) {
	roots := telemetry.DefaultRoots()
	if l := liveCollect(t, NewLoad(roots)).GetLoad(); l.GetLoad1() < 0 {
		t.Errorf("load = %v", l)
	}
	liveCollect(t, NewDisks(roots))
	ifs := liveCollect(t, NewNet(roots)).GetNet()
	if !strings.Contains(","+netNames(ifs)+",", ",lo,") {
		t.Errorf("interfaces %s; want lo among them", netNames(ifs))
	}
}

func TestLiveProcesses(t *testing.T) {
	p := NewProcesses(telemetry.DefaultRoots(), 20)
	defer p.Close()
	liveCollect(t, p)
	busyUntil(t, 300*time.Millisecond)
	s := liveCollect(t, p)
	ps := s.GetProcesses()
	if ps.GetTotal() == 0 || ps.GetThreads() < ps.GetTotal() {
		t.Errorf("total %d threads %d; want processes, each with a thread", ps.GetTotal(), ps.GetThreads())
	}
	self := int32(os.Getpid())
	for _, proc := range ps.GetTop() {
		if proc.GetPid() == self {
			if proc.GetCpuPercent() <= 0 || proc.GetThreads() == 0 || proc.GetRssBytes() == 0 || proc.GetCmdline() == "" {
				t.Errorf("this test's entry = %v; want CPU, threads, rss and a command line", proc)
			}
			if proc.GetUid() != uint32(os.Geteuid()) || proc.GetUser() == "" || os.Geteuid() == 0 && proc.GetUser() != "root" {
				t.Errorf("this test's owner = %d %q; want uid %d with its name", proc.GetUid(), proc.GetUser(), os.Geteuid())
			}
			return
		}
	}
	t.Errorf("pid %d, which burned CPU, is not in the top 20: %v", self, ps.GetTop())
}

// busyUntil spins until this process has used at least cpu of CPU time, or
// five seconds have passed on a loaded machine.
func busyUntil(t *testing.T, cpu time.Duration) {
	t.Helper()
	used := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			t.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	start, deadline := used(), time.Now().Add(5*time.Second)
	x := 1
	for used()-start < cpu && time.Now().Before(deadline) {
		for i := range 100000 {
			x = x*31 + i
		}
	}
	if x == 0 {
		t.Log("unreachable in practice; keeps the loop from being optimised away")
	}
}
