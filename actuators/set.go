package actuators

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
	"github.com/krystalstack/gamesa/telemetry/procfs"
)

// Set applies plans to the machine and reverts them. Build it with Open;
// its methods are safe for concurrent use (they take turns).
type Set struct {
	cfg Config
	log *slog.Logger

	mu sync.Mutex
	j  *journal
	// live holds, per knob, target and process, the newest "set" record:
	// what to restore at revert. Oldest first.
	live []journalRecord
	// pending: live came from an earlier run's journal, not yet reverted
	// or discarded; Apply refuses until then.
	pending bool
	closed  bool

	families map[string]family
	cgroups  *cgroupFamily
	pmqos    *pmqosFamily

	tuners   []Tuner
	tunersAt time.Time // the last look
	// tunersScanned is the last full scan; pids says whether a process
	// appeared since (a scan reads two files of every process).
	tunersScanned time.Time
	pids          *procfs.PidWatch
}

// Open validates cfg, locks and reads the journal, and finds the knobs and
// the other tuners of the machine. When the journal holds changes from an
// earlier run (the agent crashed, or was killed), the Set opens in the
// pending state: Apply refuses until Recover reverts them or DiscardJournal
// drops them. A corrupt journal fails with a *JournalError naming the file,
// unless cfg.Salvage says to keep what can be read. A journal locked by a
// live process fails with ErrJournalLocked.
func Open(ctx context.Context, cfg Config) (*Set, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// The Set keeps its own copies: the caller may reuse its slices.
	cfg.CgroupGroups = slices.Clone(cfg.CgroupGroups)
	cfg.Scope.PIDs = slices.Clone(cfg.Scope.PIDs)
	cfg.Scope.UIDs = slices.Clone(cfg.Scope.UIDs)
	cfg.Scope.Names = slices.Clone(cfg.Scope.Names)
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	j, recs, err := openJournal(cfg.JournalPath, cfg.Salvage)
	if err != nil {
		return nil, err
	}
	s := &Set{cfg: cfg, log: log, j: j, live: replay(recs), pids: procfs.NewPidWatch(cfg.Proc)}
	s.pending = len(s.live) > 0
	if s.pending {
		log.Warn("actuators: the journal holds changes from an earlier run; Recover to revert them",
			"journal", cfg.JournalPath, "changes", len(s.live))
	}
	c := &s.cfg
	s.cgroups = newCgroupFamily(c)
	s.pmqos = &pmqosFamily{cfg: c}
	proc, cpu, dev, rapl, gpu := &procFamily{cfg: c}, &cpufreqFamily{cfg: c}, &deviceFamily{cfg: c}, &raplFamily{cfg: c}, &gpuFamily{cfg: c}
	s.families = map[string]family{
		KnobAffinity: proc, KnobNice: proc, KnobIOPrio: proc, KnobPolicy: proc, KnobOOMScoreAdj: proc,
		KnobCgroupWeight: s.cgroups, KnobCgroupQuota: s.cgroups, KnobCgroupCpuset: s.cgroups, KnobCgroupMember: s.cgroups,
		KnobGovernor: cpu, KnobMinKHz: cpu, KnobMaxKHz: cpu, KnobEPP: cpu, KnobBoost: cpu, KnobPlatformProfile: cpu,
		KnobDMALatency: s.pmqos, KnobRAPLPL1: rapl, KnobRAPLPL2: rapl, KnobNVMLPower: gpu,
		KnobBacklight: dev, KnobUSBSuspend: dev, KnobPCIeASPM: dev, KnobSATALink: dev,
	}
	s.scanTuners()
	return s, nil
}

// replay folds journal records into the live set: per key, the newest
// record counts, and a "forget" removes the key.
func replay(recs []journalRecord) []journalRecord {
	last := make(map[string]int, len(recs))
	for i := range recs {
		last[recs[i].key()] = i
	}
	var live []journalRecord
	for i, r := range recs {
		if last[r.key()] == i && r.Op == opSet {
			live = append(live, r)
		}
	}
	return live
}

// Pending reports whether the journal holds changes from an earlier run
// that wait for Recover or DiscardJournal.
func (s *Set) Pending() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending
}

// Tuners returns the other tuners found running at the last scan.
func (s *Set) Tuners() []Tuner {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.tuners)
}

