package coord

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sync"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// Knob names and cgroup groups the coordinator plans for (plan.proto's
// spelling; the groups are the actuators' default CgroupGroups).
const (
	KnobAffinity     = "process.affinity"
	KnobNice         = "process.nice"
	KnobIOPrio       = "process.ioprio"
	KnobCgroupWeight = "cgroup.weight"
	KnobCgroupCPUSet = "cgroup.cpuset"
	KnobCgroupMember = "cgroup.member"

	GroupForeground = "foreground"
	GroupBackground = "background"
)

// Scenario names, as Decision.Scenario and the reasons give them.
const (
	ScenarioNone             = "none"
	ScenarioGame             = "game"
	ScenarioGameVoice        = "game + voice chat"
	ScenarioStreamGame       = "stream + game"
	ScenarioStreamGameVoice  = "stream + game + voice chat"
	ScenarioRenderCompile    = "render + compile"
	ScenarioBrowserIDE       = "browser + IDE"
	ScenarioForegroundPrefix = "foreground "
)

// Coordinator classifies processes and plans for the apps it finds. Its
// configuration, rules and fallback are fixed; between calls it keeps
// each listed pid's rule match (with the inputs it came from, so a
// changed process is matched again), the last grouping, apps and plan
// with what they were made from, memos of its texts and core split, and
// its working buffers, which is what lets a tick over an unchanged
// process list skip the rule tests and the grouping and format nothing.
// That state never shows in a result: the same input always gives the
// same Decision, whatever came before. A mutex guards it, so a
// Coordinator is safe for concurrent use if the Fallback is, but Plan
// and Classify calls run one at a time, and the Fallback must not call
// back into its Coordinator.
type Coordinator struct {
	cfg      Config
	rules    *RuleSet
	fallback Fallback

	mu      sync.Mutex
	scratch scratch
}

// New returns a coordinator. rules nil means DefaultRules; fallback may
// be nil.
func New(cfg Config, rules *RuleSet, fallback Fallback) (*Coordinator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if rules == nil {
		var err error
		if rules, err = NewRuleSet(DefaultRules()); err != nil {
			return nil, fmt.Errorf("default rules: %w", err)
		}
	}
	return &Coordinator{cfg: cfg, rules: rules, fallback: fallback}, nil
}

// Input is one tick's view of the machine.
type Input struct {
	// Processes should hold every process that matters: the sample's
	// busiest ones, every registered pid, and the parents up to the root
	// of each (grouping follows PPID only through listed processes).
	Processes []Process
	// Topology is the CPU layout; the zero value plans priorities only.
	Topology Topology
	// Registrations come from Registry.Snapshot; any order.
	Registrations []Registration
	// PrevHogs are the previous decision's Hogs: such an app stays a hog
	// while it uses at least Config.HogKeepCPUPercent, below the
	// HogCPUPercent it took to become one (once moved, it gets less CPU).
	// Sorted; nil for none.
	PrevHogs []int32
	// NiceBefore are nice values from before the caller changed them,
	// sorted by pid: the plan reads a listed process's nice value here
	// rather than in Processes, so that a boost in force still reads as
	// one to make. Nil for none.
	NiceBefore []PIDNice
	// CPUSetGroups are the groups (GroupForeground, GroupBackground)
	// whose cgroup.cpuset the caller can set: the knob inventory's
	// writable cgroup.cpuset targets. A process the plan moves into one
	// of them, onto the group's CPUs, gets no affinity of its own: the
	// group's cpuset holds it there (the kernel sets a task's affinity
	// to its cpuset's CPUs when it joins). For the other groups, and
	// with nil, every planned process gets its affinity too, so the
	// split holds where cgroups cannot carry it (no cpuset controller,
	// a cgroup v1 host without the cpuset mount).
	CPUSetGroups []string
}

// PIDNice is one process's nice value, for Input.NiceBefore.
type PIDNice struct {
	PID, Nice int32
}

