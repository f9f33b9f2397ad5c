package node

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/krystalstack/gamesa/optimizer/coord"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
	"github.com/krystalstack/gamesa/telemetry/procfs"
)

// ancestorTTL is how long a parent process read from /proc is reused before
// it is read again: names and command lines of shells, launchers and
// session managers rarely change, and a reused pid shows in its start time.
const ancestorTTL = 5 * time.Second

// maxAncestry bounds a parent chain: real ones are a dozen deep.
const maxAncestry = 64

// apps is what the node knows about the apps on its machine beyond the
// sample: the registrations (`gamesa run`, RegisterApp) and, for the app
// coordinator, the registered processes and the parents of every listed
// process, which a busiest-N sample rarely holds. Registrations are
// guarded by the Registry; the ancestor cache belongs to the loop.
type apps struct {
	procRoot string
	self     int32
	reg      *coord.Registry
	// real is false on the simulated machine, whose pids exist nowhere:
	// registrations are then checked against the sample alone.
	real bool

	mu    sync.Mutex // guards names
	names map[int32]string

	cache map[int32]ancestor // owned by the loop
	buf   []coord.Process
	// moved are the processes the last decision put in the background
	// group; owned by the loop. One that drops out of the sample's
	// busiest list (starved there, on a loaded machine) is still read,
	// so the plan does not let it go while it wants the CPU.
	moved []int32
	// busyCPU is the CPU use a moved process that is runnable but not
	// in the busiest list is taken to have: enough to stay moved.
	busyCPU float64
}

type ancestor struct {
	proc  coord.Process
	start uint64
	read  time.Time
}

func newApps(procRoot string, real bool) *apps {
	return &apps{
		procRoot: procRoot,
		self:     int32(os.Getpid()),
		reg:      coord.NewRegistry(),
		real:     real,
		names:    make(map[int32]string),
		cache:    make(map[int32]ancestor),
		busyCPU:  coord.DefaultConfig().HogKeepCPUPercent,
	}
}

// errNoProcess says a registration names no live process.
var errNoProcess = errors.New("no such process")

// register checks that pid is a process GAMESA may plan for and records it.
// now is the registration time.
func (a *apps) register(pid int32, class string, priority int32, now time.Time) (*gamesav1.AppRegistration, error) {
	if class == "" {
		class = string(coord.ClassGame)
	}
	c := coord.Class(class)
	if c == coord.ClassUnknown || !c.Valid() {
		return nil, fmt.Errorf("%w: class %q is not one of %v", coord.ErrRegistration, class, coord.Classes())
	}
	switch {
	case pid <= 1:
		return nil, fmt.Errorf("%w: pid %d: PID 1 and below are never managed", coord.ErrRegistration, pid)
	case pid == a.self:
		return nil, fmt.Errorf("%w: pid %d is the agent itself", coord.ErrRegistration, pid)
	}
	var start uint64
	name := ""
	if a.real {
		info, err := procfs.ReadProcess(a.procRoot, pid)
		if err != nil {
			if gone(err) {
				return nil, fmt.Errorf("%w: pid %d", errNoProcess, pid)
			}
			return nil, fmt.Errorf("reading pid %d: %w", pid, err)
		}
		if info.Process.KernelTask {
			return nil, fmt.Errorf("%w: pid %d is a kernel thread", coord.ErrRegistration, pid)
		}
		start, name = info.Start, info.Process.Name
	}
	r := coord.Registration{PID: pid, Class: c, Priority: priority, At: now, Start: start}
	if err := a.reg.Register(r); err != nil {
		return nil, err
	}
	a.mu.Lock()
	a.names[pid] = name
	a.mu.Unlock()
	return a.registrationProto(r), nil
}

func (a *apps) unregister(pid int32) bool {
	ok := a.reg.Unregister(pid)
	a.mu.Lock()
	delete(a.names, pid)
	a.mu.Unlock()
	return ok
}

