package procfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
	"github.com/krystalstack/gamesa/telemetry"
)

// maxCmdline is how much of a command line a process entry keeps.
const maxCmdline = 256

// Processes reads the process table into s.Processes: how many processes
// and threads there are, and the topN busiest since the previous call.
//
// Every process costs one read of /proc/<pid>/stat, parsed in place into
// reused buffers; only the topN also have their command line, owner and
// user name read. On Linux each stat file is kept open between calls (see
// Close). Processes that exit while being read are skipped, as are those
// whose files this agent may not read (a /proc mounted with hidepid=1):
// both are normal, not errors.
//
// A process first seen after the previous call is charged all its CPU time
// if it started after that call (by its start time against <Proc>/uptime),
// and nothing otherwise: the collector cannot tell how much of an untracked
// process's time falls inside the interval.
type Processes struct {
	proc       string
	uptimePath string
	topN       int
	pageSize   uint64

	statf  statFiles // /proc/<pid>/stat, held open
	status reader    // /proc/<pid>/status, top N only
	uptime reader
	// The listing of <Proc> is skipped while no task was created.
	pidWatch  *PidWatch
	sinceList int // calls since the last listing
	dirBuf    []byte
	pids      []int32
	pathBuf   []byte
	cmdBuf    []byte

	prev       map[int32]procPrev
	gen        uint32
	hasPrev    bool
	prevBoot   uint64 // uptime in ticks at the previous call
	prevBootOK bool
	iv         interval
	top        []candidate
	users      users
}

// noFD marks a process whose stat file is not held open.
const noFD = -1

// procPrev is what one process looked like at the previous call.
type procPrev struct {
	ticks uint64 // utime + stime
	start uint64
	gen   uint32  // the last call that listed or read it
	read  uint32  // the last call that read its stat file
	quiet uint8   // reads in a row that found no CPU time used (to quietReads)
	fd    int32   // its stat file, or noFD
	st    pidStat // what the last read found
	// desc is what describe read of it while it was in the top N; nil
	// until then. It belongs to this pid and start time only.
	desc *procDesc
}

// procDesc is the part of a top process's entry that comes from its
// cmdline and status files. It rarely changes (setproctitle, a daemon that
// drops privileges), so it is read again only every describeEvery calls:
// two opens and the kernel's formatting of status per top process per
// second were a sixth of an idle agent's process sampling.
type procDesc struct {
	cmdline string
	uid     uint32
	hasUID  bool
	gen     uint32 // the call that read it
}

// describeEvery is how many calls a description is kept.
const describeEvery = 30

// A process that used no CPU time in quietReads reads in a row is read
// only every quietEvery calls while no pid is handed out (a new pid could
// be a reused one): most of a machine's processes sleep, and each read
// makes the kernel format their whole stat line. Its CPU time shows at
// the next read, spread over the calls it covers.
const (
	quietReads = 3
	quietEvery = 4
)

// candidate is a process in the running top N.
type candidate struct {
	pid   int32
	ticks uint64 // CPU ticks since the previous read
	span  uint32 // calls since the previous read: 1 unless it was quiet
	st    pidStat
	desc  *procDesc // cached description, or nil
}

// NewProcesses returns the process collector for the machine at roots,
// listing the topN busiest processes (none when topN <= 0). Call Close when
// done with it to release the files it holds open.
func NewProcesses(roots telemetry.Roots, topN int) *Processes {
	topN = max(topN, 0)
	p := &Processes{
		proc:       roots.Proc,
		uptimePath: filepath.Join(roots.Proc, "uptime"),
		pidWatch:   NewPidWatch(roots.Proc),
		topN:       topN,
		pageSize:   uint64(os.Getpagesize()),
		statf:      newStatFiles(roots.Proc),
		dirBuf:     make([]byte, 16<<10),
		cmdBuf:     make([]byte, maxCmdline),
		prev:       make(map[int32]procPrev),
		top:        make([]candidate, 0, topN+1),
		users:      users{path: filepath.Join(roots.Etc, "passwd")},
	}
	// A collector dropped without Close still gives its files back.
	runtime.AddCleanup(p, closeHeld, p.prev)
	return p
}

// Close releases the /proc files the collector holds open. The collector
// stays usable; its next call starts afresh, with zero rates.
func (p *Processes) Close() error {
	for pid, old := range p.prev {
		p.statf.close(&old.fd)
		delete(p.prev, pid)
	}
	p.hasPrev = false
	return nil
}

