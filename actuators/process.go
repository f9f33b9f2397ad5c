package actuators

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/krystalstack/gamesa/internal/cpulist"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// pfKthread is PF_KTHREAD in /proc/<pid>/stat's flags (field 9).
const pfKthread = 0x00200000

// procInfo is what the safety rules need to know about a process.
type procInfo struct {
	pid        int
	ppid       int
	start      uint64 // field 22, clock ticks since boot
	flags      uint64
	comm       string
	ruid, euid uint32
}

// parsePIDTarget parses "pid:1234".
func parsePIDTarget(knob, target string) (int, error) {
	s, ok := strings.CutPrefix(target, "pid:")
	pid, err := strconv.Atoi(s)
	if !ok || err != nil || pid <= 0 {
		return 0, fmt.Errorf("%s: target %q: want pid:<n>: %w", knob, target, ErrBadTarget)
	}
	return pid, nil
}

// readProc reads a process's identity from <proc>/<pid>/stat and status.
// A process that is gone (or a zombie, which no knob can change any more)
// is ErrGone.
func readProc(proc string, pid int) (procInfo, error) {
	dir := filepath.Join(proc, strconv.Itoa(pid))
	b, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, errGoneSyscall) {
			return procInfo{}, fmt.Errorf("pid %d: %w", pid, ErrGone)
		}
		return procInfo{}, fmt.Errorf("pid %d: %w", pid, err)
	}
	p, err := parseStat(b)
	if err != nil {
		return procInfo{}, fmt.Errorf("pid %d: %w", pid, err)
	}
	if p.pid != pid {
		return procInfo{}, fmt.Errorf("pid %d: stat names pid %d", pid, p.pid)
	}
	st, err := os.ReadFile(filepath.Join(dir, "status"))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, errGoneSyscall) {
			return procInfo{}, fmt.Errorf("pid %d: %w", pid, ErrGone)
		}
		return procInfo{}, fmt.Errorf("pid %d: %w", pid, err)
	}
	if p.ruid, p.euid, err = parseStatusUIDs(st); err != nil {
		return procInfo{}, fmt.Errorf("pid %d: %w", pid, err)
	}
	return p, nil
}

// errGoneSyscall is what a system call on a thread that exited answers,
// and what reading a vanishing process's files can fail with.
const errGoneSyscall = syscall.ESRCH

// parseStat parses the fields of /proc/<pid>/stat that identify a process.
// The command name is in parentheses and may itself hold spaces and
// parentheses, so the fields are counted from the last ')'.
func parseStat(b []byte) (procInfo, error) {
	var p procInfo
	open := bytes.IndexByte(b, '(')
	end := bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return p, fmt.Errorf("stat: no command name")
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b[:open])))
	if err != nil {
		return p, fmt.Errorf("stat: pid: %w", err)
	}
	p.pid = pid
	p.comm = string(b[open+1 : end])
	f := strings.Fields(string(b[end+1:]))
	// f[0] is field 3 (state): field n is f[n-3].
	if len(f) < 20 {
		return p, fmt.Errorf("stat: %d fields after the command, want 20 or more", len(f))
	}
	if f[0] == "Z" || f[0] == "X" {
		return p, fmt.Errorf("state %s: %w", f[0], ErrGone)
	}
	if p.ppid, err = strconv.Atoi(f[1]); err != nil {
		return p, fmt.Errorf("stat: ppid: %w", err)
	}
	if p.flags, err = strconv.ParseUint(f[6], 10, 64); err != nil {
		return p, fmt.Errorf("stat: flags: %w", err)
	}
	if p.start, err = strconv.ParseUint(f[19], 10, 64); err != nil {
		return p, fmt.Errorf("stat: starttime: %w", err)
	}
	return p, nil
}

// parseStatusUIDs returns the real and effective UIDs of /proc/<pid>/status.
func parseStatusUIDs(b []byte) (ruid, euid uint32, err error) {
	for line := range strings.Lines(string(b)) {
		rest, ok := strings.CutPrefix(line, "Uid:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 2 {
			break
		}
		r, err1 := strconv.ParseUint(f[0], 10, 32)
		e, err2 := strconv.ParseUint(f[1], 10, 32)
		if err1 != nil || err2 != nil {
			break
		}
		return uint32(r), uint32(e), nil
	}
	return 0, 0, fmt.Errorf("status: no Uid line")
}