// niceOf returns pr's nice value, from before (sorted by pid) if it is
// there.
func niceOf(pr *Process, before []PIDNice) int32 {
	if len(before) == 0 {
		return pr.Nice
	}
	if i, ok := slices.BinarySearchFunc(before, pr.PID, func(x PIDNice, pid int32) int { return cmp.Compare(x.PID, pid) }); ok {
		return before[i].Nice
	}
	return pr.Nice
}

// sortedByPID reports whether nice is sorted by pid, as a caller should
// pass it (slices.IsSortedFunc would call a comparison per pair).
func sortedByPID(nice []PIDNice) bool {
	for i := 1; i < len(nice); i++ {
		if nice[i].PID < nice[i-1].PID {
			return false
		}
	}
	return true
}

// Decision is the coordinator's output for one tick. Treat it as
// read-only: decisions of ticks that planned the same share their Apps
// (and the apps their PIDs), CPU lists, Notes and Hogs. The Apps of
// PlanShared are the exception: they hold until the Coordinator's next
// PlanShared, which may write new CPUPercent and RSSBytes in them.
type Decision struct {
	// Scenario names the policy applied: one of the Scenario constants,
	// or ScenarioForegroundPrefix and a class.
	Scenario string
	// Apps are the apps found, sorted by root pid.
	Apps []App
	// Foreground indexes Apps, or is -1; ForegroundBy says why it was
	// chosen ("registered, priority 5", "busiest game").
	Foreground   int
	ForegroundBy string
	// FirstCPUs and RestCPUs are the core split, when one was made: the
	// foreground's (or, for render + compile, the renderer's) CPUs and
	// everyone else's.
	FirstCPUs, RestCPUs []int
	// Actions are the desired settings: cgroup group settings first, then
	// per process in pid order. Each carries its reasons, the scenario's
	// summary first. The actions of one app share one Reasons slice
	// (with no spare capacity, so an append copies it): treat Reasons as
	// read-only.
	Actions []*gamesav1.Action
	// Notes say what was left undone and why (too few CPUs to split, a
	// reservation that did not fit).
	Notes []string
	// Hogs are the roots of the busy apps moved out of the foreground's
	// way, sorted: the next Input's PrevHogs.
	Hogs []int32
}

// ForegroundApp returns the foreground app, or nil.
func (d *Decision) ForegroundApp() *App {
	if d.Foreground < 0 || d.Foreground >= len(d.Apps) {
		return nil
	}
	return &d.Apps[d.Foreground]
}

// role is what the plan does to one app's processes.
type role struct {
	set    bool
	group  string
	cpus   []int
	nice   int
	hasNi  bool
	ioprio string
	why    *text
	// Filled by emit, once per app rather than once per process, and
	// only for an app that gets an action. affinity is set when its
	// processes need an affinity of their own (no group's cpuset holds
	// them on cpus).
	used               bool
	affinity           bool
	cpuList, niceValue string
	reasons            []string
}

type planner struct {
	c       *Coordinator
	b       *appBuilder
	d       *Decision
	roles   []role
	summary string
	// hogCPUs are where busy and background apps run after a split.
	hogCPUs []int
	// prevHogs are the roots of the apps the caller's previous decision
	// moved out of the way (Input.PrevHogs), sorted.
	prevHogs []int32
	// cpusetGroups are Input.CPUSetGroups.
	cpusetGroups []string
}

// Plan classifies in.Processes, picks the foreground and the scenario,
// and returns the settings the scenario asks for.
//
// The foreground is the registered app of highest priority (then most
// recent) among those present; without one, the busiest game app. No
// fullscreen or focus hint is used: the agent has no display connection,
// and a compositor would have to tell it.
func (c *Coordinator) Plan(in Input) Decision {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, settings := c.plan(in, false)
	acts := make([]*gamesav1.Action, len(settings))
	slab := make([]gamesav1.Action, len(settings))
	for i, st := range settings {
		a := &slab[i]
		a.Knob, a.Target, a.Value, a.Reasons = st.Knob, st.Target, st.Value, st.Reasons
		acts[i] = a
	}
	d.Actions = acts
	return d
}

