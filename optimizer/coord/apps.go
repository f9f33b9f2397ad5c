package coord

import (
	"cmp"
	"slices"
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

// appBuilder holds the per-process state of one grouping.
type appBuilder struct {
	c     *Coordinator
	procs []Process
	index map[int32]int32 // pid → position in procs
	class []Class
	rule  []string
	match []bool
	app   []int32 // process → app; -1 unresolved, -2 being resolved, skipped
	apps  []App
	regs  map[int32]Registration
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
	b := c.group(procs, regs)
	return b.apps
}

func (c *Coordinator) group(procs []Process, regs []Registration) *appBuilder {
	n := len(procs)
	b := &appBuilder{
		c:     c,
		procs: procs,
		index: make(map[int32]int32, n),
		class: make([]Class, n),
		rule:  make([]string, n),
		match: make([]bool, n),
		app:   make([]int32, n),
		apps:  make([]App, 0, n),
	}
	for i := range procs {
		// A duplicate pid keeps its first entry; later ones are skipped.
		b.app[i] = -1
		if _, dup := b.index[procs[i].PID]; dup {
			b.app[i] = skipped
			continue
		}
		b.index[procs[i].PID] = int32(i)
	}
	if len(regs) > 0 {
		b.regs = make(map[int32]Registration, len(regs))
		for _, r := range regs {
			if _, ok := b.regs[r.PID]; !ok {
				b.regs[r.PID] = r
			}
		}
	}
	for i := range procs {
		p := &procs[i]
		parent := ""
		if j, ok := b.parent(i); ok {
			parent = procs[j].Name
		}
		b.class[i], b.rule[i], b.match[i] = c.rules.Match(p, parent, c.cfg.CmdlineScanBytes)
	}
	for i := range procs {
		b.resolve(int32(i))
	}
	b.finish()
	return b
}

// parent returns the position of procs[i]'s parent, if listed.
func (b *appBuilder) parent(i int) (int32, bool) {
	p := &b.procs[i]
	if p.PPID == p.PID || p.PPID <= 0 {
		return -1, false
	}
	j, ok := b.index[p.PPID]
	return j, ok
}

// resolve assigns procs[i] and its unresolved ancestors to apps, top
// down, without recursion (a deep chain must not grow the stack) and
// without looping on a cycle of ppids, which real data never holds but
// a caller's bug might.
func (b *appBuilder) resolve(i int32) {
	if b.app[i] != -1 {
		return
	}
	var chain []int32
	for k := i; ; {
		if b.app[k] != -1 {
			break
		}
		b.app[k] = -2
		chain = append(chain, k)
		j, ok := b.parent(int(k))
		if !ok {
			break
		}
		k = j
	}
	for n := len(chain) - 1; n >= 0; n-- {
		k := chain[n]
		parentApp := int32(-1)
		if j, ok := b.parent(int(k)); ok && b.app[j] >= 0 {
			parentApp = b.app[j]
		}
		b.app[k] = b.assign(k, parentApp)
	}
}

// assign returns procs[k]'s app: its parent's, or a new one.
func (b *appBuilder) assign(k, parentApp int32) int32 {
	p := &b.procs[k]
	if r, ok := b.regs[p.PID]; ok {
		return b.newApp(k, r.Class, "registered", &r)
	}
	own, matched := b.class[k], b.match[k]
	if parentApp >= 0 {
		pc := b.apps[parentApp].Class
		switch {
		case matched && own == pc:
			return parentApp
		case !matched || own == ClassUnknown:
			if pc != ClassUnknown && pc != ClassDesktop {
				return parentApp
			}
		}
	}
	return b.newApp(k, own, b.rule[k], nil)
}

func (b *appBuilder) newApp(k int32, class Class, rule string, r *Registration) int32 {
	p := &b.procs[k]
	a := App{Class: class, Root: p.PID, Name: p.Name, Rule: rule}
	if r != nil {
		a.Registered, a.Priority = true, r.Priority
	}
	b.apps = append(b.apps, a)
	return int32(len(b.apps) - 1)
}

// finish fills the apps' members and sums, asks the fallback about the
// unknown ones, and sorts them by root pid (renumbering b.app).
func (b *appBuilder) finish() {
	counts := make([]int32, len(b.apps))
	for _, a := range b.app {
		if a >= 0 {
			counts[a]++
		}
	}
	// One backing array for every app's PIDs: one allocation, not one
	// per app.
	backing := make([]int32, 0, len(b.procs))
	for i, n := range counts {
		b.apps[i].PIDs = backing[len(backing) : len(backing) : len(backing)+int(n)]
		backing = backing[:len(backing)+int(n)]
	}
	busiest := make([]float64, len(b.apps))
	for i, a := range b.apps {
		busiest[i] = b.procs[b.index[a.Root]].CPUPercent
	}
	for i, a := range b.app {
		if a < 0 {
			continue
		}
		app := &b.apps[a]
		if app.Class == ClassGame && b.procs[i].CPUPercent > busiest[a] {
			busiest[a], app.Name = b.procs[i].CPUPercent, b.procs[i].Name
		}
		app.PIDs = append(app.PIDs, b.procs[i].PID)
		app.CPUPercent += b.procs[i].CPUPercent
		app.RSSBytes += b.procs[i].RSSBytes
	}
	for i := range b.apps {
		slices.Sort(b.apps[i].PIDs)
	}
	if fb := b.c.fallback; fb != nil {
		for i := range b.apps {
			a := &b.apps[i]
			if a.Class != ClassUnknown || a.Rule != "" || a.CPUPercent < b.c.cfg.FallbackMinCPUPercent {
				continue
			}
			members := make([]Process, 0, len(a.PIDs))
			for _, pid := range a.PIDs {
				members = append(members, b.procs[b.index[pid]])
			}
			if cl, ok := fb.ClassifyApp(a, members); ok && cl.Valid() && cl != ClassUnknown {
				a.Class, a.Rule = cl, "workload classifier"
			}
		}
	}
	order := make([]int32, len(b.apps))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(x, y int32) int { return cmp.Compare(b.apps[x].Root, b.apps[y].Root) })
	if slices.IsSorted(order) {
		return
	}
	rank := make([]int32, len(order))
	sorted := make([]App, len(order))
	for r, o := range order {
		rank[o] = int32(r)
		sorted[r] = b.apps[o]
	}
	b.apps = sorted
	for i, a := range b.app {
		if a >= 0 {
			b.app[i] = rank[a]
		}
	}
}