// scanTuners looks for other tuners when the last look is older than
// Config.TunerRescan.
func (s *Set) scanTuners() {
	if !s.tunersAt.IsZero() && time.Since(s.tunersAt) < s.cfg.TunerRescan {
		return
	}
	s.tunersAt = time.Now()
	// No tuner can have started while no pid was handed out. One that
	// exited is still respected until the next scan: the safe side.
	if !s.pids.Moved() && !s.tunersScanned.IsZero() && time.Since(s.tunersScanned) < tunerFullScan*s.cfg.TunerRescan {
		return
	}
	s.tunersScanned = s.tunersAt
	t, err := DetectTuners(s.cfg.Proc, s.cfg.Run)
	if err != nil {
		s.log.Warn("actuators: cannot look for other tuners", "err", err)
		return
	}
	for _, n := range t {
		if !slices.ContainsFunc(s.tuners, func(o Tuner) bool { return o.Name == n.Name }) {
			s.log.Info("actuators: another tuner is running",
				"tuner", n.Name, "pid", n.PID, "knobs", n.Knobs, "respect", s.cfg.RespectTuners)
		}
	}
	s.tuners = t
}

// tunerFullScan is how many rescan periods may pass without a full scan
// while no process appeared.
const tunerFullScan = 6

// owner returns the running tuner that manages knob, if any.
func (s *Set) owner(knob string) (Tuner, bool) {
	for _, t := range s.tuners {
		if t.Manages(knob) {
			return t, true
		}
	}
	return Tuner{}, false
}

// Compaction thresholds: the journal is rewritten once it holds at least
// compactMin records and compactRatio times as many as are live. Each
// rewrite costs three fsyncs, so with 20 live knobs changing on every
// plan it runs every 12th plan or so.
const (
	compactMin   = 256
	compactRatio = 8
)

// compact rewrites the journal when superseded records outnumber the live
// ones by far; a long-running agent that changes knobs back and forth
// would otherwise grow it without end.
func (s *Set) compact() {
	if s.j == nil || s.j.n < compactMin || s.j.n < compactRatio*len(s.live) {
		return
	}
	if err := s.j.rewrite(slices.Clone(s.live)); err != nil {
		s.log.Error("actuators: compact the journal", "err", err)
	}
}

func (s *Set) logChange(a *gamesav1.Action, target, from, to string) {
	s.log.Info("actuators: changed", "knob", a.GetKnob(), "target", target, "from", from, "to", to,
		"reasons", a.GetReasons())
}

// Revert puts back every change this agent made that is still in place,
// newest first: a knob is restored only when it still holds the value
// that was set (ErrChangedSince otherwise), and a process only when it is
// still the same process (pid and start time). The PM QoS request is
// released. The journal is then truncated, keeping only the changes that
// could not be reverted (an error says how many); a later Revert retries
// them.
func (s *Set) Revert(ctx context.Context) ([]Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	return s.revert(ctx)
}

// Recover reverts the changes an earlier run left in the journal, as
// Revert does, and lifts the pending state when all of them are dealt
// with. Without a pending journal it does nothing.
func (s *Set) Recover(ctx context.Context) ([]Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if !s.pending {
		return nil, nil
	}
	return s.revert(ctx)
}

// Restore puts back the original value of one knob on one target, as
// Revert does for all of them: the policy releases a knob it no longer
// wants (a game exited, so its background apps get their CPUs back)
// without touching the rest of what enforce mode set. Restored records
// leave the journal (a forget record, fsync'd); one that could not be
// restored stays for a later Revert. A knob and target GAMESA never
// changed gives no result and no error.
func (s *Set) Restore(ctx context.Context, knob, target string) ([]Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if s.pending {
		return nil, ErrRecoveryPending
	}
	var out []Result
	var forget []*journalRecord
	for i := len(s.live) - 1; i >= 0; i-- {
		rec := s.live[i]
		if rec.Knob != knob || rec.Target != target {
			continue
		}
		if err := ctx.Err(); err != nil {
			return out, s.forget(forget, err)
		}
		r, retain := s.revertOne(rec)
		out = append(out, r)
		if !retain {
			f := rec
			f.Op, f.UnixNano = opForget, time.Now().UnixNano()
			forget = append(forget, &f)
		}
	}
	return out, s.forget(forget, nil)
}

// forget journals that recs are settled and drops them from the live set.
func (s *Set) forget(recs []*journalRecord, err error) error {
	if len(recs) == 0 {
		return err
	}
	if jerr := s.j.append(recs...); jerr != nil {
		// The records stay live: a later Revert finds the knobs at their
		// originals and settles them as unchanged.
		return errors.Join(err, jerr)
	}
	for _, r := range recs {
		key := r.key()
		s.live = slices.DeleteFunc(s.live, func(l journalRecord) bool { return l.key() == key })
	}
	s.compact()
	return err
}