// Setting is one desired setting, as an Action carries it.
type Setting struct {
	Knob, Target, Value string
	// Reasons are shared between settings and between ticks, as an
	// Action's are: read-only.
	Reasons []string
}

// PlanSettings is Plan for a caller that consumes the settings rather
// than keeps the Actions (the policy pipeline, once a tick): it appends
// them to buf, in the order of Decision.Actions, and leaves
// Decision.Actions nil. Reusing buf from tick to tick, a steady machine's
// plan allocates nothing: not even the Decision's Apps, which are the
// last tick's while they read the same. The settings' strings and
// reasons may be kept.
func (c *Coordinator) PlanSettings(in Input, buf []Setting) (Decision, []Setting) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, settings := c.plan(in, false)
	return d, append(buf, settings...)
}

// PlanShared is PlanSettings for a caller that reads the settings, and
// the Decision's Apps, only until the Coordinator's next PlanShared:
// they are the Coordinator's own, not copies. A plan that holds from one
// call to the next (a steady machine's) returns the very list of the
// last call; the apps of a grouping that holds are the last call's too,
// with the sums of this one written in (on a live machine only CPU use
// and memory change from tick to tick). Treat both as read-only; the
// settings' strings and reasons, and the apps' strings and PIDs, may be
// kept.
//
// It also returns the plan's serial number, new with every plan the
// Coordinator makes, for whichever caller: a call that returns the
// serial of an earlier one returned that call's very settings,
// unchanged, so a caller that keeps what it made of them may use it
// again.
func (c *Coordinator) PlanShared(in Input) (Decision, []Setting, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, settings := c.plan(in, true)
	return d, settings, c.scratch.plan.serial
}

// plan is Plan with the settings in the plan memo's list (read-only,
// until the next plan), and for a shared caller (PlanShared) the apps
// too. The caller holds c.mu.
func (c *Coordinator) plan(in Input, shared bool) (Decision, []Setting) {
	regs := in.Registrations
	if len(regs) > 1 {
		regs = slices.Clone(regs)
		sortRegistrations(regs)
	}
	before := in.NiceBefore
	if !sortedByPID(before) {
		before = slices.SortedFunc(slices.Values(before), func(x, y PIDNice) int { return cmp.Compare(x.PID, y.PID) })
	}
	b := c.group(in.Processes, regs, before, shared)
	s := &c.scratch
	if m := &s.plan; m.holds(c, &in, before, b.apps) {
		d := m.d
		d.Apps = b.apps
		s.builder = appBuilder{}
		return d, m.settings
	}
	s.texts.next()
	s.roles = grow(s.roles, len(b.apps))
	clear(s.roles)
	// The Decision is made in the scratch, and copied out: planning
	// through a pointer to a local one would move it to the heap.
	s.decision = Decision{Scenario: ScenarioNone, Apps: b.apps, Foreground: -1}
	s.hogs = s.hogs[:0]
	p := &planner{c: c, b: b, d: &s.decision, roles: s.roles, prevHogs: in.PrevHogs, cpusetGroups: in.CPUSetGroups}
	p.pickForeground(regs)

	fg := p.d.ForegroundApp()
	switch {
	case fg != nil && fg.Class == ClassGame:
		p.game(in.Topology)
	case p.has(ClassRenderer) && p.has(ClassCompiler):
		p.renderCompile(in.Topology)
	case p.has(ClassBrowser) && p.has(ClassIDE):
		p.browserIDE()
	case fg != nil:
		p.foreground()
	}
	p.background()
	// The settings are planned in the spare list, which the memo then
	// takes in exchange for its old one: no copy either way.
	out := p.emit(s.settings[:0])
	d := s.decision
	if len(s.hogs) > 0 {
		d.Hogs = slices.Clone(s.hogs)
	}
	s.decision, s.builder = Decision{}, appBuilder{}
	s.settings = s.plan.store(c, &in, before, d, out)
	return d, out
}

