package coord

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
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
// changed process is matched again) and its working buffers, which is
// what lets a tick over an unchanged process list skip the rule tests.
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
}

// Decision is the coordinator's output for one tick.
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
	why    string
	// Filled by emit, once per app rather than once per process, and
	// only for an app that gets an action.
	used               bool
	cpuList, niceValue string
	reasons            []string
}

// member is one planned process: its pid, app and position in the
// tick's process list, and the end of its target in emit's buffer.
type member struct {
	pid, app, pos, end int32
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
}

// Plan classifies in.Processes, picks the foreground and the scenario,
// and returns the settings the scenario asks for.
//
// The foreground is the registered app of highest priority (then most
// recent) among those present; without one, the busiest game app. No
// fullscreen or focus hint is used: the agent has no display connection,
// and a compositor would have to tell it.
func (c *Coordinator) Plan(in Input) Decision {
	regs := in.Registrations
	if len(regs) > 1 {
		regs = slices.Clone(regs)
		sortRegistrations(regs)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.group(in.Processes, regs)
	d := Decision{Scenario: ScenarioNone, Apps: b.apps, Foreground: -1}
	s := &c.scratch
	s.roles = grow(s.roles, len(b.apps))
	clear(s.roles)
	p := &planner{c: c, b: b, d: &d, roles: s.roles, prevHogs: in.PrevHogs}
	p.pickForeground(regs)

	fg := d.ForegroundApp()
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
	p.emit()
	return d
}

func (p *planner) pickForeground(regs []Registration) {
	d := p.d
	for _, r := range regs {
		for i := range d.Apps {
			if a := &d.Apps[i]; a.Registered && a.Root == r.PID {
				d.Foreground = i
				d.ForegroundBy = fmt.Sprintf("registered, priority %d", r.Priority)
				return
			}
		}
	}
	for i := range d.Apps {
		a := &d.Apps[i]
		if a.Class != ClassGame {
			continue
		}
		// Apps are in root-pid order, so a tie keeps the lower pid.
		if d.Foreground < 0 || a.CPUPercent > d.Apps[d.Foreground].CPUPercent {
			d.Foreground = i
		}
	}
	if d.Foreground >= 0 {
		d.ForegroundBy = "busiest game"
	}
}

func (p *planner) has(c Class) bool {
	return slices.ContainsFunc(p.d.Apps, func(a App) bool { return a.Class == c })
}

func (p *planner) note(format string, args ...any) {
	p.d.Notes = append(p.d.Notes, fmt.Sprintf(format, args...))
}

// isHog reports whether app i is a busy app to move out of the
// foreground's way. Games (a second Wine server, say), the desktop,
// voice chat and encoders never are.
func (p *planner) isHog(i int) bool {
	a := &p.d.Apps[i]
	if i == p.d.Foreground || p.roles[i].set {
		return false
	}
	switch a.Class {
	case ClassGame, ClassDesktop, ClassVoiceChat, ClassStreamer, ClassBackground:
		return false
	}
	cfg := &p.c.cfg
	if a.CPUPercent >= cfg.HogCPUPercent {
		return true
	}
	// Moved out of the way, a hog uses less: it stays a hog until it
	// really quietens, or it would bounce between the groups.
	_, was := slices.BinarySearch(p.prevHogs, a.Root)
	return was && a.CPUPercent >= cfg.HogKeepCPUPercent
}

// hog gives app i the background role of a hog and records it in
// Decision.Hogs.
func (p *planner) hog(i int, r role) {
	p.roles[i] = r
	p.d.Hogs = append(p.d.Hogs, p.d.Apps[i].Root)
}

func (p *planner) game(t Topology) {
	cfg := &p.c.cfg
	d := p.d
	fg := d.Foreground
	var voice, streamer []int
	for i, a := range d.Apps {
		switch {
		case i == fg:
		case a.Class == ClassVoiceChat:
			voice = append(voice, i)
		case a.Class == ClassStreamer:
			streamer = append(streamer, i)
		}
	}
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
	sp, ok := splitCores(t, share)
	var hogCPUs, rest []int
	var summary []string
	if ok {
		d.FirstCPUs, d.RestCPUs = sp.first, sp.rest
		rest = sp.rest
		hogCPUs = rest
		summary = append(summary, fmt.Sprintf("%s gets CPUs %s (%s)", game.Name, FormatCPUList(sp.first), sp.why))
		// Reservations come off the top of the rest; the hogs keep at
		// least one CPU, for background work must still progress.
		reserve := func(who string, n int) {
			n = min(n, len(hogCPUs)-1)
			if n <= 0 {
				p.note("%s: no CPU to reserve beside %s for the others; its priority keeps it ahead of them", who, FormatCPUList(hogCPUs))
				return
			}
			got := hogCPUs[len(hogCPUs)-n:]
			hogCPUs = hogCPUs[:len(hogCPUs)-n]
			summary = append(summary, fmt.Sprintf("%s keeps CPUs %s", who, FormatCPUList(got)))
		}
		if len(streamer) > 0 {
			var cpu float64
			for _, i := range streamer {
				cpu += d.Apps[i].CPUPercent
			}
			reserve(p.names(streamer), max(1, int(math.Ceil(cpu/100))))
		}
		if len(voice) > 0 && cfg.VoiceReserveCPUs > 0 {
			reserve(p.names(voice), cfg.VoiceReserveCPUs)
		}
		if len(hogCPUs) > 0 {
			summary = append(summary, fmt.Sprintf("the rest run on CPUs %s", FormatCPUList(hogCPUs)))
		}
	} else {
		if len(t.CPUs) == 0 {
			p.note("no CPU topology: no core split, priorities only")
		} else {
			p.note("%d physical core(s): no core split, priorities only", len(t.Cores()))
		}
		summary = append(summary, fmt.Sprintf("%s first by priority (no core to spare)", game.Name))
	}
	p.summary = d.Scenario + ": " + strings.Join(summary, ", ")

	p.roles[fg] = role{set: true, group: GroupForeground, cpus: d.FirstCPUs, nice: cfg.GameNice, hasNi: true, ioprio: cfg.GameIOPrio,
		why: fmt.Sprintf("%s is the foreground game (%s; %s)", game.Name, d.ForegroundBy, ruleOf(game))}
	for _, i := range voice {
		p.roles[i] = role{set: true, cpus: rest, nice: cfg.VoiceNice, hasNi: true, ioprio: cfg.VoiceIOPrio,
			why: fmt.Sprintf("voice chat %s beside the game: off the game's cores, ahead of the rest (nice %d)", d.Apps[i].Name, cfg.VoiceNice)}
	}
	for _, i := range streamer {
		p.roles[i] = role{set: true, cpus: rest, nice: cfg.StreamerNice, hasNi: true, ioprio: cfg.StreamerIOPrio,
			why: fmt.Sprintf("encoder %s beside the game: off the game's cores, ahead of the rest (nice %d)", d.Apps[i].Name, cfg.StreamerNice)}
	}
	for i := range d.Apps {
		if p.isHog(i) {
			a := &d.Apps[i]
			p.hog(i, role{set: true, group: GroupBackground, cpus: hogCPUs, nice: cfg.HogNice, hasNi: true, ioprio: cfg.HogIOPrio,
				why: fmt.Sprintf("%s %s uses %.0f%% CPU beside the game", a.Class.label(), a.Name, a.CPUPercent)})
		}
	}
	p.hogCPUs = hogCPUs
}

func (p *planner) renderCompile(t Topology) {
	d := p.d
	d.Scenario = ScenarioRenderCompile
	var r, c []int
	var rCPU, cCPU float64
	for i, a := range d.Apps {
		switch a.Class {
		case ClassRenderer:
			r, rCPU = append(r, i), rCPU+a.CPUPercent
		case ClassCompiler:
			c, cCPU = append(c, i), cCPU+a.CPUPercent
		}
	}
	share := 0.5
	if rCPU+cCPU > 0 {
		share = min(max(rCPU/(rCPU+cCPU), 0.01), 0.99)
	}
	sp, ok := splitCores(t, share)
	if !ok {
		p.note("%d physical core(s): no core split between the renderer and the compiler", len(t.Cores()))
		p.summary = d.Scenario + ": both share the CPUs (no core to spare)"
		return
	}
	d.FirstCPUs, d.RestCPUs = sp.first, sp.rest
	p.summary = fmt.Sprintf("%s: %s gets CPUs %s (%s; %.0f%% of the demand), %s gets CPUs %s, so neither evicts the other's cache",
		d.Scenario, p.names(r), FormatCPUList(sp.first), sp.why, 100*share, p.names(c), FormatCPUList(sp.rest))
	for _, i := range r {
		p.roles[i] = role{set: true, cpus: sp.first, why: fmt.Sprintf("renderer %s (%s)", d.Apps[i].Name, ruleOf(&d.Apps[i]))}
	}
	// Children inherit affinity at fork: setting it on the build driver
	// covers the compiler processes it starts after this tick.
	for _, i := range c {
		p.roles[i] = role{set: true, cpus: sp.rest, why: fmt.Sprintf("compiler %s (%s)", d.Apps[i].Name, ruleOf(&d.Apps[i]))}
	}
	p.foregroundBoost()
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
	r.why = fmt.Sprintf("%s is the foreground (%s)", p.d.Apps[fg].Name, p.d.ForegroundBy)
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
	p.summary = fmt.Sprintf("%s: %s keeps the keyboard responsive (nice %d, cgroup weight %d); %s keeps its default share; priorities only, no core split",
		d.Scenario, p.names(ides), cfg.ForegroundNice, cfg.ForegroundWeight, p.names(browsers))
	for _, i := range ides {
		p.roles[i] = role{set: true, group: GroupForeground, nice: cfg.ForegroundNice, hasNi: true, ioprio: cfg.ForegroundIOPrio,
			why: fmt.Sprintf("IDE %s (%s)", d.Apps[i].Name, ruleOf(&d.Apps[i]))}
	}
	p.foregroundBoost()
}

func (p *planner) foreground() {
	cfg := &p.c.cfg
	d := p.d
	fg := &d.Apps[d.Foreground]
	d.Scenario = ScenarioForegroundPrefix + fg.Class.String()
	p.summary = fmt.Sprintf("%s: %s first (nice %d, cgroup weight %d), busy apps behind it; priorities only", d.Scenario, fg.Name, cfg.ForegroundNice, cfg.ForegroundWeight)
	p.foregroundBoost()
	for i := range d.Apps {
		if p.isHog(i) {
			a := &d.Apps[i]
			p.hog(i, role{set: true, group: GroupBackground, nice: cfg.HogNice, hasNi: true, ioprio: cfg.HogIOPrio,
				why: fmt.Sprintf("%s %s uses %.0f%% CPU beside the foreground", a.Class.label(), a.Name, a.CPUPercent)})
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
			why: fmt.Sprintf("background service %s (%s)", a.Name, ruleOf(a))}
	}
}

func (p *planner) names(idx []int) string {
	var b strings.Builder
	for k, i := range idx {
		if k > 0 {
			b.WriteString(", ")
		}
		b.WriteString(p.d.Apps[i].Name)
	}
	return b.String()
}

func ruleOf(a *App) string {
	if a.Rule == "" {
		return "unclassified"
	}
	if a.Rule == "registered" || a.Rule == "workload classifier" {
		return a.Rule
	}
	return "rule " + strconv.Quote(a.Rule)
}

// emit turns the roles into actions: group settings, then per process in
// pid order. It counts the actions first, so that the actions, their
// targets and their reasons each take one allocation, and formats each
// app's values once.
func (p *planner) emit() {
	cfg := &p.c.cfg
	d := p.d
	s := &p.c.scratch
	procs := p.b.procs
	summary := p.summary
	if summary == "" {
		summary = d.Scenario + ": background services behind everything else"
	}
	var fgUsed, bgUsed bool
	for i := range d.Apps {
		r := &p.roles[i]
		fgUsed = fgUsed || (r.set && r.group == GroupForeground)
		bgUsed = bgUsed || (r.set && r.group == GroupBackground)
	}
	// Members in pid order, each with its count of actions; the targets
	// ("pid:N") go into one buffer, one string for them all.
	members := s.members[:0]
	for i, a := range s.app {
		if a >= 0 && p.roles[a].set && plannable(&procs[i]) {
			members = append(members, member{pid: procs[i].PID, app: a, pos: int32(i)})
		}
	}
	if !slices.IsSortedFunc(members, func(a, b member) int { return cmp.Compare(a.pid, b.pid) }) {
		slices.SortFunc(members, func(a, b member) int { return cmp.Compare(a.pid, b.pid) })
	}
	n, nReasons := 0, 0
	if fgUsed {
		n++
		if d.Scenario != ScenarioRenderCompile && len(d.FirstCPUs) > 0 {
			n++
		}
	}
	if bgUsed {
		n++
		if len(p.hogCPUs) > 0 {
			n++
		}
	}
	nReasons = 2 * n
	targets := s.targets[:0]
	for k := range members {
		m := &members[k]
		r := &p.roles[m.app]
		c := p.actionCount(r, &procs[m.pos])
		if c > 0 && !r.used {
			r.used = true
			nReasons += 2
		}
		n += c
		if c > 0 {
			targets = append(targets, "pid:"...)
			targets = strconv.AppendInt(targets, int64(m.pid), 10)
		}
		m.end = int32(len(targets))
	}
	s.members, s.targets = members, targets
	allTargets := string(targets)

	acts := make([]*gamesav1.Action, 0, n)
	slab := make([]gamesav1.Action, n)
	reasons := make([]string, 0, nReasons)
	why := func(w string) []string {
		reasons = append(reasons, summary, w)
		return reasons[len(reasons)-2 : len(reasons) : len(reasons)]
	}
	add := func(knob, target, value string, rs []string) {
		a := &slab[len(acts)]
		a.Knob, a.Target, a.Value, a.Reasons = knob, target, value, rs
		acts = append(acts, a)
	}
	if fgUsed {
		add(KnobCgroupWeight, GroupForeground, strconv.Itoa(cfg.ForegroundWeight), why("the foreground group's CPU weight"))
		if d.Scenario != ScenarioRenderCompile && len(d.FirstCPUs) > 0 {
			add(KnobCgroupCPUSet, GroupForeground, FormatCPUList(d.FirstCPUs), why("the foreground's cores"))
		}
	}
	if bgUsed {
		add(KnobCgroupWeight, GroupBackground, strconv.Itoa(cfg.BackgroundWeight), why("the background group's CPU weight"))
		if len(p.hogCPUs) > 0 {
			add(KnobCgroupCPUSet, GroupBackground, FormatCPUList(p.hogCPUs), why("the background's cores"))
		}
	}
	start := int32(0)
	for _, m := range members {
		r := &p.roles[m.app]
		pr := &procs[m.pos]
		target := allTargets[start:m.end]
		start = m.end
		if target == "" {
			continue
		}
		if r.reasons == nil {
			r.reasons = why(r.why)
			if len(r.cpus) > 0 {
				r.cpuList = FormatCPUList(r.cpus)
			}
			if r.hasNi {
				r.niceValue = strconv.Itoa(max(r.nice, cfg.MinNice))
			}
		}
		if r.group != "" {
			add(KnobCgroupMember, target, r.group, r.reasons)
		}
		if len(r.cpus) > 0 {
			add(KnobAffinity, target, r.cpuList, r.reasons)
		}
		if r.hasNi && niceWanted(int(pr.Nice), r.nice) {
			add(KnobNice, target, r.niceValue, r.reasons)
		}
		if r.ioprio != "" {
			add(KnobIOPrio, target, r.ioprio, r.reasons)
		}
	}
	d.Actions = acts
}

// actionCount is how many actions emit gives process pr in role r.
func (p *planner) actionCount(r *role, pr *Process) int {
	n := 0
	if r.group != "" {
		n++
	}
	if len(r.cpus) > 0 {
		n++
	}
	if r.hasNi && niceWanted(int(pr.Nice), r.nice) {
		n++
	}
	if r.ioprio != "" {
		n++
	}
	return n
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