// safe applies the rules no configuration lifts: never PID 1, a kernel
// thread, or the agent itself.
func (c *Config) safe(p procInfo) error {
	switch {
	case p.pid == 1:
		return fmt.Errorf("pid 1 (%s): %w", p.comm, ErrOutOfScope)
	case p.flags&pfKthread != 0 || p.pid == 2 || p.ppid == 2:
		return fmt.Errorf("pid %d (%s) is a kernel thread: %w", p.pid, p.comm, ErrOutOfScope)
	case p.pid == c.SelfPID:
		return fmt.Errorf("pid %d (%s) is this agent: %w", p.pid, p.comm, ErrOutOfScope)
	}
	return nil
}

// inScope applies the safety rules and then Scope.
func (c *Config) inScope(p procInfo) error {
	if err := c.safe(p); err != nil {
		return err
	}
	s := &c.Scope
	if s.MinUID <= s.MaxUID && p.ruid >= s.MinUID && p.ruid <= s.MaxUID && p.euid >= s.MinUID && p.euid <= s.MaxUID {
		return nil
	}
	if slices.Contains(s.PIDs, p.pid) || slices.Contains(s.Names, p.comm) ||
		(slices.Contains(s.UIDs, p.ruid) && slices.Contains(s.UIDs, p.euid)) {
		return nil
	}
	return fmt.Errorf("pid %d (%s, uid %d): %w", p.pid, p.comm, p.ruid, ErrOutOfScope)
}

// openProcess resolves a "pid:N" target for a process knob, applying the
// identity check and the safety and scope rules.
func openProcess(cfg *Config, knob, target string, o openOpts) (procInfo, error) {
	pid, err := parsePIDTarget(knob, target)
	if err != nil {
		return procInfo{}, err
	}
	p, err := readProc(cfg.Proc, pid)
	if err != nil {
		return procInfo{}, fmt.Errorf("%s %s: %w", knob, target, err)
	}
	if o.start != 0 && p.start != o.start {
		return procInfo{}, fmt.Errorf("%s %s: pid reused (started at %d, not %d): %w", knob, target, p.start, o.start, ErrGone)
	}
	switch {
	case o.inspect:
	case o.revert:
		err = cfg.safe(p)
	default:
		err = cfg.inScope(p)
	}
	if err != nil {
		return procInfo{}, fmt.Errorf("%s %s: %w", knob, target, err)
	}
	return p, nil
}

// procFamily serves the process knobs.
type procFamily struct {
	cfg *Config
}

func (f *procFamily) inventory() []*gamesav1.Knob {
	// Every process has these knobs; Set lists them for the processes
	// it changed, and Set.Process for any one process.
	return nil
}

func (f *procFamily) expand(knob, target string) ([]string, error) {
	return []string{target}, nil
}

func (f *procFamily) open(knob, target string, o openOpts) (accessor, error) {
	p, err := openProcess(f.cfg, knob, target, o)
	if err != nil {
		return nil, err
	}
	base := procKnob{cfg: f.cfg, knob: knob, p: p}
	switch knob {
	case KnobAffinity:
		return &threadKnob{procKnob: base, get: readAffinity, set: writeAffinity, canon: f.checkAffinity}, nil
	case KnobNice:
		return &threadKnob{procKnob: base, get: readNice, set: writeNice, canon: f.checkNice}, nil
	case KnobIOPrio:
		return &threadKnob{procKnob: base, get: readIOPrio, set: writeIOPrio, canon: f.checkIOPrio}, nil
	case KnobPolicy:
		return &threadKnob{procKnob: base, get: readPolicy, set: writePolicy, canon: f.checkPolicy}, nil
	case KnobOOMScoreAdj:
		return &oomKnob{procKnob: base}, nil
	}
	return nil, fmt.Errorf("%q: %w", knob, ErrUnknownKnob)
}

