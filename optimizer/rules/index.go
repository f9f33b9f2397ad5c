package rules

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// index is a RuleSet's evaluation tables (the package doc's "The index").
//
// Literal ids are laid out by feature, then operator, then threshold, so
// that the literals one feature value satisfies are at most two
// contiguous id ranges per operator. Every rule becomes clauses (a
// disjunction of conjunctions of literals) or, when that would take too
// many clauses, a program; each clause is listed under one literal only,
// its trigger, and each program under a cover: literals one of which
// holds whenever the program does. Entries are stored by trigger
// literal, so the entries of a satisfied id range are one contiguous run
// of memory per form of entry, read front to back.
type index struct {
	feats []featIndex // by slot
	nlits int
	// For String: rules that are one conjunction, rules with several
	// clauses, and rules run as programs.
	nconj, nclausal, nprog int

	// Triggers: fixed[k] holds the clauses with k other literals, each
	// entry a rank and those k literals, so that its loop has a fixed
	// stride and no branch; general holds longer clauses (rank, n >= 4,
	// the n others) and programs (rank, -1: run the rank's program).
	fixed   [fixedClasses]triggers
	general triggers
	progs   []program // by rank; empty for rules compiled to clauses

	// keys: every (knob, target) an action sets, sorted; rank r's actions
	// set keyIDs[keyStart[r]:keyStart[r+1]].
	keys     []keyName
	keyStart []int32
	keyIDs   []int32

	// moreKeys[j] has a bit per rank with at least j+2 actions, so that
	// counting the actions of many fired rules is a few popcounts; nil
	// when some rule has more than maxCountedKeys actions.
	moreKeys [][]uint64

	timed     []bool   // For or Cooldown set, by rank
	timedBits []uint64 // the same, a bit per rank

	// reads: the feature slots rank r's condition reads (its reasons
	// quote them) are reads[readStart[r]:readStart[r+1]].
	readStart []int32
	reads     []int32
}

// maxCountedKeys bounds the actions per rule for which moreKeys is built.
const maxCountedKeys = 8

type keyName struct{ knob, target string }

// fixedClasses is how many trigger streams have a fixed stride: clauses
// of 1 to fixedClasses literals, what rules mostly are.
const fixedClasses = 4

// triggers are entries listed by trigger literal: literal l's are
// data[start[l]:start[l+1]]. Both are nil when no entry has this form.
type triggers struct {
	start []int32 // len nlits+1
	data  []int32
}

// add appends the entries, sorted by literal, and fills start.
func (t *triggers) add(nlits int, entries []entry) {
	if len(entries) == 0 {
		return
	}
	slices.SortStableFunc(entries, func(a, b entry) int { return cmp.Compare(a.lit, b.lit) })
	t.start = make([]int32, nlits+1)
	for _, e := range entries {
		t.start[e.lit+1] += int32(len(e.body))
		t.data = append(t.data, e.body...)
	}
	for l := range nlits {
		t.start[l+1] += t.start[l]
	}
}

// entry is one trigger entry during the build.
type entry struct {
	lit  int32
	body []int32
}

// literal is one comparison in negation normal form. A negated atom
// becomes its opposite operator that also holds when the feature is
// absent, so `not (x > 5)` is true without x, as the language says.
type literal struct {
	slot     int
	op       Op
	val      float64
	orAbsent bool
}

