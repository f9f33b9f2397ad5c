package coord

import (
	"cmp"
	"slices"

	"github.com/krystalstack/gamesa/internal/strs"
)

// App is a group of processes that the user sees as one program: a game
// with its launcher script, Wine server and helpers; a browser with its
// content processes.
type App struct {
	Class Class
	// Root is the pid of the app's topmost process. Name is the root's
	// name, except for a game: there it is the busiest process's (the
	// .exe, not Steam's reaper).
	Root int32
	Name string
	// Rule says how the class was found: a rule's name, "registered",
	// "workload classifier", or "" for an unknown app.
	Rule string
	// PIDs are the app's processes, sorted.
	PIDs []int32
	// CPUPercent and RSSBytes are the sums over PIDs.
	CPUPercent float64
	RSSBytes   uint64
	// Registered is set when the app holds a registration; Priority is
	// then its priority.
	Registered bool
	Priority   int32
}

// Fallback classifies an app that no rule matched, such as the workload
// classifier would from the app's behaviour. It must be deterministic
// for the coordinator's plans to be, and it runs on the caller's
// goroutine inside Plan and Classify: keep it fast.
type Fallback interface {
	// ClassifyApp returns the app's class and true, or false to leave it
	// unknown. members are the app's processes.
	ClassifyApp(app *App, members []Process) (Class, bool)
}

// skipped marks a process entry whose pid an earlier entry holds.
const skipped = -3

// appBuilder is one grouping: the tick's processes and the scratch that
// holds their state (parent, match, app), under the Coordinator's lock.
type appBuilder struct {
	c     *Coordinator
	s     *scratch
	procs []Process
	apps  []App // the result, sorted by root pid; the caller's to keep
	regs  map[int32]Registration
	// shared is set for a caller that reads apps only until its next
	// call (see fill).
	shared bool
	// niceBefore is Input.NiceBefore, sorted.
	niceBefore []PIDNice
}

// Classify groups procs into apps and classifies them; regs (from
// Registry.Snapshot) override the class of the apps they name. The
// result is sorted by root pid.
//
// A process starts an app of its own when it has no parent among procs,
// holds a registration, or matches a rule of a class other than its
// parent's app's. Otherwise it joins its parent's app: a browser's
// content processes, a game's helpers and Wine's services. A process no
// rule matches joins only an app of a known class other than Desktop: a
// busy program started from a terminal must not become part of pid 1's
// app, nor of the compositor's.
func (c *Coordinator) Classify(procs []Process, regs []Registration) []App {
	c.mu.Lock()
	defer c.mu.Unlock()
	apps := c.group(procs, regs, nil, false).apps
	c.scratch.builder = appBuilder{}
	return apps
}

// group classifies and groups procs. The caller holds c.mu, and resets
// s.builder once done with it. shared tells a caller that reads the apps
// only until its next call (PlanShared), whose apps fill may write again.
//
// A grouping is a function of each listed process's pid, parent and rule
// match, and of the registrations: while none of them changes (a steady
// machine, whose processes differ from tick to tick only in CPU use,
// memory and nice values), the last tick's grouping is reused and only
// the apps' sums are made again.
func (c *Coordinator) group(procs []Process, regs []Registration, niceBefore []PIDNice, shared bool) *appBuilder {
	s := &c.scratch
	b := &s.builder
	*b = appBuilder{c: c, s: s, procs: procs, niceBefore: niceBefore, shared: shared}
	reindexed, steady := c.reindex(procs)
	if !reindexed {
		steady = s.index(procs)
		for i := range procs {
			if !s.dup[i] && !c.rematch(procs, i) {
				steady = false
			}
		}
	}
	steady = s.sameRegistrations(regs) && steady
	regrouped := !steady || !s.grouped
	if regrouped {
		b.regroup(regs)
	}
	b.apps = b.fill(regrouped)
	return b
}

