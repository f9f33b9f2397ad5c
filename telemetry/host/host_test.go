package host

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
	"github.com/krystalstack/gamesa/telemetry"
	"github.com/krystalstack/gamesa/telemetry/telemetrytest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// fixtureRoots materialises the shared fixture tree (whose committed names
// spell ':' as %3A) in a temp dir.
func fixtureRoots(tb testing.TB) telemetry.Roots {
	return telemetrytest.Fixture(tb, "../testdata/fixture")
}

// TestFixtureSampleGolden reads the whole fixture machine twice (rates need
// two samples) and compares the second sample with the golden file, with
// durations zeroed since they measure this run, not the fixture.
func TestFixtureSampleGolden(t *testing.T) {
	src, err := New(Config{Roots: fixtureRoots(t), TopProcesses: 5, GPU: false})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	if _, err := src.Sample(context.Background(), t0); err != nil {
		t.Fatal(err)
	}
	s, err := src.Sample(context.Background(), t0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range s.GetCollectors() {
		c.Duration = nil
		if c.GetState() != gamesav1.CollectorState_COLLECTOR_STATE_OK {
			t.Errorf("collector %s on the full fixture: %v %s; want OK", c.GetName(), c.GetState(), c.GetMessage())
		}
	}
	got, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	// protojson output is deliberately unstable in whitespace; normalise.
	got = []byte(strings.ReplaceAll(string(got), ":  ", ": ") + "\n")
	golden := filepath.Join("testdata", "fixture-sample.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("fixture sample differs from %s (run go test ./telemetry/host -update and review the diff):\n%s", golden, got)
	}
}

// TestMissingTreeDegrades: a machine with nothing under its roots gives a
// sample whose collectors all say "not available" — and no panic.
func TestMissingTreeDegrades(t *testing.T) {
	src, err := New(Config{Roots: telemetry.FixtureRoots(t.TempDir()), TopProcesses: 5, GPU: true})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	s, err := src.Sample(context.Background(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(s.GetCollectors()) != len(src.Collectors()) {
		t.Fatalf("%d statuses for %d collectors", len(s.GetCollectors()), len(src.Collectors()))
	}
	for _, c := range s.GetCollectors() {
		if c.GetState() != gamesav1.CollectorState_COLLECTOR_STATE_NOT_AVAILABLE {
			t.Errorf("collector %s on an empty tree: %v %q; want NOT_AVAILABLE", c.GetName(), c.GetState(), c.GetMessage())
		}
	}
}

// TestLiveHost samples this machine and checks the answers against what
// the kernel says directly.
func TestLiveHost(t *testing.T) {
	src, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, err := src.Sample(context.Background(), time.Now()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // let counters move; not an assertion
	s, err := src.Sample(context.Background(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(s.GetCpu().GetCores()), telemetrytest.KernelCPUs(t); got != want {
		t.Errorf("cores = %d; want %d (from /proc/stat)", got, want)
	}
	if got, want := s.GetMemory().GetTotalBytes(), telemetrytest.KernelMemTotal(t); got != want {
		t.Errorf("memory total = %d; want %d (MemTotal in /proc/meminfo)", got, want)
	}
	if s.GetProcesses().GetTotal() == 0 {
		t.Error("no processes counted")
	}
	for _, c := range s.GetCollectors() {
		if c.GetState() == gamesav1.CollectorState_COLLECTOR_STATE_ERROR {
			t.Errorf("collector %s failed on the live host: %s", c.GetName(), c.GetMessage())
		}
	}
}

// BenchmarkSampleFixture is one full sample of the fixture machine.
func BenchmarkSampleFixture(b *testing.B) {
	src, err := New(Config{Roots: fixtureRoots(b), TopProcesses: 20})
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	benchSample(b, src, nil, 0)
}

// BenchmarkSampleLive300 is one full sample of this machine with 300 extra
// sleeping processes, the figure (≤ 2 ms of CPU). The collectors are
// single-threaded, so ns/op is CPU time per sample.
func BenchmarkSampleLive300(b *testing.B) {
	startSleepers(b, 300)
	src, err := New(DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	benchSample(b, src, nil, 0)
}

// BenchmarkSampleLive300NewPid is BenchmarkSampleLive300 on a machine
// where a process or thread starts before every sample: the process
// collector then lists /proc and reads every process, where an idle
// machine lets it re-read only the busy ones (procfs.PidWatch). Before each
// sample a thread is started and ended; that costs CPU of its own, measured
// alone in the same run and taken out of cpu-ns/op.
func BenchmarkSampleLive300NewPid(b *testing.B) {
	startSleepers(b, 300)
	src, err := New(DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	const calib = 200
	before := lastPid(b)
	c0 := processCPU(b)
	for range calib {
		newPid()
	}
	churn := (processCPU(b) - c0) / calib
	if lastPid(b) == before {
		b.Fatal("starting threads handed out no pid")
	}
	benchSample(b, src, newPid, churn)
	b.ReportMetric(float64(churn), "thread-cpu-ns/op") // after: ResetTimer drops metrics
}

// newPid makes the kernel hand out a pid: a goroutine locked to its OS
// thread exits still locked, which ends the thread, so the runtime starts
// a new one for the next.
func newPid() {
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		close(done)
	}()
	<-done
}

// lastPid is the last pid this namespace handed out (loadavg's last field).
func lastPid(tb testing.TB) string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		tb.Fatal(err)
	}
	f := strings.Fields(string(b))
	return f[len(f)-1]
}

// benchSample measures src.Sample; before, when not nil, runs ahead of
// each sample, and its CPU time, beforeCPU, is taken out of cpu-ns/op
// (ns/op, wall time, keeps it).
func benchSample(b *testing.B, src *Source, before func(), beforeCPU time.Duration) {
	ctx := context.Background()
	now := time.Now()
	if _, err := src.Sample(ctx, now); err != nil { // warm: discovery, caches
		b.Fatal(err)
	}
	b.ReportAllocs()
	cpu0 := processCPU(b)
	b.ResetTimer()
	n := 0
	for b.Loop() {
		if before != nil {
			before()
		}
		now = now.Add(time.Second)
		if _, err := src.Sample(ctx, now); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.StopTimer()
	// CPU time, user + system, of the whole process (GC included): the
	// figure the issue bounds, which wall time only approximates.
	b.ReportMetric(float64(processCPU(b)-cpu0)/float64(n)-float64(beforeCPU), "cpu-ns/op")
}

// processCPU is this process's user + system CPU time so far.
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// startSleepers starts n `sleep` processes that the benchmark's cleanup
// kills and reaps; they exit on their own after 10 minutes regardless.
func startSleepers(tb testing.TB, n int) {
	tb.Helper()
	if runtime.GOOS != "linux" {
		tb.Skip("needs Linux")
	}
	cmds := make([]*exec.Cmd, 0, n)
	tb.Cleanup(func() {
		for _, c := range cmds {
			_ = c.Process.Kill() // it may have exited already
			_ = c.Wait()         // reap; the exit status is "killed"
		}
	})
	for i := 0; i < n; i++ {
		c := exec.Command("sleep", "600")
		if err := c.Start(); err != nil {
			tb.Fatalf("starting sleeper %d: %v", i, err)
		}
		cmds = append(cmds, c)
	}
}