// Collect implements telemetry.Collector.
func (p *Processes) Collect(ctx context.Context, s *gamesav1.Sample) error {
	secs := p.iv.advance(s)
	boot, bootOK := p.readUptime()
	var err error
	listed := p.listPids()
	if listed {
		p.pids, err = readNumericNames(p.proc, p.dirBuf, p.pids[:0])
		if err != nil {
			p.Close() //nolint:errcheck // Close cannot fail
			return notAvailable(err)
		}
	}
	kept := p.pids[:0] // the processes still there, in place
	p.gen++
	p.top = p.top[:0]
	var errs fieldErrors
	var total, threads uint32
	for i, pid := range p.pids {
		if i%256 == 255 {
			if err := ctx.Err(); err != nil {
				p.Close() //nolint:errcheck // a half-updated table would skew the next rates
				return err
			}
		}
		old, seen := p.prev[pid]
		if seen && !listed && old.quiet >= quietReads && p.gen-old.read < quietEvery {
			// Asleep: as last read, no CPU time since.
			old.gen = p.gen
			p.prev[pid] = old
			c := candidate{pid: pid, span: 1, st: old.st, desc: old.desc}
			kept = append(kept, pid)
			total++
			threads += c.st.threads
			p.consider(&c)
			continue
		}
		fd := int32(noFD)
		if seen {
			fd = old.fd
		}
		b, err := p.statf.read(pid, &fd)
		if err == nil && len(b) == 0 {
			err = syscall.ESRCH // a process being reaped reads empty
		}
		var c candidate
		if err == nil {
			if err = parsePidStat(b, &c.st); err != nil {
				err = fmt.Errorf("%s: %w", p.statf.pathOf(pid), err)
			}
		}
		if err != nil {
			p.statf.close(&fd)
			delete(p.prev, pid)
			if !vanished(err) && !errors.Is(err, fs.ErrPermission) {
				errs.add(err)
			}
			continue
		}
		kept = append(kept, pid)
		total++
		threads += c.st.threads
		c.pid = pid
		ticks := c.st.utime + c.st.stime
		same := seen && old.start == c.st.start
		c.span = 1
		switch {
		case !p.hasPrev:
			// First call: no interval yet, every process reads 0.
		case same:
			c.ticks = delta(ticks, old.ticks)
			c.span = max(p.gen-old.read, 1)
		case p.prevBootOK && c.st.start >= p.prevBoot:
			// Started during the interval (a new pid or a reused one): all
			// its CPU time falls inside it.
			c.ticks = ticks
		}
		var quiet uint8
		if same {
			c.desc = old.desc
			if p.hasPrev && c.ticks == 0 {
				quiet = min(old.quiet+1, quietReads)
			}
		}
		p.prev[pid] = procPrev{ticks: ticks, start: c.st.start, gen: p.gen, read: p.gen, quiet: quiet, fd: fd, st: c.st, desc: c.desc}
		p.consider(&c)
	}
	for pid, old := range p.prev {
		if old.gen != p.gen {
			p.statf.close(&old.fd)
			delete(p.prev, pid)
		}
	}
	p.pids = kept
	p.hasPrev = true
	p.prevBoot, p.prevBootOK = boot, bootOK

	out := &gamesav1.Processes{Total: total, Threads: threads}
	if len(p.top) > 0 {
		p.users.refresh()
		out.Top = make([]*gamesav1.Process, 0, len(p.top))
	}
	for i := range p.top {
		if proc := p.describe(&p.top[i], secs, &errs); proc != nil {
			out.Top = append(out.Top, proc)
		}
	}
	s.Processes = out
	return errs.err()
}

// relistEvery bounds how many calls may reuse one listing of <Proc>.
const relistEvery = 10

// listPids reports whether this call must list <Proc> to find its
// processes, rather than re-read those of the previous call: only when a
// pid was handed out since (PidWatch), and at least every relistEvery
// calls. Processes that exited read ESRCH from their held stat files.
func (p *Processes) listPids() bool {
	p.sinceList++
	if p.pidWatch.Moved() || !p.hasPrev || p.sinceList >= relistEvery {
		p.sinceList = 0
		return true
	}
	return false
}

// readUptime returns the time since boot in ticks, the clock of a process's
// start time. Without it, processes first seen are charged nothing.
func (p *Processes) readUptime() (uint64, bool) {
	b, err := p.uptime.read(p.uptimePath)
	if err != nil {
		return 0, false
	}
	return parseUptime(b)
}

