package rules

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// refEngine is the naive reference: it interprets every rule's parsed
// condition, one rule at a time, and resolves conflicts by sorting.
type refEngine struct {
	rules     []*Rule
	since     map[string]time.Time
	firedLast map[string]bool
	quiet     map[string]time.Time
}

func newRefEngine(rs *RuleSet) *refEngine {
	rules := slices.Clone(rs.rules)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(rules), func(i, j int) { rules[i], rules[j] = rules[j], rules[i] })
	return &refEngine{rules: rules, since: map[string]time.Time{}, firedLast: map[string]bool{}, quiet: map[string]time.Time{}}
}

type refOut struct {
	fired      []string
	actions    []string
	overridden int // actions that lost their knob to an earlier rule
}

func (e *refEngine) evaluate(v []float64, now time.Time) refOut {
	var fired []*Rule
	for _, r := range e.rules {
		holds := evalCond(r.when, v)
		timed := r.For > 0 || r.Cooldown > 0
		if !holds {
			if _, was := e.since[r.Name]; was && e.firedLast[r.Name] {
				e.quiet[r.Name] = now.Add(r.Cooldown)
			}
			delete(e.since, r.Name)
			e.firedLast[r.Name] = false
			continue
		}
		if !timed {
			fired = append(fired, r)
			continue
		}
		s, ok := e.since[r.Name]
		if !ok {
			s = now
			e.since[r.Name] = now
		}
		fire := now.Sub(s) >= r.For && !now.Before(e.quiet[r.Name])
		e.firedLast[r.Name] = fire
		if fire {
			fired = append(fired, r)
		}
	}
	slices.SortFunc(fired, func(a, b *Rule) int {
		return cmp.Or(cmp.Compare(b.Priority, a.Priority), cmp.Compare(b.Specificity, a.Specificity), strings.Compare(a.Name, b.Name))
	})
	var out refOut
	won, winner := map[string]string{}, map[string]string{}
	for _, r := range fired {
		out.fired = append(out.fired, r.Name)
		for _, a := range r.Actions {
			k := a.Knob + "|" + a.Target
			if w, ok := winner[k]; !ok {
				won[k] = fmt.Sprintf("%s %s = %s (%s)", a.Knob, a.Target, a.Value, r.Name)
				winner[k] = r.Name
			} else if w != r.Name {
				out.overridden++
			}
		}
	}
	keys := make([]string, 0, len(won))
	for k := range won {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		out.actions = append(out.actions, won[k])
	}
	return out
}

func compiledOut(res *Result) refOut {
	out := refOut{overridden: res.Overridden()}
	if n := len(res.Fired()); n != res.NumFired() {
		panic(fmt.Sprintf("NumFired() = %d; len(Fired()) = %d", res.NumFired(), n))
	}
	for _, f := range res.Fired() {
		out.fired = append(out.fired, f.Rule.Name)
	}
	for _, d := range res.Actions {
		out.actions = append(out.actions, fmt.Sprintf("%s %s = %s (%s)", d.Knob, d.Target, d.Value, d.Rule.Name))
	}
	return out
}

// genFeatures are the features the random rule sets use: numbers with
// small integer thresholds (so equality and boundaries are hit often),
// bools and strings.
var genNumbers = []string{"cpu.utilization", "cpu.iowait", "thermal.forecast_30s", "power.battery_percent", "gpu.utilization", "memory.used_percent"}

func genAtom(rng *rand.Rand) string {
	switch rng.IntN(6) {
	case 0:
		return fmt.Sprintf("power.on_ac %s %v", []string{"==", "!="}[rng.IntN(2)], rng.IntN(2) == 0)
	case 1:
		return fmt.Sprintf("app.foreground.class %s %s", []string{"==", "!="}[rng.IntN(2)], []string{"game", "compile", "voice"}[rng.IntN(3)])
	}
	ops := []string{"<", "<=", ">", ">=", "==", "!="}
	return fmt.Sprintf("%s %s %d", genNumbers[rng.IntN(len(genNumbers))], ops[rng.IntN(len(ops))], rng.IntN(8))
}

// genCond writes a random condition at the given indent and returns its
// number of comparisons.
func genCond(rng *rand.Rand, b *strings.Builder, indent string, depth int) int {
	if depth >= 3 || rng.IntN(3) == 0 {
		fmt.Fprintf(b, "%q\n", genAtom(rng))
		return 1
	}
	switch rng.IntN(3) {
	case 0:
		b.WriteString("\n" + indent + "not: ")
		return genCond(rng, b, indent+"  ", depth+1)
	default:
		kind := []string{"all", "any"}[rng.IntN(2)]
		fmt.Fprintf(b, "\n%s%s:\n", indent, kind)
		n, atoms := 1+rng.IntN(3), 0
		for range n {
			b.WriteString(indent + "  - ")
			atoms += genCond(rng, b, indent+"    ", depth+1)
		}
		return atoms
	}
}

