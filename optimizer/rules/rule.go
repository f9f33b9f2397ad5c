package rules

import (
	"strconv"
	"strings"
	"time"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// The pseudo-knobs: what a rule asks of the power package rather than of
// the actuators. They are not in plan.proto; Result.Mode and
// Result.CapWatts read them, and Result.PlanActions leaves them out.
const (
	// KnobPowerMode carries a `mode:` action: the value is a power.Mode
	// name (GAMING, MAX_BATTERY, ...), the target empty.
	KnobPowerMode = "power.mode"
	// KnobPowerCap carries a `cap_power:` action: the node's power cap in
	// watts, for power.CapController.Step; the target empty.
	KnobPowerCap = "power.cap_watts"
)

// AppTargetPrefix starts the target of an app action: "app:compile" is
// every process the app coordinator classes as compile. The coordinator
// turns it into pids and cgroups.
const AppTargetPrefix = "app:"

// Op is a comparison operator.
type Op uint8

// The operators.
const (
	OpLT Op = iota // <
	OpLE           // <=
	OpGT           // >
	OpGE           // >=
	OpEQ           // ==
	OpNE           // !=
)

// String spells the operator.
func (o Op) String() string {
	switch o {
	case OpLT:
		return "<"
	case OpLE:
		return "<="
	case OpGT:
		return ">"
	case OpGE:
		return ">="
	case OpEQ:
		return "=="
	case OpNE:
		return "!="
	}
	return "Op(" + strconv.Itoa(int(o)) + ")"
}

// negate returns the operator that holds exactly when o does not, for
// present values.
func (o Op) negate() Op {
	switch o {
	case OpLT:
		return OpGE
	case OpLE:
		return OpGT
	case OpGT:
		return OpLE
	case OpGE:
		return OpLT
	case OpEQ:
		return OpNE
	}
	return OpEQ
}

// holds compares a present value x with the threshold t.
func (o Op) holds(x, t float64) bool {
	switch o {
	case OpLT:
		return x < t
	case OpLE:
		return x <= t
	case OpGT:
		return x > t
	case OpGE:
		return x >= t
	case OpEQ:
		return x == t
	}
	return x != t
}

type condKind uint8

const (
	condAtom condKind = iota
	condAll
	condAny
	condNot
)

// cond is a parsed condition: an atom or a combinator.
type cond struct {
	kind condKind
	// Atoms only.
	slot    int
	feature string
	op      Op
	val     float64
	lit     string // the value as written, for messages
	// Combinators only.
	kids []*cond
}

// atoms counts the comparisons in c: its specificity.
func (c *cond) atoms() int {
	if c.kind == condAtom {
		return 1
	}
	n := 0
	for _, k := range c.kids {
		n += k.atoms()
	}
	return n
}

// String writes the condition back in the language's words.
func (c *cond) String() string {
	switch c.kind {
	case condAtom:
		return c.feature + " " + c.op.String() + " " + c.lit
	case condNot:
		return "not (" + c.kids[0].String() + ")"
	}
	parts := make([]string, len(c.kids))
	for i, k := range c.kids {
		parts[i] = k.String()
	}
	sep := " and "
	if c.kind == condAny {
		sep = " or "
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return "(" + strings.Join(parts, sep) + ")"
}

// Action is one thing a rule asks for: a knob on a target set to a value,
// in plan.proto's vocabulary, or one of the pseudo-knobs KnobPowerMode and
// KnobPowerCap.
type Action struct {
	Knob   string
	Target string
	Value  string
	// Line and Column locate the action in its file.
	Line, Column int
}

// Rule is one compiled rule. Rules are immutable once compiled.
type Rule struct {
	Name string
	// Doc is the rule's `doc:` text, for users reading a plan.
	Doc      string
	Priority int
	// For is how long the condition must hold before the rule fires.
	For time.Duration
	// Cooldown is how long the rule stays quiet after it stops firing.
	Cooldown time.Duration
	Actions  []Action
	// Specificity is the number of comparisons in the condition.
	Specificity int
	// File, Line and Column locate the rule's name.
	File         string
	Line, Column int

	when *cond
	rank int // position in resolution order: priority, specificity, name
}

// Condition returns the rule's condition as text.
func (r *Rule) Condition() string { return r.when.String() }

// pos formats where a rule is, for messages that name two rules.
func (r *Rule) pos() string {
	return r.File + ":" + strconv.Itoa(r.Line) + ":" + strconv.Itoa(r.Column)
}

// explain says why the rule's condition holds for values v: the atoms
// that make it true, each with the value it saw.
func (r *Rule) explain(s *Schema, v []float64) string {
	var buf [160]byte
	return string(r.appendExplain(buf[:0], s, v))
}

// appendExplain appends explain's text to b: "rule NAME: " and the atoms,
// separated by ", ".
func (r *Rule) appendExplain(b []byte, s *Schema, v []float64) []byte {
	b = append(b, "rule "...)
	b = append(b, r.Name...)
	b = append(b, ": "...)
	return appendAtoms(b, len(b), r.when, s, v, false)
}

// appendAtoms appends the atoms of c that agree with want-negated truth
// (under `not`, the atoms that are false are the reasons), each after a
// ", " once b has grown past start.
func appendAtoms(b []byte, start int, c *cond, s *Schema, v []float64, negated bool) []byte {
	switch c.kind {
	case condAtom:
		if evalCond(c, v) != negated {
			if len(b) > start {
				b = append(b, ", "...)
			}
			if negated {
				b = append(b, "not "...)
			}
			b = append(b, c.feature...)
			b = append(b, ' ')
			b = appendValue(b, s, c.slot, v[c.slot])
			b = append(b, ' ')
			b = append(b, c.op.String()...)
			b = append(b, ' ')
			b = append(b, c.lit...)
		}
	case condNot:
		b = appendAtoms(b, start, c.kids[0], s, v, !negated)
	case condAll, condAny:
		for _, k := range c.kids {
			if evalCond(k, v) != negated {
				b = appendAtoms(b, start, k, s, v, negated)
			}
		}
	}
	return b
}

// evalCond interprets c over a feature vector: the reference semantics
// the compiled index must agree with.
func evalCond(c *cond, v []float64) bool {
	switch c.kind {
	case condAtom:
		x := v[c.slot]
		return x == x && c.op.holds(x, c.val) // x == x: present (not NaN)
	case condNot:
		return !evalCond(c.kids[0], v)
	case condAll:
		for _, k := range c.kids {
			if !evalCond(k, v) {
				return false
			}
		}
		return true
	}
	for _, k := range c.kids {
		if evalCond(k, v) {
			return true
		}
	}
	return false
}

// Proto converts the action for a plan, with the reasons given.
func (a Action) Proto(reasons ...string) *gamesav1.Action {
	return &gamesav1.Action{Knob: a.Knob, Target: a.Target, Value: a.Value, Reasons: reasons}
}
