package ohm

import (
	"compress/gzip"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A trimmed GL553VD header: ids, then names (one latin-1 byte, 0xB0, in a
// name the package does not use).
const header = ",/intelcpu/0/load/0,/intelcpu/0/temperature/0,/intelcpu/0/temperature/4,/intelcpu/0/clock/1,/intelcpu/0/clock/2,/intelcpu/0/power/0,/intelcpu/0/clock/0,/nvidiagpu/0/temperature/0\n" +
	"Time,\"CPU Total\",\"CPU Core #1\",\"CPU Package\",\"CPU Core #1\",\"CPU Core #2\",\"CPU Package\",\"Bus Speed\",\"GPU Core\"\r\n"

func row(ts string, load, pkg, c1, c2, w, gpu string) string {
	return strings.Join([]string{ts, load, "40", pkg, c1, c2, w, "100", gpu}, ",") + "\n"
}

func parse(t *testing.T, text string, cfg Config) *Log {
	t.Helper()
	l, err := Parse(strings.NewReader(text), "test.csv", cfg)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return l
}

func TestParseSegmentsAndValues(t *testing.T) {
	text := header +
		row("04/06/2020 01:00:00", "10", "50", "3000", "3400", "12.5", "0") +
		row("04/06/2020 01:00:01", "20", "51", "3100", "3300", "13", "0") +
		row("04/06/2020 01:00:01", "30", "52", "3200", "3200", "14", "45") + // 0 s step: jitter, kept
		row("04/06/2020 01:00:03", "40", "53", "3300", "3100", "15", "46") + // 2 s step: kept
		row("04/06/2020 01:00:30", "50", "60", "800", "800", "4", "47") + // 27 s gap: new segment
		row("04/06/2020 01:00:31", "60", "61", "800", "1000", "5", "48")
	l := parse(t, text, DefaultConfig())
	if len(l.Segments) != 2 || l.Rows != 6 || l.Skipped != 0 || !l.HasGPU {
		t.Fatalf("Parse: %d segments, %d rows, %d skipped, HasGPU %v; want 2, 6, 0, true", len(l.Segments), l.Rows, l.Skipped, l.HasGPU)
	}
	s := l.Segments[0]
	if s.Len() != 4 || l.Segments[1].Len() != 2 {
		t.Errorf("segment lengths %d, %d; want 4, 2", s.Len(), l.Segments[1].Len())
	}
	want := time.Date(2020, 4, 6, 1, 0, 3, 0, time.UTC)
	if !s.Time[3].Equal(want) {
		t.Errorf("Time[3] = %v; want %v", s.Time[3], want)
	}
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"PackageC[1]", s.PackageC[1], 51}, {"LoadPercent[2]", s.LoadPercent[2], 30},
		{"PackageW[0]", s.PackageW[0], 12.5}, {"ClockMHz[0]", s.ClockMHz[0], 3200},
		{"GPUC[3]", s.GPUC[3], 46}, {"segment 2 ClockMHz[1]", l.Segments[1].ClockMHz[1], 900},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v; want %v", c.name, c.got, c.want)
		}
	}
}

func TestParseSkipsMalformedRows(t *testing.T) {
	text := header +
		row("04/06/2020 01:00:00", "10", "50", "3000", "3400", "12.5", "0") +
		"04/06/2020 01:00:01,20,40,51\n" + // cut short
		row("04/06/2020 01:00:02", "10", "NaN", "3000", "3400", "12.5", "0") +
		row("13/06/2020 01:00:03", "10", "50", "3000", "3400", "12.5", "0") +
		row("04/06/2020 01:00:04", "10", "5x", "3000", "3400", "12.5", "0") +
		row("04/06/2020 01:00:05", "10", "52", "3000", "3400", "12.5", "0")
	l := parse(t, text, DefaultConfig())
	if l.Rows != 2 || l.Skipped != 4 {
		t.Fatalf("Parse: %d rows, %d skipped; want 2, 4", l.Rows, l.Skipped)
	}
	if l.FirstSkip == nil || !strings.Contains(l.FirstSkip.Error(), "line 4") {
		t.Errorf("FirstSkip = %v; want it to name line 4", l.FirstSkip)
	}
	// 5 s from the first kept row to the next: within MaxGap, one segment.
	if len(l.Segments) != 1 {
		t.Errorf("%d segments; want 1", len(l.Segments))
	}
}

func TestParseTimeBackwardsStartsSegment(t *testing.T) {
	text := header +
		row("04/06/2020 01:00:05", "10", "50", "3000", "3400", "12.5", "0") +
		row("04/06/2020 01:00:04", "10", "50", "3000", "3400", "12.5", "0")
	if l := parse(t, text, DefaultConfig()); len(l.Segments) != 2 {
		t.Errorf("%d segments; want 2", len(l.Segments))
	}
}

