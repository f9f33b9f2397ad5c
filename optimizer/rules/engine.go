package rules

import (
	"math"
	"math/bits"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/krystalstack/gamesa/optimizer/power"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// Engine evaluates a RuleSet tick after tick. It keeps what `for` and
// `cooldown` need between ticks, and scratch space so that an evaluation
// allocates only its Result, and not that when it decides as the last
// did (see Evaluate). It is not safe for concurrent use: the node's loop
// owns it.
type Engine struct {
	rs *RuleSet
	// last is the last Result, which the next evaluation returns again
	// when the same rules fire on the same values of what they read.
	last *Result

	// Scratch for one evaluation, a bit per literal and per rank: both
	// small enough to stay in cache while the entries stream past.
	litBits  []uint64
	trueBits []uint64
	ranges   []litRange
	claimed  []int32
	keyWin   []int32 // the rank that won each key; -1 between evaluations

	// Timing, for rules with For or Cooldown.
	since     []int64 // unix nanos the condition has held since
	holding   []bool  // the condition held last tick
	firedLast []bool
	quiet     []int64 // unix nanos before which the rule may not fire
	prevTrue  []int32 // timed rules whose condition held last tick
}

// litRange is the literal ids [lo, hi) that hold.
type litRange struct{ lo, hi int32 }

// NewEngine returns an engine with no history: a rule with `for` fires
// only after its condition has held for that long in this engine's ticks.
func NewEngine(rs *RuleSet) *Engine {
	e := &Engine{}
	e.setRules(rs)
	return e
}

func (e *Engine) setRules(rs *RuleSet) {
	n := len(rs.rules)
	*e = Engine{
		rs:        rs,
		litBits:   make([]uint64, (rs.nlits+63)/64),
		trueBits:  make([]uint64, (n+63)/64),
		keyWin:    make([]int32, len(rs.keys)),
		since:     make([]int64, n),
		holding:   make([]bool, n),
		firedLast: make([]bool, n),
		quiet:     make([]int64, n),
	}
	for i := range e.keyWin {
		e.keyWin[i] = -1
	}
}

// SetRules switches to a new rule set (after a reload) and carries the
// `for` and `cooldown` history of every rule whose name, condition and
// timings are unchanged, so a reload neither restarts their clocks nor
// lets a cooling rule fire early.
func (e *Engine) SetRules(rs *RuleSet) {
	old := *e
	e.setRules(rs)
	if old.rs == nil {
		return
	}
	byName := make(map[string]*Rule, len(old.rs.rules))
	for _, r := range old.rs.rules {
		byName[r.Name] = r
	}
	for i, r := range rs.rules {
		o, ok := byName[r.Name]
		if !ok || o.Condition() != r.Condition() || o.For != r.For || o.Cooldown != r.Cooldown || !old.rs.timed[o.rank] {
			continue
		}
		e.since[i], e.holding[i], e.firedLast[i], e.quiet[i] = old.since[o.rank], old.holding[o.rank], old.firedLast[o.rank], old.quiet[o.rank]
		if e.holding[i] {
			e.prevTrue = append(e.prevTrue, int32(i))
		}
	}
}

// Rules returns the rule set in use.
func (e *Engine) Rules() *RuleSet { return e.rs }

// Evaluate runs the rules over one tick's features at time now, which
// must not go backwards between calls. f must come from the rule set's
// Schema.
//
// The Result is read-only. Where the same rules fire as at the last
// evaluation, and every feature their conditions read (the values their
// reasons quote) holds the same value, it is the last Result: it decides
// the same and says the same, and a steady tick allocates nothing.
func (e *Engine) Evaluate(f *Features, now time.Time) *Result {
	rs := e.rs
	v := f.v
	lb, tb := e.litBits, e.trueBits
	clear(lb)
	clear(tb)

	// 1. Every literal the values satisfy: per feature and operator, a
	// binary search gives one or two id ranges.
	e.ranges = e.ranges[:0]
	for fi := range rs.feats {
		fx := &rs.feats[fi]
		x := v[fx.slot]
		if x != x { // absent: only negated comparisons hold
			for _, l := range fx.absent {
				lb[l>>6] |= 1 << (l & 63)
				e.ranges = append(e.ranges, litRange{l, l + 1})
			}
			continue
		}
		for o := range fx.byOp {
			t := &fx.byOp[o]
			n := int32(len(t.vals))
			if n == 0 {
				continue
			}
			lo := int32(sort.SearchFloat64s(t.vals, x)) // first t >= x
			hi := lo
			for hi < n && t.vals[hi] == x {
				hi++
			}
			switch Op(o) {
			case OpGT: // t < x
				e.hold(t.first, t.first+lo)
			case OpGE: // t <= x
				e.hold(t.first, t.first+hi)
			case OpLT: // t > x
				e.hold(t.first+hi, t.first+n)
			case OpLE: // t >= x
				e.hold(t.first+lo, t.first+n)
			case OpEQ:
				e.hold(t.first+lo, t.first+hi)
			case OpNE:
				e.hold(t.first, t.first+lo)
				e.hold(t.first+hi, t.first+n)
			}
		}
	}

	// 2. The entries listed under the literals that hold, read in one
	// pass over each range and form: a clause holds when its other
	// literals do.
	for _, rg := range e.ranges {
		e.scan(rg)
	}

	// 3. for and cooldown.
	nowNs := now.UnixNano()
	for _, r := range e.prevTrue {
		if tb[r>>6]&(1<<(r&63)) == 0 {
			e.holding[r] = false
			if e.firedLast[r] {
				e.quiet[r] = nowNs + int64(rs.rules[r].Cooldown)
			}
			e.firedLast[r] = false
		}
	}
	e.prevTrue = e.prevTrue[:0]
	for w, timed := range rs.timedBits {
		for word := tb[w] & timed; word != 0; word &= word - 1 {
			b := bits.TrailingZeros64(word)
			r := int32(w<<6 | b)
			e.prevTrue = append(e.prevTrue, r)
			if !e.holding[r] {
				e.holding[r], e.since[r] = true, nowNs
			}
			ok := nowNs-e.since[r] >= int64(rs.rules[r].For) && nowNs >= e.quiet[r]
			e.firedLast[r] = ok
			if !ok {
				tb[w] &^= 1 << b
			}
		}
	}

	if e.last != nil && slices.Equal(e.last.fired, tb) && e.sameReads(e.last.values.v, v) {
		return e.last
	}

	// 4. Conflict resolution: in rank order, the first rule to claim a
	// knob and target wins it. Once every key is claimed, the rest of the
	// fired rules only add their actions to the overridden count.
	res := &Result{
		rs:     rs,
		fired:  slices.Clone(tb),
		values: &snapshot{schema: rs.schema, v: slices.Clone(v)},
	}
	claimed, nkeys := e.claimed[:0], len(rs.keys)
	for w := 0; w < len(tb); w++ {
		word := tb[w]
		res.nfired += bits.OnesCount64(word)
		for ; word != 0 && len(claimed) < nkeys; word &= word - 1 {
			r := int32(w<<6 | bits.TrailingZeros64(word))
			for _, k := range rs.keyIDs[rs.keyStart[r]:rs.keyStart[r+1]] {
				if e.keyWin[k] < 0 {
					e.keyWin[k] = r
					claimed = append(claimed, k)
				} else if e.keyWin[k] != r {
					res.overridden++
				}
			}
		}
		if word != 0 { // every key is claimed
			res.overridden += e.countActions(w, word)
			for w++; w < len(tb); w++ {
				res.nfired += bits.OnesCount64(tb[w])
			}
		}
	}
	slices.Sort(claimed)
	res.Actions = make([]Decision, 0, len(claimed))
	for _, k := range claimed {
		r := rs.rules[e.keyWin[k]]
		e.keyWin[k] = -1
		for _, a := range r.Actions {
			if a.Knob == rs.keys[k].knob && a.Target == rs.keys[k].target {
				res.Actions = append(res.Actions, Decision{Action: a, Rule: r, values: res.values})
				break
			}
		}
	}
	e.claimed = claimed
	e.last = res
	return res
}

// sameReads reports whether v holds the values last does in every slot a
// rule that fired (trueBits) reads, bit for bit.
func (e *Engine) sameReads(last, v []float64) bool {
	rs := e.rs
	for w, word := range e.trueBits {
		for ; word != 0; word &= word - 1 {
			r := w<<6 | bits.TrailingZeros64(word)
			for _, slot := range rs.reads[rs.readStart[r]:rs.readStart[r+1]] {
				if math.Float64bits(v[slot]) != math.Float64bits(last[slot]) {
					return false
				}
			}
		}
	}
	return true
}

// scan runs the entries of the literals in rg on this tick's literal
// bits and sets the bit of each rule they find true. The fixed forms
// compute a clause's truth without a branch: which entries hold is as
// good as random, so a branch on it would mispredict half the time.
func (e *Engine) scan(rg litRange) {
	rs, lb, tb := e.rs, e.litBits, e.trueBits
	bit := func(l int32) uint64 { return lb[l>>6] >> (l & 63) & 1 }
	if t := &rs.fixed[0]; t.start != nil {
		for _, r := range t.data[t.start[rg.lo]:t.start[rg.hi]] {
			tb[r>>6] |= 1 << (r & 63)
		}
	}
	if t := &rs.fixed[1]; t.start != nil {
		for d := t.data[t.start[rg.lo]:t.start[rg.hi]]; len(d) >= 2; d = d[2:] {
			r := d[0]
			tb[r>>6] |= bit(d[1]) << (r & 63)
		}
	}
	if t := &rs.fixed[2]; t.start != nil {
		for d := t.data[t.start[rg.lo]:t.start[rg.hi]]; len(d) >= 3; d = d[3:] {
			r := d[0]
			tb[r>>6] |= bit(d[1]) & bit(d[2]) << (r & 63)
		}
	}
	if t := &rs.fixed[3]; t.start != nil {
		for d := t.data[t.start[rg.lo]:t.start[rg.hi]]; len(d) >= 4; d = d[4:] {
			r := d[0]
			tb[r>>6] |= bit(d[1]) & bit(d[2]) & bit(d[3]) << (r & 63)
		}
	}
	t := &rs.general
	if t.start == nil {
		return
	}
	d := t.data[:t.start[rg.hi]]
	for i := t.start[rg.lo]; i < int32(len(d)); {
		r, n := d[i], d[i+1]
		i += 2
		if n < 0 {
			if e.run(&rs.progs[r], 0) {
				tb[r>>6] |= 1 << (r & 63)
			}
			continue
		}
		ok := true
		for _, l := range d[i : i+n] {
			ok = ok && bit(l) != 0
		}
		i += n
		if ok {
			tb[r>>6] |= 1 << (r & 63)
		}
	}
}

// countActions counts the actions of the fired rules from bit word of
// word w on: a popcount per word and action count when moreKeys has them.
func (e *Engine) countActions(w int, word uint64) int {
	rs, tb := e.rs, e.trueBits
	n := 0
	if rs.moreKeys == nil { // rule by rule
		for {
			for ; word != 0; word &= word - 1 {
				r := w<<6 | bits.TrailingZeros64(word)
				n += int(rs.keyStart[r+1] - rs.keyStart[r])
			}
			if w++; w == len(tb) {
				return n
			}
			word = tb[w]
		}
	}
	mask := word // the bits of word w still to count
	for ; w < len(tb); w++ {
		n += bits.OnesCount64(tb[w] & mask)
		for _, more := range rs.moreKeys {
			n += bits.OnesCount64(tb[w] & mask & more[w])
		}
		mask = ^uint64(0)
	}
	return n
}

// hold marks the literals [lo, hi) as holding and queues their entries.
func (e *Engine) hold(lo, hi int32) {
	if lo >= hi {
		return
	}
	e.ranges = append(e.ranges, litRange{lo, hi})
	setBits(e.litBits, lo, hi)
}

// setBits sets bits [lo, hi) of b, a word at a time.
func setBits(b []uint64, lo, hi int32) {
	wlo, whi := lo>>6, (hi-1)>>6
	first, last := ^uint64(0)<<(lo&63), ^uint64(0)>>(63-((hi-1)&63))
	if wlo == whi {
		b[wlo] |= first & last
		return
	}
	b[wlo] |= first
	for w := wlo + 1; w < whi; w++ {
		b[w] = ^uint64(0)
	}
	b[whi] |= last
}

// run evaluates node i of a general rule's program on this tick's
// literal bits.
func (e *Engine) run(p *program, i int32) bool {
	n := &p.nodes[i]
	switch n.kind {
	case condAtom:
		return e.litBits[n.lit>>6]&(1<<(n.lit&63)) != 0
	case condAll:
		for _, k := range p.kids[n.first : n.first+n.n] {
			if !e.run(p, k) {
				return false
			}
		}
		return true
	}
	for _, k := range p.kids[n.first : n.first+n.n] {
		if e.run(p, k) {
			return true
		}
	}
	return false
}

// snapshot is the feature values of one evaluation, kept for its reasons.
type snapshot struct {
	schema *Schema
	v      []float64
}

// Result is what one evaluation decided. It is read-only, and like its
// Engine not safe for concurrent use (Fired fills it in on first use).
type Result struct {
	// Actions are the winning action per knob and target, sorted by knob
	// then target.
	Actions []Decision

	rs         *RuleSet
	fired      []uint64 // a bit per rank; a Fired each is built only when asked for
	nfired     int
	values     *snapshot
	overridden int
	firedList  []Fired // Fired's list, once built
}

// Fired lists the rules that fired, in resolution order. The list is
// the Result's, built on the first call: read-only.
func (r *Result) Fired() []Fired {
	if r.firedList != nil || r.nfired == 0 {
		return r.firedList
	}
	out := make([]Fired, 0, r.nfired)
	for w, word := range r.fired {
		for ; word != 0; word &= word - 1 {
			out = append(out, Fired{Rule: r.rs.rules[w<<6|bits.TrailingZeros64(word)], values: r.values})
		}
	}
	r.firedList = out
	return out
}

// NumFired is len(r.Fired()) without building the list.
func (r *Result) NumFired() int { return r.nfired }

// Fired is one rule that fired.
type Fired struct {
	Rule   *Rule
	values *snapshot
}

// Reason says why the rule fired, with the values it saw:
// "rule hot-cpu: thermal.forecast_30s 91.2 >= 90". It is built on
// demand: most ticks nobody reads most reasons.
func (f Fired) Reason() string { return f.Rule.explain(f.values.schema, f.values.v) }

// Decision is the action that won a knob and target, and the rule it
// came from.
type Decision struct {
	Action
	Rule   *Rule
	values *snapshot
}

// Reason says which rule asked for the action and why.
func (d Decision) Reason() string { return d.Rule.explain(d.values.schema, d.values.v) }

// AppendReason appends Reason's text to b, for a caller that keeps a
// reason from tick to tick and needs a new string only when it changes.
func (d Decision) AppendReason(b []byte) []byte {
	return d.Rule.appendExplain(b, d.values.schema, d.values.v)
}

// Overridden counts actions that lost a knob to a rule earlier in
// resolution order.
func (r *Result) Overridden() int { return r.overridden }

// Mode returns the power mode the rules ask for, if any.
func (r *Result) Mode() (power.Mode, bool) {
	for _, d := range r.Actions {
		if d.Knob != KnobPowerMode {
			continue
		}
		// The parser wrote the mode's own name: find it without
		// ParseMode, which allocates on every call.
		for _, m := range power.Modes() {
			if d.Value == m.String() {
				return m, true
			}
		}
		m, err := power.ParseMode(d.Value)
		return m, err == nil
	}
	return power.Balanced, false
}

// CapWatts returns the power cap the rules ask for, if any.
func (r *Result) CapWatts() (float64, bool) {
	for _, d := range r.Actions {
		if d.Knob == KnobPowerCap {
			w, err := strconv.ParseFloat(d.Value, 64)
			return w, err == nil && !math.IsNaN(w)
		}
	}
	return 0, false
}

// PlanActions converts the winning knob actions for a plan, each with its
// reason; the pseudo-knobs (mode and cap) are left to Mode and CapWatts.
func (r *Result) PlanActions() []*gamesav1.Action {
	out := make([]*gamesav1.Action, 0, len(r.Actions))
	for _, d := range r.Actions {
		if d.Knob == KnobPowerMode || d.Knob == KnobPowerCap {
			continue
		}
		out = append(out, d.Proto(d.Reason()))
	}
	return out
}