func (a *apps) list() []*gamesav1.AppRegistration {
	regs := a.reg.Snapshot()
	out := make([]*gamesav1.AppRegistration, len(regs))
	for i, r := range regs {
		out[i] = a.registrationProto(r)
	}
	return out
}

func (a *apps) registrationProto(r coord.Registration) *gamesav1.AppRegistration {
	a.mu.Lock()
	name := a.names[r.PID]
	a.mu.Unlock()
	return &gamesav1.AppRegistration{Pid: r.PID, Class: string(r.Class), Priority: r.Priority, RegisteredAt: timestamppb.New(r.At), Name: name}
}

// prune forgets the registrations whose process exited (or whose pid now
// names another process) and returns them.
func (a *apps) prune() []coord.Registration {
	if !a.real {
		return nil
	}
	gone := a.reg.Prune(func(pid int32, start uint64) bool {
		got, err := procfs.ProcessStart(a.procRoot, pid)
		if err != nil {
			return false
		}
		return start == 0 || got == start
	})
	if len(gone) > 0 {
		a.mu.Lock()
		for _, r := range gone {
			delete(a.names, r.PID)
		}
		a.mu.Unlock()
	}
	return gone
}

// processes is the coordinator's view of this tick: the sample's busiest
// processes, every registered pid, and the parents of each up to the root,
// read from /proc when the sample lacks them. The slice is reused by the
// next call.
func (a *apps) processes(s *gamesav1.Sample, regs []coord.Registration, now time.Time) []coord.Process {
	a.buf = append(a.buf[:0], coord.FromSample(s.GetProcesses().GetTop())...)
	if !a.real {
		return a.buf
	}
	listed := make(map[int32]bool, len(a.buf)+len(regs))
	for _, p := range a.buf {
		listed[p.PID] = true
	}
	add := func(pid int32) {
		for depth := 0; pid > 1 && !listed[pid] && depth < maxAncestry; depth++ {
			p, ok := a.read(pid, now)
			if !ok {
				return
			}
			listed[pid] = true
			a.buf = append(a.buf, p)
			pid = p.PPID
		}
	}
	for _, r := range regs {
		add(r.PID)
	}
	for _, pid := range a.moved {
		if listed[pid] {
			a.keepBusy(s, pid)
			continue
		}
		// Its threads' states are this tick's signal; who it is comes
		// from the ancestor cache, like a parent's.
		runnable, err := procfs.Runnable(a.procRoot, pid)
		if err != nil {
			continue // gone
		}
		cp, ok := a.read(pid, now)
		if !ok {
			continue
		}
		if runnable {
			cp.CPUPercent = a.busyCPU // it wants the CPU it does not get
		}
		listed[pid] = true
		a.buf = append(a.buf, cp)
	}
	for i := 0; i < len(a.buf); i++ { // a.buf grows as parents are added
		add(a.buf[i].PPID)
	}
	a.evict(now)
	sort.Slice(a.buf, func(i, j int) bool { return a.buf[i].PID < a.buf[j].PID })
	return a.buf
}

// keepBusy raises a moved process's CPU use to busyCPU when a thread of
// it is runnable: starved in the background group by busier processes
// outside GAMESA's scope, it still wants the CPU, and letting it go would
// only have it moved again once it got some.
func (a *apps) keepBusy(s *gamesav1.Sample, pid int32) {
	for _, sp := range s.GetProcesses().GetTop() {
		if sp.GetPid() != pid {
			continue
		}
		if sp.GetCpuPercent() >= a.busyCPU || !a.runnable(pid) {
			return
		}
		for i := range a.buf {
			if a.buf[i].PID == pid && a.buf[i].CPUPercent < a.busyCPU {
				a.buf[i].CPUPercent = a.busyCPU
			}
		}
		return
	}
}

// runnable reports whether any thread of pid wants a CPU.
func (a *apps) runnable(pid int32) bool {
	ok, err := procfs.Runnable(a.procRoot, pid)
	return err == nil && ok
}

