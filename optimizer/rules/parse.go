package rules

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/krystalstack/gamesa/optimizer/power"
)

// knobKind says how an action's value is checked.
type knobKind uint8

const (
	kindText    knobKind = iota // any non-empty word
	kindInt                     // an integer
	kindNumber                  // a finite number
	kindCPUList                 // "0-3,6"
)

// knobKinds are plan.proto's knobs (the optimizer may not import the
// actuators, so the names are spelled here) and how their values read.
func knobKinds() map[string]knobKind {
	return map[string]knobKind{
		"process.affinity": kindCPUList, "process.nice": kindInt, "process.ioprio": kindText,
		"process.policy": kindText, "process.oom_score_adj": kindInt,
		"cgroup.weight": kindInt, "cgroup.quota": kindText, "cgroup.cpuset": kindCPUList, "cgroup.member": kindText,
		"cpufreq.governor": kindText, "cpufreq.min_khz": kindInt, "cpufreq.max_khz": kindInt,
		"cpufreq.epp": kindText, "cpufreq.boost": kindInt, "platform.profile": kindText,
		"pmqos.cpu_dma_latency_us": kindInt, "rapl.pl1_uw": kindInt, "rapl.pl2_uw": kindInt,
		"nvml.power_limit_mw": kindInt, "backlight.brightness": kindInt, "usb.autosuspend": kindText,
		"pcie.aspm_policy": kindText, "sata.link_power": kindText,
	}
}

// File is one rule file to compile.
type File struct {
	// Name appears in error positions and in Rule.File.
	Name string
	Data []byte
}

// parser collects the rules and errors of the files of one compilation.
type parser struct {
	schema *Schema
	knobs  map[string]knobKind
	file   string
	rules  []*Rule
	errs   ErrorList
}

func (p *parser) errAt(n *yaml.Node, class error, format string, args ...any) {
	line, col := 0, 0
	if n != nil {
		line, col = n.Line, n.Column
	}
	p.errPos(line, col, class, format, args...)
}

func (p *parser) errPos(line, col int, class error, format string, args ...any) {
	if len(p.errs) < maxErrors {
		p.errs = append(p.errs, &Error{File: p.file, Line: line, Column: col, Err: class, Msg: fmt.Sprintf(format, args...)})
	}
}

// yamlLine finds the line in yaml.v3's error text, which carries no column.
var yamlLine = regexp.MustCompile(`line (\d+)`)

// parseFile adds the rules of one file.
func (p *parser) parseFile(f File) {
	p.file = f.Name
	var doc yaml.Node
	if err := yaml.Unmarshal(f.Data, &doc); err != nil {
		line := 0
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			line, _ = strconv.Atoi(m[1]) // the pattern holds only digits
		}
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		msg = strings.TrimPrefix(msg, fmt.Sprintf("line %d: ", line))
		p.errPos(line, 0, ErrSyntax, "%s", msg)
		return
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return // an empty file holds no rules
	}
	root := doc.Content[0]
	fields, ok := p.mapping(root, "rule file", "rules")
	if !ok {
		return
	}
	list := fields["rules"]
	if list == nil {
		return
	}
	if list.Kind != yaml.SequenceNode {
		p.errAt(list, ErrSyntax, "rules must be a list of rules")
		return
	}
	for _, n := range list.Content {
		if r := p.rule(n); r != nil {
			p.rules = append(p.rules, r)
		}
	}
}

// mapping checks that n is a mapping with only the allowed keys, each
// once, and returns the values by key (keys keep their own nodes for
// positions through the values' neighbours).
func (p *parser) mapping(n *yaml.Node, what string, allowed ...string) (map[string]*yaml.Node, bool) {
	if n.Kind != yaml.MappingNode {
		p.errAt(n, ErrSyntax, "%s must be a mapping", what)
		return nil, false
	}
	out := make(map[string]*yaml.Node, len(n.Content)/2)
	ok := true
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.errAt(k, ErrSyntax, "%s keys must be words", what)
			ok = false
			continue
		}
		if !slices.Contains(allowed, k.Value) {
			p.errAt(k, ErrUnknownField, "%q in %s (want one of %s)", k.Value, what, strings.Join(allowed, ", "))
			ok = false
			continue
		}
		if _, dup := out[k.Value]; dup {
			p.errAt(k, ErrSyntax, "%q given twice in %s", k.Value, what)
			ok = false
			continue
		}
		out[k.Value] = v
	}
	return out, ok
}