// parseUptime parses the first field of /proc/uptime ("3550.27 13952.31")
// into ticks.
func parseUptime(b []byte) (uint64, bool) {
	f, _ := nextField(b)
	whole, frac, _ := bytes.Cut(f, []byte("."))
	secs, ok := parseUint(whole)
	if !ok || secs > math.MaxUint64/userHZ-userHZ {
		return 0, false
	}
	ticks := secs * userHZ
	// Two decimals are hundredths: ticks at USER_HZ 100.
	for i, scale := 0, uint64(userHZ/10); i < len(frac) && scale > 0; i, scale = i+1, scale/10 {
		if frac[i] < '0' || frac[i] > '9' {
			return 0, false
		}
		ticks += uint64(frac[i]-'0') * scale
	}
	return ticks, true
}

// consider keeps c if it belongs in the top N: most ticks first, then the
// lowest pid, so that equal processes always list in the same order.
func (p *Processes) consider(c *candidate) {
	if p.topN == 0 {
		return
	}
	n := len(p.top)
	if n == p.topN && !busier(c, &p.top[n-1]) {
		return // the common case: an idle process once the list is full
	}
	i := n
	for i > 0 && busier(c, &p.top[i-1]) {
		i--
	}
	if n < p.topN {
		p.top = p.top[:n+1]
	}
	copy(p.top[i+1:], p.top[i:len(p.top)-1])
	p.top[i] = *c
}

func busier(a, b *candidate) bool {
	// By rate: ticks per call, compared without dividing.
	if x, y := a.ticks*uint64(b.span), b.ticks*uint64(a.span); x != y {
		return x > y
	}
	return a.pid < b.pid
}

// describe builds the entry of one top process, reading what only the top N
// need (or taking it from the description cached on the process). It
// returns nil if the process exited meanwhile.
func (p *Processes) describe(c *candidate, secs float64, errs *fieldErrors) *gamesav1.Process {
	d := c.desc
	if d == nil || p.gen-d.gen >= describeEvery {
		var ok bool
		if d, ok = p.readDesc(c.pid, errs); !ok {
			return nil
		}
		if prev, seen := p.prev[c.pid]; seen {
			prev.desc = d
			p.prev[c.pid] = prev
		}
	}
	proc := &gamesav1.Process{
		Pid:      c.pid,
		Ppid:     c.st.ppid,
		Name:     text(c.st.comm[:c.st.commLen]),
		Cmdline:  d.cmdline,
		RssBytes: c.st.rssPages * p.pageSize,
		State:    string(c.st.state),
		Nice:     c.st.nice,
		Threads:  c.st.threads,
	}
	if secs > 0 {
		proc.CpuPercent = float64(c.ticks) / userHZ / (secs * float64(max(c.span, 1))) * 100
	}
	if d.hasUID {
		proc.Uid, proc.User = d.uid, p.users.name(d.uid) // names follow passwd
	}
	return proc
}

// readDesc reads a process's cmdline and owner. ok is false when it
// exited meanwhile or its cmdline cannot be read; a status that does not
// parse still describes it, without an owner.
func (p *Processes) readDesc(pid int32, errs *fieldErrors) (d *procDesc, ok bool) {
	cmd, err := readPrefix(p.pidPath(pid, "cmdline"), p.cmdBuf)
	if err != nil {
		if !vanished(err) {
			errs.add(err)
		}
		return nil, false
	}
	d = &procDesc{cmdline: cmdline(cmd), gen: p.gen}
	path := p.pidPath(pid, "status")
	b, err := p.status.read(path)
	if err != nil {
		if !vanished(err) {
			errs.add(err)
		}
		return nil, false
	}
	uid, err := parseStatusUID(path, b)
	if err != nil {
		errs.add(err)
		return d, true
	}
	d.uid, d.hasUID = uid, true
	return d, true
}

// pidPath returns <proc>/<pid>/<file>, built in a reused buffer.
func (p *Processes) pidPath(pid int32, file string) string {
	b := append(p.pathBuf[:0], p.proc...)
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(pid), 10)
	b = append(b, '/')
	b = append(b, file...)
	p.pathBuf = b
	return string(b)
}

// cmdline turns the NUL-separated arguments into one line. A read of
// maxCmdline bytes may end inside an argument or a UTF-8 sequence; text
// replaces a cut sequence.
func cmdline(b []byte) string {
	b = bytes.TrimRight(b, "\x00")
	for i, c := range b {
		if c == 0 {
			b[i] = ' '
		}
	}
	return text(b)
}

// vanished reports an error that means the process exited while being read.
func vanished(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH)
}
