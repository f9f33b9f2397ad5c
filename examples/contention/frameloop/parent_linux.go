package main

import (
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// endWithParent has the kernel send SIGTERM when the process that started
// this one dies: a wrapper such as `gamesa run` killed outright must not
// leave the game running. A parent already gone is an error.
func endWithParent() error {
	parent := os.Getppid()
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0, 0, 0); err != nil {
		return fmt.Errorf("asking for a signal at the parent's death: %w", err)
	}
	if os.Getppid() != parent {
		return fmt.Errorf("the parent process %d is gone", parent)
	}
	return nil
}
