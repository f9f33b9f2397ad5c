package telemetrytest

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// KernelCPUs is the number of logical CPUs /proc/stat lists (the "cpuN"
// lines): what a collector of this machine must report, read the plainest
// way so tests check collectors against the kernel, not against themselves.
func KernelCPUs(tb testing.TB) int {
	tb.Helper()
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		tb.Fatal(err)
	}
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		if len(l) > 3 && strings.HasPrefix(l, "cpu") && l[3] >= '0' && l[3] <= '9' {
			n++
		}
	}
	return n
}

// KernelMemTotal is MemTotal from /proc/meminfo, in bytes.
func KernelMemTotal(tb testing.TB) uint64 {
	tb.Helper()
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		tb.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "MemTotal:" {
			kb, err := strconv.ParseUint(f[1], 10, 64)
			if err != nil {
				tb.Fatalf("MemTotal %q: %v", f[1], err)
			}
			return kb * 1024
		}
	}
	tb.Fatal("no MemTotal in /proc/meminfo")
	return 0
}
