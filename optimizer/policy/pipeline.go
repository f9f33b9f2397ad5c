package policy

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/krystalstack/gamesa/optimizer/coord"
	"github.com/krystalstack/gamesa/optimizer/power"
	"github.com/krystalstack/gamesa/optimizer/rules"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// Input is one tick's view of the machine.
type Input struct {
	// Now is the tick's time; it should not go backwards (a time before
	// the previous tick's counts as that tick's).
	Now time.Time
	// Sample is the tick's telemetry with the models' Insights filled in;
	// nil reads as a sample with nothing in it.
	Sample *gamesav1.Sample
	// Knobs is the knob inventory (actuators' Set.Inventory, or the
	// simulated machine's), with the values in force now. A knob's Value
	// may change in place from tick to tick; while Knobs holds the same
	// knob objects as on the last tick, in the same order, their other
	// fields are read as unchanged.
	Knobs []*gamesav1.Knob
	// Processes, Registrations and Topology are the coordinator's input
	// (see coord.Input). Decide does not keep the slices.
	Processes     []coord.Process
	Registrations []coord.Registration
	Topology      coord.Topology
	// ClusterCapWatts is this node's share of the cluster's power budget;
	// 0 (or less, or NaN) for none.
	ClusterCapWatts float64
}

// Pipeline turns each tick's input into one plan. It holds what the
// decision needs between ticks: the rule engine's timers, the automatic
// mode choice, the cap controller's integrators and the hysteresis of
// every setting in force. Given the same inputs in the same order it
// makes the same decisions. It is not safe for concurrent use: the
// node's loop owns it and serialises SetRules and SetModeOverride with
// Decide.
type Pipeline struct {
	cfg         Config
	modes       power.ModeConfig
	coord       *coord.Coordinator
	hogs        []int32 // the apps the previous decision moved out of the way
	engine      *rules.Engine
	schema      *rules.Schema
	features    *rules.Features
	auto        *power.AutoSwitch
	capCtl      *power.CapController
	byRuleClass map[string][]coord.Class

	started     bool
	last        time.Time
	tick        uint64
	userChanged bool // the user set or cleared the mode since the last tick

	// mode is the power mode in force, with the same hysteresis as a
	// knob; entries are the settings in force or asked for, live the
	// same in the order they first appeared.
	mode     entry
	modeWhy  []string // the mode's reasons, kept while they read the same
	entries  map[Key]*entry
	live     []*entry
	niceOrig map[int32]int32 // pid → nice before GAMESA set it
	// niceList is niceOrig sorted by pid, made again when niceDirty.
	niceList  []coord.PIDNice
	niceDirty bool

	// acts is the last plan's action list, which the next plan shares
	// while it holds the same actions.
	acts []*gamesav1.Action

	// Scratch reused between ticks.
	host     power.Host      // the tick's, its meters' map reused
	settings []coord.Setting // the coordinator's, read-only, until its next plan
	// plan is the coordinator's settings as filed: see coordPlan.
	plan     coordPlan
	board    board
	running  []string
	modePlan modePlan
	order    []*entry
	groups   []string
	cpusets  []string

	// knobsSeen is the last tick's inventory, its knob objects, and
	// knobsSame whether this tick's holds the same (sameInventory).
	knobsSeen []*gamesav1.Knob
	knobsSame bool

	// apps is the rules' view of the apps, made from the coordinator's
	// plan of serial appsSerial.
	apps       rules.Apps
	appsSerial uint64

	// seq is this tick's asks' entries in order, prevSeq the last
	// tick's, cursor where in prevSeq the next ask is looked for.
	seq, prevSeq []*entry
	cursor       int

	// memoOld and memoNew are the last reasons sameReasons found equal.
	memoOld, memoNew []string

	// reasonMemo holds the rules' reasons of this tick and the last,
	// capMemo the last cap's, capReasons the cap's actions' last reasons.
	reasonMemo []ruleMemo
	reasonBuf  []byte
	capReasons [][]string
	capMemo    capMemo

	// held, overruled and notes collect the tick's lists; the last*
	// fields are the lists the last decision got, which the next shares
	// while they read the same.
	held, lastHeld           []Held
	overruled, lastOverruled []Overruled
	notes, lastNotes         []string

	pidTargets map[int32]string
	// expansions are the rules' `app:` targets as last expanded.
	expansions []appTargets
	regPIDs    map[int32]bool // the registered apps' pids, this tick
	fgRegged   bool           // the foreground is a registered app
}

