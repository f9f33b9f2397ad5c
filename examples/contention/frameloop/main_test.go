package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/krystalstack/gamesa/examples/contention/internal/measure"
)

func TestNextVsync(t *testing.T) {
	origin := time.Unix(100, 0)
	p := 10 * time.Millisecond
	for _, tc := range []struct{ at, want time.Duration }{
		{0, p}, {1, p}, {p - 1, p}, {p, 2 * p}, {25 * time.Millisecond, 3 * p},
	} {
		if got := nextVsync(origin, origin.Add(tc.at), p); got.Sub(origin) != tc.want {
			t.Errorf("nextVsync(+%s) = +%s; want +%s", tc.at, got.Sub(origin), tc.want)
		}
	}
}

// TestLoopShowsFramesOnVsyncs runs the loop for real with a short period:
// every frame is shown on the vsync grid, a frame counts as missed exactly
// when it was shown after the vsync that followed the previous one, and
// the log reads back through the harness's reader.
func TestLoopShowsFramesOnVsyncs(t *testing.T) {
	period := 5 * time.Millisecond
	out := loop(calibrate(time.Millisecond), period, 30*period, make(chan os.Signal), func() error { return nil })
	if out.err != nil {
		t.Fatal(out.err)
	}
	if len(out.Frames) == 0 {
		t.Fatal("no frames")
	}
	last := out.Frames[len(out.Frames)-1].Present
	if last < 30*period {
		t.Errorf("loop stopped at +%s; want at least the 30th vsync", last)
	}
	var prev time.Duration
	for i, f := range out.Frames {
		if f.Present%period != 0 {
			t.Errorf("frame %d shown at +%s, off the %s vsync grid", i, f.Present, period)
		}
		if late := f.Present > prev+period; f.Missed != late {
			t.Errorf("frame %d: missed %v, but shown at +%s after the previous at +%s", i, f.Missed, f.Present, prev)
		}
		prev = f.Present
	}
	var buf bytes.Buffer
	if _, err := out.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	back, err := measure.ReadFrameLog(&buf)
	if err != nil {
		t.Fatalf("the log does not read back: %v", err)
	}
	if len(back.Frames) != len(out.Frames) || back.Iters != out.Iters {
		t.Errorf("read back %d frames of %d iterations; want %d of %d", len(back.Frames), back.Iters,
			len(out.Frames), out.Iters)
	}
}

// TestLoopStopsOnSignal: without a duration, only the stop channel ends
// the loop, and a frame interrupted by it is not logged.
func TestLoopStopsOnSignal(t *testing.T) {
	stop := make(chan os.Signal, 1)
	started := make(chan struct{})
	done := make(chan frames, 1)
	go func() {
		done <- loop(1000, time.Millisecond, 0, stop, func() error { close(started); return nil })
	}()
	<-started
	stop <- syscall.SIGTERM
	select {
	case out := <-done:
		if out.err != nil {
			t.Fatal(out.err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the loop ignored its stop signal")
	}
}

// TestRunWritesPIDAndLog runs the program's body the way the harness
// does, with a duration, and reads both files back.
func TestRunWritesPIDAndLog(t *testing.T) {
	dir := t.TempDir()
	cfg := config{iters: 1000, fps: 200, duration: 50 * time.Millisecond,
		out: filepath.Join(dir, "frames.txt"), pidFile: filepath.Join(dir, "game.pid")}
	if err := run(cfg, make(chan os.Signal)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(cfg.pidFile)
	if err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
		t.Errorf("pid file holds %q, %v; want %d", b, err, os.Getpid())
	}
	f, err := os.Open(cfg.out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l, err := measure.ReadFrameLog(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Frames) == 0 || l.Period != 5*time.Millisecond {
		t.Errorf("frame log: %d frames, period %s; want frames at 5ms", len(l.Frames), l.Period)
	}
}

func TestCalibrateScales(t *testing.T) {
	if n := calibrate(time.Millisecond); n <= 0 {
		t.Errorf("calibrate(1ms) = %d; want a positive count", n)
	}
	if err := run(config{calibrate: true}, nil); err == nil {
		t.Error("calibrating for no work time succeeded; want an error")
	}
	if err := run(config{iters: 0, fps: 60, out: "x"}, nil); err == nil {
		t.Error("a run without iterations started; want an error")
	}
}
