// Command frameloop is the contention benchmark's "game": one goroutine,
// locked to its OS thread with GOMAXPROCS=1, does a fixed amount of CPU
// work per frame and then waits for the next 60 fps vsync, the way a game
// with vsync on does. A frame whose work ends after its deadline is shown
// at the first vsync after the work ends, so contention costs whole
// frames, as on a real display. Every frame's times go to -out at exit
// (SIGTERM, SIGINT or -duration), in the measure package's text format.
//
//	frameloop -calibrate -work 8.33ms        # prints the iterations for 8.33 ms of work
//	frameloop -iters 123456 -duration 20s -out frames.txt -pidfile game.pid
//
// Calibrate on an idle machine: the count is the work that takes -work
// there, and contention is what the benchmark then measures.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/krystalstack/gamesa/examples/contention/internal/measure"
)

func main() {
	cfg := config{}
	flag.BoolVar(&cfg.calibrate, "calibrate", false, "print the iteration count whose work takes -work on this machine, then exit")
	flag.DurationVar(&cfg.work, "work", 8333*time.Microsecond, "with -calibrate: the work time to calibrate for")
	flag.Int64Var(&cfg.iters, "iters", 0, "work per frame, in iterations (from -calibrate)")
	flag.Float64Var(&cfg.fps, "fps", 60, "the display's refresh rate")
	flag.DurationVar(&cfg.duration, "duration", 0, "stop after this long (0: at SIGTERM or SIGINT only)")
	flag.StringVar(&cfg.out, "out", "", "file to write the frame log to at exit")
	flag.StringVar(&cfg.pidFile, "pidfile", "", "file to write this process's pid to once the first frame begins")
	flag.Parse()

	// The game's main loop is one thread: the scheduler's choices about
	// that thread are what the benchmark measures.
	runtime.GOMAXPROCS(1)
	runtime.LockOSThread()
	// Stay subscribed until the log is written: a second SIGTERM (a
	// wrapper forwarding one to its process group) must not kill the
	// process mid-write.
	stop := make(chan os.Signal, 2)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	if err := endWithParent(); err != nil {
		fmt.Fprintln(os.Stderr, "frameloop:", err)
		os.Exit(1)
	}
	if err := run(cfg, stop); err != nil {
		fmt.Fprintln(os.Stderr, "frameloop:", err)
		os.Exit(1)
	}
}

type config struct {
	calibrate bool
	work      time.Duration
	iters     int64
	fps       float64
	duration  time.Duration
	out       string
	pidFile   string
}

// run calibrates, or runs the frame loop until stop delivers or the
// duration has passed and writes the log.
func run(cfg config, stop <-chan os.Signal) error {
	if cfg.calibrate {
		if cfg.work <= 0 {
			return fmt.Errorf("-work %s must be positive", cfg.work)
		}
		fmt.Println(calibrate(cfg.work))
		return nil
	}
	if cfg.iters <= 0 || cfg.fps <= 0 || cfg.out == "" {
		return errors.New("-iters and -fps must be positive and -out set (or use -calibrate)")
	}
	// Create the output first: a run whose results cannot be written is
	// better stopped before it starts.
	f, err := os.Create(cfg.out)
	if err != nil {
		return fmt.Errorf("creating the frame log: %w", err)
	}
	period := time.Duration(float64(time.Second) / cfg.fps)
	log := loop(cfg.iters, period, cfg.duration, stop, func() error { return writePID(cfg.pidFile) })
	if log.err != nil {
		f.Close()
		return log.err
	}
	if _, err := log.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("writing the frame log: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing the frame log: %w", err)
	}
	return nil
}

// frames is a frame log and the error, if any, that ended the loop.
type frames struct {
	measure.FrameLog
	err error
}

// loop runs frames until stop delivers or duration has passed (0: no
// limit). started runs once, just before the first frame; its error ends
// the loop before any frame.
func loop(iters int64, period, duration time.Duration, stop <-chan os.Signal, started func() error) frames {
	var out frames
	out.Period, out.Iters = period, iters
	if duration > 0 {
		// Room for every frame up front: no allocation in the loop.
		out.Frames = make([]measure.Frame, 0, int(duration/period)+2)
	}
	if err := started(); err != nil {
		out.err = err
		return out
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()

	origin := time.Now()
	out.Origin = origin
	start, deadline := origin, origin.Add(period)
	for {
		spin(iters)
		done := time.Now()
		present := deadline
		if done.After(deadline) {
			present = nextVsync(origin, done, period)
		}
		timer.Reset(time.Until(present))
		select {
		case <-stop:
			return out // the frame in flight was never shown
		case <-timer.C:
		}
		out.Frames = append(out.Frames, measure.Frame{
			Start:   start.Sub(origin),
			Work:    done.Sub(start),
			Present: present.Sub(origin),
			Missed:  present.After(deadline),
		})
		if duration > 0 && present.Sub(origin) >= duration {
			return out
		}
		// The next frame begins when this thread runs again, which under
		// contention may be well after the vsync: that delay eats into
		// the next frame's budget, as it would in a game.
		start, deadline = time.Now(), present.Add(period)
	}
}

// nextVsync is the first vsync, at origin + k·period, after t.
func nextVsync(origin, t time.Time, period time.Duration) time.Time {
	k := t.Sub(origin)/period + 1
	return origin.Add(k * period)
}

// sink keeps the work's result alive, so that the compiler cannot drop
// the loop.
var sink uint64 = 0x9E3779B97F4A7C15

// spin is one frame's CPU work: iters rounds of a xorshift generator, a
// chain of dependent integer operations that touches no memory and takes
// the same time on every run.
func spin(iters int64) {
	x := sink
	for range iters {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	sink = x
}

// calibrate finds the iteration count whose work takes target: it times
// blocks of about 2 ms, long against the clock's granularity and short
// against a scheduler's time slice, keeps the fastest of many (one that
// ran undisturbed, even on a busy machine), and scales.
func calibrate(target time.Duration) int64 {
	iters := int64(1 << 10)
	for {
		t := timeSpin(iters)
		if t >= 2*time.Millisecond || iters > 1<<40 {
			break
		}
		iters *= 2
	}
	best := time.Duration(1<<63 - 1)
	for range 50 {
		best = min(best, timeSpin(iters))
	}
	n := int64(float64(iters) * float64(target) / float64(best))
	return max(n, 1)
}

func timeSpin(iters int64) time.Duration {
	t0 := time.Now()
	spin(iters)
	return time.Since(t0)
}

// writePID writes this process's pid to path (nothing when path is
// empty), atomically: a reader that sees the file sees the whole pid.
func writePID(path string) error {
	if path == "" {
		return nil
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return fmt.Errorf("writing the pid file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing the pid file: %w", err)
	}
	return nil
}