// New builds a pipeline from cfg and parts (see Parts for what nil
// parts become).
func New(cfg Config, parts Parts) (*Pipeline, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := parts.Modes.Validate(); err != nil {
		return nil, fmt.Errorf("%w: modes: %w", ErrParts, err)
	}
	rs := parts.Rules
	if rs == nil {
		schema, err := rules.NewSchema(rules.DefaultConfig())
		if err != nil {
			return nil, fmt.Errorf("%w: rules: %w", ErrParts, err)
		}
		if rs, err = rules.Default(schema); err != nil {
			return nil, fmt.Errorf("%w: default rules: %w", ErrParts, err)
		}
	}
	if err := checkClasses(cfg.RuleClasses, rs.Schema()); err != nil {
		return nil, err
	}
	co := parts.Coordinator
	if co == nil {
		var err error
		if co, err = coord.New(coord.DefaultConfig(), nil, nil); err != nil {
			return nil, fmt.Errorf("%w: coordinator: %w", ErrParts, err)
		}
	}
	auto, err := power.NewAutoSwitch(parts.AutoSwitch)
	if err != nil {
		return nil, fmt.Errorf("%w: auto switch: %w", ErrParts, err)
	}
	capCtl, err := power.NewCapController(parts.Cap)
	if err != nil {
		return nil, fmt.Errorf("%w: cap controller: %w", ErrParts, err)
	}
	p := &Pipeline{
		cfg:         cfg,
		modes:       parts.Modes,
		coord:       co,
		engine:      rules.NewEngine(rs),
		schema:      rs.Schema(),
		features:    rs.Schema().NewFeatures(),
		auto:        auto,
		capCtl:      capCtl,
		byRuleClass: map[string][]coord.Class{},
		entries:     map[Key]*entry{},
		niceOrig:    map[int32]int32{},
		pidTargets:  map[int32]string{},
		regPIDs:     map[int32]bool{},
		mode:        entry{key: Key{Knob: rules.KnobPowerMode}},
	}
	p.cfg.RuleClasses = maps.Clone(cfg.RuleClasses)
	for _, cl := range slices.Sorted(maps.Keys(cfg.RuleClasses)) {
		name := cfg.RuleClasses[cl]
		p.byRuleClass[name] = append(p.byRuleClass[name], cl)
	}
	return p, nil
}

// checkClasses reports rule class names the schema does not know.
func checkClasses(classes map[coord.Class]string, schema *rules.Schema) error {
	var errs []error
	for _, cl := range slices.Sorted(maps.Keys(classes)) {
		if _, ok := schema.Lookup("app.running." + classes[cl]); !ok {
			errs = append(errs, fmt.Errorf("%w: the rules' schema has no app class %q (for the coordinator's %s)", ErrParts, classes[cl], cl))
		}
	}
	return errors.Join(errs...)
}

// SetRules switches to a new rule set after a hot reload; the rule
// engine keeps the `for` and `cooldown` clocks of unchanged rules.
func (p *Pipeline) SetRules(rs *rules.RuleSet) error {
	if rs == nil {
		return fmt.Errorf("%w: nil rule set", ErrParts)
	}
	if rs.Schema() != p.schema {
		if err := checkClasses(p.cfg.RuleClasses, rs.Schema()); err != nil {
			return err
		}
		p.schema, p.features = rs.Schema(), rs.Schema().NewFeatures()
	}
	p.engine.SetRules(rs)
	return nil
}

// Rules returns the rule set in use.
func (p *Pipeline) Rules() *rules.RuleSet { return p.engine.Rules() }

// SetModeOverride makes m the power mode from the next Decide on, until
// ClearModeOverride: the user's explicit choice (gRPC SetPowerMode)
// beats a rule's `mode:` and the automatic choice, and takes force at
// once.
func (p *Pipeline) SetModeOverride(m power.Mode) error {
	if err := p.auto.SetOverride(m); err != nil {
		return err
	}
	p.userChanged = true
	return nil
}

// ClearModeOverride hands the mode back to the rules and the power
// source; the mode they choose takes force at the next Decide, as the
// user's explicit request.
func (p *Pipeline) ClearModeOverride() {
	if _, ok := p.auto.Override(); ok {
		p.userChanged = true
	}
	p.auto.ClearOverride()
}

// ModeOverride returns the user's mode, if one is set.
func (p *Pipeline) ModeOverride() (power.Mode, bool) { return p.auto.Override() }

