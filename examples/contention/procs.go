package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Human users' UIDs: the actuators' default scope touches only processes
// whose real and effective UIDs lie in this range.
const (
	minScopeUID = 1000
	maxScopeUID = 59999
)

// identity is whom the game and the hogs run as.
type identity struct {
	uid, gid int
	// switched says the identity differs from the harness's own: the
	// children get these credentials and the files they write are handed
	// over to them.
	switched bool
}

// chooseIdentity picks the game's and hogs' user: uid when it is not
// negative (another user's only as root), else uid 1000 as root (root's
// own processes are out of the actuators' scope) and the harness's own
// user otherwise. It must be a human user's UID, or enforce mode would
// leave the processes alone.
func chooseIdentity(uid int) (identity, error) {
	self := os.Getuid()
	switch {
	case uid < 0 && self == 0:
		uid = minScopeUID
	case uid < 0:
		uid = self
	case uid != self && self != 0:
		return identity{}, fmt.Errorf("running the game as uid %d needs root; this is uid %d", uid, self)
	}
	if uid < minScopeUID || uid > maxScopeUID {
		return identity{}, fmt.Errorf("uid %d is outside %d..%d, the users whose processes the agent may change",
			uid, minScopeUID, maxScopeUID)
	}
	id := identity{uid: uid, gid: uid, switched: uid != self}
	if !id.switched {
		id.gid = os.Getgid()
	}
	return id, nil
}

// attr is the SysProcAttr of a child: its own process group (so that
// stopping it reaches whatever it started), the identity's credentials,
// and deathSig when the harness dies first.
func (id identity) attr(deathSig syscall.Signal) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: deathSig}
	if id.switched {
		a.Credential = &syscall.Credential{Uid: uint32(id.uid), Gid: uint32(id.gid)}
	}
	return a
}

// handOver makes path the identity's, so that its processes can write
// there.
func (id identity) handOver(path string) error {
	if !id.switched {
		return nil
	}
	if err := os.Chown(path, id.uid, id.gid); err != nil {
		return fmt.Errorf("handing %s to uid %d: %w", path, id.uid, err)
	}
	return nil
}

// proc is a child process that leads its own process group. Stopping it
// also kills what is left of its group, and only ever its group: the
// leader is not reaped until then, so its pid (the group's id) cannot
// have gone to another process.
type proc struct {
	name   string
	cmd    *exec.Cmd
	exited chan struct{} // closed when the leader has exited (not yet reaped)

	once sync.Once
	err  error // from reaping, set by finish
}

// startProc starts cmd, whose SysProcAttr must set Setpgid.
func startProc(name string, cmd *exec.Cmd) (*proc, error) {
	if cmd.SysProcAttr == nil || !cmd.SysProcAttr.Setpgid {
		return nil, fmt.Errorf("internal: %s started without a process group of its own", name)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, exited: make(chan struct{})}
	go p.awaitExit()
	return p, nil
}

// awaitExit closes p.exited when the leader exits, leaving it a zombie
// for finish to reap.
func (p *proc) awaitExit() {
	defer close(p.exited)
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, p.cmd.Process.Pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(err, unix.EINTR) {
			return
		}
	}
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// running reports whether the leader has not exited.
func (p *proc) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// stop sends the leader SIGTERM (a wrapper such as `gamesa run` passes it
// on), waits up to grace for it to exit, then kills its group. It returns
// how the leader ended; a second call returns the same.
func (p *proc) stop(grace time.Duration) error {
	if p.running() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM) // it may exit meanwhile; finish copes
	}
	select {
	case <-p.exited:
	case <-time.After(grace):
	}
	return p.finish()
}

// kill ends the group at once; for defers and errors.
func (p *proc) kill() error { return p.finish() }

// finish kills the group, leader included, and reaps the leader. While
// the leader is unreaped its pid stays allocated, so -pid names only its
// group.
func (p *proc) finish() error {
	p.once.Do(func() {
		graceful := !p.running()
		_ = syscall.Kill(-p.pid(), syscall.SIGKILL) // ESRCH: the group is gone already
		<-p.exited
		err := p.cmd.Wait()
		if !graceful {
			err = fmt.Errorf("%s was still running; killed", p.name)
		} else if err != nil {
			err = fmt.Errorf("%s: %w", p.name, err)
		}
		p.err = err
	})
	return p.err
}