// DiscardJournal forgets every journalled change without reverting it,
// and lifts the pending state: a person decided the machine is right as it
// is.
func (s *Set) DiscardJournal() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if err := s.j.rewrite(nil); err != nil {
		return err
	}
	s.log.Warn("actuators: journal discarded without reverting", "journal", s.cfg.JournalPath, "changes", len(s.live))
	s.live, s.pending = nil, false
	return nil
}

func (s *Set) revert(ctx context.Context) ([]Result, error) {
	var out []Result
	var keep []journalRecord
	for i := len(s.live) - 1; i >= 0; i-- {
		rec := s.live[i]
		if err := ctx.Err(); err != nil {
			keep = append(keep, rec)
			continue
		}
		r, retain := s.revertOne(rec)
		out = append(out, r)
		if retain {
			keep = append(keep, rec)
		}
	}
	if s.pmqos.holding() {
		r := Result{Action: &gamesav1.Action{Knob: KnobDMALatency, Value: "", Reasons: []string{"revert"}},
			Previous: s.pmqos.val, Status: Applied}
		if err := s.pmqos.release(); err != nil {
			r = fail(r, err)
		}
		out = append(out, r)
	}
	slices.Reverse(keep)
	s.live = keep
	var errs []error
	if err := s.j.rewrite(slices.Clone(keep)); err != nil {
		errs = append(errs, err)
	}
	if len(keep) > 0 {
		errs = append(errs, fmt.Errorf("actuators: %d changes could not be reverted and stay in the journal", len(keep)))
	}
	if err := ctx.Err(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		s.pending = false
	}
	return out, errors.Join(errs...)
}

// familyOf returns the family of a journalled knob.
func (s *Set) familyOf(knob string) family {
	if knob == knobHierarchy {
		return s.cgroups
	}
	return s.families[knob]
}

// revertOne puts one record's original back. It reports whether the
// record must stay in the journal (the revert failed and may be retried).
func (s *Set) revertOne(rec journalRecord) (Result, bool) {
	a := &gamesav1.Action{Knob: rec.Knob, Target: rec.Target, Value: rec.Original, Reasons: []string{"revert"}}
	r := Result{Action: a}
	// settled: nothing left to do for this record.
	settled := func(err error) (Result, bool) {
		r = fail(r, err)
		return r, !(r.Status == Skipped || r.Status == Unavailable)
	}
	fam := s.familyOf(rec.Knob)
	if fam == nil {
		return settled(fmt.Errorf("%q: %w", rec.Knob, ErrUnknownKnob))
	}
	acc, err := fam.open(rec.Knob, rec.Target, openOpts{revert: true, start: rec.Start})
	if err != nil {
		return settled(err)
	}
	if th, ok := acc.(threaded); ok {
		return s.revertThreaded(r, rec, th)
	}
	cur, err := acc.read()
	if err != nil {
		return settled(err)
	}
	r.Previous, r.Value = cur, cur
	if cur != rec.Set {
		return settled(fmt.Errorf("%s %s holds %q, not the %q set: %w", rec.Knob, rec.Target, cur, rec.Set, ErrChangedSince))
	}
	if rec.Original == rec.Set {
		r.Status = Unchanged
		return r, false
	}
	if err := acc.write(rec.Original); err != nil {
		return settled(err)
	}
	r.Status, r.Value = Applied, rec.Original
	s.log.Info("actuators: reverted", "knob", rec.Knob, "target", rec.Target, "from", cur, "to", rec.Original)
	return r, false
}

// revertThreaded restores each thread still at the value set: to its own
// original, or the main thread's for a thread started since.
func (s *Set) revertThreaded(r Result, rec journalRecord, th threaded) (Result, bool) {
	cur, err := th.threads()
	if err != nil {
		r = fail(r, err)
		return r, !(r.Status == Skipped || r.Status == Unavailable)
	}
	r.Previous = cur[rec.PID]
	restored, others := 0, 0
	var errs []error
	eachNewThread(th, cur, func(tid int, v string) {
		if v != rec.Set {
			others++
			return
		}
		orig, ok := rec.Threads[tid]
		if !ok {
			orig = rec.Original
		}
		if orig == rec.Set {
			return
		}
		if err := th.writeThread(tid, orig); err != nil {
			if !isGone(err) {
				errs = append(errs, err)
			}
			return
		}
		restored++
	})
	if err := errors.Join(errs...); err != nil {
		r = fail(r, err)
		return r, true
	}
	r.Value = rec.Original
	switch {
	case restored > 0:
		r.Status = Applied
		s.log.Info("actuators: reverted", "knob", rec.Knob, "target", rec.Target, "threads", restored, "to", rec.Original)
	case others > 0:
		r = fail(r, fmt.Errorf("%s %s: every thread holds another value than the %q set: %w", rec.Knob, rec.Target, rec.Set, ErrChangedSince))
		r.Value = r.Previous
	default:
		r.Status = Unchanged
	}
	return r, false
}