// rematch matches procs[i], listed once, against the rules again when
// the inputs its stored match came from changed, and reports whether the
// match stood.
func (c *Coordinator) rematch(procs []Process, i int) bool {
	s := &c.scratch
	p := &procs[i]
	parent := ""
	if j := s.parent[i]; j >= 0 {
		parent = procs[j].Name
	}
	cmd := p.Cmdline
	if scan := c.cfg.CmdlineScanBytes; scan > 0 && len(cmd) > scan {
		cmd = cmd[:scan]
	}
	e := s.ent[i]
	if e.same(p.Name, parent, cmd, p.Exe, p.Cgroup) {
		return true
	}
	cl, rule, ok := c.rules.match(p, parent, cmd)
	e.store(p.Name, parent, cmd, p.Exe, p.Cgroup, cl, rule, ok)
	return false
}

// reindex starts a tick over a list that holds the last tick's pids in
// the same places, each with the same parent, and no duplicate, as a
// steady machine's does: the entries, their positions, the duplicates
// (none) and the parent positions then stand, and one pass over the list
// finds so and rematches each process (steady reports whether every
// match stood). It reports false when the list is not such a one; index
// then sets everything again.
func (c *Coordinator) reindex(procs []Process) (ok, steady bool) {
	s := &c.scratch
	if !s.indexed || len(procs) != len(s.ent) {
		return false, false
	}
	s.tick++ // a failure leaves entries at this tick, which index's next one leaves behind
	steady = true
	for i := range procs {
		e, p := s.ent[i], &procs[i]
		if e.pid != p.PID || e.ppid != p.PPID {
			return false, false
		}
		e.gen = s.tick
		// The parent, listed before or after, has its place of the last
		// tick: rematch reads its name, not its entry.
		if !c.rematch(procs, i) {
			steady = false
		}
	}
	return true, steady
}

// regroup groups the tick's processes afresh, into the grouping that
// later ticks reuse while the list stays as it is.
func (b *appBuilder) regroup(regs []Registration) {
	s := b.s
	if len(regs) > 0 {
		b.regs = make(map[int32]Registration, len(regs))
		for _, r := range regs {
			if _, ok := b.regs[r.PID]; !ok {
				b.regs[r.PID] = r
			}
		}
	}
	for i, dup := range s.dup {
		s.app[i] = -1
		if dup {
			s.app[i] = skipped
		}
	}
	s.apps = s.apps[:0]
	s.rootPos = s.rootPos[:0]
	// In pid order, parents (mostly older, lower pids) come first: the
	// apps are then made in root-pid order, as finish sorts them.
	for _, i := range s.sortByPID(b.procs) {
		b.resolve(i)
	}
	b.finish()
}

// resolve assigns procs[i] and its unresolved ancestors to apps, top
// down, without recursion (a deep chain must not grow the stack) and
// without looping on a cycle of ppids, which real data never holds but
// a caller's bug might.
func (b *appBuilder) resolve(i int32) {
	s := b.s
	if s.app[i] != -1 {
		return
	}
	chain := s.chain[:0]
	for k := i; ; {
		if s.app[k] != -1 {
			break
		}
		s.app[k] = -2
		chain = append(chain, k)
		j := s.parent[k]
		if j < 0 {
			break
		}
		k = j
	}
	for n := len(chain) - 1; n >= 0; n-- {
		k := chain[n]
		parentApp := int32(-1)
		if j := s.parent[k]; j >= 0 && s.app[j] >= 0 {
			parentApp = s.app[j]
		}
		s.app[k] = b.assign(k, parentApp)
	}
	s.chain = chain
}

// assign returns procs[k]'s app: its parent's, or a new one.
func (b *appBuilder) assign(k, parentApp int32) int32 {
	s := b.s
	if len(b.regs) > 0 {
		if r, ok := b.regs[b.procs[k].PID]; ok {
			return b.newApp(k, r.Class, "registered", &r)
		}
	}
	e := s.ent[k]
	own, matched := e.class, e.matched
	if parentApp >= 0 {
		pc := s.apps[parentApp].Class
		switch {
		case matched && own == pc:
			return parentApp
		case !matched || own == ClassUnknown:
			if pc != ClassUnknown && pc != ClassDesktop {
				return parentApp
			}
		}
	}
	return b.newApp(k, own, e.rule, nil)
}

