package policy

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/krystalstack/gamesa/internal/strs"
	"github.com/krystalstack/gamesa/optimizer/coord"
	"github.com/krystalstack/gamesa/optimizer/rules"
)

// ask is one part's request for one setting.
type ask struct {
	value   string
	source  Source
	reasons []string
	rule    *rules.Rule // the rule, for SourceRule
	urgent  bool
	next    int32 // the next ask for the same key, or -1
}

// slot gathers the asks for one setting this tick. The first is held in
// the slot itself, as most settings get only one; a second moves it to
// the board's asks, where they are chained in the order they came. After
// resolve, win is the winner: its value, source and reasons, urgent if
// any ask was.
type slot struct {
	e           *entry
	win         ask
	first, last int32 // the chain in board.asks; -1 while win is the only ask
	// block marks the slot of the coordinator's settings filed as one
	// block (see askCoordinator): e and win are unset, and each of the
	// settings' entries points here. placed marks the slot a setting of
	// the block gets once another ask joins it, which settle takes in the
	// block's place.
	block, placed bool
}

// board collects the tick's asks by setting. Its buffers are reused
// between ticks.
type board struct {
	asks   []ask
	slots  []slot
	pieces []piece
	// plain files every setting on its own (no block) and resolves
	// every conflict afresh (no contest), as tests compare.
	plain bool
}

// reset empties the board. The asks keep their reasons until the next
// tick overwrites them: a tick's worth, bounded.
func (b *board) reset() {
	b.asks, b.slots, b.pieces = b.asks[:0], b.slots[:0], b.pieces[:0]
}

// ask files a request for the setting k, and returns the setting's
// entry. The first request for a setting in a tick fixes its place in
// the plan. A request for no value (which no part makes on purpose) is
// dropped, and gets no entry: "" means "nothing in force" to the
// hysteresis.
func (p *Pipeline) ask(k Key, a ask) *entry {
	if a.value == "" {
		return nil
	}
	e := p.entryFor(k)
	b := &p.board
	a.next = -1
	if e.tick != p.tick {
		n := len(b.slots)
		e.tick, e.slot = p.tick, int32(n)
		// Grown in place, not appended: a slot is big, and append would
		// build it on the stack first.
		if n < cap(b.slots) {
			b.slots = b.slots[:n+1]
		} else {
			b.slots = append(b.slots, slot{})
		}
		s := &b.slots[n]
		s.e, s.win, s.first, s.last, s.block, s.placed = e, a, -1, -1, false, false
		return e
	}
	s := &b.slots[e.slot]
	if s.block {
		s = p.unblock(e)
	}
	if s.first < 0 {
		s.first, s.last = int32(len(b.asks)), int32(len(b.asks))
		b.asks = append(b.asks, s.win)
	}
	i := int32(len(b.asks))
	b.asks = append(b.asks, a)
	b.asks[s.last].next = i
	s.last = i
	return e
}

// entryFor returns the setting k's entry, making one for a setting seen
// for the first time (one that never takes force is dropped again at the
// end of the tick).
//
// The parts ask in the same order tick after tick, so the entry is
// first looked for where the previous tick's asks had it, which spares
// the map lookup (and the hashing of the target) in a steady state; a
// miss looks it up and resumes from its place in the previous tick.
func (p *Pipeline) entryFor(k Key) *entry {
	c := p.cursor
	p.cursor++
	var e *entry
	if c < len(p.prevSeq) {
		if pe := p.prevSeq[c]; !pe.gone && pe.key == k {
			e = pe
		}
	}
	if e == nil {
		if e = p.entries[k]; e == nil {
			e = &entry{key: k, pos: -1}
			p.entries[k] = e
			p.live = append(p.live, e)
		} else if e.pos >= 0 {
			p.cursor = int(e.pos) + 1
		}
	}
	p.sequence(e)
	return e
}

