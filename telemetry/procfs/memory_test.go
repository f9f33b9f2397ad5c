package procfs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/krystalstack/gamesa/telemetry"
)

func TestMemoryFixture(t *testing.T) {
	_, roots := fixture(t)
	s := collect(t, NewMemory(roots), 0)
	checkGolden(t, "memory", s)
	const kB = 1024
	m := s.GetMemory()
	for _, tc := range []struct {
		field     string
		got, want uint64
	}{
		{"total", m.GetTotalBytes(), 16318732 * kB},
		{"available", m.GetAvailableBytes(), 11210456 * kB},
		{"used", m.GetUsedBytes(), (16318732 - 11210456) * kB},
		{"free", m.GetFreeBytes(), 6512340 * kB},
		{"buffers", m.GetBuffersBytes(), 402112 * kB},
		{"cached", m.GetCachedBytes(), 4812660 * kB},
		{"dirty", m.GetDirtyBytes(), 1284 * kB},
		{"swap total", m.GetSwapTotalBytes(), 2097148 * kB},
		{"swap free", m.GetSwapFreeBytes(), 2097148 * kB},
	} {
		if tc.got != tc.want {
			t.Errorf("memory %s = %d; want %d", tc.field, tc.got, tc.want)
		}
	}
	if want := float64(16318732-11210456) / 16318732 * 100; !near(m.GetUsedPercent(), want) {
		t.Errorf("used percent = %v; want %v", m.GetUsedPercent(), want)
	}
}

func TestParseMeminfo(t *testing.T) {
	for _, tc := range []struct {
		name                   string
		in                     string
		total, used, available uint64
		pct                    float64
		wantErr                string
	}{
		{
			name:  "MemAvailable",
			in:    "MemTotal: 1000 kB\nMemFree: 100 kB\nMemAvailable: 600 kB\nBuffers: 50 kB\nCached: 200 kB\n",
			total: 1000 * 1024, used: 400 * 1024, available: 600 * 1024, pct: 40,
		},
		{
			name:  "before 3.14: no MemAvailable",
			in:    "MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\nCached: 250 kB\n",
			total: 1000 * 1024, used: 600 * 1024, available: 400 * 1024, pct: 60,
		},
		{
			name:  "inconsistent numbers do not wrap",
			in:    "MemTotal: 100 kB\nMemFree: 90 kB\nBuffers: 50 kB\nCached: 250 kB\n",
			total: 100 * 1024, used: 0, available: 100 * 1024, pct: 0,
		},
		{
			name:  "bad value",
			in:    "MemTotal: 1000 kB\nMemFree: lots kB\nMemAvailable: 600 kB\n",
			total: 1000 * 1024, used: 400 * 1024, available: 600 * 1024, pct: 40,
			wantErr: "field MemFree",
		},
		{
			name:  "bad unit",
			in:    "MemTotal: 1000 kB\nMemAvailable: 600 MB\n",
			total: 1000 * 1024, used: 1000 * 1024, available: 0, pct: 100,
			wantErr: "field MemAvailable",
		},
		{
			name:    "no MemTotal",
			in:      "MemFree: 100 kB\n",
			wantErr: "MemTotal: missing",
		},
	} {
		m, err := parseMeminfo("meminfo", []byte(tc.in))
		if m.GetTotalBytes() != tc.total || m.GetUsedBytes() != tc.used || m.GetAvailableBytes() != tc.available || !near(m.GetUsedPercent(), tc.pct) {
			t.Errorf("%s: parseMeminfo(%q) = %v; want total %d used %d available %d (%v%%)", tc.name, tc.in, m, tc.total, tc.used, tc.available, tc.pct)
		}
		if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%s: error = %v; want one containing %q", tc.name, err, tc.wantErr)
		}
	}
}

func TestMemoryMalformedKeepsOthers(t *testing.T) {
	dir, roots := fixture(t)
	editFile(t, dir, "proc/meminfo", "Buffers:          402112 kB", "Buffers:          4o2112 kB")
	s := sampleAt(0)
	err := NewMemory(roots).Collect(t.Context(), s)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "proc", "meminfo")) || !strings.Contains(err.Error(), "Buffers") {
		t.Fatalf("Collect = %v; want an error naming proc/meminfo and Buffers", err)
	}
	if m := s.GetMemory(); m.GetTotalBytes() != 16318732*1024 || m.GetBuffersBytes() != 0 || m.GetCachedBytes() != 4812660*1024 {
		t.Errorf("memory = %v; want everything but Buffers filled", m)
	}
}

func TestMemoryMissing(t *testing.T) {
	dir, roots := fixture(t)
	if err := os.Remove(filepath.Join(dir, "proc", "meminfo")); err != nil {
		t.Fatal(err)
	}
	if err := NewMemory(roots).Collect(t.Context(), sampleAt(0)); !errors.Is(err, telemetry.ErrNotAvailable) {
		t.Errorf("Collect = %v; want ErrNotAvailable", err)
	}
}