// procState is what the actuators may have changed on a live process.
type procState struct {
	PID int `json:"pid"`
	// CPUs is /proc/<pid>/status Cpus_allowed_list.
	CPUs string `json:"cpus"`
	// Nice is field 19 of /proc/<pid>/stat.
	Nice int `json:"nice"`
}

// readProcState reads pid's CPU affinity and nice value.
func readProcState(pid int) (procState, error) {
	st, err := readStat(pid)
	if err != nil {
		return procState{}, err
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procState{}, fmt.Errorf("reading the status of pid %d: %w", pid, err)
	}
	cpus, ok := statusField(string(status), "Cpus_allowed_list")
	if !ok {
		return procState{}, fmt.Errorf("/proc/%d/status has no Cpus_allowed_list", pid)
	}
	return procState{PID: pid, CPUs: cpus, Nice: st.nice}, nil
}

// statusField returns the value of a "Key:\tvalue" line of a
// /proc/<pid>/status file.
func statusField(status, key string) (string, bool) {
	for line := range strings.Lines(status) {
		k, v, ok := strings.Cut(line, ":")
		if ok && k == key {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// stat is the part of /proc/<pid>/stat the harness uses.
type stat struct {
	comm      string
	ppid      int
	pgrp      int
	nice      int
	cpuTicks  uint64 // user and system time, in clock ticks
	startTime uint64 // clock ticks after boot: with the pid, a process's identity
}

func readStat(pid int) (stat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return stat{}, fmt.Errorf("reading the stat of pid %d: %w", pid, err)
	}
	st, err := parseStat(string(b))
	if err != nil {
		return stat{}, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return st, nil
}

// parseStat parses a /proc/<pid>/stat line. The command name sits in
// parentheses and may itself hold spaces and parentheses, so the fields
// are counted from the last ')'.
func parseStat(s string) (stat, error) {
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return stat{}, errors.New("no command name in parentheses")
	}
	// After the name: field 3 (state) onwards; field n is rest[n-3].
	rest := strings.Fields(s[end+1:])
	if len(rest) < 20 {
		return stat{}, fmt.Errorf("%d fields after the name; want at least 20", len(rest))
	}
	st := stat{comm: s[open+1 : end]}
	var errs []error
	num := func(field int) int64 {
		n, err := strconv.ParseInt(rest[field-3], 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("field %d: %w", field, err))
		}
		return n
	}
	unum := func(field int) uint64 {
		n, err := strconv.ParseUint(rest[field-3], 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("field %d: %w", field, err))
		}
		return n
	}
	st.ppid, st.pgrp, st.nice = int(num(4)), int(num(5)), int(num(19))
	st.cpuTicks = unum(14) + unum(15)
	st.startTime = unum(22)
	return st, errors.Join(errs...)
}

// machineTicks is the machine's CPU time from /proc/stat, summed over its
// CPUs, in clock ticks.
type machineTicks struct{ busy, total uint64 }

func readMachineTicks() (machineTicks, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineTicks{}, fmt.Errorf("reading the machine's CPU time: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	t, err := parseCPULine(line)
	if err != nil {
		return machineTicks{}, fmt.Errorf("/proc/stat: %w", err)
	}
	return t, nil
}

// parseCPULine parses the "cpu" line of /proc/stat: user, nice, system,
// idle, iowait, irq, softirq, steal, then guest times that user and nice
// already include. Idle and iowait are not busy.
func parseCPULine(line string) (machineTicks, error) {
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return machineTicks{}, fmt.Errorf("first line %q is not the cpu line", line)
	}
	var t machineTicks
	for i, w := range f[1:9] {
		n, err := strconv.ParseUint(w, 10, 64)
		if err != nil {
			return machineTicks{}, fmt.Errorf("cpu line field %d: %w", i+1, err)
		}
		t.total += n
		if i != 3 && i != 4 {
			t.busy += n
		}
	}
	return t, nil
}