// sequence adds e to this tick's sequence of asks.
func (p *Pipeline) sequence(e *entry) {
	e.pos = int32(len(p.seq))
	p.seq = append(p.seq, e)
}

// nextSeq makes this tick's sequence of asks the one the next tick's are
// looked up in.
func (p *Pipeline) nextSeq() {
	for _, e := range p.prevSeq {
		if e.tick != p.tick {
			e.pos = -1 // not asked for this tick: no place to resume from
		}
	}
	clear(p.prevSeq)
	p.prevSeq, p.seq, p.cursor = p.seq, p.prevSeq[:0], 0
}

// resolve picks the slot's value: the highest source wins (the cap
// controller, rules, the coordinator, the mode), a rule over a rule by
// priority, then specificity, then name; on a limit knob the cap
// controller asks for, the lowest value wins, a cap being a ceiling.
// The winner's reasons come first, then those of the parts that agreed,
// then a line for each part overruled, which is also recorded in d.
// Where those reasons read as old, the setting's reasons so far, old is
// kept: a steady conflict formats nothing.
func (b *board) resolve(s *slot, d *Decision, old []string) {
	if s.first < 0 { // one ask: it wins as it is
		return
	}
	e := s.e
	if c := e.contest; c != nil && !b.plain && c.holds(b, s.first) {
		c.again(s, d)
		return
	}
	w := s.first
	ceiling := false
	if isLimit(s.e.key.Knob) {
		for i := s.first; i >= 0; i = b.asks[i].next {
			ceiling = ceiling || b.asks[i].source == SourceCap
		}
	}
	urgent := false
	for i := s.first; i >= 0; i = b.asks[i].next {
		urgent = urgent || b.asks[i].urgent
		if i != w && beats(&b.asks[i], &b.asks[w], ceiling) {
			w = i
		}
	}
	win := &b.asks[w]
	s.win = *win
	s.win.urgent = urgent
	pieces := b.pieces[:0]
	for _, r := range win.reasons {
		pieces = append(pieces, piece{text: r})
	}
	for i := s.first; i >= 0; i = b.asks[i].next {
		a := &b.asks[i]
		switch {
		case i == w:
		case sameValue(a.value, win.value):
			for _, r := range a.reasons {
				pieces = append(pieces, piece{text: r})
			}
		default:
			pieces = append(pieces, piece{loser: a})
			d.Overruled = append(d.Overruled, Overruled{Key: s.e.key, Source: a.source, Value: a.value, Reasons: a.reasons,
				By: win.source, ByValue: win.value})
		}
	}
	b.pieces = pieces
	if s.win.reasons = old; !readsAs(old, pieces, s.e.key.Knob) {
		s.win.reasons = make([]string, len(pieces))
		for i, pc := range pieces {
			s.win.reasons[i] = pc.String(s.e.key.Knob)
		}
	}
	// A setting contested once, as a churn of short-lived processes'
	// are, keeps no memory of it; one contested again remembers.
	if e.contested && e.contest == nil {
		e.contest = &contest{}
	}
	if e.contest != nil {
		e.contest.remember(b, s, w)
	}
	e.contested = true
}

// contest is the last conflict resolve settled for a setting: the asks
// in the order they came, the winner, the asks overruled (by place, a
// bit each) and the reasons made of them. While a tick brings the very
// same asks, resolve's answer is the same (its reasons, written anew or
// kept from the setting's own, read the same), and is given again
// without weighing the asks or writing the reasons: a steady conflict,
// such as a rule's nice for the compile the coordinator moved out of the
// way, costs a comparison of its asks.
type contest struct {
	asks    []ask
	win     int
	lost    uint64
	urgent  bool
	reasons []string
}

// holds reports whether the chain of asks from first is the contest
// remembered.
func (c *contest) holds(b *board, first int32) bool {
	if c.reasons == nil {
		return false
	}
	n := 0
	for i := first; i >= 0; i = b.asks[i].next {
		if n == len(c.asks) || !sameAsk(&b.asks[i], &c.asks[n]) {
			return false
		}
		n++
	}
	return n == len(c.asks)
}

