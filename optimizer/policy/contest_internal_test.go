package policy

import (
	"slices"
	"testing"

	"github.com/krystalstack/gamesa/optimizer/rules"
)

// TestContestHoldsForTheSameAsksOnly resolves a conflict twice, which
// remembers it, and checks that it holds for the very same asks, and for
// nothing that differs in any way resolve reads: one ask more or less,
// another value, source, rule or urgency, or reasons of another slice.
func TestContestHoldsForTheSameAsksOnly(t *testing.T) {
	coordWhy, ruleWhy := []string{"summary", "a hog"}, []string{"rule compile-weight"}
	r1, r2 := &rules.Rule{Name: "one", Priority: 10}, &rules.Rule{Name: "two", Priority: 10}
	base := []ask{
		{value: "10", source: SourceCoordinator, reasons: coordWhy},
		{value: "5", source: SourceRule, reasons: ruleWhy, rule: r1},
		{value: "10", source: SourceMode, reasons: []string{"mode"}},
	}
	file := func(asks []ask) (*board, *slot) {
		p := &Pipeline{tick: 1, entries: map[Key]*entry{}}
		k := Key{Knob: "process.nice", Target: "pid:40"}
		for _, a := range asks {
			p.ask(k, a)
		}
		return &p.board, &p.board.slots[0]
	}
	b, s := file(base)
	var d Decision
	b.resolve(s, &d, nil)
	if s.e.contest != nil {
		t.Fatal("a setting contested once remembers the contest")
	}
	b.resolve(s, &Decision{}, nil)
	c := s.e.contest
	if c == nil || !c.holds(b, s.first) {
		t.Fatal("a contest does not hold for the asks it was made of")
	}
	if s.win.value != "5" || len(d.Overruled) != 2 {
		t.Fatalf("resolve gave %q with %d overruled; want the rule's 5 over two", s.win.value, len(d.Overruled))
	}
	var again Decision
	w := s.win
	c.again(s, &again)
	if !sameAsk(&s.win, &w) || !slices.EqualFunc(again.Overruled, d.Overruled, func(x, y Overruled) bool { return sameOverruled(&x, &y) }) {
		t.Fatalf("again gave %+v, %v; resolve gave %+v, %v", s.win, again.Overruled, w, d.Overruled)
	}
	change := map[string]func([]ask) []ask{
		"one ask less":      func(a []ask) []ask { return a[:2] },
		"one ask more":      func(a []ask) []ask { return append(a, ask{value: "0", source: SourceCap, reasons: ruleWhy}) },
		"another value":     func(a []ask) []ask { a[1].value = "6"; return a },
		"another source":    func(a []ask) []ask { a[2].source = SourceCap; return a },
		"another rule":      func(a []ask) []ask { a[1].rule = r2; return a },
		"urgent":            func(a []ask) []ask { a[0].urgent = true; return a },
		"reasons elsewhere": func(a []ask) []ask { a[0].reasons = append([]string(nil), coordWhy...); return a },
	}
	for name, f := range change {
		b2, s2 := file(f(append([]ask(nil), base...)))
		if c.holds(b2, s2.first) {
			t.Errorf("%s: the contest holds", name)
		}
	}
}