func (p *planner) pickForeground(regs []Registration) {
	d := p.d
	for _, r := range regs {
		for i := range d.Apps {
			if a := &d.Apps[i]; a.Registered && a.Root == r.PID {
				d.Foreground = i
				d.ForegroundBy = p.sprintf("registered, priority %d", integer(int(r.Priority)))
				return
			}
		}
	}
	if d.Foreground = busiestGame(d.Apps); d.Foreground >= 0 {
		d.ForegroundBy = byBusiestGame
	}
}

// byBusiestGame is Decision.ForegroundBy for a foreground picked by its
// CPU use.
const byBusiestGame = "busiest game"

// busiestGame returns the game app of most CPU use, -1 for none.
func busiestGame(apps []App) int {
	busiest := -1
	for i := range apps {
		a := &apps[i]
		if a.Class != ClassGame {
			continue
		}
		// Apps are in root-pid order, so a tie keeps the lower pid.
		if busiest < 0 || a.CPUPercent > apps[busiest].CPUPercent {
			busiest = i
		}
	}
	return busiest
}

func (p *planner) has(c Class) bool {
	for i := range p.d.Apps {
		if p.d.Apps[i].Class == c {
			return true
		}
	}
	return false
}

// text returns fmt.Sprintf(format, args...), memoized: see texts.
func (p *planner) text(format string, args ...arg) *text {
	return p.c.scratch.texts.get(format, args...)
}

// sprintf is text's string.
func (p *planner) sprintf(format string, args ...arg) string {
	return p.text(format, args...).s
}

// cpuList is cpulist.Format, memoized.
func (p *planner) cpuList(cpus []int) string { return p.c.scratch.cpuLists.format(cpus) }

func (p *planner) note(format string, args ...arg) {
	p.d.Notes = append(p.d.Notes, p.sprintf(format, args...))
}

// isHog reports whether app i is a busy app to move out of the
// foreground's way: one busy enough (busyApp) that no scenario gave a
// role, nor the foreground.
func (p *planner) isHog(i int) bool {
	return i != p.d.Foreground && !p.roles[i].set && p.c.busyApp(&p.d.Apps[i], p.prevHogs)
}

// busyApp reports whether a's CPU use makes it a hog, given the roots of
// the previous hogs (sorted): all that the choice of the hogs reads of
// its CPU use. Games (a second Wine server, say), the desktop, voice
// chat, encoders and background services never are.
func (c *Coordinator) busyApp(a *App, prevHogs []int32) bool {
	switch a.Class {
	case ClassGame, ClassDesktop, ClassVoiceChat, ClassStreamer, ClassBackground:
		return false
	}
	if a.CPUPercent >= c.cfg.HogCPUPercent {
		return true
	}
	if !(a.CPUPercent >= c.cfg.HogKeepCPUPercent) {
		return false // quiet (or not a number), whatever it was: spare the search
	}
	// Moved out of the way, a hog uses less: it stays a hog until it
	// really quietens, or it would bounce between the groups.
	_, was := slices.BinarySearch(prevHogs, a.Root)
	return was
}

// hog gives app i the background role of a hog and records it in
// Decision.Hogs.
func (p *planner) hog(i int, r role) {
	p.roles[i] = r
	s := &p.c.scratch
	s.hogs = append(s.hogs, p.d.Apps[i].Root)
}