// procKnob is the identity shared by the process knobs.
type procKnob struct {
	cfg  *Config
	knob string
	p    procInfo
}

func (k *procKnob) identity() (int, uint64) { return k.p.pid, k.p.start }

// threadKnob is a per-thread process knob: affinity, nice, I/O priority or
// scheduling policy.
type threadKnob struct {
	procKnob
	get   func(tid int) (string, error)
	set   func(tid int, v string) error
	canon func(v string) (string, string, error)
}

func (k *threadKnob) check(v string) (string, string, error) {
	out, note, err := k.canon(v)
	if err != nil {
		return "", "", fmt.Errorf("%s pid:%d: %w", k.knob, k.p.pid, err)
	}
	return out, note, nil
}

// tids lists the process's threads, main thread first.
func (k *threadKnob) tids() ([]int, error) {
	ents, err := os.ReadDir(filepath.Join(k.cfg.Proc, strconv.Itoa(k.p.pid), "task"))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s pid:%d: %w", k.knob, k.p.pid, ErrGone)
		}
		return nil, err
	}
	tids := make([]int, 0, len(ents))
	for _, e := range ents {
		if t, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, t)
		}
	}
	slices.Sort(tids)
	if i := slices.Index(tids, k.p.pid); i > 0 {
		tids[0], tids[i] = tids[i], tids[0]
	}
	return tids, nil
}

func (k *threadKnob) read() (string, error) {
	v, err := k.get(k.p.pid)
	if err != nil {
		return "", k.wrap(k.p.pid, err)
	}
	return v, nil
}

func (k *threadKnob) write(v string) error {
	tids, err := k.tids()
	if err != nil {
		return err
	}
	for _, t := range tids {
		if err := k.writeThread(t, v); err != nil && !errors.Is(err, ErrGone) {
			return err
		}
	}
	return nil
}

func (k *threadKnob) threads() (map[int]string, error) {
	tids, err := k.tids()
	if err != nil {
		return nil, err
	}
	m := make(map[int]string, len(tids))
	for _, t := range tids {
		v, err := k.get(t)
		if err != nil {
			if isGone(err) {
				continue // the thread exited meanwhile
			}
			return nil, k.wrap(t, err)
		}
		m[t] = v
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("%s pid:%d: %w", k.knob, k.p.pid, ErrGone)
	}
	return m, nil
}

func (k *threadKnob) writeThread(tid int, v string) error {
	if err := k.set(tid, v); err != nil {
		return k.wrap(tid, err)
	}
	return nil
}

// wrap names the knob and thread, and turns ESRCH into ErrGone.
func (k *threadKnob) wrap(tid int, err error) error {
	if isGone(err) {
		return fmt.Errorf("%s pid:%d thread %d: %w", k.knob, k.p.pid, tid, ErrGone)
	}
	return fmt.Errorf("%s pid:%d thread %d: %w", k.knob, k.p.pid, tid, err)
}

// isGone reports whether err says a process or thread no longer exists.
func isGone(err error) bool {
	return errors.Is(err, ErrGone) || errors.Is(err, errGoneSyscall) || errors.Is(err, fs.ErrNotExist)
}

// oomKnob is /proc/<pid>/oom_score_adj, one value per process.
type oomKnob struct {
	procKnob
}

func (k *oomKnob) path() string {
	return filepath.Join(k.cfg.Proc, strconv.Itoa(k.p.pid), "oom_score_adj")
}

func (k *oomKnob) read() (string, error) {
	s, err := readAttr(k.path())
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("%s pid:%d: %w", k.knob, k.p.pid, ErrGone)
		}
		return "", fmt.Errorf("%s pid:%d: %w", k.knob, k.p.pid, err)
	}
	return s, nil
}

func (k *oomKnob) check(v string) (string, string, error) {
	n, err := parseIntIn(v)
	if err != nil {
		return "", "", fmt.Errorf("%s pid:%d: %w", k.knob, k.p.pid, err)
	}
	if n < -1000 || n > 1000 {
		return "", "", fmt.Errorf("%s pid:%d: %d outside [-1000, 1000]: %w", k.knob, k.p.pid, n, ErrOutOfBounds)
	}
	n, note := clamp(n, int64(k.cfg.MinOOMScoreAdj), 1000)
	return strconv.FormatInt(n, 10), note, nil
}

