package procfs

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
	"github.com/krystalstack/gamesa/telemetry"
)

// benchCollect runs the collectors once per iteration, one simulated second
// apart, and reports the process's CPU time per iteration beside ns/op.
func benchCollect(b *testing.B, cs ...telemetry.Collector) {
	b.Helper()
	for _, c := range cs {
		if cl, ok := c.(io.Closer); ok {
			b.Cleanup(func() { cl.Close() }) //nolint:errcheck // closing /proc files cannot fail
		}
	}
	b.ReportAllocs()
	var cpu cpuClock
	cpu.start(b)
	for i := 0; b.Loop(); i++ {
		s := &gamesav1.Sample{Time: timestamppb.New(t0.Add(time.Duration(i) * time.Second))}
		for _, c := range cs {
			if err := c.Collect(b.Context(), s); err != nil {
				b.Fatal(err)
			}
		}
	}
	cpu.report(b)
}

// BenchmarkProcesses reads the fixture's 11 processes.
func BenchmarkProcesses(b *testing.B) {
	benchCollect(b, NewProcesses(telemetry.FixtureRoots(sharedFixture), 10))
}

// sleepers is how many extra processes the live benchmarks run: the target
// is a full sample in 2 ms of CPU with 300 processes.
const sleepers = 300

// startSleepers starts n `sleep 300` processes, killed and reaped when the
// benchmark ends (they would end by themselves after five minutes).
func startSleepers(b *testing.B, n int) {
	b.Helper()
	path, err := exec.LookPath("sleep")
	if err != nil {
		b.Skipf("no sleep binary: %v", err)
	}
	cmds := make([]*exec.Cmd, 0, n)
	b.Cleanup(func() {
		for _, c := range cmds {
			_ = c.Process.Kill() // already gone is fine: Wait reaps it either way
			_ = c.Wait()         // the exit status of a killed sleep says nothing
		}
	})
	for range n {
		c := exec.Command(path, "300")
		if err := c.Start(); err != nil {
			b.Fatalf("start sleeper %d: %v", len(cmds), err)
		}
		cmds = append(cmds, c)
	}
	// Measure a quiet table, not 300 programs still being loaded: wait
	// until each has exec'd and sleeps.
	deadline := time.Now().Add(10 * time.Second)
	for _, c := range cmds {
		stat := filepath.Join("/proc", strconv.Itoa(c.Process.Pid), "stat")
		for {
			var st pidStat
			raw, err := os.ReadFile(stat)
			if err == nil && parsePidStat(raw, &st) == nil && st.state == 'S' && string(st.comm[:st.commLen]) == "sleep" {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("sleeper %d not asleep after 10 s: %q %v", c.Process.Pid, raw, err)
			}
			runtime.Gosched()
		}
	}
}

func BenchmarkProcessesLive(b *testing.B) {
	startSleepers(b, sleepers)
	benchCollect(b, NewProcesses(telemetry.DefaultRoots(), 10))
}

func BenchmarkCollectorsLive(b *testing.B) {
	startSleepers(b, sleepers)
	roots := telemetry.DefaultRoots()
	benchCollect(b, NewCPU(roots), NewLoad(roots), NewMemory(roots), NewDisks(roots), NewNet(roots), NewProcesses(roots, 10))
}

// cpuClock measures the CPU time (user + system) of the whole process, so
// the kernel's work for /proc reads counts, and so does the garbage
// collector's.
type cpuClock struct{ t0 time.Duration }

func rusageCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (c *cpuClock) start(b *testing.B) { c.t0 = rusageCPU(b) }

func (c *cpuClock) report(b *testing.B) {
	if b.N > 0 {
		b.ReportMetric(float64(rusageCPU(b)-c.t0)/float64(b.N), "cpu-ns/op")
	}
}