func (p *planner) game(t Topology) {
	cfg := &p.c.cfg
	s := &p.c.scratch
	d := p.d
	fg := d.Foreground
	voice, streamer := s.voice[:0], s.streamer[:0]
	for i := range d.Apps {
		switch c := d.Apps[i].Class; {
		case i == fg:
		case c == ClassVoiceChat:
			voice = append(voice, i)
		case c == ClassStreamer:
			streamer = append(streamer, i)
		}
	}
	s.voice, s.streamer = voice, streamer
	d.Scenario = ScenarioGame
	share := cfg.GameCoreShare
	switch {
	case len(streamer) > 0 && len(voice) > 0:
		d.Scenario, share = ScenarioStreamGameVoice, cfg.StreamGameCoreShare
	case len(streamer) > 0:
		d.Scenario, share = ScenarioStreamGame, cfg.StreamGameCoreShare
	case len(voice) > 0:
		d.Scenario = ScenarioGameVoice
	}
	game := &d.Apps[fg]
	sp, ok := s.split.get(t, share)
	var hogCPUs, rest []int
	summary := s.parts[:0]
	if ok {
		d.FirstCPUs, d.RestCPUs = cloneSplit(sp)
		rest = sp.rest
		hogCPUs = rest
		summary = append(summary, p.sprintf("%s gets CPUs %s (%s)", str(game.Name), str(p.cpuList(sp.first)), str(sp.why)))
		// Reservations come off the top of the rest; the hogs keep at
		// least one CPU, for background work must still progress.
		reserve := func(who string, n int) {
			n = min(n, len(hogCPUs)-1)
			if n <= 0 {
				p.note("%s: no CPU to reserve beside %s for the others; its priority keeps it ahead of them", str(who), str(p.cpuList(hogCPUs)))
				return
			}
			got := hogCPUs[len(hogCPUs)-n:]
			hogCPUs = hogCPUs[:len(hogCPUs)-n]
			summary = append(summary, p.sprintf("%s keeps CPUs %s", str(who), str(p.cpuList(got))))
		}
		if len(streamer) > 0 {
			reserve(p.names(streamer), streamerCPUs(d.Apps))
		}
		if len(voice) > 0 && cfg.VoiceReserveCPUs > 0 {
			reserve(p.names(voice), cfg.VoiceReserveCPUs)
		}
		if len(hogCPUs) > 0 {
			summary = append(summary, p.sprintf("the rest run on CPUs %s", str(p.cpuList(hogCPUs))))
		}
	} else {
		if len(t.CPUs) == 0 {
			p.note("no CPU topology: no core split, priorities only")
		} else {
			p.note("%d physical core(s): no core split, priorities only", integer(s.split.cores))
		}
		summary = append(summary, p.sprintf("%s first by priority (no core to spare)", str(game.Name)))
	}
	p.summary = p.join(d.Scenario, summary)
	clear(summary)
	s.parts = summary[:0]

	p.roles[fg] = role{set: true, group: GroupForeground, cpus: d.FirstCPUs, nice: cfg.GameNice, hasNi: true, ioprio: cfg.GameIOPrio,
		why: p.text("%s is the foreground game (%s; %s)", str(game.Name), str(d.ForegroundBy), str(p.ruleOf(game)))}
	for _, i := range voice {
		p.roles[i] = role{set: true, cpus: rest, nice: cfg.VoiceNice, hasNi: true, ioprio: cfg.VoiceIOPrio,
			why: p.text("voice chat %s beside the game: off the game's cores, ahead of the rest (nice %d)", str(d.Apps[i].Name), integer(cfg.VoiceNice))}
	}
	for _, i := range streamer {
		p.roles[i] = role{set: true, cpus: rest, nice: cfg.StreamerNice, hasNi: true, ioprio: cfg.StreamerIOPrio,
			why: p.text("encoder %s beside the game: off the game's cores, ahead of the rest (nice %d)", str(d.Apps[i].Name), integer(cfg.StreamerNice))}
	}
	for i := range d.Apps {
		if p.isHog(i) {
			p.hog(i, role{set: true, group: GroupBackground, cpus: hogCPUs, nice: cfg.HogNice, hasNi: true, ioprio: cfg.HogIOPrio,
				why: p.hogWhy(&d.Apps[i], "the game")})
		}
	}
	p.hogCPUs = hogCPUs
}

// streamerCPUs is the number of CPUs to reserve for the encoders beside a
// game: enough for the CPU use of them all, at least one. (The
// foreground, a game, is never one of them.)
func streamerCPUs(apps []App) int {
	var cpu float64
	for i := range apps {
		if apps[i].Class == ClassStreamer {
			cpu += apps[i].CPUPercent
		}
	}
	return max(1, int(math.Ceil(cpu/100)))
}

