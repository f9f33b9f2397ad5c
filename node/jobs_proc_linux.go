package node

import (
	"errors"
	"os"
	"syscall"
)

// jobProcAttr puts a job in its own process group, so that stopping it
// reaches what it started, and makes the kernel SIGKILL it when the agent
// dies: a crashed agent must not leave jobs running that the cluster will
// start elsewhere. (The parent-death signal follows the OS thread that
// started the job; the Go runtime keeps its threads, so it is the agent's
// exit that fires it.)
func jobProcAttr() (*syscall.SysProcAttr, error) {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}, nil
}

// signalGroup sends SIGTERM (or SIGKILL) to the process group led by pid.
func signalGroup(pid int, kill bool) error {
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	if err := syscall.Kill(-pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return nil
}

// killGroup SIGKILLs the process group led by pid, ignoring errors (it is
// used on a checkpoint that overran its time).
func killGroup(pid int) { _ = signalGroup(pid, true) }

// exitCode is a process's exit status, 128+n for death by signal n as a
// shell reports it.
func exitCode(ps *os.ProcessState) int32 {
	if ps == nil {
		return -1
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int32(ws.Signal())
	}
	return int32(ps.ExitCode())
}