// scalar returns a scalar's text, or reports that n is not one.
func (p *parser) scalar(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		p.errAt(n, ErrSyntax, "%s must be a single value", what)
		return "", false
	}
	return n.Value, true
}

// rule parses one rule; it returns nil when the rule has errors (which
// are recorded).
func (p *parser) rule(n *yaml.Node) *Rule {
	before := len(p.errs)
	fields, _ := p.mapping(n, "rule", "name", "doc", "priority", "when", "for", "cooldown", "then")
	if fields == nil {
		return nil
	}
	r := &Rule{File: p.file, Line: n.Line, Column: n.Column}
	if v := fields["name"]; v == nil {
		p.errAt(n, ErrMissingField, "rule without a name")
	} else if s, ok := p.scalar(v, "name"); ok {
		if !isName(s) {
			p.errAt(v, ErrValue, "rule name %q: use lower-case letters, digits, '-', '_' and '.'", s)
		}
		r.Name, r.Line, r.Column = s, v.Line, v.Column
	}
	if v := fields["doc"]; v != nil {
		r.Doc, _ = p.scalar(v, "doc") // an error is recorded; Doc stays empty
	}
	if v := fields["priority"]; v != nil {
		if s, ok := p.scalar(v, "priority"); ok {
			pr, err := strconv.Atoi(s)
			if err != nil || pr < -1_000_000 || pr > 1_000_000 {
				p.errAt(v, ErrType, "priority %q is not an integer within ±1000000", s)
			}
			r.Priority = pr
		}
	}
	r.For = p.duration(fields["for"], "for")
	r.Cooldown = p.duration(fields["cooldown"], "cooldown")
	if v := fields["when"]; v == nil {
		p.errAt(n, ErrMissingField, "rule %q has no when", r.Name)
	} else {
		r.when = p.cond(v, 0)
	}
	if v := fields["then"]; v == nil {
		p.errAt(n, ErrMissingField, "rule %q has no then", r.Name)
	} else if v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
		p.errAt(v, ErrSyntax, "then must be a non-empty list of actions")
	} else {
		for _, an := range v.Content {
			if a, ok := p.action(an); ok {
				r.Actions = append(r.Actions, a)
			}
		}
	}
	if len(p.errs) > before || r.when == nil {
		return nil
	}
	r.Specificity = r.when.atoms()
	return r
}

func (p *parser) duration(n *yaml.Node, what string) time.Duration {
	if n == nil {
		return 0
	}
	s, ok := p.scalar(n, what)
	if !ok {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		p.errAt(n, ErrDuration, "%s %q: want a non-negative duration such as 10s or 1m30s", what, s)
		return 0
	}
	return d
}

// maxDepth bounds nested combinators: deeper is a mistake or an attack,
// and the evaluator recurses.
const maxDepth = 32

// cond parses a condition: a comparison, a list (all of it), or a mapping
// with one of all, any, not.
func (p *parser) cond(n *yaml.Node, depth int) *cond {
	if depth > maxDepth {
		p.errAt(n, ErrSyntax, "conditions nested deeper than %d", maxDepth)
		return nil
	}
	switch n.Kind {
	case yaml.ScalarNode:
		return p.atom(n)
	case yaml.SequenceNode:
		return p.group(n, condAll, depth)
	case yaml.MappingNode:
		if len(n.Content) != 2 {
			p.errAt(n, ErrSyntax, "a combinator is a mapping with one key: all, any or not")
			return nil
		}
		k, v := n.Content[0], n.Content[1]
		switch k.Value {
		case "all":
			return p.group(v, condAll, depth)
		case "any":
			return p.group(v, condAny, depth)
		case "not":
			kid := p.cond(v, depth+1)
			if kid == nil {
				return nil
			}
			return &cond{kind: condNot, kids: []*cond{kid}}
		}
		p.errAt(k, ErrUnknownField, "%q in condition (want all, any or not)", k.Value)
		return nil
	}
	p.errAt(n, ErrSyntax, "a condition must be a comparison, a list or all/any/not")
	return nil
}