// hogWhy is a hog's reason: the rule that made it one, not the CPU use it
// has now (the App carries that), so that the reason, and every setting
// that carries it, holds while the app stays a hog.
func (p *planner) hogWhy(a *App, beside string) *text {
	cfg := &p.c.cfg
	return p.text("%s %s is a CPU hog beside %s (%.0f%% CPU or more, kept until below %.0f%%)",
		str(a.Class.label()), str(a.Name), str(beside), float(cfg.HogCPUPercent), float(cfg.HogKeepCPUPercent))
}

// cloneSplit copies a split's CPU lists for a Decision, which the caller
// keeps, out of the memo, which the next tick reads: one allocation.
func cloneSplit(sp split) (first, rest []int) {
	both := append(append(make([]int, 0, len(sp.first)+len(sp.rest)), sp.first...), sp.rest...)
	return both[:len(sp.first):len(sp.first)], both[len(sp.first):]
}

// join writes a scenario's summary: "scenario: part, part".
func (p *planner) join(scenario string, parts []string) string {
	all := ""
	for k, part := range parts {
		if k == 0 {
			all = part
		} else {
			all = p.sprintf("%s, %s", str(all), str(part))
		}
	}
	return p.sprintf("%s: %s", str(scenario), str(all))
}

func (p *planner) renderCompile(t Topology) {
	d := p.d
	d.Scenario = ScenarioRenderCompile
	var r, c []int
	for i := range d.Apps {
		switch d.Apps[i].Class {
		case ClassRenderer:
			r = append(r, i)
		case ClassCompiler:
			c = append(c, i)
		}
	}
	share := renderShare(d.Apps)
	sp, ok := p.c.scratch.split.get(t, share)
	if !ok {
		p.note("%d physical core(s): no core split between the renderer and the compiler", integer(p.c.scratch.split.cores))
		p.summary = p.sprintf("%s: both share the CPUs (no core to spare)", str(d.Scenario))
		return
	}
	d.FirstCPUs, d.RestCPUs = cloneSplit(sp)
	renderer := p.sprintf("%s gets CPUs %s (%s; %.0f%% of the demand)", str(p.names(r)), str(p.cpuList(sp.first)), str(sp.why), float(100*share))
	compiler := p.sprintf("%s gets CPUs %s", str(p.names(c)), str(p.cpuList(sp.rest)))
	p.summary = p.sprintf("%s: %s, %s, so neither evicts the other's cache", str(d.Scenario), str(renderer), str(compiler))
	for _, i := range r {
		p.roles[i] = role{set: true, cpus: sp.first, why: p.text("renderer %s (%s)", str(d.Apps[i].Name), str(p.ruleOf(&d.Apps[i])))}
	}
	// Children inherit affinity at fork: setting it on the build driver
	// covers the compiler processes it starts after this tick.
	for _, i := range c {
		p.roles[i] = role{set: true, cpus: sp.rest, why: p.text("compiler %s (%s)", str(d.Apps[i].Name), str(p.ruleOf(&d.Apps[i])))}
	}
	p.foregroundBoost()
}

// renderShare is the renderers' share of the CPU use of the renderers
// and the compilers, within 1-99 %: their share of the cores.
func renderShare(apps []App) float64 {
	var rCPU, cCPU float64
	for i := range apps {
		switch a := &apps[i]; a.Class {
		case ClassRenderer:
			rCPU += a.CPUPercent
		case ClassCompiler:
			cCPU += a.CPUPercent
		}
	}
	if !(rCPU+cCPU > 0) {
		return 0.5
	}
	return min(max(rCPU/(rCPU+cCPU), 0.01), 0.99)
}

// foregroundBoost raises a registered foreground that a scenario left
// without a role of its own priority.
func (p *planner) foregroundBoost() {
	fg := p.d.Foreground
	if fg < 0 || !p.d.Apps[fg].Registered {
		return
	}
	r := &p.roles[fg]
	r.set, r.group, r.nice, r.hasNi, r.ioprio = true, GroupForeground, p.c.cfg.ForegroundNice, true, p.c.cfg.ForegroundIOPrio
	r.why = p.text("%s is the foreground (%s)", str(p.d.Apps[fg].Name), str(p.d.ForegroundBy))
}

