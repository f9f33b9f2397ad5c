package rules

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// RuleSet is a compiled, indexed set of rules. It is immutable and safe
// for concurrent use; each Engine keeps its own evaluation state.
type RuleSet struct {
	schema *Schema
	rules  []*Rule // in rank order: rules[i].rank == i
	feats  []featIndex
	nlits  int
	// Postings: the rules a satisfied literal can make true. Conjunctive
	// rules count their satisfied literals; the others are re-evaluated.
	conjPost [][]int32
	genPost  [][]int32
	need     []uint32  // conjunctive rules: distinct literals; 0 for general
	progs    []program // general rules: the NNF program; empty for conjunctive
	// keys: every (knob, target) an action sets, sorted; ruleKeys[r]
	// holds rule r's key per action.
	keys     []keyName
	ruleKeys [][]int32
	timed    []bool // For or Cooldown set
}

type keyName struct{ knob, target string }

// literal is one comparison in negation normal form. A negated atom
// becomes its opposite operator that also holds when the feature is
// absent, so `not (x > 5)` is true without x, as the language says.
type literal struct {
	slot     int
	op       Op
	val      float64
	orAbsent bool
}

// featIndex holds the literals on one feature, by operator, sorted by
// threshold, so that one binary search per operator finds every literal
// the feature's value satisfies.
type featIndex struct {
	slot   int
	byOp   [6]thresholds
	absent []int32 // literals with orAbsent
}

type thresholds struct {
	vals []float64
	lits []int32
}

// program is a general rule's condition in negation normal form; its
// root is nodes[0].
type program struct {
	nodes []node
	kids  []int32 // node indexes, referenced by node.first and node.n
}

// node is a literal, or an and/or over the nodes listed in
// kids[first:first+n] of its program.
type node struct {
	kind  condKind // condAtom, condAll or condAny
	lit   int32
	first int32
	n     int32
}

// Rules returns the rules in resolution order: higher priority first, then
// more specific, then by name.
func (rs *RuleSet) Rules() []*Rule { return slices.Clone(rs.rules) }

// Len is the number of rules.
func (rs *RuleSet) Len() int { return len(rs.rules) }

// Schema returns the schema the rules were compiled against.
func (rs *RuleSet) Schema() *Schema { return rs.schema }

// Rule returns the rule with the given name.
func (rs *RuleSet) Rule(name string) (*Rule, bool) {
	for _, r := range rs.rules {
		if r.Name == name {
			return r, true
		}
	}
	return nil, false
}

// Compile parses, validates and indexes the rules of every file into one
// RuleSet. Names are unique across the files. On any problem it returns
// nil and an ErrorList with every problem found, by position.
func Compile(schema *Schema, files ...File) (*RuleSet, error) {
	p := &parser{schema: schema, knobs: knobKinds()}
	for _, f := range files {
		p.parseFile(f)
	}
	if len(p.errs) == 0 {
		p.checkSet()
	}
	if len(p.errs) > 0 {
		return nil, p.errs
	}
	return build(schema, p.rules), nil
}

// less orders rules for conflict resolution.
func less(a, b *Rule) int {
	if c := cmp.Compare(b.Priority, a.Priority); c != 0 {
		return c
	}
	if c := cmp.Compare(b.Specificity, a.Specificity); c != 0 {
		return c
	}
	return strings.Compare(a.Name, b.Name)
}

// checkSet finds the problems that need every rule: duplicate names and
// contradictory actions.
func (p *parser) checkSet() {
	byName := make(map[string]*Rule, len(p.rules))
	for _, r := range p.rules {
		if prev, dup := byName[r.Name]; dup {
			p.file = r.File
			p.errPos(r.Line, r.Column, ErrDuplicate, "%q also at %s", r.Name, prev.pos())
			continue
		}
		byName[r.Name] = r
	}
	type group struct {
		knob, target string
		priority     int
		specificity  int
	}
	type claim struct {
		rule *Rule
		act  Action
	}
	first := map[group]claim{}
	for _, r := range p.rules {
		for _, a := range r.Actions {
			g := group{a.Knob, a.Target, r.Priority, r.Specificity}
			c, seen := first[g]
			if !seen {
				first[g] = claim{r, a}
				continue
			}
			if c.act.Value == a.Value {
				continue
			}
			p.file = r.File
			p.errPos(a.Line, a.Column, ErrContradiction,
				"rule %q (%s:%d:%d) sets %s%s to %s and rule %q (%s:%d:%d) to %s, both at priority %d and specificity %d; give one a higher priority",
				c.rule.Name, c.rule.File, c.act.Line, c.act.Column, a.Knob, targetText(a.Target), c.act.Value,
				r.Name, r.File, a.Line, a.Column, a.Value, r.Priority, r.Specificity)
		}
	}
}

func targetText(t string) string {
	if t == "" {
		return ""
	}
	return " on " + t
}

