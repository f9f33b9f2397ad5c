package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/krystalstack/gamesa/examples/contention/internal/measure"
)

// TestRunLogsWork runs the hog for a moment and reads its log back: work
// was done, and the checkpoints cover the run.
func TestRunLogsWork(t *testing.T) {
	out := filepath.Join(t.TempDir(), "hog.txt")
	cfg := config{unit: 4096, every: 10 * time.Millisecond, duration: 200 * time.Millisecond, out: out}
	if err := run(cfg, make(chan os.Signal)); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l, err := measure.ReadHogLog(f)
	if err != nil {
		t.Fatal(err)
	}
	if l.UnitBytes != 4096 || len(l.Points) < 2 {
		t.Fatalf("log: %d-byte units, %d checkpoints; want 4096 and at least 2", l.UnitBytes, len(l.Points))
	}
	first, last := l.Points[0], l.Points[len(l.Points)-1]
	if first.Units != 0 || last.Units == 0 || last.At.Sub(first.At) < cfg.duration {
		t.Errorf("log runs from %+v to %+v; want 0 units at the start, work by the end, the whole %s covered",
			first, last, cfg.duration)
	}
	if r, err := l.Rate(first.At, last.At); err != nil || r <= 0 {
		t.Errorf("Rate over the run = %v, %v; want a positive rate", r, err)
	}
}

func TestStopSignalEndsTheLoop(t *testing.T) {
	stop := make(chan os.Signal, 1)
	stop <- syscall.SIGTERM
	l := hash(config{unit: 64, every: time.Millisecond}, stop)
	if len(l.Points) != 2 {
		t.Errorf("a hog stopped at once logged %d checkpoints; want the start and the stop", len(l.Points))
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	for _, cfg := range []config{{unit: 0, every: time.Second, out: "x"}, {unit: 1, every: 0, out: "x"}, {unit: 1, every: 1}} {
		if err := run(cfg, nil); err == nil {
			t.Errorf("run(%+v) succeeded; want an error", cfg)
		}
	}
}