func (p *planner) browserIDE() {
	cfg := &p.c.cfg
	d := p.d
	d.Scenario = ScenarioBrowserIDE
	var ides, browsers []int
	for i, a := range d.Apps {
		switch a.Class {
		case ClassIDE:
			ides = append(ides, i)
		case ClassBrowser:
			browsers = append(browsers, i)
		}
	}
	p.summary = p.sprintf("%s: %s keeps the keyboard responsive (nice %d, cgroup weight %d); %s keeps its default share; priorities only, no core split",
		str(d.Scenario), str(p.names(ides)), integer(cfg.ForegroundNice), integer(cfg.ForegroundWeight), str(p.names(browsers)))
	for _, i := range ides {
		p.roles[i] = role{set: true, group: GroupForeground, nice: cfg.ForegroundNice, hasNi: true, ioprio: cfg.ForegroundIOPrio,
			why: p.text("IDE %s (%s)", str(d.Apps[i].Name), str(p.ruleOf(&d.Apps[i])))}
	}
	p.foregroundBoost()
}

func (p *planner) foreground() {
	cfg := &p.c.cfg
	d := p.d
	fg := &d.Apps[d.Foreground]
	d.Scenario = ScenarioForegroundPrefix + fg.Class.String()
	p.summary = p.sprintf("%s: %s first (nice %d, cgroup weight %d), busy apps behind it; priorities only", str(d.Scenario), str(fg.Name), integer(cfg.ForegroundNice), integer(cfg.ForegroundWeight))
	p.foregroundBoost()
	for i := range d.Apps {
		if p.isHog(i) {
			p.hog(i, role{set: true, group: GroupBackground, nice: cfg.HogNice, hasNi: true, ioprio: cfg.HogIOPrio,
				why: p.hogWhy(&d.Apps[i], "the foreground")})
		}
	}
}

// background moves every background service that no scenario gave a
// role to the background group, at low CPU and idle I/O priority.
func (p *planner) background() {
	cfg := &p.c.cfg
	for i := range p.d.Apps {
		a := &p.d.Apps[i]
		if a.Class != ClassBackground || p.roles[i].set || i == p.d.Foreground {
			continue
		}
		p.roles[i] = role{set: true, group: GroupBackground, cpus: p.hogCPUs, nice: cfg.BackgroundNice, hasNi: true, ioprio: cfg.BackgroundIOPrio,
			why: p.text("background service %s (%s)", str(a.Name), str(p.ruleOf(a)))}
	}
}

// names lists the apps' names, comma-separated.
func (p *planner) names(idx []int) string {
	all := ""
	for k, i := range idx {
		if k == 0 {
			all = p.d.Apps[i].Name
		} else {
			all = p.sprintf("%s, %s", str(all), str(p.d.Apps[i].Name))
		}
	}
	return all
}

// ruleOf says how an app's class was found, for its reasons.
func (p *planner) ruleOf(a *App) string {
	if a.Rule == "" {
		return "unclassified"
	}
	if a.Rule == "registered" || a.Rule == "workload classifier" {
		return a.Rule
	}
	return p.sprintf("rule %q", str(a.Rule))
}

