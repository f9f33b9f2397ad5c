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

func TestLoadFixture(t *testing.T) {
	dir, roots := fixture(t)
	s := twoTicks(t, dir, NewLoad(roots))
	checkGolden(t, "load", s)
	if l := s.GetLoad(); l.GetLoad1() != 1.43 || l.GetLoad5() != 1.02 || l.GetLoad15() != 0.73 {
		t.Errorf("load = %v; want 1.43 1.02 0.73", l)
	}
}

func TestLoadKeepsStatFields(t *testing.T) {
	_, roots := fixture(t)
	s := sampleAt(0)
	s.Load = &gamesav1.Load{ProcsRunning: 7, ContextSwitchesPerSecond: 99}
	if err := NewLoad(roots).Collect(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	if l := s.GetLoad(); l.GetProcsRunning() != 7 || l.GetContextSwitchesPerSecond() != 99 || l.GetLoad1() != 1.25 {
		t.Errorf("load = %v; want the CPU collector's fields kept and load1 1.25", l)
	}
}

func TestLoadMalformed(t *testing.T) {
	dir, roots := fixture(t)
	writeFile(t, dir, "proc/loadavg", "1.25 zero 0.71 3/412 28731\n")
	s := sampleAt(0)
	err := NewLoad(roots).Collect(t.Context(), s)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "proc", "loadavg")) || !strings.Contains(err.Error(), "load5") {
		t.Fatalf("Collect = %v; want an error naming proc/loadavg and load5", err)
	}
	if l := s.GetLoad(); l.GetLoad1() != 1.25 || l.GetLoad15() != 0.71 {
		t.Errorf("load = %v; want load1 and load15 filled", l)
	}
}

func TestLoadMissing(t *testing.T) {
	dir, roots := fixture(t)
	if err := os.Remove(filepath.Join(dir, "proc", "loadavg")); err != nil {
		t.Fatal(err)
	}
	if err := NewLoad(roots).Collect(t.Context(), sampleAt(0)); !errors.Is(err, telemetry.ErrNotAvailable) {
		t.Errorf("Collect = %v; want ErrNotAvailable", err)
	}
}

func TestParseLoadavg(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    [3]float64
		wantErr string
	}{
		{"0.62 0.84 0.38 1/83 7519\n", [3]float64{0.62, 0.84, 0.38}, ""},
		{"12.00 8.50 4.25", [3]float64{12, 8.5, 4.25}, ""},
		{"0.62 0.84", [3]float64{0.62, 0.84, 0}, "load15"},
		{"-1 NaN Inf 1/1 1", [3]float64{}, "load1"},
		{"", [3]float64{}, "load1"},
	} {
		got, err := parseLoadavg("loadavg", []byte(tc.in))
		if got != tc.want {
			t.Errorf("parseLoadavg(%q) = %v; want %v", tc.in, got, tc.want)
		}
		if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("parseLoadavg(%q) error = %v; want one naming %q", tc.in, err, tc.wantErr)
		}
	}
}