// threadRounds bounds how often eachNewThread lists a process's threads
// again.
const threadRounds = 5

// eachNewThread calls fn for every thread of cur, in tid order, then lists
// the threads again and calls fn for those started meanwhile, until no new
// thread shows up (or threadRounds lists). A thread started while the
// threads are being changed inherits the value of the thread that started
// it, which may not have been changed yet; the second look catches it.
func eachNewThread(th threaded, cur map[int]string, fn func(tid int, v string)) {
	seen := make(map[int]bool, len(cur))
	for round := 0; round < threadRounds && len(cur) > 0; round++ {
		fresh := false
		for _, tid := range slices.Sorted(maps.Keys(cur)) {
			if seen[tid] {
				continue
			}
			seen[tid], fresh = true, true
			fn(tid, cur[tid])
		}
		if !fresh {
			return
		}
		next, err := th.threads()
		if err != nil {
			return
		}
		cur = next
	}
}

// Inventory lists the knobs this host has, with current values, bounds,
// whether this agent can write them, and the tuner that owns them: the
// GAMESA cgroups, CPU power, PM QoS, RAPL, NVML and device knobs, and the
// process knobs of the processes this agent has changed (Process lists any
// one process's). A knob the host lacks is left out.
func (s *Set) Inventory(ctx context.Context) ([]*gamesav1.Knob, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	s.scanTuners()
	var out []*gamesav1.Knob
	seen := map[int]bool{}
	for _, rec := range s.live {
		if rec.PID == 0 || seen[rec.PID] {
			continue
		}
		seen[rec.PID] = true
		if ks, err := s.processKnobs(rec.PID); err == nil {
			out = append(out, ks...)
		}
	}
	for _, fam := range []family{s.cgroups, s.families[KnobGovernor], s.pmqos, s.families[KnobRAPLPL1], s.families[KnobNVMLPower], s.families[KnobBacklight]} {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		out = append(out, fam.inventory()...)
	}
	for _, k := range out {
		if t, ok := s.owner(k.Name); ok {
			k.Owner = t.Name
		}
	}
	return out, nil
}

// Process lists one process's knobs (affinity, nice, I/O priority, policy,
// oom_score_adj, cgroup membership) with their current values. Writable
// says whether the process is in scope. A process that does not exist
// answers ErrGone.
func (s *Set) Process(ctx context.Context, pid int) ([]*gamesav1.Knob, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.scanTuners()
	ks, err := s.processKnobs(pid)
	if err != nil {
		return nil, err
	}
	for _, k := range ks {
		if t, ok := s.owner(k.Name); ok {
			k.Owner = t.Name
		}
	}
	return ks, nil
}

func (s *Set) processKnobs(pid int) ([]*gamesav1.Knob, error) {
	target := "pid:" + strconv.Itoa(pid)
	p, err := readProc(s.cfg.Proc, pid)
	if err != nil {
		return nil, err
	}
	writable := s.cfg.inScope(p) == nil
	var out []*gamesav1.Knob
	for _, knob := range []string{KnobAffinity, KnobNice, KnobIOPrio, KnobPolicy, KnobOOMScoreAdj, KnobCgroupMember} {
		acc, err := s.families[knob].open(knob, target, openOpts{inspect: true})
		if err != nil {
			if errors.Is(err, ErrGone) {
				return nil, err
			}
			continue
		}
		v, err := acc.read()
		if err != nil {
			continue
		}
		k := &gamesav1.Knob{Name: knob, Target: target, Value: v, Unit: unitOf(knob), Writable: writable}
		switch knob {
		case KnobNice:
			k.Min, k.Max = strconv.Itoa(s.cfg.MinNice), "19"
		case KnobOOMScoreAdj:
			k.Min, k.Max = strconv.Itoa(s.cfg.MinOOMScoreAdj), "1000"
		case KnobCgroupMember:
			k.Choices = slices.Clone(s.cfg.CgroupGroups)
		}
		out = append(out, k)
	}
	return out, nil
}

// Close releases the journal lock and the PM QoS request (which the kernel
// then drops: that knob alone reverts). It does not revert anything else:
// call Revert first for that. Close is idempotent.
func (s *Set) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return errors.Join(s.pmqos.release(), s.j.close())
}
