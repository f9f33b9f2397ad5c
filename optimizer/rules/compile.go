package rules

import (
	"cmp"
	"slices"
	"strings"
)

// RuleSet is a compiled, indexed set of rules. It is immutable and safe
// for concurrent use; each Engine keeps its own evaluation state.
type RuleSet struct {
	schema *Schema
	rules  []*Rule // in rank order: rules[i].rank == i
	index
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