// Decide makes the tick's decision: the coordinator's plan for the
// apps, the rules over the sample's features and the models' insights,
// the power mode and its plan, the power cap, one value per knob and
// target, and hysteresis. See the package documentation for the order
// and the precedence.
func (p *Pipeline) Decide(in Input) *Decision {
	now, dt := p.advance(in.Now)
	// The decision, its plan and the plan's time are one allocation: on
	// a steady tick, the only one. Held, Overruled and Notes collect in
	// the pipeline's buffers; the decision gets its own lists at the end
	// (shareList).
	blk := &decisionBlock{}
	blk.time.Seconds, blk.time.Nanos = now.Unix(), int32(now.Nanosecond())
	blk.plan.Time = &blk.time
	d := &blk.d
	*d = Decision{Time: now, Plan: &blk.plan, Foreground: -1, Held: p.held[:0], Overruled: p.overruled[:0], Notes: p.notes[:0]}
	if !now.Equal(in.Now) {
		d.Notes = append(d.Notes, fmt.Sprintf("the tick's time %v is before the previous tick's; decided as of %v", in.Now, now))
	}
	p.tick++
	p.board.reset()
	p.keepRuleReasons()

	// The apps, on the processes as they were before GAMESA reniced
	// them, so that a boost in force still reads as one to make.
	var cd coord.Decision
	var serial uint64
	cd, p.settings, serial = p.coord.PlanShared(coord.Input{Processes: in.Processes, Topology: in.Topology,
		Registrations: in.Registrations, PrevHogs: p.hogs, NiceBefore: p.niceBefore(),
		CPUSetGroups: p.cpusetGroups(in.Knobs, p.sameInventory(in.Knobs))})
	p.hogs = append(p.hogs[:0], cd.Hogs...)
	d.Scenario, d.Apps, d.Foreground, d.ForegroundBy = cd.Scenario, cd.Apps, cd.Foreground, cd.ForegroundBy
	d.Notes = append(d.Notes, cd.Notes...)
	p.noteRegistered(&cd)

	p.schema.Extract(p.features, in.Sample, p.ruleApps(&cd, serial))
	res := p.engine.Evaluate(p.features, now)
	d.Fired = res.Fired()

	p.host.ReadSample(in.Sample, in.Knobs)
	p.host.GameCores = p.gameCores(&cd)
	host := p.host
	p.decideMode(d, host, res, now)
	p.askMode(d, host, now)
	p.askCap(d, in, host, res, dt, blk.domains[:0])
	p.askCoordinator(p.settings, serial)
	p.askRules(d, res, &cd)
	p.settle(d, &in, now)
	p.held, p.overruled, p.notes = d.Held, d.Overruled, d.Notes
	d.Held = shareList(d.Held, &p.lastHeld, sameHeld)
	d.Overruled = shareList(d.Overruled, &p.lastOverruled, sameOverruled)
	d.Notes = shareList(d.Notes, &p.lastNotes, func(a, b *string) bool { return *a == *b })
	return d
}

// decisionBlock is a Decision with its plan, the plan's time and room for
// the power domains' reports, allocated together.
type decisionBlock struct {
	d       Decision
	plan    gamesav1.Plan
	time    timestamppb.Timestamp
	domains [2]power.DomainState // a package and a GPU; more take an allocation of their own
}

// shareList returns the list the decision keeps of the tick's list in
// buf (the pipeline's scratch): *last, the previous decision's, while it
// holds the same, else a copy, which becomes *last. A steady tick then
// allocates no list of its own.
func shareList[T any](buf []T, last *[]T, same func(a, b *T) bool) []T {
	l := *last
	if len(l) == len(buf) {
		i := 0
		for i < len(buf) && same(&buf[i], &l[i]) {
			i++
		}
		if i == len(buf) {
			clear(buf) // the scratch keeps no reasons alive
			return l
		}
	}
	*last = slices.Clone(buf)
	clear(buf)
	return *last
}

func sameHeld(a, b *Held) bool {
	return a.Key == b.Key && a.Value == b.Value && a.Wanted == b.Wanted && a.Source == b.Source &&
		a.Kind == b.Kind && a.Count == b.Count && a.Need == b.Need && a.Until.Equal(b.Until)
}

func sameOverruled(a, b *Overruled) bool {
	return a.Key == b.Key && a.Source == b.Source && a.Value == b.Value && a.By == b.By &&
		a.ByValue == b.ByValue && slices.Equal(a.Reasons, b.Reasons)
}