func (p *parser) group(n *yaml.Node, kind condKind, depth int) *cond {
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		p.errAt(n, ErrSyntax, "all and any take a non-empty list of conditions")
		return nil
	}
	c := &cond{kind: kind}
	for _, kn := range n.Content {
		kid := p.cond(kn, depth+1)
		if kid == nil {
			return nil
		}
		c.kids = append(c.kids, kid)
	}
	return c
}

// atom parses "feature op value". Positions inside the text are exact
// for plain and quoted scalars on one line.
func (p *parser) atom(n *yaml.Node) *cond {
	text := n.Value
	col := n.Column
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
		col++
	}
	at := func(off int) int { return col + off }
	i := strings.IndexAny(text, "<>=!")
	if i < 0 {
		p.errAt(n, ErrSyntax, "%q is not a comparison (feature op value, op one of < <= > >= == !=)", text)
		return nil
	}
	feature := strings.TrimSpace(text[:i])
	var op Op
	width := 2
	switch {
	case strings.HasPrefix(text[i:], "<="):
		op = OpLE
	case strings.HasPrefix(text[i:], ">="):
		op = OpGE
	case strings.HasPrefix(text[i:], "=="):
		op = OpEQ
	case strings.HasPrefix(text[i:], "!="):
		op = OpNE
	case text[i] == '<':
		op, width = OpLT, 1
	case text[i] == '>':
		op, width = OpGT, 1
	default:
		p.errPos(n.Line, at(i), ErrSyntax, "bad operator in %q (want < <= > >= == !=)", text)
		return nil
	}
	rest := text[i+width:]
	litOff := i + width + len(rest) - len(strings.TrimLeft(rest, " \t"))
	lit := strings.TrimSpace(rest)
	if len(lit) >= 2 && (lit[0] == '"' || lit[0] == '\'') && lit[len(lit)-1] == lit[0] {
		lit = lit[1 : len(lit)-1]
	}
	featOff := len(text[:i]) - len(strings.TrimLeft(text[:i], " \t"))
	if feature == "" || lit == "" {
		p.errAt(n, ErrSyntax, "%q is not a comparison (feature op value)", text)
		return nil
	}
	slot, ok := p.schema.byName[feature]
	if !ok {
		p.errPos(n.Line, at(featOff), ErrUnknownFeature, "%q%s", feature, p.suggest(feature))
		return nil
	}
	fi := p.schema.infos[slot]
	c := &cond{kind: condAtom, slot: slot, feature: feature, op: op, lit: lit}
	bad := func(format string, args ...any) *cond {
		p.errPos(n.Line, at(litOff), ErrType, format, args...)
		return nil
	}
	switch fi.Type {
	case Number:
		x, err := strconv.ParseFloat(lit, 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			return bad("%s is a number; %q is not", feature, lit)
		}
		c.val = x + 0 // +0 folds -0, so the index keys one zero
		c.lit = strconv.FormatFloat(x, 'g', -1, 64)
	case Bool:
		if op != OpEQ && op != OpNE {
			p.errPos(n.Line, at(i), ErrType, "%s is a bool; it takes == or !=, not %s", feature, op)
			return nil
		}
		b, err := strconv.ParseBool(lit)
		if err != nil || (lit != "true" && lit != "false") {
			return bad("%s is a bool; compare it with true or false, not %q", feature, lit)
		}
		c.val = b2f(b)
	case String:
		if op != OpEQ && op != OpNE {
			p.errPos(n.Line, at(i), ErrType, "%s is a string; it takes == or !=, not %s", feature, op)
			return nil
		}
		if _, err := strconv.ParseFloat(lit, 64); err == nil {
			return bad("%s is a string; it cannot equal the number %s", feature, lit)
		}
		if !slices.Contains(fi.Choices, lit) {
			return bad("%s is one of %s; not %q", feature, strings.Join(fi.Choices, ", "), lit)
		}
		c.val = p.schema.code(slot, lit)
	}
	return c
}