// emit appends the roles' settings to out: group settings, then per
// process in pid order. Each app's values and reasons are made once, and
// kept from tick to tick while they do not change.
func (p *planner) emit(out []Setting) []Setting {
	cfg := &p.c.cfg
	d := p.d
	s := &p.c.scratch
	procs := p.b.procs
	summary := p.summary
	if summary == "" {
		summary = p.sprintf("%s: background services behind everything else", str(d.Scenario))
	}
	var fgUsed, bgUsed bool
	for i := range d.Apps {
		r := &p.roles[i]
		fgUsed = fgUsed || (r.set && r.group == GroupForeground)
		bgUsed = bgUsed || (r.set && r.group == GroupBackground)
	}
	group := func(knob, target, value, why string) {
		out = append(out, Setting{Knob: knob, Target: target, Value: value, Reasons: p.text(why).reasonsWith(summary)})
	}
	// The CPUs each group's cpuset holds its members on, nil for none.
	var fgCPUs, bgCPUs []int
	if fgUsed {
		group(KnobCgroupWeight, GroupForeground, p.sprintf("%d", integer(cfg.ForegroundWeight)), "the foreground group's CPU weight")
		if d.Scenario != ScenarioRenderCompile && len(d.FirstCPUs) > 0 {
			group(KnobCgroupCPUSet, GroupForeground, p.cpuList(d.FirstCPUs), "the foreground's cores")
			fgCPUs = p.carried(GroupForeground, d.FirstCPUs)
		}
	}
	if bgUsed {
		group(KnobCgroupWeight, GroupBackground, p.sprintf("%d", integer(cfg.BackgroundWeight)), "the background group's CPU weight")
		if len(p.hogCPUs) > 0 {
			group(KnobCgroupCPUSet, GroupBackground, p.cpuList(p.hogCPUs), "the background's cores")
			bgCPUs = p.carried(GroupBackground, p.hogCPUs)
		}
	}
	before := p.b.niceBefore // sorted by pid, as s.byPID: read in step
	for _, i := range s.byPID {
		a, pr := s.app[i], &procs[i]
		if a < 0 || !p.roles[a].set || !plannable(pr) {
			continue
		}
		r := &p.roles[a]
		cur := pr.Nice
		for len(before) > 0 && before[0].PID < pr.PID {
			before = before[1:]
		}
		if len(before) > 0 && before[0].PID == pr.PID {
			cur = before[0].Nice
		}
		nice := r.hasNi && niceWanted(int(cur), r.nice)
		if r.group == "" && len(r.cpus) == 0 && !nice && r.ioprio == "" {
			continue
		}
		if !r.used {
			r.used = true
			r.reasons = r.why.reasonsWith(summary)
			r.affinity = len(r.cpus) > 0 && !heldBy(r, fgCPUs, bgCPUs)
			r.cpuList = p.cpuList(r.cpus)
			if r.hasNi {
				r.niceValue = p.sprintf("%d", integer(max(r.nice, cfg.MinNice)))
			}
		}
		target := s.targetOf(i)
		if r.group != "" {
			out = append(out, Setting{Knob: KnobCgroupMember, Target: target, Value: r.group, Reasons: r.reasons})
		}
		if r.affinity {
			out = append(out, Setting{Knob: KnobAffinity, Target: target, Value: r.cpuList, Reasons: r.reasons})
		}
		if nice {
			out = append(out, Setting{Knob: KnobNice, Target: target, Value: r.niceValue, Reasons: r.reasons})
		}
		if r.ioprio != "" {
			out = append(out, Setting{Knob: KnobIOPrio, Target: target, Value: r.ioprio, Reasons: r.reasons})
		}
	}
	return out
}

// carried returns cpus when the caller can set group's cpuset
// (Input.CPUSetGroups), so that the group's cpuset holds its members on
// them; nil otherwise.
func (p *planner) carried(group string, cpus []int) []int {
	if slices.Contains(p.cpusetGroups, group) {
		return cpus
	}
	return nil
}

// heldBy reports whether r's group's cpuset (fgCPUs or bgCPUs, from
// carried) holds r's processes on r's CPUs.
func heldBy(r *role, fgCPUs, bgCPUs []int) bool {
	switch r.group {
	case GroupForeground:
		return fgCPUs != nil && slices.Equal(r.cpus, fgCPUs)
	case GroupBackground:
		return bgCPUs != nil && slices.Equal(r.cpus, bgCPUs)
	}
	return false
}

// plannable leaves out pid 1 and kernel threads (children of kthreadd,
// pid 2), which the actuators would refuse anyway.
func plannable(p *Process) bool {
	return p.PID > 2 && p.PPID != 2
}

// niceWanted reports whether moving from cur to want is the plan's
// business: a boost only for a process not already at or above it, a
// demotion only for one not already at or below it.
func niceWanted(cur, want int) bool {
	if want <= 0 {
		return cur > want
	}
	return cur < want
}