// advance takes the tick's time, never before the previous one's, and
// the time since it (Config.Tick on the first tick).
func (p *Pipeline) advance(t time.Time) (now time.Time, dt time.Duration) {
	if !p.started {
		p.started, p.last = true, t
		return t, p.cfg.Tick
	}
	if t.Before(p.last) {
		return p.last, 0
	}
	dt, p.last = t.Sub(p.last), t
	return t, dt
}

// niceBefore returns the nice values from before GAMESA reniced each
// process it reniced, sorted by pid, made again only when they change.
func (p *Pipeline) niceBefore() []coord.PIDNice {
	if p.niceDirty {
		p.niceList = p.niceList[:0]
		for pid, nice := range p.niceOrig {
			p.niceList = append(p.niceList, coord.PIDNice{PID: pid, Nice: nice})
		}
		slices.SortFunc(p.niceList, func(a, b coord.PIDNice) int { return cmp.Compare(a.PID, b.PID) })
		p.niceDirty = false
	}
	return p.niceList
}

// sameInventory reports whether knobs holds the last tick's knob
// objects, in the same order, whose fields but their values are then
// the last tick's (see Input.Knobs), and remembers them for the next.
func (p *Pipeline) sameInventory(knobs []*gamesav1.Knob) bool {
	p.knobsSame = p.tick > 1 && slices.Equal(p.knobsSeen, knobs)
	if !p.knobsSame {
		p.knobsSeen = append(p.knobsSeen[:0], knobs...)
	}
	return p.knobsSame
}

// cpusetGroups lists the groups whose cgroup.cpuset the knob inventory
// shows writable: the coordinator leaves the affinity of their members
// to the group. The list is the last tick's while the inventory is.
func (p *Pipeline) cpusetGroups(knobs []*gamesav1.Knob, same bool) []string {
	if same {
		return p.cpusets
	}
	p.cpusets = p.cpusets[:0]
	for _, k := range knobs {
		if k.GetName() == coord.KnobCgroupCPUSet && k.GetWritable() && !slices.Contains(p.cpusets, k.GetTarget()) {
			p.cpusets = append(p.cpusets, k.GetTarget())
		}
	}
	return p.cpusets
}

// noteRegistered records the registered apps' pids, whose settings act
// at once.
func (p *Pipeline) noteRegistered(cd *coord.Decision) {
	clear(p.regPIDs)
	for i := range cd.Apps {
		if a := &cd.Apps[i]; a.Registered {
			for _, pid := range a.PIDs {
				p.regPIDs[pid] = true
			}
		}
	}
	fg := cd.ForegroundApp()
	p.fgRegged = fg != nil && fg.Registered
}

// ruleApps is the coordinator's view in the rules' class names: the
// last tick's while the coordinator hands out the same plan (serial),
// which it made from the same apps, of the same classes, with the same
// foreground.
func (p *Pipeline) ruleApps(cd *coord.Decision, serial uint64) rules.Apps {
	if serial == p.appsSerial && serial != 0 && !p.board.plain {
		return p.apps
	}
	p.appsSerial = serial
	p.running = p.running[:0]
	for i := range cd.Apps {
		cl := cd.Apps[i].Class
		if cl == coord.ClassUnknown {
			continue // most apps; never a rule class (Config.Validate)
		}
		if name, ok := p.cfg.RuleClasses[cl]; ok {
			p.running = append(p.running, name)
		}
	}
	apps := rules.Apps{Running: p.running}
	if fg := cd.ForegroundApp(); fg != nil {
		apps.Foreground = fg.Class.String() // no rule can name it: != holds, == never
		if name, ok := p.cfg.RuleClasses[fg.Class]; ok {
			apps.Foreground = name
		}
	}
	p.apps = apps
	return apps
}

// askCap steps the cap controller towards the lower of the cluster's
// cap and a rule's, and asks for its limits. The state's domain reports
// go in domains.
func (p *Pipeline) askCap(d *Decision, in Input, host power.Host, res *rules.Result, dt time.Duration, domains []power.DomainState) {
	c := &d.Cap
	if w := in.ClusterCapWatts; w > 0 && !math.IsInf(w, 1) {
		c.ClusterWatts = w
	}
	ruleWhy := ""
	if w, ok := res.CapWatts(); ok && w > 0 {
		rd := ruleAction(res, rules.KnobPowerCap)
		c.RuleWatts, c.Rule = w, rd.Rule.Name
		ruleWhy, _ = p.ruleReason(rd)
	}
	switch {
	case c.RuleWatts > 0 && (c.ClusterWatts == 0 || c.RuleWatts <= c.ClusterWatts):
		c.Watts = c.RuleWatts
	case c.ClusterWatts > 0:
		c.Watts = c.ClusterWatts
	}
	why := p.capWhy(c, ruleWhy)
	acts := p.capCtl.Step(power.MeasuredWatts(in.Sample), c.Watts, dt, host)
	c.State = p.capCtl.StateInto(domains)
	if c.State.Infeasible {
		d.Notes = append(d.Notes, fmt.Sprintf("power cap %g W is below what the power domains draw at their lowest limits", c.Watts))
	}
	p.capReasons = grow(p.capReasons, len(acts))
	for i, a := range acts {
		reasons := a.GetReasons()
		if why != "" {
			reasons = withWhy(&p.capReasons[i], reasons, why)
		}
		p.ask(Key{a.GetKnob(), a.GetTarget()}, ask{value: a.GetValue(), source: SourceCap, reasons: reasons, urgent: true})
	}
}

