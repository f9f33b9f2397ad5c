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
// allocates only its Result. It is not safe for concurrent use: the
// node's loop owns it.
type Engine struct {
	rs    *RuleSet
	epoch uint32

	litMark []uint32 // == epoch: the literal holds
	// One record per rule, so that counting a posting touches one cache
	// line: what 100,000 rules' evaluation is bound by.
	rstate   []ruleState
	trueList []int32
	cands    []int32

	// Timing, for rules with For or Cooldown.
	since     []int64 // unix nanos the condition has held since
	holding   []bool  // the condition held last tick
	firedLast []bool
	quiet     []int64 // unix nanos before which the rule may not fire
	prevTrue  []int32 // timed rules whose condition held last tick

	fired   []uint64 // bit per rank
	keyMark []uint32
	keyWin  []int32
}

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
		litMark:   make([]uint32, rs.nlits),
		rstate:    make([]ruleState, n),
		since:     make([]int64, n),
		holding:   make([]bool, n),
		firedLast: make([]bool, n),
		quiet:     make([]int64, n),
		fired:     make([]uint64, (n+63)/64),
		keyMark:   make([]uint32, len(rs.keys)),
		keyWin:    make([]int32, len(rs.keys)),
	}
	e.initState()
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

// initState fills the per-rule records that never change.
func (e *Engine) initState() {
	for i, n := range e.rs.need {
		e.rstate[i].need = n
	}
}

// Rules returns the rule set in use.
func (e *Engine) Rules() *RuleSet { return e.rs }

// Evaluate runs the rules over one tick's features at time now, which
// must not go backwards between calls. f must come from the rule set's
// Schema.
func (e *Engine) Evaluate(f *Features, now time.Time) *Result {
	rs := e.rs
	e.nextEpoch()
	ep := e.epoch
	v := f.v
	e.trueList, e.cands = e.trueList[:0], e.cands[:0]

	// 1. Every literal the values satisfy, found per feature and operator
	// by binary search, and every conjunctive rule they complete.
	for fi := range rs.feats {
		fx := &rs.feats[fi]
		x := v[fx.slot]
		if x != x { // absent: only negated comparisons hold
			for _, l := range fx.absent {
				e.hit(l, ep)
			}
			continue
		}
		for o := range fx.byOp {
			t := &fx.byOp[o]
			if len(t.lits) == 0 {
				continue
			}
			lo := sort.SearchFloat64s(t.vals, x) // first t >= x
			hi := lo
			for hi < len(t.vals) && t.vals[hi] == x {
				hi++
			}
			switch Op(o) {
			case OpGT: // t < x
				e.hitRange(t.lits[:lo], ep)
			case OpGE: // t <= x
				e.hitRange(t.lits[:hi], ep)
			case OpLT: // t > x
				e.hitRange(t.lits[hi:], ep)
			case OpLE: // t >= x
				e.hitRange(t.lits[lo:], ep)
			case OpEQ:
				e.hitRange(t.lits[lo:hi], ep)
			case OpNE:
				e.hitRange(t.lits[:lo], ep)
				e.hitRange(t.lits[hi:], ep)
			}
		}
	}
	// 2. The other rules that a satisfied literal touches, run on the
	// literal marks.
	for _, r := range e.cands {
		if e.run(&rs.progs[r], 0) {
			e.rstate[r].trueMark = ep
			e.trueList = append(e.trueList, r)
		}
	}

	// 3. for and cooldown.
	nowNs := now.UnixNano()
	for _, r := range e.prevTrue {
		if e.rstate[r].trueMark != ep {
			e.holding[r] = false
			if e.firedLast[r] {
				e.quiet[r] = nowNs + int64(rs.rules[r].Cooldown)
			}
			e.firedLast[r] = false
		}
	}
	e.prevTrue = e.prevTrue[:0]
	nfired := 0
	for _, r := range e.trueList {
		if rs.timed[r] {
			e.prevTrue = append(e.prevTrue, r)
			if !e.holding[r] {
				e.holding[r], e.since[r] = true, nowNs
			}
			ok := nowNs-e.since[r] >= int64(rs.rules[r].For) && nowNs >= e.quiet[r]
			e.firedLast[r] = ok
			if !ok {
				continue
			}
		}
		e.fired[r>>6] |= 1 << (r & 63)
		nfired++
	}

	// 4. Conflict resolution: in rank order, the first rule to claim a
	// knob and target wins it.
	res := &Result{
		rs:     rs,
		fired:  make([]int32, 0, nfired),
		values: &snapshot{schema: rs.schema, v: slices.Clone(v)},
	}
	var claimed []int32
	for w, word := range e.fired {
		for word != 0 {
			b := bits.TrailingZeros64(word)
			word &= word - 1
			r := int32(w<<6 | b)
			res.fired = append(res.fired, r)
			for _, k := range rs.ruleKeys[r] {
				if e.keyMark[k] != ep {
					e.keyMark[k], e.keyWin[k] = ep, r
					claimed = append(claimed, k)
				} else if e.keyWin[k] != r {
					res.overridden++
				}
			}
		}
		e.fired[w] = 0
	}
	slices.Sort(claimed)
	res.Actions = make([]Decision, 0, len(claimed))
	for _, k := range claimed {
		r := rs.rules[e.keyWin[k]]
		for _, a := range r.Actions {
			if a.Knob == rs.keys[k].knob && a.Target == rs.keys[k].target {
				res.Actions = append(res.Actions, Decision{Action: a, Rule: r, values: res.values})
				break
			}
		}
	}
	return res
}