// sameAsk reports whether a and b ask the same: the same value, source,
// rule and urgency, with the very same reasons.
func sameAsk(a, b *ask) bool {
	return a.source == b.source && a.rule == b.rule && a.urgent == b.urgent && strs.Same(a.value, b.value) &&
		len(a.reasons) == len(b.reasons) && (len(a.reasons) == 0 || &a.reasons[0] == &b.reasons[0])
}

// again settles s as resolve did the contest remembered.
func (c *contest) again(s *slot, d *Decision) {
	win := &c.asks[c.win]
	s.win = *win
	s.win.urgent, s.win.reasons = c.urgent, c.reasons
	for k := range c.asks {
		if c.lost&(1<<k) != 0 {
			a := &c.asks[k]
			d.Overruled = append(d.Overruled, Overruled{Key: s.e.key, Source: a.source, Value: a.value, Reasons: a.reasons,
				By: win.source, ByValue: win.value})
		}
	}
}

// remember records the contest resolve settled: the chain of s's asks,
// w the winner's place in board.asks.
func (c *contest) remember(b *board, s *slot, w int32) {
	c.asks, c.lost, c.reasons = c.asks[:0], 0, nil
	for i := s.first; i >= 0; i = b.asks[i].next {
		a := &b.asks[i]
		switch k := len(c.asks); {
		case k == 64:
			c.asks = c.asks[:0] // too many to remember: never holds
			return
		case i == w:
			c.win = k
		case !sameValue(a.value, s.win.value):
			c.lost |= 1 << k
		}
		c.asks = append(c.asks, *a)
	}
	c.urgent, c.reasons = s.win.urgent, s.win.reasons
}

// piece is one reason of a contested setting: a part's reason, or the
// note for a part overruled.
type piece struct {
	text  string
	loser *ask
}

// String writes the piece for a setting of knob.
func (pc piece) String(knob string) string {
	if pc.loser == nil {
		return pc.text
	}
	a := pc.loser
	return "overrides " + knob + " " + a.value + " from the " + a.source.String() + ": " + gist(a)
}

// readsAs reports whether reasons are what pieces would write, without
// writing them.
func readsAs(reasons []string, pieces []piece, knob string) bool {
	if len(reasons) != len(pieces) {
		return false
	}
	for i, pc := range pieces {
		if pc.loser == nil {
			if reasons[i] != pc.text {
				return false
			}
			continue
		}
		a, r := pc.loser, reasons[i]
		ok := true
		for _, part := range [...]string{"overrides ", knob, " ", a.value, " from the ", a.source.String(), ": ", gist(a)} {
			if r, ok = strings.CutPrefix(r, part); !ok {
				return false
			}
		}
		if r != "" {
			return false
		}
	}
	return true
}

// beats reports whether a wins the key over b.
func beats(a, b *ask, ceiling bool) bool {
	if ceiling {
		x, okA := number(a.value)
		y, okB := number(b.value)
		if okA && okB && x != y {
			return x < y
		}
	}
	if a.source != b.source {
		return a.source > b.source
	}
	if a.rule == nil || b.rule == nil || a.rule == b.rule {
		return false
	}
	if c := cmp.Compare(a.rule.Priority, b.rule.Priority); c != 0 {
		return c > 0
	}
	if c := cmp.Compare(a.rule.Specificity, b.rule.Specificity); c != 0 {
		return c > 0
	}
	return a.rule.Name < b.rule.Name
}

// gist is the reason that says most about an ask: the coordinator's
// last (its first is the scenario's summary), the others' first.
func gist(a *ask) string {
	switch {
	case len(a.reasons) == 0:
		return "no reason given"
	case a.source == SourceCoordinator:
		return a.reasons[len(a.reasons)-1]
	}
	return a.reasons[0]
}