// read returns pid as the coordinator sees it, from the cache while fresh.
func (a *apps) read(pid int32, now time.Time) (coord.Process, bool) {
	if c, ok := a.cache[pid]; ok && now.Sub(c.read) < ancestorTTL {
		return c.proc, true
	}
	info, err := procfs.ReadProcess(a.procRoot, pid)
	if err != nil || info.Process.KernelTask {
		delete(a.cache, pid)
		return coord.Process{}, false
	}
	cp := coordProcess(info)
	a.cache[pid] = ancestor{proc: cp, start: info.Start, read: now}
	return cp, true
}

// coordProcess is a process read from /proc as the coordinator sees it,
// with no CPU use (one read has no interval).
func coordProcess(info procfs.ProcessInfo) coord.Process {
	p := info.Process
	return coord.Process{
		PID: p.PID, PPID: p.PPID, Name: p.Name, Cmdline: p.Cmdline, Exe: info.Exe, Cgroup: info.Cgroup,
		UID: p.UID, RSSBytes: p.RSSBytes, Nice: p.Nice,
	}
}

// remember notes the processes plan puts in the background group, for
// the next tick's processes.
func (a *apps) remember(plan *gamesav1.Plan) {
	a.moved = a.moved[:0]
	for _, act := range plan.GetActions() {
		if act.GetKnob() != coord.KnobCgroupMember || act.GetValue() != coord.GroupBackground {
			continue
		}
		if pid, err := strconv.ParseInt(strings.TrimPrefix(act.GetTarget(), "pid:"), 10, 32); err == nil {
			a.moved = append(a.moved, int32(pid))
		}
	}
}

// evict drops cache entries not refreshed for a while, so exited parents
// do not pile up.
func (a *apps) evict(now time.Time) {
	for pid, c := range a.cache {
		if now.Sub(c.read) > 4*ancestorTTL {
			delete(a.cache, pid)
		}
	}
}

// gone reports an error that means the process does not exist.
func gone(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH)
}

// topologyFor reads the CPU layout the coordinator splits cores by; the
// simulated machine, and a host whose sysfs says nothing, get a flat one
// with the sample's core count.
func topologyFor(sysRoot string, real bool, cores int) coord.Topology {
	if real {
		if t, err := coord.ParseTopology(os.DirFS(filepath.Join(sysRoot, "devices", "system", "cpu"))); err == nil {
			return t
		}
	}
	return coord.FlatTopology(max(cores, 1))
}

// workloadFallback lets the workload classifier name a busy app that no
// classification rule knows. The classifier judges the whole machine from
// its resource time series, not one process, so its verdict goes only to
// an app doing most of the machine's work (at least dominantShare of the
// busy processes' CPU) while the classifier is sure (minConfidence).
// The loop sets the tick's verdict before each decision; the coordinator
// calls ClassifyApp inside Plan, on the same goroutine.
type workloadFallback struct {
	class    coord.Class
	busyCPU  float64 // the CPU use of the sample's listed processes
	verdicts int     // apps classified, for tests and metrics
}

const (
	minConfidence = 0.9
	dominantShare = 0.6
)

// workloadClasses maps the workload model's classes to the coordinator's.
var workloadClasses = map[string]coord.Class{
	"game":    coord.ClassGame,
	"render":  coord.ClassRenderer,
	"compile": coord.ClassCompiler,
	"browser": coord.ClassBrowser,
}

// observe takes the tick's verdict from the sample's insights.
func (f *workloadFallback) observe(s *gamesav1.Sample) {
	f.class, f.busyCPU = "", 0
	in := s.GetInsights()
	if in.GetWorkloadConfidence() < minConfidence {
		return
	}
	f.class = workloadClasses[in.GetWorkloadClass()]
	for _, p := range s.GetProcesses().GetTop() {
		f.busyCPU += p.GetCpuPercent()
	}
}

// ClassifyApp implements coord.Fallback.
func (f *workloadFallback) ClassifyApp(app *coord.App, _ []coord.Process) (coord.Class, bool) {
	if f.class == "" || f.busyCPU <= 0 || app.CPUPercent < dominantShare*f.busyCPU {
		return "", false
	}
	f.verdicts++
	return f.class, true
}