func (b *appBuilder) newApp(k int32, class Class, rule string, r *Registration) int32 {
	s := b.s
	p := &b.procs[k]
	a := App{Class: class, Root: p.PID, Name: p.Name, Rule: rule}
	if r != nil {
		a.Registered, a.Priority = true, r.Priority
	}
	s.apps = append(s.apps, a)
	s.rootPos = append(s.rootPos, k)
	return int32(len(s.apps) - 1)
}

// rootsSorted reports whether apps are in root-pid order, as they are made
// on most ticks (see group), without copying an App per comparison.
func rootsSorted(apps []App) bool {
	for i := 1; i < len(apps); i++ {
		if apps[i].Root < apps[i-1].Root {
			return false
		}
	}
	return true
}

// finish sorts the apps made this tick by root pid into the grouping
// (s.grouping), renumbering s.app, and fills in their members. The
// members' pids are new memory, handed to the caller with every tick's
// apps while the grouping lasts and never written again.
func (b *appBuilder) finish() {
	s := b.s
	na := len(s.apps)
	s.order = grow(s.order, na)
	for i := range s.order {
		s.order[i] = int32(i)
	}
	if !rootsSorted(s.apps) {
		slices.SortFunc(s.order, func(x, y int32) int { return cmp.Compare(s.apps[x].Root, s.apps[y].Root) })
	}
	s.rank = grow(s.rank, na)
	s.counts = grow(s.counts, na)
	s.rootAt = grow(s.rootAt, na)
	clear(s.grouping) // drop the strings of the last grouping
	s.grouping = grow(s.grouping, na)
	for r, o := range s.order {
		s.rank[o] = int32(r)
		s.grouping[r] = s.apps[o]
		s.counts[r] = 0
		s.rootAt[r] = s.rootPos[o]
	}
	for i, a := range s.app {
		if a >= 0 {
			s.app[i] = s.rank[a]
			s.counts[s.app[i]]++
		}
	}
	// One backing array for every app's PIDs: one allocation, not one
	// per app.
	total := 0
	for _, n := range s.counts[:na] {
		total += int(n)
	}
	backing := make([]int32, 0, total)
	for i := range s.grouping {
		n := int(s.counts[i])
		s.grouping[i].PIDs = backing[len(backing) : len(backing) : len(backing)+n]
		backing = backing[:len(backing)+n]
	}
	for i, a := range s.app {
		if a >= 0 {
			app := &s.grouping[a]
			app.PIDs = append(app.PIDs, b.procs[i].PID)
		}
	}
	for i := range s.grouping {
		if len(s.grouping[i].PIDs) > 1 {
			slices.Sort(s.grouping[i].PIDs)
		}
	}
	s.grouped = true
	s.groupings++
}