func compareLiterals(a, b literal) int {
	return cmp.Or(cmp.Compare(a.slot, b.slot), cmp.Compare(a.op, b.op), cmp.Compare(a.val, b.val),
		cmp.Compare(b2i(a.orAbsent), b2i(b.orAbsent)))
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// featIndex holds the literals on one feature, by operator, sorted by
// threshold, so that one binary search per operator finds every literal
// the feature's value satisfies.
type featIndex struct {
	slot   int
	byOp   [6]thresholds
	absent []int32 // literals with orAbsent
}

// thresholds are the sorted thresholds of one feature and operator;
// vals[i] is literal first+i.
type thresholds struct {
	vals  []float64
	first int32
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

// maxClauses bounds the disjunctive normal form of one rule: past it the
// rule is run as a program, whose size does not multiply out.
const maxClauses = 16

// build indexes valid rules.
func build(schema *Schema, rules []*Rule) *RuleSet {
	slices.SortFunc(rules, less)
	rs := &RuleSet{schema: schema, rules: rules}
	rs.buildKeys()
	rs.buildReads()

	// Literal ids in (feature, operator, threshold) order.
	var lits []literal
	for _, r := range rules {
		collectLiterals(r.when, false, &lits)
	}
	slices.SortFunc(lits, compareLiterals)
	lits = slices.CompactFunc(lits, func(a, b literal) bool { return a == b })
	rs.nlits = len(lits)
	litID := make(map[literal]int32, len(lits))
	for i, l := range lits {
		litID[l] = int32(i)
	}
	id := func(l literal) int32 { return litID[l] }
	rs.buildFeatures(lits)
	est := estimates(schema, lits)

	// Each rule's entries, by form, then by trigger literal (a stable sort
	// keeps each literal's entries in rank order).
	var fixed [fixedClasses][]entry
	var general []entry
	rs.progs = make([]program, len(rules))
	rs.timed = make([]bool, len(rules))
	rs.timedBits = make([]uint64, (len(rules)+63)/64)
	for i, r := range rules {
		if r.For > 0 || r.Cooldown > 0 {
			rs.timed[i] = true
			rs.timedBits[i>>6] |= 1 << (i & 63)
		}
		if clauses, ok := dnf(r.when, false, id); ok {
			if len(clauses) == 1 {
				rs.nconj++
			} else {
				rs.nclausal++
			}
			for _, c := range clauses {
				t := rarest(c, est)
				body := []int32{int32(i)}
				if len(c) > fixedClasses {
					body = append(body, int32(len(c)-1))
				}
				for _, l := range c {
					if l != t {
						body = append(body, l)
					}
				}
				if len(c) > fixedClasses {
					general = append(general, entry{t, body})
				} else {
					fixed[len(c)-1] = append(fixed[len(c)-1], entry{t, body})
				}
			}
			continue
		}
		rs.nprog++
		var prog program
		compileNNF(r.when, false, &prog, id)
		rs.progs[i] = prog
		cov, _ := prog.cover(0, est)
		slices.Sort(cov)
		for _, l := range slices.Compact(cov) {
			general = append(general, entry{l, []int32{int32(i), -1}})
		}
	}
	for k := range fixed {
		rs.fixed[k].add(len(lits), fixed[k])
	}
	rs.general.add(len(lits), general)
	return rs
}

// buildKeys numbers every (knob, target) the actions set.
func (rs *RuleSet) buildKeys() {
	keyIDs := map[keyName]int32{}
	for _, r := range rs.rules {
		for _, a := range r.Actions {
			if _, ok := keyIDs[keyName{a.Knob, a.Target}]; !ok {
				keyIDs[keyName{a.Knob, a.Target}] = 0
				rs.keys = append(rs.keys, keyName{a.Knob, a.Target})
			}
		}
	}
	slices.SortFunc(rs.keys, func(a, b keyName) int {
		return cmp.Or(strings.Compare(a.knob, b.knob), strings.Compare(a.target, b.target))
	})
	for i, k := range rs.keys {
		keyIDs[k] = int32(i)
	}
	rs.keyStart = make([]int32, 0, len(rs.rules)+1)
	rs.keyStart = append(rs.keyStart, 0)
	for i, r := range rs.rules {
		r.rank = i
		for _, a := range r.Actions {
			rs.keyIDs = append(rs.keyIDs, keyIDs[keyName{a.Knob, a.Target}])
		}
		rs.keyStart = append(rs.keyStart, int32(len(rs.keyIDs)))
	}
	most := 0
	for _, r := range rs.rules {
		most = max(most, len(r.Actions))
	}
	if most > maxCountedKeys {
		return
	}
	rs.moreKeys = make([][]uint64, max(most-1, 0))
	for j := range rs.moreKeys {
		rs.moreKeys[j] = make([]uint64, (len(rs.rules)+63)/64)
	}
	for i, r := range rs.rules {
		for j := 0; j+2 <= len(r.Actions); j++ {
			rs.moreKeys[j][i>>6] |= 1 << (i & 63)
		}
	}
}

// buildFeatures groups the sorted literals by feature and operator.
func (rs *RuleSet) buildFeatures(lits []literal) {
	for i, l := range lits {
		if len(rs.feats) == 0 || rs.feats[len(rs.feats)-1].slot != l.slot {
			rs.feats = append(rs.feats, featIndex{slot: l.slot})
		}
		fx := &rs.feats[len(rs.feats)-1]
		t := &fx.byOp[l.op]
		if len(t.vals) == 0 {
			t.first = int32(i)
		}
		t.vals = append(t.vals, l.val)
		if l.orAbsent {
			fx.absent = append(fx.absent, int32(i))
		}
	}
}

// estimates guesses how often each literal holds, as if a feature's
// values were spread like the thresholds rules compare it with: a
// threshold above most others is rarely exceeded. Only the order matters:
// it picks each clause's trigger.
func estimates(schema *Schema, lits []literal) []float64 {
	est := make([]float64, len(lits))
	for lo := 0; lo < len(lits); {
		hi := lo
		for hi < len(lits) && lits[hi].slot == lits[lo].slot {
			hi++
		}
		var ths []float64
		for _, l := range lits[lo:hi] {
			ths = append(ths, l.val)
		}
		slices.Sort(ths)
		n := float64(len(ths))
		fi := schema.infos[lits[lo].slot]
		for i := lo; i < hi; i++ {
			l := lits[i]
			below, _ := slices.BinarySearch(ths, l.val) // thresholds < val
			upTo := below
			for upTo < len(ths) && ths[upTo] == l.val {
				upTo++ // thresholds <= val
			}
			pLT, pLE := (float64(below)+0.5)/(n+1), (float64(upTo)+0.5)/(n+1)
			pEQ := 1 / (n + 1)
			switch fi.Type {
			case Bool:
				pEQ = 0.5
			case String:
				pEQ = 1 / float64(len(fi.Choices)+1)
			}
			switch l.op {
			case OpLT:
				est[i] = pLT
			case OpLE:
				est[i] = pLE
			case OpGT:
				est[i] = 1 - pLE
			case OpGE:
				est[i] = 1 - pLT
			case OpEQ:
				est[i] = pEQ
			case OpNE:
				est[i] = 1 - pEQ
			}
		}
		lo = hi
	}
	return est
}

// rarest returns the literal of clause c least likely to hold.
func rarest(c []int32, est []float64) int32 {
	best := c[0]
	for _, l := range c[1:] {
		if est[l] < est[best] {
			best = l
		}
	}
	return best
}

// buildReads lists the slots each rule's condition reads.
func (rs *RuleSet) buildReads() {
	rs.readStart = make([]int32, 0, len(rs.rules)+1)
	for _, r := range rs.rules {
		rs.readStart = append(rs.readStart, int32(len(rs.reads)))
		start := len(rs.reads)
		rs.reads = collectSlots(r.when, rs.reads)
		run := slices.Compact(slices.Sorted(slices.Values(rs.reads[start:])))
		rs.reads = append(rs.reads[:start], run...)
	}
	rs.readStart = append(rs.readStart, int32(len(rs.reads)))
}

// collectSlots appends the slot of every atom of c to out.
func collectSlots(c *cond, out []int32) []int32 {
	if c.kind == condAtom {
		return append(out, int32(c.slot))
	}
	for _, k := range c.kids {
		out = collectSlots(k, out)
	}
	return out
}

// collectLiterals appends c's literals, under negation neg.
func collectLiterals(c *cond, neg bool, out *[]literal) {
	switch c.kind {
	case condAtom:
		*out = append(*out, atomLiteral(c, neg))
		return
	case condNot:
		neg = !neg
	}
	for _, k := range c.kids {
		collectLiterals(k, neg, out)
	}
}

func atomLiteral(c *cond, neg bool) literal {
	if neg {
		return literal{slot: c.slot, op: c.op.negate(), val: c.val, orAbsent: true}
	}
	return literal{slot: c.slot, op: c.op, val: c.val}
}

// dnf writes c, under negation neg, as a disjunction of clauses, each a
// sorted set of literal ids that must all hold; ok is false when that
// takes more than maxClauses clauses.
func dnf(c *cond, neg bool, id func(literal) int32) (clauses [][]int32, ok bool) {
	switch c.kind {
	case condAtom:
		return [][]int32{{id(atomLiteral(c, neg))}}, true
	case condNot:
		return dnf(c.kids[0], !neg, id)
	}
	if (c.kind == condAny) != neg { // a disjunction: the kids' clauses
		for _, k := range c.kids {
			kc, ok := dnf(k, neg, id)
			if !ok || len(clauses)+len(kc) > maxClauses {
				return nil, false
			}
			clauses = append(clauses, kc...)
		}
		return clauses, true
	}
	// A conjunction: every combination of one clause per kid.
	clauses = [][]int32{nil}
	for _, k := range c.kids {
		kc, ok := dnf(k, neg, id)
		if !ok || len(clauses)*len(kc) > maxClauses {
			return nil, false
		}
		next := make([][]int32, 0, len(clauses)*len(kc))
		for _, a := range clauses {
			for _, b := range kc {
				m := append(slices.Clone(a), b...)
				slices.Sort(m)
				next = append(next, slices.Compact(m))
			}
		}
		clauses = next
	}
	return clauses, true
}

// compileNNF appends c's nodes, under negation neg, to the program and
// returns the index of its root.
func compileNNF(c *cond, neg bool, prog *program, id func(literal) int32) int32 {
	switch c.kind {
	case condAtom:
		prog.nodes = append(prog.nodes, node{kind: condAtom, lit: id(atomLiteral(c, neg))})
		return int32(len(prog.nodes) - 1)
	case condNot:
		return compileNNF(c.kids[0], !neg, prog, id)
	}
	kind := c.kind
	if neg {
		kind = condAll + condAny - kind // De Morgan
	}
	self := int32(len(prog.nodes))
	prog.nodes = append(prog.nodes, node{kind: kind})
	kids := make([]int32, len(c.kids))
	for i, k := range c.kids {
		kids[i] = compileNNF(k, neg, prog, id)
	}
	prog.nodes[self].first, prog.nodes[self].n = int32(len(prog.kids)), int32(len(kids))
	prog.kids = append(prog.kids, kids...)
	return self
}

// cover returns literals one of which holds whenever node i does, and
// their summed estimate: an and is covered by its cheapest kid's cover,
// an or by all its kids' covers.
func (p *program) cover(i int32, est []float64) ([]int32, float64) {
	n := &p.nodes[i]
	kids := p.kids[n.first : n.first+n.n]
	switch n.kind {
	case condAtom:
		return []int32{n.lit}, est[n.lit]
	case condAll:
		var best []int32
		bestCost := 0.0
		for j, k := range kids {
			c, cost := p.cover(k, est)
			if j == 0 || cost < bestCost {
				best, bestCost = c, cost
			}
		}
		return best, bestCost
	}
	var all []int32
	total := 0.0
	for _, k := range kids {
		c, cost := p.cover(k, est)
		all, total = append(all, c...), total+cost
	}
	return all, total
}

// String summarises the index, for logs.
func (rs *RuleSet) String() string {
	return fmt.Sprintf("%d rules (%d conjunctive, %d of several clauses, %d by program), %d distinct comparisons on %d features, %d knob targets",
		len(rs.rules), rs.nconj, rs.nclausal, rs.nprog, rs.nlits, len(rs.feats), len(rs.keys))
}