func TestParseRejects(t *testing.T) {
	noGPU := strings.ReplaceAll(header, "/nvidiagpu/", "/atigpu/")
	for _, tc := range []struct {
		name, text string
		cfg        Config
		want       error
	}{
		{"empty", "", DefaultConfig(), ErrFormat},
		{"one header line", strings.SplitAfter(header, "\n")[0], DefaultConfig(), ErrFormat},
		{"names do not match ids", header[:strings.Index(header, "\n")+1] + "Time,\"CPU Total\"\n", DefaultConfig(), ErrFormat},
		{"no time column", strings.Replace(header, "Time,", "Zeit,", 1), DefaultConfig(), ErrFormat},
		{"no package temperature", strings.Replace(header, `"CPU Package","CPU Core #1"`, `"CPU Core #4","CPU Core #1"`, 1), DefaultConfig(), ErrFormat},
		{"another machine", noGPU, DefaultConfig(), ErrOtherMachine},
		{"bad config", header, Config{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tc.text), "x.csv", tc.cfg)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Errorf("Parse(%s) = %v; want %v", tc.name, err, tc.want)
			}
		})
	}
	// Without the requirement, the AMD-GPU log reads; its GPU is found too.
	cfg := DefaultConfig()
	cfg.RequireSensor = ""
	l := parse(t, strings.ReplaceAll(header, "/nvidiagpu/", "/atigpu/")+row("04/06/2020 01:00:05", "10", "50", "3000", "3400", "12.5", "33"), cfg)
	if l.Rows != 1 || !l.HasGPU {
		t.Errorf("any-machine Parse: %d rows, HasGPU %v; want 1, true", l.Rows, l.HasGPU)
	}
}

func TestLatin1(t *testing.T) {
	if got := latin1([]byte("Temp \xb0C")); got != "Temp °C" {
		t.Errorf("latin1 = %q; want %q", got, "Temp °C")
	}
}

func TestReadFileGzipAndDir(t *testing.T) {
	dir := t.TempDir()
	text := header + row("04/06/2020 01:00:00", "10", "50", "3000", "3400", "12.5", "0")
	f, err := os.Create(filepath.Join(dir, "a.csv.gz"))
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	zw.Write([]byte(text))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	os.WriteFile(filepath.Join(dir, "b.csv"), []byte(text), 0o644)
	os.WriteFile(filepath.Join(dir, "c.csv"), []byte(strings.ReplaceAll(text, "/nvidiagpu/", "/atigpu/")), 0o644)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o644)
	logs, excluded, err := ReadDir(dir, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if len(logs) != 2 || logs[0].Name != "a.csv.gz" || logs[0].Rows != 1 || logs[1].Rows != 1 {
		t.Errorf("ReadDir: %d logs; want a.csv.gz and b.csv with one row each", len(logs))
	}
	if len(excluded) != 1 || excluded[0] != "c.csv" {
		t.Errorf("ReadDir excluded %v; want [c.csv]", excluded)
	}
}

// TestRealLogs reads the shipped laptop logs: the desktop log is excluded
// and the rest parse with (almost) no skipped rows.
func TestRealLogs(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "shared", "data", "thermal")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("no real data at %s: %v", dir, err)
	}
	logs, excluded, err := ReadDir(dir, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if len(excluded) != 1 || excluded[0] != "gl553vd-2020-04-02.csv.gz" {
		t.Errorf("excluded %v; want [gl553vd-2020-04-02.csv.gz]", excluded)
	}
	for _, l := range logs {
		if l.Rows < 500 || l.Skipped > 0 || !l.HasGPU {
			t.Errorf("%s: %d rows, %d skipped (%v), HasGPU %v", l.Name, l.Rows, l.Skipped, l.FirstSkip, l.HasGPU)
		}
		for _, s := range l.Segments {
			for i := range s.PackageC {
				if s.PackageC[i] < 20 || s.PackageC[i] > 105 || s.LoadPercent[i] < 0 || s.LoadPercent[i] > 100 || math.IsNaN(s.ClockMHz[i]) {
					t.Fatalf("%s: row %d out of range: %v °C, %v %%, %v MHz", l.Name, i, s.PackageC[i], s.LoadPercent[i], s.ClockMHz[i])
				}
			}
		}
		t.Logf("%s: %d rows in %d segments", l.Name, l.Rows, len(l.Segments))
	}
}

func FuzzParse(f *testing.F) {
	f.Add(header + row("04/06/2020 01:00:00", "10", "50", "3000", "3400", "12.5", "0"))
	f.Add(header + "04/06/2020 01:00:01,20,40,51\n")
	f.Add("")
	f.Add(",/amdcpu/0/load/0\nTime,CPU Total\n")
	f.Fuzz(func(t *testing.T, text string) {
		l, err := Parse(strings.NewReader(text), "fuzz", DefaultConfig())
		if err != nil {
			return
		}
		n := 0
		for _, s := range l.Segments {
			if s.Len() == 0 || len(s.PackageC) != s.Len() || len(s.ClockMHz) != s.Len() || (l.HasGPU && len(s.GPUC) != s.Len()) {
				t.Fatalf("segment with mismatched series: %+v", s)
			}
			for i := range s.PackageC {
				for _, x := range []float64{s.PackageC[i], s.LoadPercent[i], s.PackageW[i], s.ClockMHz[i]} {
					if math.IsNaN(x) || math.IsInf(x, 0) {
						t.Fatalf("non-finite value %v kept", x)
					}
				}
			}
			n += s.Len()
		}
		if n != l.Rows {
			t.Fatalf("Rows = %d; segments hold %d", l.Rows, n)
		}
	})
}
