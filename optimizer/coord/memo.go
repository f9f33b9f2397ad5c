package coord

import (
	"fmt"
	"math"
	"slices"

	"github.com/krystalstack/gamesa/internal/cpulist"
)

// A steady machine asks for the same plan tick after tick: the same
// reasons, CPU lists and core split. The memos here keep what the last
// ticks formatted, so that such a tick formats, and allocates, nothing.
// Each entry is keyed by everything its result is made from: a memo
// returns what making it afresh would, never anything else.

// arg is one argument of a memoized text: a string, an integer or a
// float, the value itself (a float by its bits) so that it can key a map.
type arg struct {
	s    string
	n    uint64
	kind argKind
}

type argKind uint8

const (
	argString argKind = iota + 1
	argInt
	argFloat
)

func str(s string) arg    { return arg{s: s, kind: argString} }
func integer(i int) arg   { return arg{n: uint64(int64(i)), kind: argInt} }
func float(f float64) arg { return arg{n: math.Float64bits(f), kind: argFloat} }

// value is the argument as fmt takes it.
func (a arg) value() any {
	switch a.kind {
	case argInt:
		return int(int64(a.n))
	case argFloat:
		return math.Float64frombits(a.n)
	}
	return a.s
}

// A text takes at most maxArgs arguments, of which at most maxStrings
// strings and maxNumbers numbers: the key then stays within the 128
// bytes a map stores in place (a bigger key costs an allocation per
// insert).
const (
	maxArgs    = 5
	maxStrings = 3
	maxNumbers = 2
)

// textKey is a text's format and arguments: the strings and the numbers
// apart, and the kind of each argument in order.
type textKey struct {
	format  string
	strings [maxStrings]string
	numbers [maxNumbers]uint64
	kinds   [maxArgs]argKind
}

// key returns the key of format and args, or false when they do not
// fit one.
func key(format string, args []arg) (textKey, bool) {
	k := textKey{format: format}
	if len(args) > maxArgs {
		return k, false
	}
	ns, nn := 0, 0
	for i, a := range args {
		k.kinds[i] = a.kind
		if a.kind == argString {
			if ns == maxStrings {
				return k, false
			}
			k.strings[ns], ns = a.s, ns+1
			continue
		}
		if nn == maxNumbers {
			return k, false
		}
		k.numbers[nn], nn = a.n, nn+1
	}
	return k, true
}

// text is a formatted text, with the reasons last made from it.
type text struct {
	s string
	// reasons is [summary, s] for the last summary it went with: while
	// neither changes, the actions of an app keep one slice from tick to
	// tick, which the policy pipeline compares by its address.
	reasons []string
}

// reasonsWith returns [summary, x.s], with no spare capacity (an append
// copies it), made anew only when the summary changes.
func (x *text) reasonsWith(summary string) []string {
	if x.reasons == nil || x.reasons[0] != summary {
		x.reasons = []string{summary, x.s}
	}
	return x.reasons
}

// texts memoizes fmt.Sprintf over the texts of this tick and the last:
// a text kept asked for is formatted once, one that a whole tick does
// not ask for is dropped, so the memo holds two ticks' worth at most.
type texts struct {
	cur, prev map[textKey]*text
}

// next starts a tick.
func (t *texts) next() {
	t.prev, t.cur = t.cur, t.prev
	if t.cur == nil {
		t.cur = make(map[textKey]*text)
	}
	clear(t.cur)
}

// get returns the text fmt.Sprintf(format, args...).
func (t *texts) get(format string, args ...arg) *text {
	k, ok := key(format, args)
	if !ok || t.cur == nil {
		return &text{s: sprintf(format, args)} // unmemoized
	}
	if x, ok := t.cur[k]; ok {
		return x
	}
	x, ok := t.prev[k]
	if !ok {
		x = &text{s: sprintf(format, args)}
	}
	t.cur[k] = x
	return x
}

func sprintf(format string, args []arg) string {
	vs := make([]any, len(args))
	for i, a := range args {
		vs[i] = a.value()
	}
	return fmt.Sprintf(format, vs...)
}

// cpuLists memoizes cpulist.Format for the few lists a plan writes (the
// two sides of the split and the reservations), replacing the oldest.
type cpuLists struct {
	entries [8]cpuListEntry
	next    int
}

type cpuListEntry struct {
	cpus []int
	s    string
}

func (m *cpuLists) format(cpus []int) string {
	if len(cpus) == 0 {
		return ""
	}
	for i := range m.entries {
		if e := &m.entries[i]; len(e.cpus) > 0 && slices.Equal(e.cpus, cpus) {
			return e.s
		}
	}
	e := &m.entries[m.next]
	m.next = (m.next + 1) % len(m.entries)
	e.cpus, e.s = append(e.cpus[:0], cpus...), cpulist.Format(cpus)
	return e.s
}

// splitMemo is the last core split with what it was made from: a copy
// of the topology and the share. It also keeps the number of physical
// cores, which the notes of a machine too small to split give.
type splitMemo struct {
	valid bool
	cpus  []CPU
	share float64
	sp    split
	ok    bool
	cores int
}

// get returns splitCores(t, share).
func (m *splitMemo) get(t Topology, share float64) (split, bool) {
	if m.valid && m.share == share && slices.EqualFunc(m.cpus, t.CPUs, sameCPU) {
		return m.sp, m.ok
	}
	m.sp, m.ok = splitCores(t, share)
	m.cores = len(t.Cores())
	m.cpus = m.cpus[:0]
	for _, c := range t.CPUs {
		c.Siblings, c.L3 = slices.Clone(c.Siblings), slices.Clone(c.L3)
		m.cpus = append(m.cpus, c)
	}
	m.valid, m.share = true, share
	return m.sp, m.ok
}

func sameCPU(a, b CPU) bool {
	return a.ID == b.ID && a.Core == b.Core && a.Package == b.Package && a.Capacity == b.Capacity &&
		slices.Equal(a.Siblings, b.Siblings) && slices.Equal(a.L3, b.L3)
}