// isLimit reports a knob whose value is a ceiling on power or speed, as
// power.Merge treats them.
func isLimit(knob string) bool {
	switch knob {
	case "rapl.pl1_uw", "rapl.pl2_uw", "nvml.power_limit_mw", "cpufreq.max_khz":
		return true
	}
	return false
}

// number parses a numeric knob value. Text that cannot be a number is
// turned away before ParseFloat, whose error would cost an allocation on
// every comparison of two words ("be/1", "be/2").
func number(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	if s == "" || strings.IndexFunc(s, func(r rune) bool { return !strings.ContainsRune("0123456789+-.eE", r) }) >= 0 {
		return 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false
	}
	return v, true
}

// sameValue compares knob values as numbers where both are numbers
// ("800000" and "800000.0"), else as text. The common case, the same
// text, stays small enough to inline.
func sameValue(a, b string) bool { return a == b || sameNumber(a, b) }

func sameNumber(a, b string) bool {
	x, okA := number(a)
	y, okB := number(b)
	return okA && okB && x == y
}

// coordAsk is the coordinator's ask for the setting st. Those for a
// registered app's processes, and for the foreground group of a
// registered foreground, are urgent: a registration acts at once.
func (p *Pipeline) coordAsk(st *coord.Setting) ask {
	return ask{value: st.Value, source: SourceCoordinator, reasons: st.Reasons, urgent: p.registeredTarget(st.Target)}
}

// registeredTarget reports whether target is a registered app's process
// or the group of a registered foreground.
func (p *Pipeline) registeredTarget(target string) bool {
	return (p.fgRegged || len(p.regPIDs) > 0) && p.registered(target) // mostly neither: inlined
}

// registered is registeredTarget's test, once a registration is known.
func (p *Pipeline) registered(target string) bool {
	if target == coord.GroupForeground {
		return p.fgRegged
	}
	if len(p.regPIDs) == 0 {
		return false
	}
	pid, ok := pidOf(target)
	return ok && p.regPIDs[pid]
}

// pidOf reads a "pid:N" target.
func pidOf(target string) (int32, bool) {
	n, ok := strings.CutPrefix(target, "pid:")
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseInt(n, 10, 32)
	return int32(v), err == nil
}

// askRules files the rules' knob actions (the mode and the cap went to
// their own steps), expanding app targets.
func (p *Pipeline) askRules(d *Decision, res *rules.Result, cd *coord.Decision) {
	for _, rd := range res.Actions {
		if rd.Knob == rules.KnobPowerMode || rd.Knob == rules.KnobPowerCap {
			continue
		}
		_, reasons := p.ruleReason(rd)
		a := ask{value: rd.Value, source: SourceRule, reasons: reasons, rule: rd.Rule,
			urgent: rd.Rule.Priority >= p.cfg.UrgentPriority}
		class, isApp := strings.CutPrefix(rd.Target, rules.AppTargetPrefix)
		if !isApp {
			a.urgent = a.urgent || p.registeredTarget(rd.Target)
			p.ask(Key{rd.Knob, rd.Target}, a)
			continue
		}
		p.askApp(d, cd, rd, class, a)
	}
}