// suggest names features that share the unknown name's prefix, which is
// usually the typo's neighbourhood.
func (p *parser) suggest(name string) string {
	prefix, _, _ := strings.Cut(name, ".")
	var near []string
	for _, fi := range p.schema.infos {
		if strings.HasPrefix(fi.Name, prefix+".") {
			near = append(near, fi.Name)
		}
	}
	if len(near) == 0 || len(near) > 12 {
		return ""
	}
	return " (did you mean one of " + strings.Join(near, ", ") + "?)"
}

// appVerbKnob maps a verb that acts on an app class to its knob.
func appVerbKnob(verb string) (string, bool) {
	switch verb {
	case "nice":
		return "process.nice", true
	case "ioprio":
		return "process.ioprio", true
	case "affinity":
		return "process.affinity", true
	case "cgroup_weight":
		return "cgroup.weight", true
	}
	return "", false
}

// action parses one entry of then.
func (p *parser) action(n *yaml.Node) (Action, bool) {
	before := len(p.errs)
	fields, _ := p.mapping(n, "action", "mode", "cap_power", "nice", "ioprio", "affinity", "cgroup_weight", "knob", "app", "target", "value")
	if fields == nil {
		return Action{}, false
	}
	a := Action{Line: n.Line, Column: n.Column}
	var verbs []string
	for _, v := range []string{"mode", "cap_power", "nice", "ioprio", "affinity", "cgroup_weight", "knob"} {
		if fields[v] != nil {
			verbs = append(verbs, v)
		}
	}
	if len(verbs) != 1 {
		p.errAt(n, ErrSyntax, "an action names exactly one of mode, cap_power, nice, ioprio, affinity, cgroup_weight, knob (got %d)", len(verbs))
		return Action{}, false
	}
	verb := verbs[0]
	vn := fields[verb]
	val, ok := p.scalar(vn, verb)
	if !ok {
		return Action{}, false
	}
	knobName, isApp := appVerbKnob(verb)
	for _, extra := range []string{"app", "target", "value"} {
		allowed := (extra == "app" && isApp) || (extra != "app" && verb == "knob")
		if fields[extra] != nil && !allowed {
			p.errAt(fields[extra], ErrUnknownField, "%q does not go with %s", extra, verb)
		}
	}
	switch {
	case verb == "mode":
		m, err := power.ParseMode(val)
		if err != nil {
			p.errAt(vn, ErrUnknownMode, "%q (want one of max_battery, balanced, max_performance, gaming)", val)
			break
		}
		a.Knob, a.Value = KnobPowerMode, m.String()
	case verb == "cap_power":
		w, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(val), "W"), 64)
		if err != nil || !(w > 0) || math.IsInf(w, 0) {
			p.errAt(vn, ErrValue, "cap_power %q: want a positive number of watts", val)
			break
		}
		a.Knob, a.Value = KnobPowerCap, strconv.FormatFloat(w, 'g', -1, 64)
	case isApp:
		a.Knob = knobName
		an := fields["app"]
		if an == nil {
			p.errAt(n, ErrMissingField, "%s needs app: the class it applies to", verb)
			break
		}
		if class, ok := p.scalar(an, "app"); ok {
			if !p.schema.isAppClass(class) {
				p.errAt(an, ErrValue, "app class %q (want one of %s)", class, strings.Join(p.schema.appClasses, ", "))
			}
			a.Target = AppTargetPrefix + class
		}
		a.Value = p.appValue(vn, verb, val)
	default: // knob
		kind, known := p.knobs[val]
		if !known {
			p.errAt(vn, ErrUnknownKnob, "%q (plan.proto names the knobs)", val)
			break
		}
		a.Knob = val
		if tn := fields["target"]; tn != nil {
			if t, ok := p.scalar(tn, "target"); ok {
				if t == "" || strings.ContainsAny(t, " \t\n") {
					p.errAt(tn, ErrValue, "target %q: want one word such as cpu0 or package-0", t)
				}
				a.Target = t
			}
		}
		vn2 := fields["value"]
		if vn2 == nil {
			p.errAt(n, ErrMissingField, "knob %s needs value", val)
			break
		}
		if s, ok := p.scalar(vn2, "value"); ok {
			a.Value = p.knobValue(vn2, val, kind, s)
		}
	}
	return a, len(p.errs) == before
}