// genRuleSet writes n random rules. Actions that could tie get their
// value from the tie's group, so the set never contradicts itself. With
// manyActions, rules have up to 12 actions, past what the engine counts
// by bitset.
func genRuleSet(rng *rand.Rand, n int, manyActions bool) string {
	var b strings.Builder
	b.WriteString("rules:\n")
	for i := range n {
		var cb strings.Builder
		atoms := genCond(rng, &cb, "      ", 0)
		pri := rng.IntN(3)
		fmt.Fprintf(&b, "  - name: r%03d\n    priority: %d\n", rng.IntN(1000)*1000+i, pri)
		if rng.IntN(3) == 0 {
			fmt.Fprintf(&b, "    for: %ds\n", rng.IntN(4))
		}
		if rng.IntN(4) == 0 {
			fmt.Fprintf(&b, "    cooldown: %ds\n", 1+rng.IntN(3))
		}
		b.WriteString("    when: " + cb.String())
		b.WriteString("    then:\n")
		modes := []string{"gaming", "balanced", "max_battery", "max_performance"}
		classes := []string{"game", "compile"}
		nact := 1 + rng.IntN(2)
		if manyActions {
			nact = 1 + rng.IntN(12)
		}
		for j := range nact {
			g := pri*7 + atoms
			switch (j + rng.IntN(2)) % 2 {
			case 0:
				fmt.Fprintf(&b, "      - mode: %s\n", modes[g%len(modes)])
			default:
				c := classes[rng.IntN(2)]
				fmt.Fprintf(&b, "      - nice: %d\n        app: %s\n", (g+len(c))%20, c)
			}
		}
	}
	return b.String()
}

func randomFeatures(rng *rand.Rand, f *Features) {
	f.Reset()
	for _, name := range genNumbers {
		if rng.IntN(8) != 0 {
			must(f.Set(name, fmt.Sprint(rng.IntN(9))))
		}
	}
	if rng.IntN(8) != 0 {
		must(f.Set("power.on_ac", fmt.Sprint(rng.IntN(2) == 0)))
	}
	if rng.IntN(5) != 0 {
		must(f.Set("app.foreground.class", []string{"game", "compile", "voice", "browser", "weird"}[rng.IntN(5)]))
	}
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// TestCompiledAgreesWithReference runs random rule sets over random
// samples in time and compares fired rules and winning actions tick by
// tick.
func TestCompiledAgreesWithReference(t *testing.T) {
	schema, err := NewSchema(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	cases, firedTotal := 0, 0
	forms := map[string]int{}
	for seed := range uint64(60) {
		rng := rand.New(rand.NewPCG(seed, 7))
		src := genRuleSet(rng, 1+rng.IntN(60), seed%4 == 3)
		rs, err := Compile(schema, File{Name: "gen.yaml", Data: []byte(src)})
		if err != nil {
			t.Fatalf("seed %d: generated rules do not compile: %v\n%s", seed, err, src)
		}
		countForms(rs, forms)
		eng, ref := NewEngine(rs), newRefEngine(rs)
		f := schema.NewFeatures()
		now := time.Unix(1_700_000_000, 0)
		for tick := range 100 {
			// Sometimes keep the sample, so that `for` clocks run out.
			if rng.IntN(3) != 0 {
				randomFeatures(rng, f)
			}
			now = now.Add(time.Duration(1+rng.IntN(4)) * 500 * time.Millisecond)
			res := eng.Evaluate(f, now)
			got := compiledOut(res)
			want := ref.evaluate(f.v, now)
			if !slices.Equal(got.fired, want.fired) || !slices.Equal(got.actions, want.actions) || got.overridden != want.overridden {
				t.Fatalf("seed %d tick %d: Evaluate fired %v actions %v overridden %d; reference fired %v actions %v overridden %d\nrules:\n%s",
					seed, tick, got.fired, got.actions, got.overridden, want.fired, want.actions, want.overridden, src)
			}
			// The reasons quote this tick's values, also where the
			// engine handed out the last tick's Result again.
			for _, fr := range res.Fired() {
				if r, want := fr.Reason(), fr.Rule.explain(schema, f.v); r != want {
					t.Fatalf("seed %d tick %d: rule %s: reason %q; this tick's values give %q", seed, tick, fr.Rule.Name, r, want)
				}
			}
			cases++
			firedTotal += len(got.fired)
		}
	}
	// A property that held because nothing fired would prove nothing.
	if firedTotal < cases {
		t.Fatalf("only %d rules fired in %d ticks; the generator is too strict", firedTotal, cases)
	}
	// Nor would one that never reached a form of the index.
	for _, form := range indexForms {
		if forms[form] == 0 {
			t.Errorf("no generated rule set has %s; forms seen: %v", form, forms)
		}
	}
	t.Logf("%d ticks agreed, %d firings; index forms %v", cases, firedTotal, forms)
}

// indexForms are the ways the index holds a rule or counts its actions.
var indexForms = []string{"conjunctive rules", "rules of several clauses", "rules by program",
	"1-literal clauses", "2-literal clauses", "3-literal clauses", "4-literal clauses", "longer clauses",
	"sets with action bitsets", "sets without action bitsets"}

// countForms adds up how rs holds its rules.
func countForms(rs *RuleSet, forms map[string]int) {
	forms["conjunctive rules"] += rs.nconj
	forms["rules of several clauses"] += rs.nclausal
	forms["rules by program"] += rs.nprog
	for k := range rs.fixed {
		forms[fmt.Sprintf("%d-literal clauses", k+1)] += len(rs.fixed[k].data) / (k + 1)
	}
	for d := rs.general.data; len(d) > 0; {
		n := max(d[1], 0)
		if d[1] >= 0 {
			forms["longer clauses"]++
		}
		d = d[2+n:]
	}
	if rs.moreKeys != nil {
		forms["sets with action bitsets"]++
	} else {
		forms["sets without action bitsets"]++
	}
}
