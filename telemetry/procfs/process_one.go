package procfs

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// ProcessInfo is one process read on demand, outside the busiest-N list:
// the app coordinator needs it for a registered pid that is idle and for
// the parents of listed processes, which the sample rarely holds.
type ProcessInfo struct {
	// Process has pid, ppid, name, command line, state, nice, threads,
	// RSS and uid; CPUPercent is left 0 (one read has no interval).
	Process *Process
	// Start is the start time in ticks after boot (field 22 of stat): with
	// the pid it names one process, not whoever reuses the pid later.
	Start uint64
	// Exe is the target of /proc/<pid>/exe and Cgroup the cgroup v2 path
	// (the "0::" line of /proc/<pid>/cgroup). Either is empty when the
	// agent may not read it (another user's exe without privileges) or the
	// machine lacks it (cgroup v1 only).
	Exe, Cgroup string
}

// Process is the part of a process that a sample's entry carries.
type Process struct {
	PID, PPID  int32
	Name       string
	Cmdline    string
	UID        uint32
	State      string
	Nice       int32
	Threads    uint32
	RSSBytes   uint64
	KernelTask bool // a kernel thread: kthreadd or one of its children
}

// ReadProcess reads pid's stat, command line, status, exe and cgroup under
// procRoot. An error wrapping fs.ErrNotExist (or ESRCH) means the process
// is gone.
func ReadProcess(procRoot string, pid int32) (ProcessInfo, error) {
	dir := filepath.Join(procRoot, strconv.Itoa(int(pid)))
	statPath := filepath.Join(dir, "stat")
	b, err := os.ReadFile(statPath)
	if err != nil {
		return ProcessInfo{}, err
	}
	var st pidStat
	if err := parsePidStat(b, &st); err != nil {
		return ProcessInfo{}, fmt.Errorf("%s: %w", statPath, err)
	}
	p := &Process{
		PID:        pid,
		PPID:       st.ppid,
		Name:       text(st.comm[:st.commLen]),
		State:      string(st.state),
		Nice:       st.nice,
		Threads:    st.threads,
		RSSBytes:   st.rssPages * uint64(os.Getpagesize()),
		KernelTask: pid == 2 || st.ppid == 2,
	}
	buf := make([]byte, maxCmdline)
	if cmd, err := readPrefix(filepath.Join(dir, "cmdline"), buf); err == nil {
		p.Cmdline = cmdline(cmd)
	} else if vanished(err) {
		return ProcessInfo{}, err
	}
	statusPath := filepath.Join(dir, "status")
	if sb, err := os.ReadFile(statusPath); err == nil {
		if uid, err := parseStatusUID(statusPath, sb); err == nil {
			p.UID = uid
		}
	} else if vanished(err) {
		return ProcessInfo{}, err
	}
	info := ProcessInfo{Process: p, Start: st.start}
	info.Exe, _ = os.Readlink(filepath.Join(dir, "exe"))
	if cg, err := os.ReadFile(filepath.Join(dir, "cgroup")); err == nil {
		info.Cgroup = cgroupV2Path(cg)
	}
	return info, nil
}

// ProcessStart returns pid's start time, the cheap liveness check of a
// registration: a different start time means the pid was reused.
func ProcessStart(procRoot string, pid int32) (uint64, error) {
	statPath := filepath.Join(procRoot, strconv.Itoa(int(pid)), "stat")
	b, err := os.ReadFile(statPath)
	if err != nil {
		return 0, err
	}
	var st pidStat
	if err := parsePidStat(b, &st); err != nil {
		return 0, fmt.Errorf("%s: %w", statPath, err)
	}
	return st.start, nil
}

// cgroupV2Path returns the path of the unified hierarchy's "0::" line of a
// /proc/<pid>/cgroup file, or "" when there is none.
func cgroupV2Path(b []byte) string {
	for len(b) > 0 {
		var line []byte
		line, b = cutLine(b)
		if rest, ok := bytes.CutPrefix(line, []byte("0::")); ok {
			return text(rest)
		}
	}
	return ""
}

// maxThreadsScanned bounds Runnable's reads: a process with more threads
// than this is judged by the first ones.
const maxThreadsScanned = 256

// Runnable reports whether any thread of pid is running or waiting for a
// CPU (state R) or in uninterruptible sleep (D). The process's own stat
// shows only its first thread, which in a multi-threaded program (a Go
// program, a game engine) is often asleep while the others work.
func Runnable(procRoot string, pid int32) (bool, error) {
	dir := filepath.Join(procRoot, strconv.Itoa(int(pid)), "task")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false, err
	}
	var st pidStat
	for i, e := range entries {
		if i == maxThreadsScanned {
			break
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "stat"))
		if err != nil || parsePidStat(b, &st) != nil {
			continue // the thread exited meanwhile
		}
		if st.state == 'R' || st.state == 'D' {
			return true, nil
		}
	}
	return false, nil
}
