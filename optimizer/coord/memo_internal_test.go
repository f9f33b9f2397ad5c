package coord

import (
	"fmt"
	"math"
	"testing"

	"github.com/krystalstack/gamesa/internal/cpulist"
)

// TestTextsFormatAsSprintf checks that a memoized text reads as
// fmt.Sprintf's, for every kind of argument and for arguments that do
// not fit a key, and that it is formatted once while ticks keep asking
// for it.
func TestTextsFormatAsSprintf(t *testing.T) {
	tests := []struct {
		format string
		args   []arg
		want   string
	}{
		{"plain", nil, "plain"},
		{"%s uses %.0f%% CPU", []arg{str("firefox"), float(149.5)}, fmt.Sprintf("%s uses %.0f%% CPU", "firefox", 149.5)},
		{"nice %d, weight %d", []arg{integer(-5), integer(1000)}, "nice -5, weight 1000"},
		{"rule %q", []arg{str(`a "quoted" name`)}, fmt.Sprintf("rule %q", `a "quoted" name`)},
		{"%v", []arg{float(math.NaN())}, "NaN"},
		// More strings or numbers than a key holds: formatted each time.
		{"%s %s %s %s", []arg{str("a"), str("b"), str("c"), str("d")}, "a b c d"},
		{"%d %d %d", []arg{integer(1), integer(2), integer(3)}, "1 2 3"},
		{"%s%s%s%d%d%d", []arg{str("a"), str("b"), str("c"), integer(1), integer(2), integer(3)}, "abc123"},
	}
	var m texts
	m.next()
	for _, tc := range tests {
		first := m.get(tc.format, tc.args...)
		if first.s != tc.want {
			t.Errorf("get(%q, %v) = %q; want %q", tc.format, tc.args, first.s, tc.want)
		}
		m.next()
		if again := m.get(tc.format, tc.args...); again.s != tc.want {
			t.Errorf("get(%q, %v) on the next tick = %q; want %q", tc.format, tc.args, again.s, tc.want)
		}
	}
	// Same digits, other kinds: other keys.
	m.next()
	if a, b := m.get("%v", integer(1)), m.get("%v", float(1)); a == b || a.s != "1" || b.s != "1" {
		t.Errorf("an int and a float argument share a text: %p %q, %p %q", a, a.s, b, b.s)
	}
}

// TestTextsKeepAndDrop checks the memo's life cycle: a text asked for on
// consecutive ticks is the same, without an allocation; one a whole tick
// did not ask for is made anew.
func TestTextsKeepAndDrop(t *testing.T) {
	var m texts
	m.next()
	x := m.get("%s keeps CPUs %s", str("Discord"), str("14-15"))
	m.next()
	if y := m.get("%s keeps CPUs %s", str("Discord"), str("14-15")); y != x {
		t.Fatal("a text asked for on the next tick was formatted again")
	}
	allocs := testing.AllocsPerRun(100, func() {
		m.next()
		m.get("%s keeps CPUs %s", str("Discord"), str("14-15"))
	})
	if allocs != 0 {
		t.Errorf("a text kept asked for allocates %.1f times a tick; want 0", allocs)
	}
	m.next()
	m.next()
	if y := m.get("%s keeps CPUs %s", str("Discord"), str("14-15")); y == x {
		t.Error("a text no tick asked for was kept")
	}
	if r1, r2 := x.reasonsWith("summary"), x.reasonsWith("summary"); &r1[0] != &r2[0] || cap(r1) != 2 {
		t.Errorf("reasonsWith made %v and %v; want one slice with no spare capacity", r1, r2)
	}
	if r1, r2 := x.reasonsWith("summary"), x.reasonsWith("other"); &r1[0] == &r2[0] || r2[0] != "other" || r2[1] != x.s {
		t.Errorf("reasonsWith a new summary gave %v; want a new [other %s]", r2, x.s)
	}
}

// TestCPUListsMemo checks that the memo formats as cpulist.Format, keeps a
// copy rather than the caller's slice, and gives way to newer lists.
func TestCPUListsMemo(t *testing.T) {
	var m cpuLists
	cpus := []int{4, 5, 6, 7, 12, 13}
	if got := m.format(cpus); got != "4-7,12-13" {
		t.Fatalf("format(%v) = %q", cpus, got)
	}
	cpus[0] = 0 // the caller reuses its slice
	if got := m.format(cpus); got != cpulist.Format(cpus) {
		t.Fatalf("format after the caller changed its slice = %q; want %q", got, cpulist.Format(cpus))
	}
	for i := range 3 * len(m.entries) {
		if got, want := m.format([]int{i, i + 2}), cpulist.Format([]int{i, i + 2}); got != want {
			t.Fatalf("format([%d %d]) = %q; want %q", i, i+2, got, want)
		}
	}
	if got := m.format(nil); got != "" {
		t.Errorf("format(nil) = %q; want \"\"", got)
	}
}