// ruleState is one rule's scratch for the tick: mark == epoch says count
// is this tick's; trueMark == epoch says the condition holds.
type ruleState struct {
	mark, count, need, trueMark uint32
}

// hit records one satisfied literal.
func (e *Engine) hit(l int32, ep uint32) {
	e.litMark[l] = ep
	for _, r := range e.rs.conjPost[l] {
		st := &e.rstate[r]
		if st.mark != ep {
			st.mark, st.count = ep, 0
		}
		st.count++
		if st.count == st.need {
			st.trueMark = ep
			e.trueList = append(e.trueList, r)
		}
	}
	for _, r := range e.rs.genPost[l] {
		if st := &e.rstate[r]; st.mark != ep {
			st.mark = ep
			e.cands = append(e.cands, r)
		}
	}
}

func (e *Engine) hitRange(ls []int32, ep uint32) {
	for _, l := range ls {
		e.hit(l, ep)
	}
}

// run evaluates node i of a general rule's program on this tick's marks.
func (e *Engine) run(p *program, i int32) bool {
	n := &p.nodes[i]
	switch n.kind {
	case condAtom:
		return e.litMark[n.lit] == e.epoch
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

// nextEpoch advances the mark that makes last tick's scratch stale; on
// wrap-around the marks are cleared so no stale mark equals the new epoch.
func (e *Engine) nextEpoch() {
	e.epoch++
	if e.epoch == 0 {
		clear(e.litMark)
		for i := range e.rstate {
			e.rstate[i].mark, e.rstate[i].trueMark = 0, 0
		}
		clear(e.keyMark)
		e.epoch = 1
	}
}

// snapshot is the feature values of one evaluation, kept for its reasons.
type snapshot struct {
	schema *Schema
	v      []float64
}

// Result is what one evaluation decided.
type Result struct {
	// Actions are the winning action per knob and target, sorted by knob
	// then target.
	Actions []Decision

	rs         *RuleSet
	fired      []int32 // ranks; a Fired each is built only when asked for
	values     *snapshot
	overridden int
}

// Fired lists the rules that fired, in resolution order.
func (r *Result) Fired() []Fired {
	out := make([]Fired, len(r.fired))
	for i, rank := range r.fired {
		out[i] = Fired{Rule: r.rs.rules[rank], values: r.values}
	}
	return out
}

// NumFired is len(r.Fired()) without building the list.
func (r *Result) NumFired() int { return len(r.fired) }

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

// Overridden counts actions that lost a knob to a rule earlier in
// resolution order.
func (r *Result) Overridden() int { return r.overridden }

// Mode returns the power mode the rules ask for, if any.
func (r *Result) Mode() (power.Mode, bool) {
	for _, d := range r.Actions {
		if d.Knob == KnobPowerMode {
			m, err := power.ParseMode(d.Value)
			return m, err == nil
		}
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
