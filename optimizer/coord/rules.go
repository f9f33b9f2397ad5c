package coord

import (
	"fmt"
	"strings"
)

// commLen is the longest command name the kernel keeps (TASK_COMM_LEN
// less the NUL): "ts3client_linux_amd64" reads "ts3client_linux".
const commLen = 15

// Rule is one entry of the classification database. A rule matches a
// process when every condition it sets holds; within one condition any
// of the listed strings will do. Matching is case-sensitive, as the
// kernel's names are.
//
// A rule whose Class is ClassUnknown names a known helper that belongs to
// whatever app its parent is (Wine's services.exe, a shell script): it is
// never handed to the fallback classifier.
type Rule struct {
	// Name identifies the rule in reasons ("steam reaper").
	Name  string
	Class Class
	// Comm lists exact command names, each at most 15 bytes.
	Comm []string
	// CommPrefix and CommSuffix match the start or end of the name.
	CommPrefix []string
	CommSuffix []string
	// Cmdline lists substrings of the command line's first
	// Config.CmdlineScanBytes bytes.
	Cmdline []string
	// Exe lists substrings of the executable's path.
	Exe []string
	// Parent lists exact command names of the parent process.
	Parent []string
	// Cgroup lists substrings of the cgroup path.
	Cgroup []string
}

func (r *Rule) validate() error {
	if r.Name == "" {
		return fmt.Errorf("%w: a rule has no name", ErrRule)
	}
	if !r.Class.Valid() {
		return fmt.Errorf("%w: rule %q: unknown class %q", ErrRule, r.Name, r.Class)
	}
	if len(r.Comm)+len(r.CommPrefix)+len(r.CommSuffix)+len(r.Cmdline)+len(r.Exe)+len(r.Cgroup) == 0 {
		// A rule on the parent alone would class every child of a
		// program alike, its crash reporter and its shell included.
		return fmt.Errorf("%w: rule %q: no condition on the process itself", ErrRule, r.Name)
	}
	for _, c := range r.Comm {
		if c == "" || len(c) > commLen {
			return fmt.Errorf("%w: rule %q: command name %q: must be 1..%d bytes (the kernel truncates longer ones)", ErrRule, r.Name, c, commLen)
		}
	}
	for _, c := range r.Parent {
		if c == "" || len(c) > commLen {
			return fmt.Errorf("%w: rule %q: parent name %q: must be 1..%d bytes", ErrRule, r.Name, c, commLen)
		}
	}
	for _, list := range [][]string{r.CommPrefix, r.CommSuffix, r.Cmdline, r.Exe, r.Cgroup} {
		for _, s := range list {
			if s == "" {
				return fmt.Errorf("%w: rule %q: an empty pattern matches everything", ErrRule, r.Name)
			}
		}
	}
	return nil
}

// RuleSet is a compiled rule database: rules keyed by exact command name,
// so a process is tested against the few rules that name it plus the
// rules that test no exact name, in the database's order. A RuleSet is
// immutable and safe for concurrent use.
type RuleSet struct {
	rules  []Rule
	byComm map[string][]int32
	scan   []int32
}

// NewRuleSet validates and compiles rules. Order matters: the first rule
// that matches decides.
func NewRuleSet(rules []Rule) (*RuleSet, error) {
	rs := &RuleSet{rules: append([]Rule(nil), rules...), byComm: make(map[string][]int32)}
	for i := range rs.rules {
		r := &rs.rules[i]
		if err := r.validate(); err != nil {
			return nil, fmt.Errorf("rule %d: %w", i, err)
		}
		if len(r.Comm) == 0 {
			rs.scan = append(rs.scan, int32(i))
			continue
		}
		for _, c := range r.Comm {
			if l := rs.byComm[c]; len(l) == 0 || l[len(l)-1] != int32(i) {
				rs.byComm[c] = append(l, int32(i))
			}
		}
	}
	return rs, nil
}

// Len returns the number of rules.
func (rs *RuleSet) Len() int { return len(rs.rules) }

// Match classifies p, whose parent's command name is parent ("" when not
// known), looking at most scan bytes into the command line. It returns
// the class, the name of the rule that decided, and whether any rule
// matched.
func (rs *RuleSet) Match(p *Process, parent string, scan int) (Class, string, bool) {
	cmd := p.Cmdline
	if scan > 0 && len(cmd) > scan {
		cmd = cmd[:scan]
	}
	return rs.match(p, parent, cmd)
}

// match is Match with the command line already cut to the scanned bytes.
func (rs *RuleSet) match(p *Process, parent, cmd string) (Class, string, bool) {
	named := rs.byComm[p.Name]
	// Walk both lists in rule order, so the database's order decides
	// between an indexed rule and a scanned one.
	i, j := 0, 0
	for i < len(named) || j < len(rs.scan) {
		var k int32
		if j >= len(rs.scan) || (i < len(named) && named[i] < rs.scan[j]) {
			k = named[i]
			i++
		} else {
			k = rs.scan[j]
			j++
		}
		r := &rs.rules[k]
		if r.matches(p, parent, cmd) {
			return r.Class, r.Name, true
		}
	}
	return ClassUnknown, "", false
}

// matches tests every condition but Comm, which the index has checked
// for indexed rules (and which scanned rules do not set).
func (r *Rule) matches(p *Process, parent, cmd string) bool {
	if len(r.CommPrefix) > 0 && !anyOf(r.CommPrefix, p.Name, strings.HasPrefix) {
		return false
	}
	if len(r.CommSuffix) > 0 && !anyOf(r.CommSuffix, p.Name, strings.HasSuffix) {
		return false
	}
	if len(r.Parent) > 0 && !anyOf(r.Parent, parent, func(s, t string) bool { return s == t }) {
		return false
	}
	if len(r.Cgroup) > 0 && !anyOf(r.Cgroup, p.Cgroup, strings.Contains) {
		return false
	}
	if len(r.Exe) > 0 && !anyOf(r.Exe, p.Exe, strings.Contains) {
		return false
	}
	if len(r.Cmdline) > 0 && !anyOf(r.Cmdline, cmd, strings.Contains) {
		return false
	}
	return true
}

func anyOf(pats []string, s string, f func(s, pat string) bool) bool {
	if s == "" {
		return false
	}
	for _, p := range pats {
		if f(s, p) {
			return true
		}
	}
	return false
}
