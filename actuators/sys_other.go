//go:build !linux

package actuators

import (
	"fmt"
	"os"
	"runtime"
)

// noSys is what the thread knobs answer where this build has no Linux
// system calls.
func noSys() error {
	return fmt.Errorf("process knobs on %s: %w", runtime.GOOS, ErrUnavailable)
}

// lockFile does nothing: the journal lock needs flock(2).
func lockFile(f *os.File) error { return nil }

// canWrite cannot ask access(2) here; the mode bits decide alone.
func canWrite(path string) bool { return true }

func getAffinity(tid int) ([]int, error)              { return nil, noSys() }
func setAffinity(tid int, cpus []int) error           { return noSys() }
func getNice(tid int) (int, error)                    { return 0, noSys() }
func setNice(tid, nice int) error                     { return noSys() }
func getIOPrio(tid int) (int, error)                  { return 0, noSys() }
func setIOPrio(tid, prio int) error                   { return noSys() }
func getPolicy(tid int) (policy, prio int, err error) { return 0, 0, noSys() }
func setPolicy(tid, policy, prio int) error           { return noSys() }