// appValue checks and normalises the value of an app verb.
func (p *parser) appValue(n *yaml.Node, verb, val string) string {
	switch verb {
	case "nice":
		v, err := strconv.Atoi(val)
		if err != nil || v < -20 || v > 19 {
			p.errAt(n, ErrValue, "nice %q: want an integer -20..19", val)
		}
		return strconv.Itoa(v)
	case "ioprio":
		if !validIOPrio(val) {
			p.errAt(n, ErrValue, "ioprio %q: want idle, be/0..be/7 or rt/0..rt/7", val)
		}
		return val
	case "affinity":
		if !validCPUList(val) {
			p.errAt(n, ErrValue, "affinity %q: want a CPU list such as 0-3,6", val)
		}
		return val
	}
	v, err := strconv.Atoi(val)
	if err != nil || v < 1 || v > 10000 {
		p.errAt(n, ErrValue, "cgroup_weight %q: want an integer 1..10000", val)
	}
	return strconv.Itoa(v)
}

// knobValue checks a raw knob value by the knob's kind.
func (p *parser) knobValue(n *yaml.Node, knob string, kind knobKind, val string) string {
	switch kind {
	case kindInt:
		v, err := strconv.ParseInt(val, 10, 64)
		if err != nil {
			p.errAt(n, ErrValue, "%s %q: want an integer", knob, val)
			return val
		}
		return strconv.FormatInt(v, 10)
	case kindNumber:
		if _, err := strconv.ParseFloat(val, 64); err != nil {
			p.errAt(n, ErrValue, "%s %q: want a number", knob, val)
		}
	case kindCPUList:
		if !validCPUList(val) {
			p.errAt(n, ErrValue, "%s %q: want a CPU list such as 0-3,6", knob, val)
		}
	default:
		if val == "" || strings.ContainsAny(val, "\n") {
			p.errAt(n, ErrValue, "%s %q: want one line of text", knob, val)
		}
	}
	return val
}

func validIOPrio(s string) bool {
	if s == "idle" {
		return true
	}
	class, level, ok := strings.Cut(s, "/")
	if !ok || (class != "be" && class != "rt") {
		return false
	}
	l, err := strconv.Atoi(level)
	return err == nil && l >= 0 && l <= 7 && strconv.Itoa(l) == level
}

// validCPUList accepts the kernel's list format: "0", "0-3", "0-3,6,8-9".
func validCPUList(s string) bool {
	if s == "" {
		return false
	}
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.ParseUint(lo, 10, 16)
		if err != nil {
			return false
		}
		if isRange {
			b, err := strconv.ParseUint(hi, 10, 16)
			if err != nil || b < a {
				return false
			}
		}
	}
	return true
}

func isName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
		case (r == '-' || r == '_' || r == '.') && i > 0:
		default:
			return false
		}
	}
	return true
}

// isIdent is a class or feature word: lower-case letters, digits, '_'.
func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r == '_':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
