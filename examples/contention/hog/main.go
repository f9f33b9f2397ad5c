// Command hog is the contention benchmark's background work: one thread
// hashing a buffer with SHA-256 as fast as it can, each hash of -unit
// bytes one unit of work, the digest fed back into the buffer so no hash
// can be skipped. It notes how many units it has done every -every, and
// at exit (SIGTERM, SIGINT or -duration) writes those checkpoints to -out
// in the measure package's text format, from which the harness reads its
// throughput over any window.
//
//	hog -out hog-1.txt
package main

import (
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/krystalstack/gamesa/examples/contention/internal/measure"
)

func main() {
	cfg := config{}
	flag.IntVar(&cfg.unit, "unit", 16<<10, "bytes hashed per unit of work")
	flag.DurationVar(&cfg.every, "every", 100*time.Millisecond, "time between checkpoints")
	flag.DurationVar(&cfg.duration, "duration", 0, "stop after this long (0: at SIGTERM or SIGINT only)")
	flag.StringVar(&cfg.out, "out", "", "file to write the checkpoints to at exit")
	flag.Parse()

	// One hog is one busy thread; the benchmark starts several.
	runtime.GOMAXPROCS(1)
	// Stay subscribed until the log is written (see frameloop).
	stop := make(chan os.Signal, 2)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	if err := run(cfg, stop); err != nil {
		fmt.Fprintln(os.Stderr, "hog:", err)
		os.Exit(1)
	}
}

type config struct {
	unit     int
	every    time.Duration
	duration time.Duration
	out      string
}

// run hashes until stop delivers or the duration has passed, then writes
// the checkpoints.
func run(cfg config, stop <-chan os.Signal) error {
	if cfg.unit <= 0 || cfg.every <= 0 || cfg.out == "" {
		return errors.New("-unit and -every must be positive and -out set")
	}
	f, err := os.Create(cfg.out)
	if err != nil {
		return fmt.Errorf("creating the log: %w", err)
	}
	log := hash(cfg, stop)
	if _, err := log.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("writing the log: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing the log: %w", err)
	}
	return nil
}

// hash is the busy loop. It reads the clock once per unit (a unit takes
// tens of microseconds, a clock read tens of nanoseconds) and polls stop
// at each checkpoint.
func hash(cfg config, stop <-chan os.Signal) *measure.HogLog {
	buf := make([]byte, cfg.unit)
	for i := range buf {
		buf[i] = byte(i)
	}
	start := time.Now()
	log := &measure.HogLog{UnitBytes: int64(cfg.unit), Points: []measure.Checkpoint{{At: start}}}
	next := start.Add(cfg.every)
	var units int64
	for {
		sum := sha256.Sum256(buf)
		copy(buf, sum[:])
		units++
		now := time.Now()
		if now.Before(next) {
			continue
		}
		log.Points = append(log.Points, measure.Checkpoint{At: now, Units: units})
		next = now.Add(cfg.every)
		if cfg.duration > 0 && now.Sub(start) >= cfg.duration {
			return log
		}
		select {
		case <-stop:
			return log
		default:
		}
	}
}