// askApp expands a rule action on "app:<class>": a process knob goes to
// every process of every app of the class, a cgroup knob to the groups
// the coordinator puts those processes in.
func (p *Pipeline) askApp(d *Decision, cd *coord.Decision, rd rules.Decision, class string, a ask) {
	classes := p.byRuleClass[class]
	perProcess := strings.HasPrefix(rd.Knob, "process.") || rd.Knob == coord.KnobCgroupMember
	if !perProcess && !strings.HasPrefix(rd.Knob, "cgroup.") {
		d.Notes = append(d.Notes, fmt.Sprintf("rule %s: %s cannot target an app (%s); not applied", rd.Rule.Name, rd.Knob, rd.Target))
		return
	}
	x := p.expand(cd, class, classes)
	if perProcess {
		for i, target := range x.targets {
			p.ask(Key{rd.Knob, target}, ask{value: a.value, source: a.source, reasons: a.reasons, rule: a.rule,
				urgent: a.urgent || p.regPIDs[x.pids[i]]})
		}
		return
	}
	p.groups = p.groups[:0]
	for _, target := range x.targets {
		if g := p.groupOf(target); g != "" && !slices.Contains(p.groups, g) {
			p.groups = append(p.groups, g)
		}
	}
	if len(p.groups) == 0 {
		d.Notes = append(d.Notes, fmt.Sprintf("rule %s: %s for %s: the coordinator puts none of its processes in a group; not applied", rd.Rule.Name, rd.Knob, rd.Target))
		return
	}
	for _, g := range p.groups {
		p.ask(Key{rd.Knob, g}, ask{value: a.value, source: a.source, reasons: a.reasons, rule: a.rule,
			urgent: a.urgent || p.registeredTarget(g)})
	}
}

// appTargets is what an `app:<class>` target expands to: the pids of
// every process of every app of the class, kernel threads left out, in
// the coordinator's order, and their targets.
type appTargets struct {
	serial  uint64 // the coordinator's plan it was made from
	class   string
	pids    []int32
	targets []string
}

// expand returns what `app:<class>` expands to on this tick's apps. The
// expansion of the last plan is kept: while the coordinator hands out
// the same plan (the same serial), it made it from the same grouping,
// whose apps have the same processes and classes (see
// coord.Coordinator.PlanShared).
func (p *Pipeline) expand(cd *coord.Decision, class string, classes []coord.Class) *appTargets {
	var x *appTargets
	for i := range p.expansions {
		if p.expansions[i].class == class {
			x = &p.expansions[i]
			break
		}
	}
	if x == nil {
		p.expansions = append(p.expansions, appTargets{class: class})
		x = &p.expansions[len(p.expansions)-1]
	} else if x.serial == p.plan.serial && x.serial != 0 && !p.board.plain {
		return x
	}
	x.serial, x.pids, x.targets = p.plan.serial, x.pids[:0], x.targets[:0]
	for i := range cd.Apps {
		app := &cd.Apps[i]
		if !slices.Contains(classes, app.Class) {
			continue
		}
		for _, pid := range app.PIDs {
			if pid <= 2 { // pid 1 and kthreadd; kernel threads never join an app of a class
				continue
			}
			x.pids = append(x.pids, pid)
			x.targets = append(x.targets, p.pidTarget(pid))
		}
	}
	return x
}

// groupOf returns the cgroup group the coordinator puts a process in
// this tick, "" for none: its cgroup.member request, filed before the
// rules' (askCoordinator runs first).
func (p *Pipeline) groupOf(target string) string {
	e := p.entries[Key{coord.KnobCgroupMember, target}]
	if e == nil || e.tick != p.tick {
		return ""
	}
	b := &p.board
	s := &b.slots[e.slot]
	if s.block {
		return p.settings[e.blockIdx].Value // the block holds the coordinator's asks alone
	}
	if s.first < 0 {
		if s.win.source == SourceCoordinator {
			return s.win.value
		}
		return ""
	}
	for i := s.first; i >= 0; i = b.asks[i].next {
		if b.asks[i].source == SourceCoordinator {
			return b.asks[i].value
		}
	}
	return ""
}

// pidTarget returns "pid:N", from a cache kept between ticks so that a
// steady process list formats nothing.
func (p *Pipeline) pidTarget(pid int32) string {
	if t, ok := p.pidTargets[pid]; ok {
		return t
	}
	if len(p.pidTargets) >= 4096 {
		clear(p.pidTargets) // pids churn; start over rather than grow forever
	}
	t := "pid:" + strconv.Itoa(int(pid))
	p.pidTargets[pid] = t
	return t
}