func (k *oomKnob) write(v string) error {
	if err := writeAttr(k.path(), v); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s pid:%d: %w", k.knob, k.p.pid, ErrGone)
		}
		return fmt.Errorf("%s pid:%d: %w", k.knob, k.p.pid, err)
	}
	return nil
}

// The per-thread readers and writers, in the knobs' text forms.

func readAffinity(tid int) (string, error) {
	cpus, err := getAffinity(tid)
	if err != nil {
		return "", err
	}
	return cpulist.Format(cpus), nil
}

func writeAffinity(tid int, v string) error {
	cpus, err := cpulist.Parse(v)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadValue, err)
	}
	return setAffinity(tid, cpus)
}

func readNice(tid int) (string, error) {
	n, err := getNice(tid)
	if err != nil {
		return "", err
	}
	return strconv.Itoa(n), nil
}

func writeNice(tid int, v string) error {
	n, err := strconv.Atoi(v)
	if err != nil {
		return fmt.Errorf("%w: %q", ErrBadValue, v)
	}
	return setNice(tid, n)
}

// I/O priority classes (linux/ioprio.h).
const (
	ioprioClassNone = 0
	ioprioClassRT   = 1
	ioprioClassBE   = 2
	ioprioClassIdle = 3
	ioprioShift     = 13
)

func readIOPrio(tid int) (string, error) {
	p, err := getIOPrio(tid)
	if err != nil {
		return "", err
	}
	return formatIOPrio(p), nil
}

func writeIOPrio(tid int, v string) error {
	p, err := parseIOPrio(v)
	if err != nil {
		return err
	}
	return setIOPrio(tid, p)
}

// formatIOPrio spells an ioprio value: "none", "idle", "be/4", "rt/0".
func formatIOPrio(p int) string {
	class, level := p>>ioprioShift, p&(1<<ioprioShift-1)
	switch class {
	case ioprioClassNone:
		return "none"
	case ioprioClassIdle:
		return "idle"
	case ioprioClassBE:
		return "be/" + strconv.Itoa(level)
	case ioprioClassRT:
		return "rt/" + strconv.Itoa(level)
	}
	return "class" + strconv.Itoa(class) + "/" + strconv.Itoa(level)
}

// parseIOPrio parses formatIOPrio's spellings into an ioprio value.
func parseIOPrio(v string) (int, error) {
	switch v {
	case "none":
		return 0, nil
	case "idle":
		return ioprioClassIdle << ioprioShift, nil
	}
	cls, lvl, ok := strings.Cut(v, "/")
	n, err := strconv.Atoi(lvl)
	if !ok || err != nil || n < 0 || n > 7 || lvl != strconv.Itoa(n) {
		return 0, fmt.Errorf("ioprio %q: want none, idle, be/0..7 or rt/0..7: %w", v, ErrBadValue)
	}
	switch cls {
	case "be":
		return ioprioClassBE<<ioprioShift | n, nil
	case "rt":
		return ioprioClassRT<<ioprioShift | n, nil
	}
	return 0, fmt.Errorf("ioprio %q: want none, idle, be/0..7 or rt/0..7: %w", v, ErrBadValue)
}

// Scheduling policies (linux/sched.h).
const (
	schedNormal      = 0
	schedFIFO        = 1
	schedRR          = 2
	schedBatch       = 3
	schedIdle        = 5
	schedDeadline    = 6
	schedResetOnFork = 0x40000000
)

func readPolicy(tid int) (string, error) {
	pol, prio, err := getPolicy(tid)
	if err != nil {
		return "", err
	}
	return formatPolicy(pol&^schedResetOnFork, prio), nil
}

