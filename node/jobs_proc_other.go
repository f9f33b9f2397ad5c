//go:build !linux

package node

import (
	"errors"
	"os"
	"syscall"
)

// errJobsNeedLinux is why a job cannot start on another system: the
// runner relies on process groups and a parent-death signal.
var errJobsNeedLinux = errors.New("jobs run on Linux only")

func jobProcAttr() (*syscall.SysProcAttr, error) { return nil, errJobsNeedLinux }

func signalGroup(pid int, kill bool) error { return errJobsNeedLinux }

func killGroup(pid int) {}

func exitCode(ps *os.ProcessState) int32 {
	if ps == nil {
		return -1
	}
	return int32(ps.ExitCode())
}
