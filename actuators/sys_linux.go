//go:build linux

package actuators

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// lockFile takes an exclusive, non-blocking flock on f. The kernel drops
// it when the process dies, so a crashed agent never leaves it behind.
func lockFile(f *os.File) error {
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if err == unix.EWOULDBLOCK {
			return ErrJournalLocked
		}
		return fmt.Errorf("flock: %w", err)
	}
	return nil
}

// canWrite asks access(2) whether this process may write path.
func canWrite(path string) bool {
	return unix.Access(path, unix.W_OK) == nil
}

func getAffinity(tid int) ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(tid, &set); err != nil {
		return nil, err
	}
	cpus := make([]int, 0, set.Count())
	for c := 0; c < len(set)*64; c++ {
		if set.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	return cpus, nil
}

func setAffinity(tid int, cpus []int) error {
	var set unix.CPUSet
	for _, c := range cpus {
		if c >= len(set)*64 {
			return fmt.Errorf("cpu %d beyond the %d this build can address", c, len(set)*64)
		}
		set.Set(c)
	}
	return unix.SchedSetaffinity(tid, &set)
}

// getNice returns a thread's nice value. The raw system call answers
// 20 - nice, so that it is never negative.
func getNice(tid int) (int, error) {
	p, err := unix.Getpriority(unix.PRIO_PROCESS, tid)
	if err != nil {
		return 0, err
	}
	return 20 - p, nil
}

func setNice(tid, nice int) error {
	return unix.Setpriority(unix.PRIO_PROCESS, tid, nice)
}

// ioprioWhoProcess is IOPRIO_WHO_PROCESS: who is a thread id.
const ioprioWhoProcess = 1

func getIOPrio(tid int) (int, error) {
	r, _, e := unix.Syscall(unix.SYS_IOPRIO_GET, ioprioWhoProcess, uintptr(tid), 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

func setIOPrio(tid, prio int) error {
	if _, _, e := unix.Syscall(unix.SYS_IOPRIO_SET, ioprioWhoProcess, uintptr(tid), uintptr(prio)); e != 0 {
		return e
	}
	return nil
}

// schedParam is struct sched_param.
type schedParam struct{ priority int32 }

// getPolicy returns a thread's policy (SCHED_RESET_ON_FORK included) and
// real-time priority.
func getPolicy(tid int) (policy, prio int, err error) {
	r, _, e := unix.RawSyscall(unix.SYS_SCHED_GETSCHEDULER, uintptr(tid), 0, 0)
	if e != 0 {
		return 0, 0, e
	}
	var p schedParam
	if _, _, e := unix.RawSyscall(unix.SYS_SCHED_GETPARAM, uintptr(tid), uintptr(unsafe.Pointer(&p)), 0); e != 0 {
		return 0, 0, e
	}
	return int(r), int(p.priority), nil
}

// setPolicy uses sched_setscheduler rather than sched_setattr because the
// latter also sets the nice value, which is a knob of its own.
func setPolicy(tid, policy, prio int) error {
	p := schedParam{priority: int32(prio)}
	if _, _, e := unix.RawSyscall(unix.SYS_SCHED_SETSCHEDULER, uintptr(tid), uintptr(policy), uintptr(unsafe.Pointer(&p))); e != 0 {
		return e
	}
	return nil
}