// fill returns the tick's apps: the grouping's, with this tick's sums of
// CPU use and memory, a game named after its busiest process, and the
// fallback's classes for the busy apps no rule knows. They are made in
// s.next; the caller gets a copy, new memory it keeps, unless they are
// the apps handed out last (s.handed), which it then gets again: a
// steady machine's apps allocate nothing. Without a fallback the sums
// alone tell whether they are: the apps are then not even made.
//
// The apps handed out last are never written again, with one exception:
// while only shared callers (see appBuilder.shared) have had them, and
// the apps differ from them in their sums alone, a shared caller gets
// them again with the new sums written in: a live machine, whose CPU use
// moves every tick, then allocates no apps either.
func (b *appBuilder) fill(regrouped bool) []App {
	s := b.s
	n := len(s.grouping)
	s.busiest, s.cpu, s.rss, s.names = grow(s.busiest, n), grow(s.cpu, n), grow(s.rss, n), grow(s.names, n)
	for r := range n {
		s.busiest[r] = b.procs[s.rootAt[r]].CPUPercent
		s.cpu[r], s.rss[r], s.names[r] = 0, 0, s.grouping[r].Name
	}
	for i, a := range s.app {
		if a < 0 {
			continue
		}
		p := &b.procs[i]
		if s.grouping[a].Class == ClassGame && p.CPUPercent > s.busiest[a] {
			s.busiest[a], s.names[a] = p.CPUPercent, p.Name
		}
		s.cpu[a] += p.CPUPercent
		s.rss[a] += p.RSSBytes
	}
	if !regrouped && b.c.fallback == nil {
		// The grouping's classes stand: only the sums and a game's name
		// can differ from the apps handed out last.
		switch names, sums := s.asHanded(); {
		case names && sums:
			return b.again()
		case names && b.shared && s.handedShared:
			for r := range s.handed {
				s.handed[r].CPUPercent, s.handed[r].RSSBytes = s.cpu[r], s.rss[r]
			}
			s.handedGen++
			return s.handed
		}
	}
	apps := append(s.next[:0], s.grouping...)
	s.next = apps
	for r := range apps {
		apps[r].CPUPercent, apps[r].RSSBytes, apps[r].Name = s.cpu[r], s.rss[r], s.names[r]
	}
	b.classifyUnknown(apps)
	switch {
	case !regrouped && sameApps(apps, s.handed):
		return b.again()
	case !regrouped && b.shared && s.handedShared && len(apps) == len(s.handed) && sameKinds(apps, s.handed):
		for r := range apps {
			s.handed[r].CPUPercent, s.handed[r].RSSBytes = apps[r].CPUPercent, apps[r].RSSBytes
		}
	default:
		s.handed = slices.Clone(apps)
		s.handedShared = b.shared
	}
	s.handedGen++
	return s.handed
}

// again returns the apps handed out last, unchanged, to this caller.
func (b *appBuilder) again() []App {
	b.s.handedShared = b.s.handedShared && b.shared
	return b.s.handed
}

// asHanded reports whether the tick's names, and its sums, are those of
// the apps handed out last, which were made from the same grouping with
// no fallback: only what the sums set can differ.
func (s *scratch) asHanded() (names, sums bool) {
	if len(s.handed) != len(s.cpu) {
		return false, false
	}
	sums = true
	for r := range s.handed {
		h := &s.handed[r]
		if !strs.Same(h.Name, s.names[r]) {
			return false, false
		}
		sums = sums && h.CPUPercent == s.cpu[r] && h.RSSBytes == s.rss[r]
	}
	return true, sums
}

// classifyUnknown asks the fallback about the busy apps no rule knows.
func (b *appBuilder) classifyUnknown(apps []App) {
	fb := b.c.fallback
	if fb == nil {
		return
	}
	for i := range apps {
		a := &apps[i]
		if a.Class != ClassUnknown || a.Rule != "" || a.CPUPercent < b.c.cfg.FallbackMinCPUPercent {
			continue
		}
		members := make([]Process, 0, len(a.PIDs))
		for _, pid := range a.PIDs {
			pr := b.procs[b.s.lookup(pid)]
			pr.Nice = niceOf(&pr, b.niceBefore)
			members = append(members, pr)
		}
		if cl, ok := fb.ClassifyApp(a, members); ok && cl.Valid() && cl != ClassUnknown {
			a.Class, a.Rule = cl, "workload classifier"
		}
	}
}

// sameApps reports whether apps read as last, both made by fill from one
// grouping: only what fill sets can differ.
func sameApps(apps, last []App) bool {
	if len(apps) != len(last) {
		return false
	}
	for i := range apps {
		a, l := &apps[i], &last[i]
		if a.CPUPercent != l.CPUPercent || a.RSSBytes != l.RSSBytes || a.Name != l.Name || a.Class != l.Class || a.Rule != l.Rule {
			return false
		}
	}
	return true
}