// withWhy returns reasons with why after them: *last, the slice this
// action had the tick before, while it reads the same, so that a steady
// cap's settings keep their reasons, and their plan actions.
func withWhy(last *[]string, reasons []string, why string) []string {
	if l := *last; len(l) == len(reasons)+1 && l[len(reasons)] == why && slices.Equal(l[:len(reasons)], reasons) {
		return l
	}
	*last = append(slices.Clip(reasons), why)
	return *last
}

// grow returns s with length n, keeping its contents where they fit.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return append(s[:cap(s)], make([]T, n-cap(s))...)
	}
	return s[:n]
}

// capWhy says where the cap comes from. It is formatted again only when
// the caps or the rule's reason change.
func (p *Pipeline) capWhy(c *Cap, ruleWhy string) string {
	m := &p.capMemo
	if m.valid && m.cluster == c.ClusterWatts && m.rule == c.RuleWatts && m.ruleWhy == ruleWhy {
		return m.why
	}
	why := ""
	switch {
	case c.Watts == 0:
	case c.Watts == c.RuleWatts && c.ClusterWatts > 0:
		why = fmt.Sprintf("%s (%g W, at or below the cluster's %g W)", ruleWhy, c.RuleWatts, c.ClusterWatts)
	case c.Watts == c.RuleWatts:
		why = ruleWhy
	case c.RuleWatts > 0:
		why = fmt.Sprintf("the cluster's cap for this node, %g W (below rule %s's %g W)", c.ClusterWatts, c.Rule, c.RuleWatts)
	default:
		why = fmt.Sprintf("the cluster's cap for this node, %g W", c.ClusterWatts)
	}
	*m = capMemo{valid: true, cluster: c.ClusterWatts, rule: c.RuleWatts, ruleWhy: ruleWhy, why: why}
	return why
}

// capMemo is the last cap's reason and what it was made from.
type capMemo struct {
	valid         bool
	cluster, rule float64
	ruleWhy, why  string
}

// ruleReason is rd.Reason(), formatted once a tick per rule (a rule's
// actions share it), with a reasons slice of it alone. Both are the last
// tick's while the text reads the same, so that a steady rule's settings
// keep their reasons, and their plan actions.
func (p *Pipeline) ruleReason(rd rules.Decision) (string, []string) {
	var m *ruleMemo
	for i := range p.reasonMemo {
		if p.reasonMemo[i].rule == rd.Rule {
			m = &p.reasonMemo[i]
			break
		}
	}
	if m == nil {
		p.reasonMemo = append(p.reasonMemo, ruleMemo{rule: rd.Rule})
		m = &p.reasonMemo[len(p.reasonMemo)-1]
	} else if m.tick == p.tick {
		return m.reason, m.reasons
	}
	m.tick = p.tick
	p.reasonBuf = rd.AppendReason(p.reasonBuf[:0])
	if m.reasons == nil || string(p.reasonBuf) != m.reason {
		m.reason = string(p.reasonBuf)
		m.reasons = []string{m.reason}
	}
	return m.reason, m.reasons
}

// keepRuleReasons starts a tick: it keeps the reasons of the rules that
// acted on the last tick, and drops the others.
func (p *Pipeline) keepRuleReasons() {
	keep := p.reasonMemo[:0]
	for _, m := range p.reasonMemo {
		if m.tick+1 == p.tick {
			keep = append(keep, m)
		}
	}
	clear(p.reasonMemo[len(keep):])
	p.reasonMemo = keep
}

// ruleMemo is one rule's reason, as of the tick that last formatted it.
type ruleMemo struct {
	rule    *rules.Rule
	tick    uint64
	reason  string
	reasons []string
}