// writePolicy keeps a thread's SCHED_RESET_ON_FORK flag as it is: the flag
// is the program's choice, not part of the knob. A SCHED_DEADLINE thread is
// left alone (its runtime and period are not the knob's to lose).
func writePolicy(tid int, v string) error {
	pol, prio, err := parsePolicy(v)
	if err != nil {
		return err
	}
	cur, _, err := getPolicy(tid)
	if err != nil {
		return err
	}
	if cur&^schedResetOnFork == schedDeadline {
		return nil
	}
	return setPolicy(tid, pol|cur&schedResetOnFork, prio)
}

// formatPolicy spells a policy: "normal", "batch", "idle", "fifo/50",
// "rr/50", "deadline".
func formatPolicy(pol, prio int) string {
	switch pol {
	case schedNormal:
		return "normal"
	case schedBatch:
		return "batch"
	case schedIdle:
		return "idle"
	case schedFIFO:
		return "fifo/" + strconv.Itoa(prio)
	case schedRR:
		return "rr/" + strconv.Itoa(prio)
	case schedDeadline:
		return "deadline"
	}
	return "policy" + strconv.Itoa(pol)
}

// parsePolicy parses the writable spellings of formatPolicy.
func parsePolicy(v string) (pol, prio int, err error) {
	switch v {
	case "normal":
		return schedNormal, 0, nil
	case "batch":
		return schedBatch, 0, nil
	case "idle":
		return schedIdle, 0, nil
	}
	name, p, ok := strings.Cut(v, "/")
	n, perr := strconv.Atoi(p)
	if ok && perr == nil && n >= 1 && n <= 99 && p == strconv.Itoa(n) {
		switch name {
		case "fifo":
			return schedFIFO, n, nil
		case "rr":
			return schedRR, n, nil
		}
	}
	return 0, 0, fmt.Errorf("policy %q: want normal, batch, idle, fifo/1..99 or rr/1..99: %w", v, ErrBadValue)
}

// Bounds of the per-thread knobs (see the package doc).

func (f *procFamily) checkAffinity(v string) (string, string, error) {
	cpus, err := cpulist.Parse(v)
	if err != nil {
		return "", "", fmt.Errorf("%w: %w", ErrBadValue, err)
	}
	if len(cpus) == 0 {
		return "", "", fmt.Errorf("empty cpu list: %w", ErrBadValue)
	}
	if online, err := onlineCPUs(f.cfg.Sys); err == nil && !subset(cpus, online) {
		return "", "", fmt.Errorf("cpus %s not all online (%s): %w", cpulist.Format(cpus), cpulist.Format(online), ErrOutOfBounds)
	}
	return cpulist.Format(cpus), "", nil
}

func (f *procFamily) checkNice(v string) (string, string, error) {
	n, err := parseIntIn(v)
	if err != nil {
		return "", "", err
	}
	if n < -20 || n > 19 {
		return "", "", fmt.Errorf("nice %d outside [-20, 19]: %w", n, ErrOutOfBounds)
	}
	n, note := clamp(n, int64(f.cfg.MinNice), 19)
	return strconv.FormatInt(n, 10), note, nil
}

func (f *procFamily) checkIOPrio(v string) (string, string, error) {
	p, err := parseIOPrio(strings.TrimSpace(v))
	if err != nil {
		return "", "", err
	}
	if p>>ioprioShift == ioprioClassRT && !f.cfg.AllowRealtime {
		return "", "", fmt.Errorf("ioprio %s: %w", v, ErrRealtime)
	}
	return formatIOPrio(p), "", nil
}

func (f *procFamily) checkPolicy(v string) (string, string, error) {
	pol, prio, err := parsePolicy(strings.TrimSpace(v))
	if err != nil {
		return "", "", err
	}
	if (pol == schedFIFO || pol == schedRR) && !f.cfg.AllowRealtime {
		return "", "", fmt.Errorf("policy %s: %w", v, ErrRealtime)
	}
	return formatPolicy(pol, prio), "", nil
}

// onlineCPUs reads <sys>/devices/system/cpu/online.
func onlineCPUs(sys string) ([]int, error) {
	s, err := readAttr(filepath.Join(sys, "devices/system/cpu/online"))
	if err != nil {
		return nil, err
	}
	return cpulist.Parse(s)
}
