package neural

import (
	"slices"
	"testing"
)

// TestListMask: the mask is made again exactly when the list changes, and
// always reads as a fresh one.
func TestListMask(t *testing.T) {
	type item struct{ a, b string }
	var m ListMask
	calls := 0
	of := func(list []item) []bool {
		return m.Of(len(list),
			func(i int) (string, string) { return list[i].a, list[i].b },
			func(i int) bool { calls++; return list[i].a == "cpu" })
	}
	for i, tc := range []struct {
		list      []item
		want      []bool
		recompute bool
	}{
		{[]item{{"cpu", "0"}, {"gpu", "0"}}, []bool{true, false}, true},
		{[]item{{"cpu", "0"}, {"gpu", "0"}}, []bool{true, false}, false},
		{[]item{{"cpu", "0"}, {"cpu", "1"}}, []bool{true, true}, true}, // a key changes
		{[]item{{"cpu", "0"}, {"cpu", "2"}}, []bool{true, true}, true}, // the other key
		{[]item{{"cpu", "0"}}, []bool{true}, true},                     // shorter
		{nil, []bool{}, false}, // nothing to match
		{[]item{{"cpu", "0"}}, []bool{true}, true},
	} {
		before := calls
		got := of(tc.list)
		if !slices.Equal(got, tc.want) || (calls > before) != tc.recompute {
			t.Errorf("step %d: mask %v after %d matches; want %v, recomputed %v", i, got, calls-before, tc.want, tc.recompute)
		}
	}
}
