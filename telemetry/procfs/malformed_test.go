package procfs

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
	"github.com/krystalstack/gamesa/telemetry"
)

// TestMalformedFiles runs each collector on the fixture with the broken
// variants of testdata/malformed laid over it. Each must name the file and
// the field that failed, not claim the machine lacks the thing, and still
// fill what parsed.
func TestMalformedFiles(t *testing.T) {
	for _, tc := range []struct {
		name     string
		newC     func(*testing.T, telemetry.Roots) telemetry.Collector
		wantErrs []string // each: a file, then a field
		check    func(*gamesav1.Sample) bool
	}{
		{
			name:     "stat",
			newC:     func(_ *testing.T, r telemetry.Roots) telemetry.Collector { return NewCPU(r) },
			wantErrs: []string{"proc/stat: field cpu1 iowait", "proc/stat: field ctxt", "sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq: field frequency"},
			check: func(s *gamesav1.Sample) bool {
				c := s.GetCpu().GetCores()
				return len(c) == 4 && c[1].GetFrequencyMhz() == 3100 && c[0].GetMaxFrequencyMhz() == 3100 && s.GetLoad().GetProcsRunning() == 3
			},
		},
		{
			name:     "loadavg",
			newC:     func(_ *testing.T, r telemetry.Roots) telemetry.Collector { return NewLoad(r) },
			wantErrs: []string{"proc/loadavg: field load1", "proc/loadavg: field load5"},
			check:    func(s *gamesav1.Sample) bool { return s.GetLoad().GetLoad15() == 0.71 },
		},
		{
			name:     "meminfo",
			newC:     func(_ *testing.T, r telemetry.Roots) telemetry.Collector { return NewMemory(r) },
			wantErrs: []string{"proc/meminfo: field MemAvailable", "proc/meminfo: field Dirty"},
			check: func(s *gamesav1.Sample) bool {
				m := s.GetMemory()
				// Without MemAvailable, used falls back to total - free - buffers - cached.
				return m.GetTotalBytes() == 16318732*1024 && m.GetUsedBytes() == (16318732-6512340-402112-4812660)*1024
			},
		},
		{
			name:     "diskstats",
			newC:     func(_ *testing.T, r telemetry.Roots) telemetry.Collector { return NewDisks(r) },
			wantErrs: []string{"proc/diskstats: field sda read_ms"},
			check:    func(s *gamesav1.Sample) bool { return len(s.GetDisks()) == 2 && s.GetDisks()[0].GetName() == "nvme0n1" },
		},
		{
			name:     "net/dev",
			newC:     func(_ *testing.T, r telemetry.Roots) telemetry.Collector { return NewNet(r) },
			wantErrs: []string{"proc/net/dev: field enp3s0 rx_packets"},
			check:    func(s *gamesav1.Sample) bool { return netNames(s.GetNet()) == "lo,wlp2s0,docker0" },
		},
		{
			name:     "pid stat",
			newC:     func(t *testing.T, r telemetry.Roots) telemetry.Collector { return newTestProcesses(t, r, 100) },
			wantErrs: []string{"proc/1523/stat: field comm"},
			check:    func(s *gamesav1.Sample) bool { return s.GetProcesses().GetTotal() == 10 },
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, roots := fixture(t)
			copyTree(t, filepath.Join("testdata", "malformed"), dir)
			s := sampleAt(0)
			err := tc.newC(t, roots).Collect(t.Context(), s)
			if err == nil {
				t.Fatal("Collect = nil; want field errors")
			}
			if errors.Is(err, telemetry.ErrNotAvailable) {
				t.Errorf("Collect = %v; a parse error must not read as not available", err)
			}
			for _, want := range tc.wantErrs {
				if !strings.Contains(err.Error(), filepath.Join(dir, want)) {
					t.Errorf("Collect = %v; want an error containing %s", err, filepath.Join(dir, want))
				}
			}
			if !tc.check(s) {
				t.Errorf("sample = %v; want the well-formed fields filled", s)
			}
		})
	}
}

func TestFieldErrorsBounded(t *testing.T) {
	var errs fieldErrors
	for range maxFieldErrors + 5 {
		errs.add(errors.New("bad"))
	}
	errs.add(nil)
	msg := errs.err().Error()
	if got := strings.Count(msg, "bad"); got != maxFieldErrors {
		t.Errorf("%d errors kept; want %d", got, maxFieldErrors)
	}
	if !strings.Contains(msg, "and 5 more") {
		t.Errorf("error = %q; want it to count the 5 left out", msg)
	}
}