// build indexes valid rules.
func build(schema *Schema, rules []*Rule) *RuleSet {
	slices.SortFunc(rules, less)
	rs := &RuleSet{schema: schema, rules: rules}
	keyIDs := map[keyName]int32{}
	for _, r := range rules {
		for _, a := range r.Actions {
			keyIDs[keyName{a.Knob, a.Target}] = 0
		}
	}
	for k := range keyIDs {
		rs.keys = append(rs.keys, k)
	}
	slices.SortFunc(rs.keys, func(a, b keyName) int {
		return cmp.Or(strings.Compare(a.knob, b.knob), strings.Compare(a.target, b.target))
	})
	for i, k := range rs.keys {
		keyIDs[k] = int32(i)
	}

	litIDs := map[literal]int32{}
	var lits []literal
	intern := func(l literal) int32 {
		if id, ok := litIDs[l]; ok {
			return id
		}
		id := int32(len(lits))
		litIDs[l] = id
		lits = append(lits, l)
		rs.conjPost = append(rs.conjPost, nil)
		rs.genPost = append(rs.genPost, nil)
		return id
	}
	rs.need = make([]uint32, len(rules))
	rs.progs = make([]program, len(rules))
	rs.ruleKeys = make([][]int32, len(rules))
	rs.timed = make([]bool, len(rules))
	for i, r := range rules {
		r.rank = i
		rs.timed[i] = r.For > 0 || r.Cooldown > 0
		for _, a := range r.Actions {
			rs.ruleKeys[i] = append(rs.ruleKeys[i], keyIDs[keyName{a.Knob, a.Target}])
		}
		if conj, ok := conjunction(r.when, false, nil); ok {
			ids := make([]int32, 0, len(conj))
			for _, l := range conj {
				ids = append(ids, intern(l))
			}
			slices.Sort(ids)
			ids = slices.Compact(ids)
			rs.need[i] = uint32(len(ids))
			for _, id := range ids {
				rs.conjPost[id] = append(rs.conjPost[id], int32(i))
			}
			continue
		}
		var prog program
		var used []int32
		compileNNF(r.when, false, &prog, intern, &used)
		rs.progs[i] = prog
		slices.Sort(used)
		for _, id := range slices.Compact(used) {
			rs.genPost[id] = append(rs.genPost[id], int32(i))
		}
	}
	rs.nlits = len(lits)

	bySlot := map[int]*featIndex{}
	for id, l := range lits {
		fx := bySlot[l.slot]
		if fx == nil {
			fx = &featIndex{slot: l.slot}
			bySlot[l.slot] = fx
		}
		t := &fx.byOp[l.op]
		t.vals = append(t.vals, l.val)
		t.lits = append(t.lits, int32(id))
		if l.orAbsent {
			fx.absent = append(fx.absent, int32(id))
		}
	}
	for _, fx := range bySlot {
		for o := range fx.byOp {
			sortThresholds(&fx.byOp[o])
		}
		rs.feats = append(rs.feats, *fx)
	}
	slices.SortFunc(rs.feats, func(a, b featIndex) int { return cmp.Compare(a.slot, b.slot) })
	return rs
}

func sortThresholds(t *thresholds) {
	idx := make([]int, len(t.vals))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(t.vals[a], t.vals[b]) })
	vals, lits := make([]float64, len(idx)), make([]int32, len(idx))
	for i, j := range idx {
		vals[i], lits[i] = t.vals[j], t.lits[j]
	}
	t.vals, t.lits = vals, lits
}

// conjunction flattens c, under negation neg, into a list of literals
// when it is one (an atom, an all of conjunctions, a not of a
// disjunction); ok is false otherwise.
func conjunction(c *cond, neg bool, out []literal) ([]literal, bool) {
	switch c.kind {
	case condAtom:
		return append(out, atomLiteral(c, neg)), true
	case condNot:
		return conjunction(c.kids[0], !neg, out)
	}
	if (c.kind == condAll) == neg && len(c.kids) > 1 {
		return nil, false // an any, or a not of an all: a disjunction
	}
	for _, k := range c.kids {
		var ok bool
		if out, ok = conjunction(k, neg, out); !ok {
			return nil, false
		}
	}
	return out, true
}

func atomLiteral(c *cond, neg bool) literal {
	if neg {
		return literal{slot: c.slot, op: c.op.negate(), val: c.val, orAbsent: true}
	}
	return literal{slot: c.slot, op: c.op, val: c.val}
}

// compileNNF appends c's nodes, under negation neg, to the program and
// returns the index of its root.
func compileNNF(c *cond, neg bool, prog *program, intern func(literal) int32, used *[]int32) int32 {
	switch c.kind {
	case condAtom:
		id := intern(atomLiteral(c, neg))
		*used = append(*used, id)
		prog.nodes = append(prog.nodes, node{kind: condAtom, lit: id})
		return int32(len(prog.nodes) - 1)
	case condNot:
		return compileNNF(c.kids[0], !neg, prog, intern, used)
	}
	kind := c.kind
	if neg {
		kind = condAll + condAny - kind // De Morgan
	}
	self := int32(len(prog.nodes))
	prog.nodes = append(prog.nodes, node{kind: kind})
	kids := make([]int32, len(c.kids))
	for i, k := range c.kids {
		kids[i] = compileNNF(k, neg, prog, intern, used)
	}
	prog.nodes[self].first, prog.nodes[self].n = int32(len(prog.kids)), int32(len(kids))
	prog.kids = append(prog.kids, kids...)
	return self
}

// String summarises the index, for logs.
func (rs *RuleSet) String() string {
	conj := 0
	for _, n := range rs.need {
		if n > 0 {
			conj++
		}
	}
	return fmt.Sprintf("%d rules (%d conjunctive), %d distinct comparisons on %d features, %d knob targets",
		len(rs.rules), conj, rs.nlits, len(rs.feats), len(rs.keys))
}
